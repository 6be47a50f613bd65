"""Steady-state doses in the regimen vocabulary (NONMEM's SS with II), simulated by the record
walker. Independent reference: the same dose repeated long enough from an empty body (the
exact engine on an ordinary regimen, or SciPy for a nonlinear model), whose state after the
last-but-one interval is the steady state to well below the tolerances used here."""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk.model.spec import model_from_dict

TIMES = np.arange(0.0, 61.0)


def train_tail(model, dose, interval, n, times, extra=None, **kw):
    """``n`` administrations ``interval`` apart from an empty body (and ``extra`` shifted with
    the last one), seen from the last administration: ``times`` after it."""
    reg = dose.every(interval, times=n)
    if extra is not None:
        reg = reg + extra.shifted((n - 1) * interval)
    t0 = (n - 1) * interval
    return dmtpk.simulate(model, reg, t0 + times, **kw)


@pytest.mark.parametrize("dose", [dmtpk.Bolus("10 mg"),
                                  dmtpk.Infusion(rate="0.5 mg/min", duration="40 min"),
                                  dmtpk.Infusion(rate="1 mg/min", duration="5 min")],
                         ids=["bolus", "infusion-longer-than-II", "short-infusion"])
def test_steady_state_equals_a_long_train(dose):
    interval = 30.0
    ss = dmtpk.simulate("eckernas2022", dose.every(interval, times=1, steady_state=True),
                        TIMES)
    ref = train_tail("eckernas2022", dose, interval, 80, TIMES)
    # After 80 intervals of a 15-min half-life the train is at steady state to ~1e-40; the
    # walker's exact steady state agrees to rounding (1e-9 relative).
    np.testing.assert_allclose(ss.concentration, ref.concentration, rtol=1e-9)
    np.testing.assert_allclose(ss.effect, ref.effect, rtol=1e-9, atol=1e-12)
    assert ss.engine == "analytic"


def test_inhaled_steady_state_with_lag_equals_a_long_train():
    m = dmtpk.load_model("eckernas2022_inhaled").with_parameters(TLAG_INH="0.5 min")
    dose = dmtpk.Inhalation("20 mg")
    ss = dmtpk.simulate(m, dose.every("20 min", times=1, steady_state=True), TIMES)
    ref = train_tail(m, dose, 20.0, 120, TIMES)
    np.testing.assert_allclose(ss.concentration[:21], ref.concentration[:21], rtol=1e-9)


def test_steady_state_adds_to_other_doses_for_a_linear_model():
    dose = dmtpk.Bolus("10 mg")
    extra = dmtpk.Infusion(rate="0.2 mg/min", duration="15 min", at="5 min")
    ss = dmtpk.simulate("eckernas2022", dmtpk.SteadyState(dose, "30 min") + extra, TIMES)
    ref = train_tail("eckernas2022", dose, 30.0, 80, TIMES[:31], extra=extra)
    np.testing.assert_allclose(ss.concentration[:31], ref.concentration, rtol=1e-9)


def mm_model():
    return model_from_dict({
        "model": {"name": "mm", "structure": "one_compartment", "routes": ["iv"],
                  "elimination": "michaelis_menten"},
        "parameters": {"VMAX": "0.5 mg/min", "KM": "0.2 mg/L", "V1": "20 L"}})


def test_nonlinear_steady_state_is_the_limit_of_repeated_doses():
    dose = dmtpk.Bolus("5 mg")
    ss = dmtpk.simulate(mm_model(), dose.every("30 min", times=1, steady_state=True), TIMES[:31])
    ref = train_tail(mm_model(), dose, 30.0, 60, TIMES[:31])
    assert ss.engine == "scipy"
    # Iterated to ss_tol 1e-10 against 60 doses integrated at rtol 1e-10.
    np.testing.assert_allclose(ss.concentration, ref.concentration, rtol=1e-7)
    with pytest.raises(dmtpk.ValidationError, match="only as the first dose"):
        dmtpk.simulate(mm_model(), dmtpk.Bolus(1) + dmtpk.SteadyState(dose, 30).shifted(10),
                       TIMES)


def test_what_a_steady_state_cannot_do_is_refused():
    ss = dmtpk.Bolus(10).every(30, times=2, steady_state=True)
    with pytest.raises(dmtpk.ValidationError, match="record walker"):
        dmtpk.EventTable.from_regimen(ss)
    with pytest.raises(dmtpk.ValidationError, match="already at steady state"):
        ss.every(120, times=2, steady_state=True)
    with pytest.raises(dmtpk.ValidationError, match="SteadyState.interval"):
        dmtpk.SteadyState(dmtpk.Bolus(10), 0)
    with pytest.raises(dmtpk.ValidationError, match="ka"):
        dmtpk.simulate("eckernas2022_inhaled",
                       dmtpk.SteadyState(dmtpk.Inhalation(10, ka="2 1/min"), 30), TIMES)
    assert "steady state every 30 min" in ss.describe()


def test_population_of_a_steady_state_train_equals_simulate():
    """The population runs the regimen through the compiled record walker: a subject with the
    typical values equals simulate() (both exact: round-off, 1e-10 relative)."""
    ss = dmtpk.Bolus(10).every(30, times=2, steady_state=True)
    pop = dmtpk.simulate_population("eckernas2022", ss, TIMES, n=3, seed=1, omega={},
                                    keep="all")
    one = dmtpk.simulate("eckernas2022", ss, TIMES)
    for i in range(3):
        np.testing.assert_allclose(pop.concentration[i], one.concentration, rtol=1e-10)
        np.testing.assert_allclose(pop.effect[i], one.effect, rtol=1e-10, atol=1e-12)
