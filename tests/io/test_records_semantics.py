"""PREDPP semantics of the record engine, checked against closed forms and the limit of
repeated doses (never against the code path under test)."""

from __future__ import annotations

import numpy as np
import pytest

from dmtpk.errors import SolverError
from dmtpk import DatasetError, simulate_dataset

from dataset_helpers import CL, K, KA, V, mm_model, obs, one_cmt, records

GRID = np.arange(0.0, 48.0, 1.5)


def _conc(data, **kw):
    return simulate_dataset(one_cmt(), data, **kw).concentration  # ng/mL


def test_addl_expanded_equals_explicit_records():
    lagf = ("LAGT", "BIOAV")
    dose_rows = [(1, 0.0, 1, 100, 0, 1, 0, 12, 3, 0, 1),   # depot bolus every 12 h
                 (1, 2.0, 1, 50, 10, 2, 0, 8, 4, 1.5, 0.6)]  # central infusion, lag and F
    addl = records(sorted(dose_rows + [r + (1.5, 0.6) for r in obs(1, GRID)],
                          key=lambda r: r[1]), extra=lagf)
    explicit_doses = [(1, 12.0 * k, 1, 100, 0, 1, 0, 0, 0, 0, 1) for k in range(4)] + \
                     [(1, 2.0 + 8.0 * k, 1, 50, 10, 2, 0, 0, 0, 1.5, 0.6) for k in range(5)]
    explicit = records(sorted(explicit_doses + [r + (1.5, 0.6) for r in obs(1, GRID)],
                              key=lambda r: (r[1], r[2] == 0)), extra=lagf)
    rv = {"ALAG2": "LAGT", "F2": "BIOAV"}
    for engine in ("analytic", "scipy"):
        a = simulate_dataset(one_cmt(), addl, method=engine, record_values=rv)
        e = simulate_dataset(one_cmt(), explicit, method=engine, record_values=rv)
        ca = a.concentration[addl.item("EVID") == 0]
        ce = e.concentration[explicit.item("EVID") == 0]
        np.testing.assert_allclose(ca, ce, rtol=1e-9, atol=1e-9)


def _explicit_limit(dose, n_doses, ii, extra_cols=(), obs_cmt=2):
    """Concentrations over the last interval after n_doses explicit doses."""
    rows = [(1, ii * k) + dose for k in range(n_doses)]
    t_last = ii * (n_doses - 1)
    rows += obs(1, t_last + GRID[GRID < ii], cmt=obs_cmt)
    rows = [r + extra_cols for r in rows]
    rows.sort(key=lambda r: (r[1], r[2] == 0))
    return rows


@pytest.mark.parametrize("case", [
    # (AMT, RATE, CMT, II, LAGT, BIOAV)  — bolus central / depot, infusions dur < = > II
    (100.0, 0.0, 2, 12.0, 0.0, 1.0),
    (100.0, 0.0, 2, 12.0, 4.0, 0.4),
    (100.0, 0.0, 1, 12.0, 0.0, 1.0),
    (100.0, 10.0, 2, 24.0, 3.0, 0.5),      # infusion 5 h, lag 3 h
    (100.0, 10.0, 2, 10.0, 0.0, 1.0),      # duration == II
    (100.0, 8.0, 2, 6.0, 0.0, 1.0),        # duration 12.5 h > II = 6 h (overlap)
    (100.0, 8.0, 1, 6.0, 0.0, 1.0),        # overlapping infusions into the depot
    (100.0, 5.0, 2, 8.0, 2.0, 0.9),        # overlap with lag and F
])
def test_ss1_equals_limit_of_repeated_doses(case):
    amt, rate, cmt, ii, lagt, bioav = case
    extra = ("LAGT", "BIOAV")
    rv = {"ALAG2": "LAGT", "F2": "BIOAV"}
    ss = records([(1, 0.0, 1, amt, rate, cmt, 1, ii, 0, lagt, bioav)]
                 + [r + (lagt, bioav) for r in obs(1, GRID[GRID < ii])], extra=extra)
    n = int(np.ceil(60 * 24 * 3 / ii / 60 * 10))  # ~ 30 days of doses: e^{-k t} ~ 1e-17
    lim = records(_explicit_limit((1, amt, rate, cmt, 0, 0, 0), n, ii, (lagt, bioav)),
                  extra=extra)
    ref = simulate_dataset(one_cmt(), lim, record_values=rv).concentration
    ref = ref[lim.item("EVID") == 0]
    for engine, mode in (("analytic", "exact"), ("scipy", "iterate"), ("scipy", "exact")):
        got = simulate_dataset(one_cmt(), ss, record_values=rv, method=engine, ss=mode)
        got = got.concentration[ss.item("EVID") == 0]
        tol = 1e-8 if mode == "exact" else 1e-7
        np.testing.assert_allclose(got, ref, rtol=tol, atol=1e-9 * ref.max())


def test_ss1_bolus_matches_closed_form_with_lag():
    amt, ii, lag = 100.0, 12.0, 5.0
    ss = records([(1, 0.0, 1, amt, 0, 2, 1, ii, 0, lag)] + [r + (lag,) for r in
                                                          obs(1, [0.0, 3.0, 5.0, 7.0])],
                 extra=("LAGT",))
    c = simulate_dataset(one_cmt(), ss, record_values={"ALAG2": "LAGT"}).concentration
    acc = 1.0 / (1.0 - np.exp(-K * ii))
    # Before the lag ends the last dose of the train was given ii - lag + t ago.
    expected = [amt / V * np.exp(-K * (ii - lag + t)) * acc * 1000 for t in (0.0, 0.0, 3.0)]
    expected += [amt / V * np.exp(-K * (t - lag)) * acc * 1000 for t in (5.0, 7.0)]
    np.testing.assert_allclose(c, expected, rtol=1e-12)


def test_ss1_infusion_matches_closed_form():
    amt, rate, ii = 100.0, 20.0, 12.0
    dur = amt / rate
    ss = records([(1, 0.0, 1, amt, rate, 2, 1, ii, 0)] + obs(1, [0.0, 2.0, 8.0]))
    c = simulate_dataset(one_cmt(), ss).concentration
    acc = 1.0 / (1.0 - np.exp(-K * ii))
    cmax = rate / CL * (1 - np.exp(-K * dur)) * acc  # mg/L at the end of the infusion
    trough = cmax * np.exp(-K * (ii - dur))
    during = trough * np.exp(-K * 2.0) + rate / CL * (1 - np.exp(-K * 2.0))
    expected = np.array([trough, trough, during, cmax * np.exp(-K * 3.0)]) * 1000
    np.testing.assert_allclose(c, expected, rtol=1e-11)


def test_ss_constant_infusion_and_ss2_superposition():
    rate = 10.0  # mg/h
    d = records([(1, 0.0, 1, 0, rate, 2, 1, 0, 0)] + obs(1, [0.0, 5.0]))
    c = simulate_dataset(one_cmt(), d).concentration
    c_ss = rate / CL * 1000
    # NONMEM: the state is the infusion's steady state and the infusion does not go on.
    np.testing.assert_allclose(c, [c_ss, c_ss, c_ss * np.exp(-K * 5.0)], rtol=1e-12)
    # SS=2 adds the steady state to what is there: a bolus given 3 h before.
    d2 = records([(1, 0.0, 1, 50, 0, 2, 0, 0, 0), (1, 3.0, 1, 100, 0, 2, 2, 12, 0)]
                 + obs(1, [3.0]))
    c2 = simulate_dataset(one_cmt(), d2).concentration[-1]
    acc = 1.0 / (1.0 - np.exp(-K * 12.0))
    expected = 50 / V * np.exp(-K * 3.0) + 100 / V * acc
    np.testing.assert_allclose(c2, expected * 1000, rtol=1e-12)


def test_reset_and_record_order():
    d = records([(1, 0.0, 0, 0, 0, 2, 0, 0, 0),          # before the dose at the same time
                 (1, 0.0, 1, 100, 0, 2, 0, 0, 0),
                 (1, 0.0, 0, 0, 0, 2, 0, 0, 0),          # after it: sees it
                 (1, 2.0, 3, 0, 0, 2, 0, 0, 0),          # reset
                 (1, 4.0, 0, 0, 0, 2, 0, 0, 0),
                 (1, 4.0, 4, 40, 0, 2, 0, 0, 0),         # reset and dose
                 (1, 6.0, 0, 0, 0, 2, 0, 0, 0)])
    c = simulate_dataset(one_cmt(), d).concentration
    np.testing.assert_allclose(c, np.array([0, 5, 5, 0, 0, 2, 2 * np.exp(-K * 2)]) * 1000,
                               rtol=1e-12, atol=0)


def test_depot_dose_and_modelled_rate_and_duration():
    t = 3.0
    d = records([(1, 0.0, 1, 100, 0, 1, 0, 0, 0, 0, 0), (1, t, 0, 0, 0, 2, 0, 0, 0, 0, 0)],
                extra=("RAT2", "DUR2"))
    c = simulate_dataset(one_cmt(), d).concentration[-1]
    expected = 100 * KA / (V * (KA - K)) * (np.exp(-K * t) - np.exp(-KA * t)) * 1000
    np.testing.assert_allclose(c, expected, rtol=1e-12)
    # RATE = -1: rate from RAT2 (20 mg/h, 5 h); RATE = -2: duration from DUR2 (4 h), F = 0.5.
    rows = [(1, 0.0, 1, 100, -1, 2, 0, 0, 0, 20, 0, 1), (1, 2.0, 0, 0, 0, 2, 0, 0, 0, 20, 0, 1),
            (2, 0.0, 1, 100, -2, 2, 0, 0, 0, 0, 4, 0.5),
            (2, 2.0, 0, 0, 0, 2, 0, 0, 0, 0, 4, 0.5)]
    d = records(rows, extra=("RAT2", "DUR2", "BIOAV"))
    c = simulate_dataset(one_cmt(), d, record_values={"R2": "RAT2", "D2": "DUR2",
                                                      "F2": "BIOAV"}).concentration
    inf = (lambda r: r / CL * (1 - np.exp(-K * 2.0)) * 1000)
    np.testing.assert_allclose(c[[1, 3]], [inf(20.0), inf(50 / 4.0)], rtol=1e-12)


def test_time_units_are_converted():
    rows = [(1, 0.0, 1, 100, 0, 2, 0, 0, 0)] + obs(1, [1.0, 2.5])
    in_h = records(rows)
    in_min = records([(r[0], r[1] * 60) + r[2:] for r in rows], time_unit="min")
    np.testing.assert_allclose(_conc(in_h), _conc(in_min), rtol=1e-13)


def test_ss_with_lag_of_at_least_ii_is_rejected():
    d = records([(1, 0.0, 1, 100, 0, 2, 1, 12, 0, 12.0)] + [r + (12.0,) for r in obs(1, [1])],
                extra=("LAGT",), name="lagged.csv")
    with pytest.raises(DatasetError) as err:
        simulate_dataset(one_cmt(), d, record_values={"ALAG2": "LAGT"})
    assert (err.value.path, err.value.row, err.value.column) == ("lagged.csv", 2, "LAGT (ALAG2)")
    assert "lag" in str(err.value) and "lagged.csv, row 2" in str(err.value)


def test_modelled_rate_missing_is_rejected():
    d = records([(1, 0.0, 1, 100, -1, 2, 0, 0, 0)] + obs(1, [1]), name="r.csv")
    with pytest.raises(DatasetError, match=r"r\.csv, row 2, column RATE"):
        simulate_dataset(one_cmt(), d)


def test_nonlinear_ss_iterates_to_the_limit_and_ss2_is_rejected():
    ii, amt = 8.0, 60.0
    ss = records([(1, 0.0, 1, amt, 0, 1, 1, ii, 0)] + obs(1, [0.0, 1.5, 6.0], cmt=1))
    got = simulate_dataset(mm_model(), ss, method="scipy").concentration[1:]
    lim = records(_explicit_limit((1, amt, 0, 1, 0, 0, 0), 150, ii, obs_cmt=1))
    ref = simulate_dataset(mm_model(), lim, method="scipy")
    sel = np.isin(lim.item("TIME"), 149 * ii + np.array([0.0, 1.5, 6.0])) & \
        (lim.item("EVID") == 0)
    np.testing.assert_allclose(got, ref.concentration[sel], rtol=1e-7)
    ss2 = records([(1, 0.0, 1, amt, 0, 1, 2, ii, 0)] + obs(1, [1.0], cmt=1), name="mm.csv")
    with pytest.raises(DatasetError, match=r"mm\.csv, row 2, column SS"):
        simulate_dataset(mm_model(), ss2, method="scipy")
    # A constant infusion faster than VMAX has no steady state.
    over = records([(1, 0.0, 1, 0, 25.0, 1, 1, 0, 0)] + obs(1, [1.0], cmt=1))
    with pytest.raises(SolverError):
        simulate_dataset(mm_model(), over, method="scipy")
