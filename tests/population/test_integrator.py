"""The compiled integrator (closed-form depots, subjects side by side in lanes) on populations
whose subjects differ in their dosing times (a lag time with variability) and in stiffness.

Checks: a subject's result does not depend on how subjects are grouped (each subject alone,
chunk_size=1, against full lanes in the default chunks, bit for bit); agreement with SciPy
(solve_ivp, rtol 1e-10, the single-subject engine) to 1e-6 when the lag varies; a depot that no
dose reaches needs no valid KA; the lanes' step-size factor against the power law.
"""

from __future__ import annotations

import numpy as np

import dmtpk
from dmtpk._kernels.ode import LANES, _step_factors

from .conftest import TIMES, w_model
from .test_kernels_vs_engines import _check

MIXED = (dmtpk.Inhalation(20.0) + dmtpk.Bolus(3.0, at=10.0)
         + dmtpk.Infusion(rate=0.5, duration=7.0, at=15.0))


def _lagged(ke0="0.5 1/min", ke0_variance=0.09):
    return w_model("michaelis_menten",
                   omega={"VMAX": 0.09, "V1": 0.09, "Q": 0.09, "KE0": ke0_variance,
                          "TLAG_INH": 0.3},
                   extra={"parameters": {"TLAG_INH": "0.5 min", "KE0": ke0}})


def test_subjects_do_not_depend_on_grouping():
    """Each subject alone (chunk_size=1) and in the default chunks give the same bits. KE0
    varies widely (30 /min, variance 4: the effect compartments of some subjects are stiff and
    finish their segments with ROS2, others not) and so does the lag (each subject its own
    dosing segments)."""
    model = _lagged(ke0="30 1/min", ke0_variance=4.0)
    alone = dmtpk.simulate_population(model, MIXED, TIMES, n=2 * LANES + 3, seed=12, chunk_size=1)
    grouped = dmtpk.simulate_population(model, MIXED, TIMES, n=2 * LANES + 3, seed=12)
    assert np.ptp(grouped.parameters["TLAG_INH"]) > 0.1
    assert np.ptp(grouped.parameters["KE0"]) > 10.0
    for a, b in ((alone.concentration, grouped.concentration), (alone.effect, grouped.effect),
                 (alone.effect_site, grouped.effect_site)):
        assert np.array_equal(a, b)


def test_lag_variability_matches_scipy():
    """Subjects with different lags (different segment times) against SciPy, 1e-6."""
    _check(_lagged(), MIXED, 1e-6, n=10)


def test_undosed_depot_needs_no_valid_ka():
    """IV doses only, KA with normal variability wide enough to go negative: the depot is
    never dosed, so its KA does not matter (as in the closed form), and the subjects agree
    with SciPy."""
    model = w_model("michaelis_menten", omega={"KA": 9.0, "V1": 0.09})
    pop = dmtpk.simulate_population(model, dmtpk.Bolus(20.0), TIMES, n=40, seed=2,
                                    distribution={"KA": "normal"})
    assert (pop.parameters["KA"] <= 0).any()
    assert np.all(np.isfinite(pop.concentration))
    _check(model, dmtpk.Bolus(20.0), 1e-6, n=4)


def test_step_factors_match_the_power_law():
    """The lanes' step-size factor (polynomial log and exp) against 0.9 en^(-1/5) from numpy,
    clamped to [0.2, 5] after an accepted step and [0.2, 1] after a rejected one: 1e-6
    relative; a NaN norm gives 0.2."""
    en = np.concatenate([np.geomspace(1e-12, 1e12, LANES - 5), [0.0, 1.0, np.inf, np.nan, 7.0]])
    fac = np.empty(LANES)
    _step_factors(en, fac, np.empty(LANES), np.empty(LANES, dtype=np.int64),
                  np.empty(LANES, dtype=np.int64))
    with np.errstate(divide="ignore", invalid="ignore"):
        f = 0.9 * np.maximum(en, 1e-10) ** -0.2
    ref = np.where(en <= 1.0, np.clip(f, 0.2, 5.0), np.clip(f, 0.2, 1.0))
    ref[np.isnan(en)] = 0.2
    np.testing.assert_allclose(fac, ref, rtol=1e-6)
