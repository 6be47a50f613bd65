"""The exact (analytic) engine against textbook closed forms.

Every expected value comes from :mod:`reference.closed_forms` (tests/reference/closed_forms.py),
formulas written out from the textbooks in plain numpy and sharing no code with ``dmtpk``:
one-compartment bolus and infusion, two- and three-compartment bolus by macro-constants, the
Bateman function, the effect-compartment concentration and the sigmoid Emax model. Multiple doses
are the explicit sum of closed forms (linear superposition).

Tolerance: 1e-10 relative. Both sides are exact solutions evaluated in double precision; the
engine's eigen form errs by about eps x cond(V) relative to the largest state (it switches to
the matrix exponential above cond(V) = 1e5, i.e. keeps that error below ~1e-11), and the
closed forms by a few eps. 1e-10 leaves a margin of ~10 over the engine's own error bound while
being four orders below any ODE-integrator tolerance, so a discretisation, unit or wiring error
(a wrong rate constant, a missed dose, a lag applied twice) cannot hide inside it.
"""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk.model.spec import model_from_dict
from reference import closed_forms as cf

#: See the module docstring.
RTOL = 1e-10
#: mg/L -> ng/mL (definition of the units: 1 mg/L = 1 ug/mL = 1000 ng/mL).
NG_PER_ML = 1000.0

#: Output grid (min): the dose time, very early times (where multi-exponential sums cancel),
#: and a long tail.
TIMES = np.unique(np.concatenate([[0.0], np.geomspace(1e-3, 600.0, 160)]))


def _model(structure, params, routes=("iv",), effect=None, elimination="linear"):
    raw = {"model": {"name": "t", "structure": structure, "elimination": elimination,
                     "routes": list(routes)},
           "parameters": dict(params)}
    if effect is not None:
        raw["effects"] = {"intensity": effect}
    return model_from_dict(raw)


def assert_rel(actual, expected, rtol=RTOL):
    """``actual == expected`` within ``rtol`` relative, pointwise. Returns the largest relative
    error.

    Points whose exact value is zero (before a dose, at the instant a depot or effect
    compartment starts filling) have no relative error; there the engine must give zero up to
    round-off of the largest value, 1e-14 x max|expected| (the eigen form's V V^-1 products
    leave a few eps there, e.g. -4e-16 ng/mL).
    """
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    zero = expected == 0.0
    assert np.all(np.abs(actual[zero]) <= 1e-14 * np.abs(expected).max())
    rel = np.abs(actual[~zero] - expected[~zero]) / np.abs(expected[~zero])
    worst = float(rel.max()) if rel.size else 0.0
    assert worst <= rtol, f"max relative error {worst:.3e} > {rtol:.0e}"
    return worst


# ------------------------------------------------------------------------------------------------
# One compartment
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("cl, v, dose, at", [
    (1.5, 10.0, 5.0, 0.0),
    (26.0, 221.0, 20.0, 0.0),       # Eckernäs-like clearance and volume
    (0.05, 3.0, 0.7, 7.5),          # slow elimination, dose given later
])
def test_one_compartment_bolus(cl, v, dose, at):
    """C = D/V e^{-k(t - t0)}, k = CL/V (Gibaldi & Perrier ch. 1); zero before the dose and D/V
    at the dose time (outputs at an event time are post-event)."""
    m = _model("one_compartment", {"CL": f"{cl} L/min", "V1": f"{v} L"})
    t = np.unique(np.concatenate([TIMES, [at, at + 1e-6]]))
    r = dmtpk.simulate(m, dmtpk.Bolus(dose, at=at), t, method="analytic")
    assert r.engine == "analytic"
    expected = cf.one_cmt_bolus(t, dose, v, cl / v, t0=at) * NG_PER_ML
    assert_rel(r.concentration, expected)
    # The continuous solution gives the same values between grid points.
    tc = np.array([at + 0.123, at + 4.56, at + 77.7])
    assert_rel(r.concentration_at(tc), cf.one_cmt_bolus(tc, dose, v, cl / v, t0=at) * NG_PER_ML)
    assert r.concentration[np.searchsorted(t, at)] == pytest.approx(dose / v * NG_PER_ML,
                                                                     rel=1e-14)


@pytest.mark.parametrize("cl, v, rate, duration, at", [
    (1.5, 10.0, 0.4, 12.0, 0.0),
    (26.0, 221.0, 1.4, 30.0, 5.0),
    (0.3, 8.0, 2.0, 0.75, 2.25),    # short infusion, end not on a round grid point
])
def test_one_compartment_infusion_during_and_after(cl, v, rate, duration, at):
    """C = R/(kV)(1 - e^{-k tau}) during and R/(kV)(1 - e^{-kT}) e^{-k(tau - T)} after a
    zero-order infusion (Gibaldi & Perrier ch. 1)."""
    m = _model("one_compartment", {"CL": f"{cl} L/min", "V1": f"{v} L"})
    end = at + duration
    t = np.unique(np.concatenate([TIMES + at, np.linspace(at, end, 17), [end, end + 1e-7],
                                  [0.0, at / 2]]))
    r = dmtpk.simulate(m, dmtpk.Infusion(rate=rate, duration=duration, at=at), t,
                       method="analytic")
    expected = cf.one_cmt_infusion(t, rate, duration, v, cl / v, t0=at) * NG_PER_ML
    assert_rel(r.concentration, expected)
    during = (t > at) & (t < end)
    assert during.sum() >= 15 and (t > end).sum() >= 30  # both branches were exercised


# ------------------------------------------------------------------------------------------------
# Two and three compartments
# ------------------------------------------------------------------------------------------------

TWO_CMT = [  # CL, V1, Q, V2 (L/min, L)
    (1.5, 10.0, 2.0, 20.0),
    (26.0, 221.0, 2.99, 59.0),      # Eckernäs et al. 2022 typical values
    (0.3, 5.0, 4.0, 50.0),          # fast distribution, slow elimination
    (5.0, 10.0, 0.05, 3.0),         # slow distribution
]


@pytest.mark.parametrize("cl, v1, q, v2", TWO_CMT)
@pytest.mark.parametrize("at", [0.0, 3.3])
def test_two_compartment_bolus(cl, v1, q, v2, at):
    """C = A e^{-alpha t} + B e^{-beta t} with the macro-constants of k10, k12, k21
    (Gibaldi & Perrier ch. 2)."""
    m = _model("two_compartment", {"CL": f"{cl} L/min", "V1": f"{v1} L", "Q": f"{q} L/min",
                                   "V2": f"{v2} L"})
    dose = 12.0
    t = np.unique(np.concatenate([TIMES, TIMES + at]))
    r = dmtpk.simulate(m, dmtpk.Bolus(dose, at=at), t, method="analytic")
    expected = cf.two_cmt_bolus(t, dose, v1, cl / v1, q / v1, q / v2, t0=at) * NG_PER_ML
    assert_rel(r.concentration, expected)


THREE_CMT = [  # CL, V1, Q, V2, Q3, V3 (L/min, L)
    (1.5, 10.0, 2.0, 20.0, 0.5, 40.0),
    (26.0, 221.0, 2.99, 59.0, 0.8, 300.0),
    (0.8, 4.0, 3.0, 15.0, 0.2, 100.0),
    (2.0, 6.0, 0.3, 30.0, 6.0, 12.0),   # the faster distribution via the "third" compartment
]


@pytest.mark.parametrize("cl, v1, q, v2, q3, v3", THREE_CMT)
def test_three_compartment_bolus(cl, v1, q, v2, q3, v3):
    """C = A e^{-alpha t} + B e^{-beta t} + C e^{-gamma t}, exponents the roots of the
    characteristic cubic and coefficients by the standard formula (Gibaldi & Perrier ch. 2)."""
    m = _model("three_compartment", {"CL": f"{cl} L/min", "V1": f"{v1} L", "Q": f"{q} L/min",
                                     "V2": f"{v2} L", "Q3": f"{q3} L/min", "V3": f"{v3} L"})
    dose = 8.0
    r = dmtpk.simulate(m, dmtpk.Bolus(dose), TIMES, method="analytic")
    expected = cf.three_cmt_bolus(TIMES, dose, v1, cl / v1, q / v1, q / v2, q3 / v1,
                                  q3 / v3) * NG_PER_ML
    assert_rel(r.concentration, expected)


def test_three_compartment_repeated_bolus_superposition_of_closed_forms():
    """Three boluses of different sizes: the sum of three shifted closed forms."""
    cl, v1, q, v2, q3, v3 = THREE_CMT[0]
    m = _model("three_compartment", {"CL": f"{cl} L/min", "V1": f"{v1} L", "Q": f"{q} L/min",
                                     "V2": f"{v2} L", "Q3": f"{q3} L/min", "V3": f"{v3} L"})
    doses = [(4.0, 0.0), (2.5, 13.0), (6.0, 41.5)]
    reg = sum(dmtpk.Bolus(d, at=a) for d, a in doses)
    t = np.unique(np.concatenate([TIMES, [13.0, 41.5]]))
    r = dmtpk.simulate(m, reg, t, method="analytic")
    micro = (cl / v1, q / v1, q / v2, q3 / v1, q3 / v3)
    expected = sum(cf.three_cmt_bolus(t, d, v1, *micro, t0=a) for d, a in doses) * NG_PER_ML
    assert_rel(r.concentration, expected)


# ------------------------------------------------------------------------------------------------
# First-order absorption (inhaled depot)
# ------------------------------------------------------------------------------------------------

def _inhaled_model(cl, v, ka, f, lag=None):
    p = {"CL": f"{cl} L/min", "V1": f"{v} L", "KA": f"{ka} 1/min", "F_INH": f}
    if lag is not None:
        p["TLAG_INH"] = f"{lag} min"
    return _model("one_compartment", p, routes=("iv", "inhaled"))


@pytest.mark.parametrize("cl, v, ka, f, lag, at", [
    (1.5, 10.0, 3.0, 0.4, 0.5, 0.0),
    (1.5, 10.0, 3.0, 0.4, None, 2.0),       # no lag parameter: lag 0
    (26.0, 221.0, 0.9, 1.0, 0.25, 1.0),
    (2.0, 10.0, 0.2000002, 0.7, 0.1, 0.0),  # KA within 1e-6 of k: near the 0/0 limit
])
def test_bateman_inhaled_dose(cl, v, ka, f, lag, at):
    """C = F D ka/(V(ka - k)) (e^{-k tau} - e^{-ka tau}), tau = t - t0 - tlag (Bateman 1910;
    Gibaldi & Perrier ch. 1); F, KA and TLAG_INH from the model."""
    m = _inhaled_model(cl, v, ka, f, lag)
    dose = 20.0
    tl = 0.0 if lag is None else lag
    t = np.unique(np.concatenate([TIMES + at, [at + tl, at + tl / 2]]))
    r = dmtpk.simulate(m, dmtpk.Inhalation(dose, at=at), t, method="analytic")
    expected = cf.bateman(t, dose, v, cl / v, ka, f=f, lag=tl, t0=at) * NG_PER_ML
    # At the lag's end and before it the exact value is 0 (the depot has just been filled).
    assert_rel(r.concentration, expected)
    # Mass that has not yet reached plasma sits in the depot: F D e^{-ka tau}.
    tau = np.maximum(t - at - tl, 0.0)
    depot = np.where(t >= at + tl, f * dose * np.exp(-ka * tau), 0.0)
    assert_rel(r.amounts["depot"], depot)


def test_bateman_ka_equal_to_k_uses_the_limit():
    """KA exactly equal to k = CL/V: the Bateman formula's 0/0 limit
    C = F D k tau e^{-k tau}/V (the engine must switch to its matrix-exponential form)."""
    m = _inhaled_model(2.0, 10.0, 0.2, 0.6, 0.3)
    r = dmtpk.simulate(m, dmtpk.Inhalation(15.0), TIMES, method="analytic")
    expected = cf.bateman(TIMES, 15.0, 10.0, 0.2, 0.2, f=0.6, lag=0.3) * NG_PER_ML
    assert_rel(r.concentration, expected)


def test_bateman_event_overrides_f_ka_lag():
    """An Inhalation's own f, ka and lag replace the model's F_INH, KA, TLAG_INH; two
    inhalations with different KA superpose as two Bateman functions."""
    cl, v = 1.5, 10.0
    m = _inhaled_model(cl, v, 3.0, 0.4, 0.5)
    reg = dmtpk.Inhalation(10.0) + dmtpk.Inhalation(6.0, at=4.0, f=0.9, ka=0.7, lag=1.25)
    t = np.unique(np.concatenate([TIMES, [4.0, 5.25]]))
    r = dmtpk.simulate(m, reg, t, method="analytic")
    k = cl / v
    expected = (cf.bateman(t, 10.0, v, k, 3.0, f=0.4, lag=0.5)
                + cf.bateman(t, 6.0, v, k, 0.7, f=0.9, lag=1.25, t0=4.0)) * NG_PER_ML
    assert_rel(r.concentration, expected)


def test_mixed_regimen_is_the_sum_of_closed_forms():
    """Bolus + infusion + inhalation on one 1-compartment model: by linearity the concentration
    is the sum of the three textbook solutions."""
    cl, v, ka, f, lag = 1.5, 10.0, 3.0, 0.4, 0.5
    m = _inhaled_model(cl, v, ka, f, lag)
    reg = (dmtpk.Bolus(5.0, at=1.0) + dmtpk.Infusion(rate=0.3, duration=20.0, at=2.5)
           + dmtpk.Inhalation(30.0, at=10.0))
    t = np.unique(np.concatenate([TIMES, [1.0, 2.5, 10.5, 22.5]]))
    r = dmtpk.simulate(m, reg, t, method="analytic")
    k = cl / v
    expected = (cf.one_cmt_bolus(t, 5.0, v, k, t0=1.0)
                + cf.one_cmt_infusion(t, 0.3, 20.0, v, k, t0=2.5)
                + cf.bateman(t, 30.0, v, k, ka, f=f, lag=lag, t0=10.0)) * NG_PER_ML
    assert_rel(r.concentration, expected)


# ------------------------------------------------------------------------------------------------
# Effect compartment and sigmoid Emax
# ------------------------------------------------------------------------------------------------

def _effect_model(cl, v, ke0, e0=0.0, emax=10.0, ec50="20 ng/mL", gamma=2.0):
    eff = {"link": "effect_compartment", "model": "sigmoid_emax", "unit": "score",
           "parameters": {"KE0": "KE0", "E0": "E0", "EMAX": "EMAX", "EC50": "EC50",
                          "GAMMA": "GAMMA"}}
    return _model("one_compartment", {"CL": f"{cl} L/min", "V1": f"{v} L",
                                      "KE0": f"{ke0} 1/min", "E0": e0, "EMAX": emax,
                                      "EC50": ec50, "GAMMA": gamma}, effect=eff)


@pytest.mark.parametrize("cl, v, ke0, at", [
    (1.5, 10.0, 0.5, 0.0),
    (1.5, 10.0, 2.0, 6.0),
    (26.0, 221.0, 1.38, 0.0),     # Eckernäs-like
    (1.5, 10.0, 0.15, 0.0),       # KE0 == k exactly: the 0/0 limit D/V k t e^{-kt}
])
def test_effect_compartment_one_compartment_bolus(cl, v, ke0, at):
    """Ce = D/V ke0/(ke0 - k)(e^{-kt} - e^{-ke0 t}) (Sheiner et al. 1979), and the response is
    the sigmoid Emax of Ce (Holford & Sheiner 1981) with E0 = 1.5, EMAX = 10, EC50 = 20 ng/mL,
    GAMMA = 2."""
    m = _effect_model(cl, v, ke0, e0=1.5)
    dose = 3.0
    t = np.unique(np.concatenate([TIMES, TIMES + at]))
    r = dmtpk.simulate(m, dmtpk.Bolus(dose, at=at), t, method="analytic")
    ce = cf.effect_cmt_one_cmt_bolus(t, dose, v, cl / v, ke0, t0=at)
    assert_rel(r.effect_site, ce * NG_PER_ML)
    assert_rel(r.amounts["ce_intensity"], ce)  # the state itself is in mg/L
    expected_e = cf.sigmoid_emax(ce, 1.5, 10.0, 0.020, 2.0)
    np.testing.assert_allclose(r.effect, expected_e, rtol=RTOL, atol=0)


def test_reference_inverse_sigmoid_emax_inverts_the_forward_model():
    """Self-check of the reference: E(C(E)) = E for the inverse used by the crossing tests."""
    e = np.linspace(0.01, 9.99, 50)
    for e0, sign in ((0.0, +1), (1.0, +1), (10.5, -1)):
        target = e0 + sign * e
        c = cf.inverse_sigmoid_emax(target, e0, 10.0, 0.02, 2.7, sign=sign)
        np.testing.assert_allclose(cf.sigmoid_emax(c, e0, 10.0, 0.02, 2.7, sign=sign), target,
                                   rtol=1e-12)
    assert np.isnan(cf.inverse_sigmoid_emax(10.0, 0.0, 10.0, 0.02, 2.0))  # Emax never reached


# ------------------------------------------------------------------------------------------------
# Michaelis-Menten (SciPy engine; no exact engine exists for it)
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dose", [0.5, 50.0, 500.0])
def test_michaelis_menten_bolus_matches_lambert_w(dose):
    """One-compartment Michaelis-Menten bolus against its explicit Lambert-W solution
    C = KM W(C0/KM exp((C0 - VMAX t/V)/KM)) (Tang & Xiao 2007).

    Tolerance 1e-7 relative: this is the SciPy engine (rtol 1e-10, atol 1e-14 mg), whose global
    error accumulates over the run; the Lambert-W reference is exact to ~1e-14. The comparison
    stops where C has fallen below 1e-5 of C0, where the integrator's absolute tolerance starts
    to dominate the relative error.
    """
    v, vmax, km = 10.0, 2.0, 0.5
    m = _model("one_compartment", {"VMAX": f"{vmax} mg/min", "KM": f"{km} mg/L", "V1": f"{v} L"},
               elimination="michaelis_menten")
    t = np.linspace(0.0, 400.0, 801)
    r = dmtpk.simulate(m, dmtpk.Bolus(dose), t)
    assert r.engine == "scipy"
    expected = cf.mm_one_cmt_bolus(t, dose, v, vmax, km) * NG_PER_ML
    keep = expected > 1e-5 * expected[0]
    assert keep.sum() > 50
    assert_rel(r.concentration[keep], expected[keep], rtol=1e-7)
