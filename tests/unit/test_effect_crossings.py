"""Effect onset, offset and duration from ``Result.metrics()`` against closed forms.

Expected values:

* Direct link, one-compartment IV bolus, sigmoid Emax: the plasma concentration is
  C(t) = C0 e^{-k(t - t_dose)} (Gibaldi & Perrier ch. 1), monotone after the dose, so the response
  is beyond the threshold from the dose until C falls to the threshold concentration
  Cthr = EC50 ((thr - E0)/(Emax - (thr - E0)))^{1/gamma} (the inverse sigmoid Emax, Holford &
  Sheiner 1981), i.e. until t_dose + ln(C0/Cthr)/k. Both come from
  :mod:`reference.closed_forms`.
* Effect compartment: Ce(t) = C0 ke0/(ke0 - k)(e^{-kt} - e^{-ke0 t}) (Sheiner et al. 1979) rises
  to one peak at ln(ke0/k)/(ke0 - k) and falls; onset and offset are the roots of Ce(t) = Cthr on
  either side of the peak, found here with ``scipy.optimize.brentq`` on the reference closed form
  (not on anything dmtpk computes).

Tolerance: 1e-6 min on onset and offset. The metrics locate crossings with Brent's method to
1e-10 min on the exact engine's solution (accurate to ~1e-11 relative), so the crossing times are
good to far better than 1e-6 min; 1e-6 min (60 us) is still far below any grid spacing, so a
crossing read off the output grid or interpolated linearly would fail.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq

import dmtpk
from dmtpk.model.spec import model_from_dict
from reference import closed_forms as cf

TOL_MIN = 1e-6
NG_PER_ML = 1000.0

CL, V = 1.5, 10.0          # L/min, L -> k = 0.15 1/min
K = CL / V
EC50 = 0.020               # mg/L (20 ng/mL)


def _model(link="direct", form="sigmoid_emax", e0=0.0, emax=10.0, gamma=2.0, ke0=0.5,
           threshold=3.0):
    params = {"CL": f"{CL} L/min", "V1": f"{V} L", "E0": e0, "EMAX": emax,
              "EC50": f"{EC50 * 1000} ng/mL", "GAMMA": gamma}
    roles = {"E0": "E0", "EMAX": "EMAX", "EC50": "EC50", "GAMMA": "GAMMA"}
    if link == "effect_compartment":
        params["KE0"] = f"{ke0} 1/min"
        roles["KE0"] = "KE0"
    return model_from_dict({
        "model": {"name": "fx", "structure": "one_compartment", "routes": ["iv"]},
        "parameters": params,
        "effects": {"intensity": {"link": link, "model": form, "parameters": roles,
                                  "unit": "score", "threshold": threshold}},
    })


def _direct_offset(c0, cthr, t_dose=0.0):
    """t_dose + ln(C0/Cthr)/k: when the monotone one-compartment decay reaches Cthr."""
    return t_dose + math.log(c0 / cthr) / K


# ------------------------------------------------------------------------------------------------
# Direct link
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dose, thr, gamma", [
    (5.0, 3.0, 2.0),
    (5.0, 5.0, 2.87),
    (1.0, 1.0, 1.3),
    (20.0, 9.0, 4.0),
])
def test_direct_bolus_at_zero(dose, thr, gamma):
    """Bolus at t = 0, E0 = 0: beyond the threshold from the first output time (onset 0) until
    ln(C0/Cthr)/k; the peak is E(C0) at t = 0."""
    m = _model(gamma=gamma, threshold=thr)
    r = dmtpk.simulate(m, dmtpk.Bolus(dose), np.linspace(0.0, 120.0, 121))
    fx = r.metrics().effects["intensity"]
    c0 = dose / V
    cthr = float(cf.inverse_sigmoid_emax(thr, 0.0, 10.0, EC50, gamma))
    expected_off = _direct_offset(c0, cthr)
    assert 0.0 < expected_off < 120.0
    assert fx.onset == 0.0
    assert fx.offset == pytest.approx(expected_off, abs=TOL_MIN)
    assert fx.duration == pytest.approx(expected_off, abs=TOL_MIN)
    assert not fx.censored
    assert fx.direction == +1 and fx.threshold == thr
    assert fx.time_to_peak == pytest.approx(0.0, abs=TOL_MIN)
    assert fx.peak == pytest.approx(float(cf.sigmoid_emax(c0, 0.0, 10.0, EC50, gamma)),
                                    rel=1e-9)


@pytest.mark.parametrize("t_dose", [7.3, 30.0])
def test_direct_bolus_at_a_later_time(t_dose):
    """Nothing before the dose; the response jumps above the threshold at the dose (onset = the
    dose time), and falls back at t_dose + ln(C0/Cthr)/k. The output grid (every 2 min) does not
    contain the offset."""
    dose, thr, gamma = 5.0, 3.0, 2.0
    m = _model(gamma=gamma, threshold=thr)
    r = dmtpk.simulate(m, dmtpk.Bolus(dose, at=t_dose), np.arange(0.0, 121.0, 2.0))
    fx = r.metrics().effects["intensity"]
    cthr = float(cf.inverse_sigmoid_emax(thr, 0.0, 10.0, EC50, gamma))
    off = _direct_offset(dose / V, cthr, t_dose)
    assert fx.onset == pytest.approx(t_dose, abs=TOL_MIN)
    assert fx.offset == pytest.approx(off, abs=TOL_MIN)
    assert fx.duration == pytest.approx(off - t_dose, abs=2 * TOL_MIN)
    assert not fx.censored


def test_direct_with_baseline_and_inhibitory_form():
    """E0 != 0 and a response the drug lowers (sigmoid Imax, "beyond" = below the threshold):
    Cthr = IC50 ((E0 - thr)/(Imax - (E0 - thr)))^{1/gamma}."""
    e0, imax, gamma, thr, dose = 10.0, 8.0, 1.7, 6.5, 4.0
    m = _model(form="sigmoid_imax", e0=e0, emax=imax, gamma=gamma, threshold=thr)
    r = dmtpk.simulate(m, dmtpk.Bolus(dose, at=2.0), np.linspace(0.0, 90.0, 46))
    fx = r.metrics().effects["intensity"]
    cthr = float(cf.inverse_sigmoid_emax(thr, e0, imax, EC50, gamma, sign=-1))
    off = _direct_offset(dose / V, cthr, 2.0)
    assert fx.direction == -1
    assert fx.onset == pytest.approx(2.0, abs=TOL_MIN)
    assert fx.offset == pytest.approx(off, abs=TOL_MIN)
    assert fx.duration == pytest.approx(off - 2.0, abs=2 * TOL_MIN)
    assert fx.peak == pytest.approx(float(cf.sigmoid_emax(dose / V, e0, imax, EC50, gamma,
                                                          sign=-1)), rel=1e-9)


def test_direct_with_baseline_stimulatory():
    """E0 = 1.5 (below the threshold): Cthr from the inverse with E0."""
    e0, thr, gamma, dose = 1.5, 4.0, 2.5, 2.0
    m = _model(e0=e0, gamma=gamma, threshold=thr)
    r = dmtpk.simulate(m, dmtpk.Bolus(dose), np.linspace(0.0, 60.0, 61))
    fx = r.metrics().effects["intensity"]
    cthr = float(cf.inverse_sigmoid_emax(thr, e0, 10.0, EC50, gamma))
    assert fx.onset == 0.0
    assert fx.offset == pytest.approx(_direct_offset(dose / V, cthr), abs=TOL_MIN)


@pytest.mark.parametrize("dose, thr", [
    (0.1, 3.0),     # C0 = 10 ng/mL < Cthr = 13.1 ng/mL
    (50.0, 10.0),   # threshold = Emax: no concentration reaches it
])
def test_direct_threshold_never_reached(dose, thr):
    """C0 < Cthr (or no Cthr exists): onset and offset NaN, duration 0, not censored."""
    m = _model(threshold=thr)
    cthr = cf.inverse_sigmoid_emax(thr, 0.0, 10.0, EC50, 2.0)
    assert np.isnan(cthr) or dose / V < cthr  # the premise, from the closed form
    r = dmtpk.simulate(m, dmtpk.Bolus(dose), np.linspace(0.0, 60.0, 61))
    fx = r.metrics().effects["intensity"]
    assert math.isnan(fx.onset)
    assert math.isnan(fx.offset)
    assert fx.duration == 0.0
    assert not fx.censored


def test_threshold_override_in_metrics_call():
    """``metrics(thresholds=...)`` replaces the model's threshold."""
    m = _model(threshold=3.0)
    r = dmtpk.simulate(m, dmtpk.Bolus(5.0), np.linspace(0.0, 60.0, 61))
    fx = r.metrics(thresholds={"intensity": 7.0}).effects["intensity"]
    cthr = float(cf.inverse_sigmoid_emax(7.0, 0.0, 10.0, EC50, 2.0))
    assert fx.threshold == 7.0
    assert fx.offset == pytest.approx(_direct_offset(0.5, cthr), abs=TOL_MIN)


def test_direct_censored_when_still_beyond_at_the_end():
    """The last output time comes before the closed-form offset: offset NaN, censored, and the
    duration runs from onset to the last time."""
    m = _model(threshold=3.0)
    cthr = float(cf.inverse_sigmoid_emax(3.0, 0.0, 10.0, EC50, 2.0))
    off = _direct_offset(0.5, cthr, 1.0)
    t_end = off - 5.0
    r = dmtpk.simulate(m, dmtpk.Bolus(5.0, at=1.0), np.linspace(0.0, t_end, 50))
    fx = r.metrics().effects["intensity"]
    assert fx.censored
    assert math.isnan(fx.offset)
    assert fx.onset == pytest.approx(1.0, abs=TOL_MIN)
    assert fx.duration == pytest.approx(t_end - 1.0, abs=2 * TOL_MIN)


def test_direct_two_separate_episodes():
    """Two boluses far enough apart that the effect ends in between: onset is the first dose,
    offset the end of the second episode, duration the sum of both episodes.

    Closed form: the first episode ends at ln(C0/Cthr)/k; after the second dose at t2 the
    concentration is (D1 e^{-k t2} + D2)/V e^{-k(t - t2)} (superposition), so the second episode
    ends at t2 + ln(C(t2+)/Cthr)/k.
    """
    d1, d2, t2, thr = 5.0, 3.0, 40.0, 3.0
    m = _model(threshold=thr)
    r = dmtpk.simulate(m, dmtpk.Bolus(d1) + dmtpk.Bolus(d2, at=t2), np.linspace(0, 120, 121))
    fx = r.metrics().effects["intensity"]
    cthr = float(cf.inverse_sigmoid_emax(thr, 0.0, 10.0, EC50, 2.0))
    end1 = _direct_offset(d1 / V, cthr)
    c_t2 = (d1 * math.exp(-K * t2) + d2) / V
    end2 = _direct_offset(c_t2, cthr, t2)
    assert end1 < t2  # the premise: the first episode is over before the second dose
    assert fx.onset == 0.0
    assert fx.offset == pytest.approx(end2, abs=TOL_MIN)
    assert fx.duration == pytest.approx(end1 + (end2 - t2), abs=3 * TOL_MIN)


# ------------------------------------------------------------------------------------------------
# Effect compartment
# ------------------------------------------------------------------------------------------------

def _ce_crossings(dose, ke0, cthr, t_dose=0.0, t_max=1e4):
    """Onset and offset of Ce(t) > Cthr by brentq on the reference closed form; Ce rises to a
    single peak at t_dose + ln(ke0/k)/(ke0 - k) and then falls, so each side has one root."""
    def g(t):
        return float(cf.effect_cmt_one_cmt_bolus(t, dose, V, K, ke0, t0=t_dose)) - cthr

    t_peak = t_dose + cf.effect_cmt_peak_time(K, ke0)
    if g(t_peak) <= 0:
        return math.nan, math.nan, t_peak
    on = brentq(g, t_dose, t_peak, xtol=1e-13, rtol=4 * np.finfo(float).eps)
    off = brentq(g, t_peak, t_max, xtol=1e-13, rtol=4 * np.finfo(float).eps)
    return on, off, t_peak


@pytest.mark.parametrize("ke0, dose, thr, gamma, t_dose", [
    (0.5, 5.0, 3.0, 2.0, 0.0),
    (1.38, 2.0, 5.0, 2.87, 0.0),
    (0.05, 10.0, 4.0, 1.5, 3.5),    # KE0 < k: slow equilibration, Ce peaks late
    # KE0 == k exactly: the closed form's limit, and the exact engine's matrix-exponential
    # path, which evaluates one expm per time (~10-20 s for the metrics' 4001-point grid).
    pytest.param(0.15, 5.0, 3.0, 2.0, 1.0, marks=pytest.mark.slow),
])
def test_effect_compartment_onset_offset(ke0, dose, thr, gamma, t_dose):
    """Onset and offset equal the roots of the closed-form Ce(t) = Cthr (brentq) within
    1e-6 min; the peak response and its time follow from the closed-form Ce peak."""
    m = _model(link="effect_compartment", ke0=ke0, gamma=gamma, threshold=thr)
    cthr = float(cf.inverse_sigmoid_emax(thr, 0.0, 10.0, EC50, gamma))
    on, off, t_peak = _ce_crossings(dose, ke0, cthr, t_dose)
    assert np.isfinite(on) and off < 240.0
    r = dmtpk.simulate(m, dmtpk.Bolus(dose, at=t_dose), np.linspace(0.0, 240.0, 97))
    fx = r.metrics().effects["intensity"]
    assert fx.onset == pytest.approx(on, abs=TOL_MIN)
    assert fx.offset == pytest.approx(off, abs=TOL_MIN)
    assert fx.duration == pytest.approx(off - on, abs=2 * TOL_MIN)
    assert not fx.censored
    ce_peak = float(cf.effect_cmt_one_cmt_bolus(t_peak, dose, V, K, ke0, t0=t_dose))
    assert fx.peak == pytest.approx(float(cf.sigmoid_emax(ce_peak, 0.0, 10.0, EC50, gamma)),
                                    rel=1e-9)
    # At a smooth maximum the time is determined only to ~sqrt(eps) relative of the flat top.
    assert fx.time_to_peak == pytest.approx(t_peak, abs=1e-4)


def test_effect_compartment_hysteresis_threshold_not_reached():
    """Plasma exceeds Cthr but the effect site never does (Ce peaks at (k/ke0)^{k/(ke0-k)} C0,
    here 0.6 C0 < Cthr < C0): no onset, duration 0 (a direct link would have an effect)."""
    ke0, thr = 0.5, 3.0
    cthr = float(cf.inverse_sigmoid_emax(thr, 0.0, 10.0, EC50, 2.0))
    dose = 1.5 * cthr * V  # C0 = 1.5 Cthr
    ce_max = float(cf.effect_cmt_one_cmt_bolus(cf.effect_cmt_peak_time(K, ke0), dose, V, K, ke0))
    assert ce_max < cthr < dose / V
    m = _model(link="effect_compartment", ke0=ke0, threshold=thr)
    fx = dmtpk.simulate(m, dmtpk.Bolus(dose), np.linspace(0, 60, 61)).metrics().effects[
        "intensity"]
    assert math.isnan(fx.onset) and math.isnan(fx.offset)
    assert fx.duration == 0.0 and not fx.censored
