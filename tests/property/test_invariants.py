"""PK invariants that hold whatever the parameter values: superposition, additivity of infusions,
the bolus as a limit of infusions, the infusion peak, dose linearity (and its loss under
Michaelis-Menten elimination), and mass balance.

Expected values here come from conservation laws and from the linearity of the model equations
(a second, independent simulation of the pieces, summed by the test), or from the textbook
closed forms of :mod:`reference.closed_forms`; never from the output being tested.

Tolerances:

* exact engine vs exact engine: 1e-10 relative (both sides are exact solutions computed in
  double precision; the engine's own error is about eps x cond(V) <= ~1e-11);
* SciPy engine (rtol 1e-10, atol 1e-14 mg): 1e-7 relative on trajectories, whose global error
  accumulates over the run, but 1e-8 on mass balance, which a linear multistep integrator
  conserves up to round-off because every step is a linear combination of derivatives whose
  components sum to the input rate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dmtpk
from dmtpk.model.spec import model_from_dict
from reference import closed_forms as cf

DMT_G_PER_MOL = 188.27      # DMT base, C12H16N2 (the parent's molar mass)
METAB_G_PER_MOL = 175.19    # the metabolite's molar mass given in the model dicts below
NG_PER_ML = 1000.0

BASE = {"CL": "1.5 L/min", "V1": "10 L", "Q": "2 L/min", "V2": "20 L", "Q3": "0.5 L/min",
        "V3": "40 L", "KA": "3 1/min", "F_INH": 0.4, "TLAG_INH": "0.5 min",
        "VMAX": "2 mg/min", "KM": "0.5 mg/L", "FM": 0.7, "CLM": "0.1 L/min", "VM": "10 L",
        "KE0": "0.5 1/min", "E0": 0, "EMAX": 10, "EC50": "20 ng/mL", "GAMMA": 2}
STRUCT = {1: "one_compartment", 2: "two_compartment", 3: "three_compartment"}


def make_model(n_cmt=2, inhaled=False, metabolite=False, effect=False, mm=False, **values):
    """A model dict with only the parameters its structure uses (values override BASE)."""
    p = dict(BASE, **values)
    names = ["V1"] + (["VMAX", "KM"] if mm else ["CL"])
    names += ["Q", "V2"] if n_cmt >= 2 else []
    names += ["Q3", "V3"] if n_cmt >= 3 else []
    names += ["KA", "F_INH", "TLAG_INH"] if inhaled else []
    raw = {"model": {"name": "inv", "structure": STRUCT[n_cmt],
                     "elimination": "michaelis_menten" if mm else "linear",
                     "routes": ["iv", "inhaled"] if inhaled else ["iv"]}}
    if metabolite:
        names += ["FM", "CLM", "VM"]
        raw["metabolite"] = {"name": "M", "molar_mass": f"{METAB_G_PER_MOL} g/mol",
                             "parameters": {"CL": "CLM", "V": "VM", "FM": "FM"}}
    if effect:
        names += ["KE0", "E0", "EMAX", "EC50", "GAMMA"]
        raw["effects"] = {"intensity": {
            "link": "effect_compartment", "model": "sigmoid_emax", "unit": "score",
            "threshold": 3,
            "parameters": {k: k for k in ("KE0", "E0", "EMAX", "EC50", "GAMMA")}}}
    raw["parameters"] = {k: p[k] for k in names}
    return model_from_dict(raw)


def assert_close_states(a, b, rtol, what=""):
    """Every state column of ``a`` equals ``b`` within ``rtol`` relative to that column's largest
    magnitude (columns are in different units and span many decades). Returns the worst error."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    scale = np.maximum(np.abs(b).max(axis=0), 1e-300)
    err = float((np.abs(a - b) / scale).max())
    assert err <= rtol, f"{what}: max error {err:.3e} (relative to each state's peak) > {rtol:.0e}"
    return err


def rel_err(a, b):
    """Largest pointwise relative error of a against b where b != 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    nz = b != 0
    return float((np.abs(a[nz] - b[nz]) / np.abs(b[nz])).max())


ENGINE_RTOL = {"analytic": 1e-10, "scipy": 1e-7}


# ------------------------------------------------------------------------------------------------
# Superposition: a repeated regimen is the sum of its doses simulated one at a time
# ------------------------------------------------------------------------------------------------

def _repeated_cases():
    """name -> (regimen given at offset s, interval, number of administrations). Each part of
    the explicit sum is built from the event constructors at its own time (not with
    ``Regimen.shifted``, which is part of what is tested)."""
    return {
        "bolus": (lambda s: dmtpk.Bolus(4.0, at=s), 30.0, 4),
        "infusion": (lambda s: dmtpk.Infusion(rate=0.5, duration=10.0, at=s), 25.0, 3),
        "overlapping_infusions": (lambda s: dmtpk.Infusion(rate=0.2, duration=40.0, at=1.0 + s),
                                  25.0, 3),
        "inhalation_with_lag": (lambda s: dmtpk.Inhalation(8.0, at=0.7 + s), 15.0, 5),
        "bolus_plus_inhalation": (lambda s: dmtpk.Bolus(2.0, at=s)
                                  + dmtpk.Inhalation(6.0, at=2.0 + s, ka=0.8), 20.0, 3),
    }


@pytest.mark.parametrize("engine", ["analytic", "scipy"])
@pytest.mark.parametrize("case", list(_repeated_cases()))
def test_repeated_doses_equal_sum_of_single_doses(case, engine):
    """``regimen.every(ii, times=n)`` equals the sum over k of the regimen given alone at k*ii
    (superposition in a linear model), for every state and the concentration."""
    make, ii, n = _repeated_cases()[case]
    m = make_model(3, inhaled=True, metabolite=True, effect=True)
    t = np.unique(np.concatenate([np.linspace(0.0, 150.0, 301), ii * np.arange(n) + 0.7]))
    rep = dmtpk.simulate(m, (dmtpk.Regimen(()) + make(0.0)).every(ii, times=n), t,
                         method=engine)
    parts = [dmtpk.simulate(m, make(k * ii), t, method=engine) for k in range(n)]
    total = sum(p.states for p in parts)
    assert rep.states.shape == total.shape
    assert_close_states(rep.states, total, ENGINE_RTOL[engine], f"{case}/{engine}")
    assert_close_states(rep.concentration[:, None],
                        sum(p.concentration for p in parts)[:, None], ENGINE_RTOL[engine],
                        f"{case}/{engine} concentration")


@settings(max_examples=20)
@given(dose=st.floats(0.1, 50.0), ii=st.floats(0.5, 60.0), n=st.integers(1, 6),
       start=st.floats(0.0, 20.0), n_cmt=st.integers(1, 3))
def test_superposition_random_bolus_trains(dose, ii, n, start, n_cmt):
    """Random bolus trains (exact engine): ``Bolus(D, at=s).every(ii, times=n)`` equals
    the sum of n separately simulated boluses ``Bolus(D, at=s + k ii)``."""
    m = make_model(n_cmt, effect=True)
    t = np.linspace(0.0, start + n * ii + 30.0, 200)
    rep = dmtpk.simulate(m, dmtpk.Bolus(dose, at=start).every(ii, times=n), t)
    total = sum(dmtpk.simulate(m, dmtpk.Bolus(dose, at=start + k * ii), t).states
                for k in range(n))
    assert_close_states(rep.states, total, 1e-10)


# ------------------------------------------------------------------------------------------------
# Infusions
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("engine", ["analytic", "scipy"])
@pytest.mark.parametrize("t1, t2, at", [(10.0, 20.0, 0.0), (0.3, 7.7, 4.25), (33.0, 0.5, 1.0)])
def test_back_to_back_infusions_equal_one_long_infusion(t1, t2, at, engine):
    """Rate R for T1 then rate R for T2 starting exactly when the first stops is the same input
    function as rate R for T1 + T2, hence the same trajectory."""
    m = make_model(2, metabolite=True, effect=True)
    rate = 0.6
    t = np.unique(np.concatenate([np.linspace(0.0, 90.0, 181), [at + t1, at + t1 + t2]]))
    two = dmtpk.simulate(m, dmtpk.Infusion(rate=rate, duration=t1, at=at)
                         + dmtpk.Infusion(rate=rate, duration=t2, at=at + t1), t, method=engine)
    one = dmtpk.simulate(m, dmtpk.Infusion(rate=rate, duration=t1 + t2, at=at), t,
                         method=engine)
    assert_close_states(two.states, one.states, ENGINE_RTOL[engine], engine)


def test_bolus_is_the_limit_of_ever_shorter_infusions():
    """An infusion of dose D over h converges to the bolus D as h -> 0, with an error O(h).

    One compartment, exactly: after the infusion C_inf/C_bolus = (e^{kh} - 1)/(kh) = 1 + kh/2 +
    O(h^2) (integrate the 1-cmt infusion closed form), so the relative error is
    expm1(kh)/(kh) - 1 at every time after the infusion. Two compartments: the error must
    shrink by ~10 for each tenfold shorter infusion (first order convergence).
    """
    dose = 10.0
    hs = [1e-1, 1e-2, 1e-3, 1e-4]
    t = np.linspace(1.0, 120.0, 120)  # after every infusion has ended

    k = 0.15  # CL/V1 of the 1-cmt model
    m1 = make_model(1)
    bolus1 = dmtpk.simulate(m1, dmtpk.Bolus(dose), t).concentration
    for h in hs:
        inf = dmtpk.simulate(m1, dmtpk.Infusion(dose=dose, duration=h), t).concentration
        expected = math.expm1(k * h) / (k * h) - 1.0
        np.testing.assert_allclose(inf / bolus1 - 1.0, expected, rtol=1e-5)

    m2 = make_model(2, effect=True)
    bolus2 = dmtpk.simulate(m2, dmtpk.Bolus(dose), t)
    errs = []
    for h in hs:
        inf = dmtpk.simulate(m2, dmtpk.Infusion(dose=dose, duration=h), t)
        errs.append(max(rel_err(inf.concentration, bolus2.concentration),
                        rel_err(inf.effect_site, bolus2.effect_site)))
    errs = np.array(errs)
    ratios = errs[:-1] / errs[1:]
    assert np.all(np.diff(errs) < 0), errs
    np.testing.assert_allclose(ratios, 10.0, rtol=0.05)  # log-log slope 1
    assert errs[-1] < 1e-4


@pytest.mark.parametrize("engine", ["analytic", "scipy"])
@pytest.mark.parametrize("n_cmt", [1, 2, 3])
def test_infusion_peak_is_at_its_end(n_cmt, engine):
    """During a constant infusion the central concentration rises (the bolus response of a
    mammillary model is positive) and afterwards it falls, so Cmax is at the end of the
    infusion, even when that time is not on the output grid. For one compartment Cmax is the
    closed form R/(kV)(1 - e^{-kT})."""
    rate, dur, at = 0.4, 12.3, 2.1
    m = make_model(n_cmt)
    t = np.linspace(0.0, 60.0, 41)  # every 1.5 min; the end, 14.4 min, is between 13.5 and 15
    assert not np.any(np.isclose(t, at + dur))
    r = dmtpk.simulate(m, dmtpk.Infusion(rate=rate, duration=dur, at=at), t, method=engine)
    ex = r.metrics().exposure
    # 1e-6 min: the metrics' bounded Brent search (scipy fminbound) stops at about
    # sqrt(eps) x t ~ 2e-7 min here, whatever its xatol; measured 7e-8 to 3.5e-7 min.
    assert ex.tmax == pytest.approx(at + dur, abs=1e-6)
    if n_cmt == 1:
        cmax = float(cf.one_cmt_infusion(at + dur, rate, dur, 10.0, 0.15, t0=at)) * NG_PER_ML
        assert ex.cmax == pytest.approx(cmax, rel=1e-7)


@pytest.mark.parametrize("step", [0.01, 1.0, 5.0])
def test_cmax_tmax_do_not_depend_on_the_output_grid(step):
    """Cmax and Tmax are refined on the continuous solution, so (metrics module docstring)
    "they do not depend on the grid". Profile: a 1 mg bolus at 0 (C falls from 100 ng/mL) and a
    2 mg inhalation at 3 min (F 0.4, KA 3/min, lag 0.5 min) whose absorption peak, ~119.6 ng/mL
    at ~4.36 min, is the global maximum. Expected values: the maximum of the closed-form sum
    (one-compartment bolus + Bateman function) on [3.5, 10] min, where it is unimodal, found
    with a bounded scalar search to 1e-12 min.

    With a 5-min grid the grid maximum is at 5 min and the true peak lies in (0, 5), where the
    profile is not unimodal (it falls from the bolus, then rises after the lag): the bounded
    search used by the metrics converges towards the bolus end and Cmax is reported as the
    grid value 113.5 ng/mL at 5.0 min, 5 % low.
    """
    from scipy.optimize import minimize_scalar

    m = make_model(1, inhaled=True)
    reg = dmtpk.Bolus(1.0) + dmtpk.Inhalation(2.0, at=3.0)

    def closed(s):
        return float(cf.one_cmt_bolus(s, 1.0, 10.0, 0.15)
                     + cf.bateman(s, 2.0, 10.0, 0.15, 3.0, f=0.4, lag=0.5, t0=3.0)) * NG_PER_ML

    best = minimize_scalar(lambda s: -closed(s), bounds=(3.5, 10.0), method="bounded",
                           options={"xatol": 1e-12})
    assert -best.fun > closed(0.0)  # the absorption peak is the global maximum
    t = np.arange(0.0, 30.0 + step / 2, step)
    ex = dmtpk.simulate(m, reg, t).metrics().exposure
    assert ex.cmax == pytest.approx(-best.fun, rel=1e-8)
    assert ex.tmax == pytest.approx(best.x, abs=1e-4)


# ------------------------------------------------------------------------------------------------
# Dose linearity
# ------------------------------------------------------------------------------------------------

@settings(max_examples=25)
@given(scale=st.floats(1e-3, 1e3), n_cmt=st.integers(1, 3), engine=st.sampled_from(
    ["analytic", "scipy"]))
def test_dose_linearity(scale, n_cmt, engine):
    """Linear model: multiplying every dose and rate by c multiplies every state by c."""
    m = make_model(n_cmt, inhaled=True, metabolite=True, effect=True)

    def regimen(c):
        return (dmtpk.Bolus(2.0 * c) + dmtpk.Infusion(rate=0.3 * c, duration=15.0, at=5.0)
                + dmtpk.Inhalation(7.0 * c, at=20.0))

    t = np.linspace(0.0, 80.0, 81)
    one = dmtpk.simulate(m, regimen(1.0), t, method=engine)
    big = dmtpk.simulate(m, regimen(scale), t, method=engine)
    assert_close_states(big.states, scale * one.states, 1e-10 if engine == "analytic" else 1e-7)
    nz = one.concentration > 0
    np.testing.assert_allclose(big.concentration[nz] / one.concentration[nz], scale,
                               rtol=1e-10 if engine == "analytic" else 1e-7)


def test_michaelis_menten_auc_per_dose_rises_with_dose():
    """Michaelis-Menten: well above KM (KM V1 = 5 mg here) elimination saturates, so AUC/dose
    rises with dose; it follows the textbook AUC = C0/(VMAX/V)(KM + C0/2) (Gibaldi & Perrier
    ch. 7). Far below KM the model is nearly linear, AUC/dose -> KM/VMAX.

    AUC is the metrics' trapezoidal AUC on a fine grid (0.05 min), accurate to ~1e-5 relative
    for these smooth profiles, hence rtol 1e-4.
    """
    v, vmax, km = 10.0, 2.0, 0.5
    m = make_model(1, mm=True)
    doses = [0.005, 5.0, 50.0, 500.0]
    t = np.linspace(0.0, 600.0, 12001)
    auc_per_dose = []
    for d in doses:
        r = dmtpk.simulate(m, dmtpk.Bolus(d), t)
        assert r.engine == "scipy"
        auc = r.metrics().exposure.auc / NG_PER_ML  # mg min/L
        assert auc == pytest.approx(cf.mm_one_cmt_bolus_auc(d, v, vmax, km), rel=1e-4)
        auc_per_dose.append(auc / d)
    auc_per_dose = np.array(auc_per_dose)
    assert np.all(np.diff(auc_per_dose) > 0)
    assert auc_per_dose[-1] > 20 * auc_per_dose[0]  # 500 mg: C0 = 100 KM
    assert auc_per_dose[0] == pytest.approx(km / vmax, rel=1e-3)
    # Concentration is not proportional to dose either.
    c1 = dmtpk.simulate(m, dmtpk.Bolus(50.0), [30.0]).concentration[0]
    c10 = dmtpk.simulate(m, dmtpk.Bolus(500.0), [30.0]).concentration[0]
    assert c10 / c1 > 20.0


# ------------------------------------------------------------------------------------------------
# Mass balance
# ------------------------------------------------------------------------------------------------

def _mass_regimen():
    """Bolus, overlapping infusions, inhalations (model F/KA/lag and an event's own), later
    doses; the delivered amount at time t is computed by hand in ``_delivered``."""
    return (dmtpk.Bolus(3.0, at=1.0)
            + dmtpk.Infusion(rate=0.25, duration=30.0, at=2.0)
            + dmtpk.Infusion(dose=4.0, duration=5.0, at=10.0)
            + dmtpk.Inhalation(12.0, at=0.0)
            + dmtpk.Inhalation(9.0, at=25.0, f=0.8, ka=0.6, lag=2.0)
            + dmtpk.Bolus(1.0, at=60.0))


def _delivered(t, f_inh=0.4, lag_inh=0.5):
    """Amount (mg) that has entered the body (central or a depot) by time t, by hand:
    boluses whole, infusions at their rate, inhaled doses F x dose at dose time + lag."""
    t = np.asarray(t, dtype=float)
    out = 3.0 * (t >= 1.0) + 1.0 * (t >= 60.0)
    out = out + 0.25 * np.clip(t - 2.0, 0.0, 30.0) + (4.0 / 5.0) * np.clip(t - 10.0, 0.0, 5.0)
    out = out + f_inh * 12.0 * (t >= 0.0 + lag_inh) + 0.8 * 9.0 * (t >= 27.0)
    return out


BODY_PREFIXES = ("depot", "central", "peripheral_")


@pytest.mark.parametrize("engine, mm", [("analytic", False), ("scipy", False), ("scipy", True)])
@pytest.mark.parametrize("n_cmt", [1, 2, 3])
def test_mass_balance(n_cmt, engine, mm):
    """Depot(s) + central + peripherals + eliminated = amount delivered so far, at every output
    time (1e-8 relative), and the engine's input_until agrees with the hand-computed delivered
    amount. Effect compartments (concentrations) and the metabolite are not in the sum."""
    m = make_model(n_cmt, inhaled=True, metabolite=True, effect=True, mm=mm)
    t = np.unique(np.concatenate([np.linspace(0.0, 120.0, 241),
                                  [0.5, 1.0, 2.0, 10.0, 15.0, 27.0, 32.0, 60.0]]))
    r = dmtpk.simulate(m, _mass_regimen(), t, method=engine)
    assert r.engine == engine
    delivered = _delivered(t)
    np.testing.assert_allclose(r.events.input_until(t), delivered, rtol=1e-13, atol=1e-13)
    names = [n for n in r.amounts if n.startswith(BODY_PREFIXES)]
    assert "depot_2" in names  # the inhalation with its own KA has its own depot
    body = sum(r.amounts[n] for n in names)
    total = body + r.amounts["eliminated"]
    pos = delivered > 0
    assert rel_err(total[pos], delivered[pos]) <= 1e-8
    assert np.all(np.abs(total[~pos]) <= 1e-12)


@pytest.mark.parametrize("engine, mm", [("analytic", False), ("scipy", False), ("scipy", True)])
def test_metabolite_mass_balance(engine, mm):
    """Metabolite formed = FM x (M_metabolite / M_DMT) x parent eliminated:
    metabolite + metabolite_eliminated = FM mass_ratio eliminated at every time."""
    m = make_model(2, inhaled=True, metabolite=True, effect=True, mm=mm)
    mass_ratio = METAB_G_PER_MOL / DMT_G_PER_MOL
    assert m.compiled.mass_ratio == pytest.approx(mass_ratio, rel=1e-14)
    fm = BASE["FM"]
    t = np.linspace(0.0, 240.0, 241)
    r = dmtpk.simulate(m, _mass_regimen(), t, method=engine)
    formed = r.amounts["metabolite (M)"] + r.amounts["metabolite_eliminated"]
    expected = fm * mass_ratio * r.amounts["eliminated"]
    pos = expected > 0
    assert pos.sum() > 200
    assert rel_err(formed[pos], expected[pos]) <= 1e-8
    assert np.all(np.abs(formed[~pos]) <= 1e-12)
