"""Target-controlled infusion of Michaelis-Menten models (through the record walker): the
schedules are checked by simulating the regimen they return with ``dmtpk.simulate``, whose
SciPy engine (``solve_ode``, restarted at every event) is not the walker the TCI steps with,
against the steady state of a one-compartment model, and against the linear TCI (exact matrix
exponentials) in the linear limit."""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk.model.spec import model_from_dict
from dmtpk.tci import TciWarning, tci

PD = {"KE0": "0.5 1/min", "E0": 0, "EMAX": 10, "EC50": "20 ng/mL", "GAMMA": 2}


def two_cpt(vmax="0.05 mg/min", km="0.02 mg/L", linear=False):
    """Two compartments, Michaelis-Menten elimination (or CL = VMAX/KM when ``linear``);
    C/KM = 1 at a 20 ng/mL target: strongly nonlinear."""
    params = {"V1": "10 L", "Q": "2 L/min", "V2": "20 L", **PD}
    if linear:
        params["CL"] = "2.5 L/min"
    else:
        params.update(VMAX=vmax, KM=km)
    return model_from_dict({
        "model": {"name": "mm2", "routes": ["iv"], "structure": "two_compartment",
                  "elimination": "linear" if linear else "michaelis_menten"},
        "parameters": params,
        "effects": {"e": {"link": "effect_compartment", "model": "sigmoid_emax",
                          "parameters": {k: k for k in PD}}}})


def test_plasma_on_target_at_every_update():
    """Every update's end: the independent simulation is on target to 1e-6 relative (the two
    SciPy paths agree to ~1e-9 at rtol 1e-10)."""
    m = two_cpt()
    res = tci(m, "20 ng/mL", "8 min")
    sim = dmtpk.simulate(m, res.regimen, np.append(res.time, 8.0))
    assert sim.engine == "scipy"
    assert np.max(np.abs(sim.concentration[1:] / 20.0 - 1)) < 1e-6
    assert np.allclose(sim.concentration, res.plasma, rtol=1e-6, atol=1e-9)
    assert np.all(res.rate > 0)
    # Nonlinear: the maintenance rate is not the linear model's CL * C (2.5 L/min * 0.02 mg/L
    # at low concentration; Michaelis-Menten halves the clearance at C = KM).
    linear = tci(two_cpt(linear=True), "20 ng/mL", "8 min")
    assert res.rate[-1] < 0.8 * linear.rate[-1]


def test_one_compartment_maintenance_is_the_michaelis_menten_flux():
    """Held at C = 20 ng/mL, a one-compartment model's rate after the first update is the
    elimination flux VMAX C / (KM + C), exactly (1e-8: the walker's tolerance)."""
    vmax, km, c = 0.05, 0.02, 0.02
    m = model_from_dict({
        "model": {"name": "mm1", "routes": ["iv"], "structure": "one_compartment",
                  "elimination": "michaelis_menten"},
        "parameters": {"V1": "40 L", "VMAX": f"{vmax} mg/min", "KM": f"{km} mg/L"}})
    res = tci(m, c, "2 min")
    assert np.allclose(res.rate[1:], vmax * c / (km + c), rtol=1e-8)
    assert res.rate[0] > 40 * c / (10 / 60)        # the loading rate fills V1 and more


def test_linear_limit_equals_the_linear_tci():
    """KM = 1e6 mg/L, VMAX = 2.5e6 mg/min: C/KM ~ 2e-8, so the walker's plasma schedule equals
    the linear TCI of CL = 2.5 L/min (exact exponentials) to 1e-6 of the largest rate. At the
    effect site the linear TCI finds the peak on a grid of update/20 and the walker by a root
    of plasma minus effect site: the loading rates agree to 1e-5, and, as holding the effect
    site at the end of each interval amplifies such differences (alternate rates), the
    effect-site courses (simulated by the exact engine) to 1e-4 of the target."""
    mm_model, lin_model = two_cpt(vmax="2.5e6 mg/min", km="1e6 mg/L"), two_cpt(linear=True)
    mm = tci(mm_model, "20 ng/mL", "4 min")
    lin = tci(lin_model, "20 ng/mL", "4 min")
    assert np.max(np.abs(mm.rate - lin.rate)) < 1e-6 * lin.rate.max()
    mm = tci(mm_model, "20 ng/mL", "4 min", site="effect")
    lin = tci(lin_model, "20 ng/mL", "4 min", site="effect")
    assert mm.rate[0] == pytest.approx(lin.rate[0], rel=1e-5)
    t = np.linspace(0, 4, 801)
    ce_mm = dmtpk.simulate(lin_model, mm.regimen, t).effect_sites["e"]
    ce_lin = dmtpk.simulate(lin_model, lin.regimen, t).effect_sites["e"]
    assert np.max(np.abs(ce_mm - ce_lin)) < 1e-4 * 20.0


def test_effect_site_peak_is_the_target():
    """The effect-site peak of the independent simulation equals the target (0.5 %, the
    issue's bound; the root-found peak is exact to the walker's tolerance, the 0.005-min
    output grid misses it by much less) and the effect site never overshoots it by more."""
    m = two_cpt()
    res = tci(m, "20 ng/mL", "6 min", site="effect")
    t = np.linspace(0, 6, 1201)
    ce = dmtpk.simulate(m, res.regimen, t).effect_sites["e"]
    assert ce.max() == pytest.approx(20.0, rel=5e-3)
    assert ce.max() <= 20.0 * 1.005
    reached = t[np.argmax(ce >= 0.995 * 20.0)]
    assert reached < 4.0
    assert np.all(np.abs(ce[t > reached] - 20.0) < 0.005 * 20.0)


def test_population_of_a_nonlinear_model_is_refused():
    with pytest.raises(dmtpk.ValidationError, match="^n: .*population targeting needs a linear model"):
        tci(two_cpt(), "20 ng/mL", "1 min", n=10, seed=1)


def test_bolus_beyond_the_rate_limit():
    """Pump limited to 0.5 mg/min: the first update adds a bolus (at most max_bolus) and the
    independent simulation is on target at every update (1e-6); a smaller bolus limit is
    warned about, naming both limits, and the target is met from the next update."""
    m = two_cpt()
    res = tci(m, "20 ng/mL", "3 min", max_rate="0.5 mg/min", max_bolus="1 mg")
    assert 0 < res.bolus[0] < 1 and np.all(res.bolus[1:] == 0) and res.rate[0] == 0.5
    sim = dmtpk.simulate(m, res.regimen, np.append(res.time, 3.0))
    assert np.max(np.abs(sim.concentration[1:] / 20.0 - 1)) < 1e-6
    with pytest.warns(TciWarning, match="max_rate and max_bolus: the plasma target"):
        res = tci(m, "20 ng/mL", "3 min", max_rate="0.5 mg/min", max_bolus="0.1 mg")
    assert res.limited.tolist() == [True] + [False] * (res.time.size - 1)
    sim = dmtpk.simulate(m, res.regimen, np.append(res.time, 3.0))
    assert sim.concentration[1] < 0.9 * 20.0
    assert np.max(np.abs(sim.concentration[2:] / 20.0 - 1)) < 1e-6
