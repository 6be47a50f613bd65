"""The SciPy integrator and the exact engine agree on randomly drawn linear models and regimens.

The two engines share only the system matrix; one is an eigendecomposition / matrix-exponential
solution, the other ``solve_ivp`` (LSODA, rtol 1e-10, atol 1e-14 mg) restarted at every event.
Neither output is the "expected" value of the other's code: agreement of two independent
solution methods of the same linear ODE is the check.

Tolerance: 1e-6 relative, wherever the value is above 1e-6 of its own peak. The integrator's
local tolerance is 1e-10; its global error grows with the number of steps and with stiffness
(rate constants here span ~3e-5 to 30 1/min), and in a tail far below the peak it is set by the
absolute tolerance, hence the floor at 1e-6 of the peak. Two absolute floors are added and
explained in ``_check``: round-off of the exact engine at exact zeros, and 1e6 x atol, below
which no integrator run at atol can promise 1e-6 relative.

Examples are bounded (at most 4 dose events, 161 output times, 3 compartments) so that the file
runs in well under a minute with the "ci" profile (60 examples).
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

import dmtpk
from dmtpk.model.spec import model_from_dict
from reference import closed_forms as cf

RTOL = 1e-6
FLOOR = 1e-6
#: Absolute tolerance of the integrator (mg; mg/L in effect compartments), 100 x below the
#: engine's default (1e-14). With the default, amounts of ~1e-8 mg (1e-6 of the peak of a small
#: dose into a large volume, or a peripheral compartment in a long tail) are atol-controlled
#: and come out ~1e-6 relative, on the tolerance line. (Much smaller values, 1e-18 and below,
#: make LSODA emit repeated time points in long tails, which SciPy's OdeSolution rejects.)
ODE_ATOL = 1e-16

STRUCT = {1: "one_compartment", 2: "two_compartment", 3: "three_compartment"}


def _pos(lo, hi):
    """Log-uniform-ish positive floats in [lo, hi] (rounded to keep examples readable)."""
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda x: float(f"{10 ** x:.4g}"))


def _times(hi):
    """Times and lags in [0, hi] min on a 0.001 min grid (readable examples; event times that
    nearly coincide are tested on purpose in ``test_event_times_one_ulp_apart``)."""
    return st.integers(0, int(round(hi * 1000))).map(lambda i: i / 1000)


@st.composite
def models(draw):
    n = draw(st.integers(1, 3))
    inhaled = draw(st.booleans())
    effect = draw(st.booleans())
    metabolite = draw(st.booleans())
    p = {"CL": f"{draw(_pos(0.05, 30))} L/min", "V1": f"{draw(_pos(1, 300))} L"}
    if n >= 2:
        p.update(Q=f"{draw(_pos(0.05, 10))} L/min", V2=f"{draw(_pos(1, 300))} L")
    if n >= 3:
        p.update(Q3=f"{draw(_pos(0.01, 5))} L/min", V3=f"{draw(_pos(1, 500))} L")
    if inhaled:
        p.update(KA=f"{draw(_pos(0.05, 10))} 1/min", F_INH=draw(st.floats(0.05, 1.0)))
        if draw(st.booleans()):
            p["TLAG_INH"] = f"{draw(_times(2.0))} min"
    raw = {"model": {"name": "rand", "structure": STRUCT[n],
                     "routes": ["iv", "inhaled"] if inhaled else ["iv"]}}
    if metabolite:
        p.update(FM=draw(st.floats(0.1, 1.0)), CLM=f"{draw(_pos(0.01, 2))} L/min",
                 VM=f"{draw(_pos(1, 50))} L")
        raw["metabolite"] = {"name": "M", "molar_mass": "175.19 g/mol",
                             "parameters": {"CL": "CLM", "V": "VM", "FM": "FM"}}
    if effect:
        p.update(KE0=f"{draw(_pos(0.02, 5))} 1/min", E0=0, EMAX=10, EC50="20 ng/mL", GAMMA=2)
        raw["effects"] = {"intensity": {
            "link": "effect_compartment", "model": "sigmoid_emax", "unit": "score",
            "parameters": {k: k for k in ("KE0", "E0", "EMAX", "EC50", "GAMMA")}}}
        if metabolite and draw(st.booleans()):  # the effect site driven by the metabolite
            raw["effects"]["intensity"]["driver"] = "metabolite"
    raw["parameters"] = p
    return raw


@st.composite
def regimens(draw, inhaled):
    kinds = ["bolus", "infusion"] + (["inhalation"] * 2 if inhaled else [])
    events = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(kinds))
        at = draw(_times(60.0))
        if kind == "bolus":
            events.append(dmtpk.Bolus(draw(_pos(0.1, 50)), at=at))
        elif kind == "infusion":
            events.append(dmtpk.Infusion(rate=draw(_pos(0.01, 5)),
                                         duration=draw(_pos(0.1, 60)), at=at))
        else:
            kw = {}
            if draw(st.booleans()):  # the event's own F, KA and lag instead of the model's
                kw = {"f": draw(st.floats(0.1, 1.0)), "ka": draw(_pos(0.05, 10)),
                      "lag": draw(_times(3.0))}
            events.append(dmtpk.Inhalation(draw(_pos(0.1, 50)), at=at, **kw))
    return dmtpk.Regimen(tuple(events))


def _check(raw, regimen, t_end):
    model = model_from_dict(raw)
    t = np.unique(np.concatenate([np.linspace(0.0, t_end, 161),
                                  [ev.at for ev in regimen if ev.at <= t_end]]))
    exact = dmtpk.simulate(model, regimen, t, method="analytic")
    ode = dmtpk.simulate(model, regimen, t, method="scipy", atol=ODE_ATOL)
    assert exact.engine == "analytic" and ode.engine == "scipy"
    # Absolute floors. (1) Round-off: a state that is exactly zero (an effect compartment at
    # the instant of the only dose, a depot no dose entered) comes out of the eigen form as
    # ~eps x the largest state, not 0: 1e-12 of the total input. (2) The integrator controls
    # |error| <= rtol |y| + atol per step, so a relative error of 1e-6 can only be asked of
    # values above ~1e6 x atol (mg for amounts, mg/L for effect compartments). Below the larger
    # of the two floors a value is not compared (it must still be small).
    tiny = max(1e-12 * exact.events.total_input, 1e6 * ODE_ATOL)
    v1 = model.value("V1")
    series = {"concentration": (ode.concentration, exact.concentration, 1000 * tiny / v1)}
    if model.effects:
        series["effect_site"] = (ode.effect_site, exact.effect_site, 1000 * tiny)
    for name in exact.amounts:  # every state: depots, peripherals, metabolite, eliminated...
        series[name] = (ode.amounts[name], exact.amounts[name], tiny)
    worst = 0.0
    for name, (got, ref, floor) in series.items():
        peak = np.abs(ref).max()
        keep = np.abs(ref) > max(FLOOR * peak, floor)
        assert np.all(np.abs(got[~keep]) <= max(2 * FLOOR * peak, 2 * floor)), name
        if not keep.any():
            continue
        err = np.abs(got[keep] - ref[keep]) / np.abs(ref[keep])
        worst = max(worst, float(err.max()))
        assert err.max() <= RTOL, (f"{name}: scipy vs analytic {err.max():.2e} at "
                                   f"t = {t[keep][np.argmax(err)]:.4g} min")
    return worst


@given(data=st.data())
@example(data=None)  # the fixed example below: every feature at once
def test_scipy_engine_agrees_with_exact_engine(data):
    """Random linear model (1-3 compartments, optional inhaled depot, metabolite and effect
    compartment driven by the parent or the metabolite) and random regimen (boluses, infusions,
    inhalations at random times): every output of the SciPy engine equals the exact engine's
    within 1e-6 relative above 1e-6 of the peak."""
    if data is None:
        raw = {"model": {"name": "all", "structure": "three_compartment",
                         "routes": ["iv", "inhaled"]},
               "parameters": {"CL": "1.5 L/min", "V1": "10 L", "Q": "2 L/min", "V2": "20 L",
                              "Q3": "0.5 L/min", "V3": "40 L", "KA": "0.15 1/min",  # KA = k10
                              "F_INH": 0.4, "TLAG_INH": "0.5 min", "KE0": "0.5 1/min", "E0": 0,
                              "EMAX": 10, "EC50": "20 ng/mL", "GAMMA": 2, "FM": 1.0,
                              "CLM": "0.1 L/min", "VM": "10 L"},
               "effects": {"intensity": {"link": "effect_compartment", "model": "sigmoid_emax",
                                         "parameters": {k: k for k in ("KE0", "E0", "EMAX",
                                                                       "EC50", "GAMMA")}}},
               "metabolite": {"name": "M", "molar_mass": "175.19 g/mol",
                              "parameters": {"CL": "CLM", "V": "VM", "FM": "FM"}}}
        reg = (dmtpk.Bolus(5.0, at=1.0) + dmtpk.Infusion(rate=0.5, duration=20.0, at=3.0)
               + dmtpk.Inhalation(20.0) + dmtpk.Inhalation(8.0, at=30.0, f=1.0, ka=2.0, lag=1.0))
        _check(raw, reg, 180.0)
        return
    raw = data.draw(models(), label="model")
    reg = data.draw(regimens("inhaled" in raw["model"]["routes"]), label="regimen")
    t_end = data.draw(st.sampled_from([60.0, 120.0, 240.0]), label="t_end")
    _check(raw, reg, t_end)


# ------------------------------------------------------------------------------------------------
# Event times that differ by one unit in the last place
# ------------------------------------------------------------------------------------------------

def test_event_times_one_ulp_apart():
    """An infusion from 0.1 min lasting 0.2 min ends at 0.1 + 0.2 = 0.30000000000000004 min,
    one ulp after a bolus at 0.3 min: the event table then has a segment 5.6e-17 min long.
    Nothing happens in it, and both engines must give the textbook answer, the sum of the
    one-compartment infusion and bolus closed forms (Gibaldi & Perrier ch. 1).

    Regression guard: LSODA rejects a span of a few ulp ("Illegal input detected"), and one of
    ~1e-300 min makes it loop for ever, so the SciPy engine must not hand such a segment to
    the integrator (without that, it raised SolverError at t = 0.3 min here, and a
    Michaelis-Menten model, which only the SciPy engine runs, could not take this regimen).
    """
    raw = {"model": {"name": "ulp", "structure": "one_compartment", "routes": ["iv"]},
           "parameters": {"CL": "1.5 L/min", "V1": "10 L"}}
    model = model_from_dict(raw)
    reg = dmtpk.Infusion(rate=1.0, duration=0.2, at=0.1) + dmtpk.Bolus(5.0, at=0.3)
    t = np.linspace(0.0, 30.0, 61)
    expected = (cf.one_cmt_infusion(t, 1.0, 0.2, 10.0, 0.15, t0=0.1)
                + cf.one_cmt_bolus(t, 5.0, 10.0, 0.15, t0=0.3)) * 1000.0
    exact = dmtpk.simulate(model, reg, t, method="analytic")
    np.testing.assert_allclose(exact.concentration, expected, rtol=1e-10)
    ode = dmtpk.simulate(model, reg, t, method="scipy")
    np.testing.assert_allclose(ode.concentration, expected, rtol=1e-7)
    # The same regimen on a Michaelis-Menten model (SciPy engine only): it runs, and mass
    # balance holds (central + eliminated = 0.2 mg infused + 5 mg bolus once both are in).
    mm = model_from_dict({"model": {"name": "ulp_mm", "structure": "one_compartment",
                                    "elimination": "michaelis_menten", "routes": ["iv"]},
                          "parameters": {"VMAX": "2 mg/min", "KM": "0.5 mg/L", "V1": "10 L"}})
    r = dmtpk.simulate(mm, reg, t)
    late = t >= 0.5
    np.testing.assert_allclose((r.amounts["central"] + r.amounts["eliminated"])[late], 5.2,
                               rtol=1e-8)
