"""Iterated steady states of Michaelis-Menten models in the compiled record walker.

References: the single-subject walker (``solve_records`` with SciPy's LSODA at rtol 1e-12 and
its own iterated steady state), and the compiled walker's status (the subject must not be left
to the single-subject walker).
"""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk._kernels import records as kernel
from dmtpk.engines import records as engine
from dmtpk.engines.records import solve_records
from dmtpk.model.spec import model_from_dict
from dmtpk.regimen.records import RECORD_FIELDS, regimen_records

MODEL = model_from_dict({
    "model": {"name": "mm_met", "structure": "two_compartment", "routes": ["iv", "inhaled"],
              "elimination": "michaelis_menten"},
    "parameters": {"VMAX": "0.6 mg/min", "KM": "0.3 mg/L", "V1": "10 L", "Q": "2 L/min",
                   "V2": "20 L", "KA": "0.8 1/min", "F_INH": 0.5, "TLAG_INH": "0.4 min"}})
C = MODEL.compiled
IDX = C.index
TIMES = np.array([0.0, 1.0, 5.0, 12.0, 29.0, 45.0, 70.0])
# Both integrators at tight tolerances; what is left is their integration error over one
# interval, which the iterated steady state inherits (measured: about 1e-9 relative).
RTOL = 1e-7


def _records(regimen):
    return regimen_records(regimen, central=IDX["central"], depot=IDX["depot"],
                           n_states=C.n_states, times=TIMES, f_inhaled=0.5, lag_inhaled=0.4,
                           linear=False)


def _kernel_states(rec, theta):
    """The compiled walker alone (no fallback): states and status."""
    n_rec = rec["time"].size
    theta_rec = np.repeat(theta[None, :], n_rec, axis=0)
    mm = C.mm_parameters(theta_rec)
    out = np.zeros((n_rec, C.n_states))
    status = np.zeros(1, dtype=np.int64)
    srec = np.zeros(1, dtype=np.int64)
    dyn = np.array([k for k in range(C.n_states) if k not in C.accumulators], dtype=np.int64)
    nan = np.full((n_rec, C.n_states), np.nan)
    kernel.walk_batch(theta_rec, mm, C.layout, float(C.mass_ratio),
                      np.array([0, n_rec], dtype=np.int64),
                      *(np.ascontiguousarray(rec[k]) for k in RECORD_FIELDS), nan, nan, dyn,
                      np.zeros((1, C.n_states)), out, status, srec, 16, 1e-11, 1e-15, 1e-12)
    return out, int(status[0])


def _walker_states(rec, theta):
    return solve_records(C.system_matrix(theta), *(rec[k] for k in RECORD_FIELDS),
                         accumulators=C.accumulators, method="scipy", ss_mode="iterate",
                         mm=C.mm_parameters(theta), central=IDX["central"],
                         eliminated=IDX["eliminated"], metabolite=IDX["metabolite"],
                         rtol=1e-12, atol=1e-16, ss_tol=1e-12)


@pytest.mark.parametrize("regimen", [
    dmtpk.SteadyState(dmtpk.Bolus(4.0), "30 min"),
    dmtpk.SteadyState(dmtpk.Infusion(dose=4.0, duration=12.0), "30 min"),
    dmtpk.SteadyState(dmtpk.Infusion(dose=4.0, duration=45.0), "30 min"),  # overlapping
    dmtpk.SteadyState(dmtpk.Inhalation(8.0), "30 min") + dmtpk.Bolus(2.0, at=20.0),
], ids=["bolus", "infusion", "overlapping-infusions", "inhaled-lag+bolus"])
def test_iterated_steady_state_equals_the_single_subject_walker(regimen):
    rec = _records(regimen)
    theta = np.array(C.theta)
    got, status = _kernel_states(rec, theta)
    assert status == kernel.STATUS_OK  # iterated in the kernel, not left to the walker
    want = _walker_states(rec, theta)
    dyn = [k for k in range(C.n_states) if k not in C.accumulators]
    scale = np.abs(want[:, dyn]).max()
    np.testing.assert_allclose(got[:, dyn], want[:, dyn], rtol=RTOL, atol=RTOL * scale)
    # the pre-dose state is a steady state: a dose interval later, the same state returns
    assert np.all(np.isfinite(got))


def test_steady_state_repeats_after_one_interval():
    """Conservation of the cycle: the state just before the dose (t = 0, SS record) equals the
    state one interval later without the next dose, to the steady-state tolerance."""
    tau = 30.0
    regimen = dmtpk.SteadyState(dmtpk.Bolus(4.0), tau)
    rec = regimen_records(regimen, central=IDX["central"], depot=IDX["depot"],
                          n_states=C.n_states, times=[tau], linear=False)
    got, status = _kernel_states(rec, np.array(C.theta))
    assert status == kernel.STATUS_OK
    dyn = [k for k in range(C.n_states) if k not in C.accumulators]
    before = got[0, dyn].copy()
    before[IDX["central"]] -= 4.0  # the SS record's state includes its own dose
    np.testing.assert_allclose(got[1, dyn], before, rtol=1e-8, atol=1e-12)


def test_population_of_an_mm_steady_state_regimen():
    regimen = dmtpk.SteadyState(dmtpk.Bolus(4.0), "30 min")
    res = dmtpk.simulate_population(MODEL, regimen, TIMES, n=12, seed=4, keep="all",
                                    omega={"VMAX": 0.09, "V1": 0.09}, rtol=1e-10, atol=1e-14)
    for i in (0, 5, 11):
        th = {k: float(v[i]) for k, v in res.parameters.items()}
        one = dmtpk.simulate(MODEL, regimen, TIMES, parameters=th, rtol=1e-12, atol=1e-16)
        np.testing.assert_allclose(res.concentration[i], one.concentration, rtol=1e-6)


def test_constants_match_the_single_subject_walker():
    assert kernel.SS_MAX_INTERVALS == engine.SS_MAX_INTERVALS
    assert kernel.DEFAULT_SS_TOL == engine.DEFAULT_SS_TOL
