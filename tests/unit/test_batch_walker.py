"""The compiled record walker over batches of subjects, each with its own records.

Independent references: the single-subject walker (``solve_records``, itself qualified against
NONMEM on the nmtests corpus), the same subject run alone (bit-identity), and the uninterrupted
trajectory (continuation).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmtpk.engines.records import RecordError, solve_records, solve_records_batch
from dmtpk.library import load_model

MODEL = load_model("eckernas2022")  # two compartments, metabolite, effect compartment
C = MODEL.compiled
N = C.n_states
ACC = [k for k in (C.index["eliminated"], C.index["metabolite_eliminated"]) if k >= 0]
CENTRAL = C.index["central"]
PERIPHERAL = C.index["peripheral_1"]
FIELDS = ("time", "evid", "amt", "rate", "target", "ss", "ii", "addl")


def subject(rows, lag=0.0, f=1.0):
    """Record arrays of one subject from tuples (time, evid, amt, rate, target, ss, ii, addl)."""
    arr = {k: np.array([r[j] for r in rows], dtype=float) for j, k in enumerate(FIELDS)}
    m = len(rows)
    arr["f"] = np.full((m, N), f)
    arr["lag"] = np.full((m, N), lag)
    return arr


def batch(subjects, thetas):
    """Concatenated arrays, offsets and per-record parameters."""
    start = np.cumsum([0] + [s["time"].size for s in subjects])
    cat = {k: np.concatenate([s[k] for s in subjects]) for k in subjects[0]}
    theta_rec = np.concatenate([np.repeat(th[None, :], s["time"].size, axis=0)
                                for s, th in zip(subjects, thetas)])
    return cat, start, theta_rec


def run_batch(subjects, thetas, x0=None):
    cat, start, theta_rec = batch(subjects, thetas)
    return solve_records_batch(theta_rec, C.layout, C.mass_ratio, start,
                               *(cat[k] for k in FIELDS), cat["f"], cat["lag"],
                               accumulators=ACC, x0=x0, system_matrix=C.system_matrix)


def run_alone(s, theta, x0=None):
    return solve_records(C.system_matrix(theta), *(s[k] for k in FIELDS), s["f"], s["lag"],
                         accumulators=ACC, method="analytic", ss_mode="exact", x0=x0)


def theta_scaled(scale):
    th = np.array(C.theta, dtype=float)
    th[C.param["CL"]] *= scale
    th[C.param["V1"]] *= scale ** 0.5
    return th


def obs(times):
    return [(float(t), 0, 0, 0, CENTRAL, 0, 0, 0) for t in times]


def regimen_a():
    # Bolus with ADDL, a lagged infusion, samples in between.
    return subject([(0.0, 1, 10.0, 0, CENTRAL, 0, 30.0, 3)] + obs([1, 5, 20, 45])
                   + [(50.0, 1, 6.0, 1.0, CENTRAL, 0, 0, 0)] + obs([52, 60, 90, 150]), lag=0.5)


def regimen_b():
    # Steady state (SS = 1) of a train of infusions longer than II, then a reset and a dose.
    return subject([(0.0, 1, 12.0, 0.2, CENTRAL, 1, 40.0, 0)] + obs([0, 10, 39.9, 70])
                   + [(80.0, 4, 5.0, 0, CENTRAL, 0, 0, 0)] + obs([80, 81, 100]))


def regimen_c():
    # SS = 2 on top of a running history, a steady-state constant infusion, EVID 3.
    return subject([(0.0, 1, 8.0, 0, CENTRAL, 0, 0, 0)] + obs([2, 6])
                   + [(6.0, 1, 4.0, 0, CENTRAL, 2, 20.0, 2)] + obs([7, 30, 70])
                   + [(70.0, 1, 0.0, 0.05, CENTRAL, 1, 0.0, 0)] + obs([70, 75])
                   + [(75.0, 3, 0, 0, CENTRAL, 0, 0, 0)] + obs([76]))


REGIMENS = (regimen_a, regimen_b, regimen_c)


@pytest.mark.parametrize("make", REGIMENS)
def test_kernel_equals_single_subject_walker(make):
    """Exact stepping in both; the kernel's eigen steps against the walker's matrix
    exponentials: 1e-10 relative to the largest amount (the kernel's stated accuracy)."""
    s = make()
    th = theta_scaled(1.3)
    got = run_batch([s], [th])
    ref = run_alone(s, th)
    scale = np.abs(ref).max()
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10 * scale)


def test_batch_equals_each_subject_alone_to_the_bit():
    subjects = [make() for make in REGIMENS] * 3
    thetas = [theta_scaled(0.6 + 0.15 * k) for k in range(len(subjects))]
    together = run_batch(subjects, thetas)
    start = np.cumsum([0] + [s["time"].size for s in subjects])
    order = np.random.default_rng(3).permutation(len(subjects))
    shuffled = run_batch([subjects[k] for k in order], [thetas[k] for k in order])
    sstart = np.cumsum([0] + [subjects[k]["time"].size for k in order])
    for pos, k in enumerate(order):
        alone = run_batch([subjects[k]], [thetas[k]])
        assert np.array_equal(together[start[k]:start[k + 1]], alone)
        assert np.array_equal(shuffled[sstart[pos]:sstart[pos + 1]], alone)


def test_ragged_output_times_equal_the_dense_grid():
    dose = [(0.0, 1, 10.0, 0.5, CENTRAL, 0, 25.0, 2)]
    dense = np.arange(0.0, 120.0, 0.5)
    sparse = np.array([0.5, 3.0, 17.5, 40.0, 99.5])
    th = theta_scaled(1.0)
    out = run_batch([subject(dose + obs(dense)), subject(dose + obs(sparse))], [th, th])
    n_dense = 1 + dense.size
    d = out[1:n_dense]
    sp = out[n_dense + 1:]
    idx = np.searchsorted(dense, sparse)
    # Different step sequences: equal to rounding (1e-12 of the largest amount).
    np.testing.assert_allclose(sp, d[idx], rtol=0, atol=1e-12 * np.abs(d).max())


def test_steady_state_equals_the_walkers_exact_steady_state():
    """Kernel steady states (eigen steps + (I - E)^-1) against the walker's (matrix
    exponentials of the dynamic subsystem): 1e-10 relative."""
    for rate, lag, ii in ((0.0, 0.0, 30.0), (0.4, 0.0, 15.0), (0.1, 3.0, 12.0)):
        s = subject([(0.0, 1, 10.0, rate, CENTRAL, 1, ii, 0)] + obs([0.0]), lag=lag)
        th = theta_scaled(1.1)
        got = run_batch([s], [th])[-1]
        ref = run_alone(s, th)[-1]
        dyn = [k for k in range(N) if k not in ACC]
        np.testing.assert_allclose(got[dyn], ref[dyn], rtol=1e-10)


def test_steady_state_is_the_limit_of_repeated_doses():
    """Independent of both walkers' formula: 400 doses without SS reach the SS state."""
    ii, amt = 20.0, 10.0
    th = theta_scaled(1.0)
    ss = run_batch([subject([(0.0, 1, amt, 0, CENTRAL, 1, ii, 0)] + obs([0.0]))], [th])[-1]
    train = run_batch([subject([(0.0, 1, amt, 0, CENTRAL, 0, ii, 399)] + obs([400 * ii]))],
                      [th])[-1]
    # The pre-dose state of the SS record equals the state after 400 intervals, before the
    # next dose: compare just before the dose (subtract the dose itself).
    ss_pre = ss.copy()
    ss_pre[CENTRAL] -= amt
    dyn = [k for k in range(N) if k not in ACC]
    np.testing.assert_allclose(train[dyn], ss_pre[dyn], rtol=1e-9, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(split=st.floats(1.0, 140.0), scale=st.floats(0.5, 2.0))
def test_continued_trajectory_equals_the_uninterrupted_one(split, scale):
    """Boluses only (no infusion runs across the split): the state at the split, used as the
    start of the rest, gives the same states to 1e-12 of the largest amount."""
    doses = [(0.0, 1, 10.0, 0, CENTRAL, 0, 0, 0), (30.0, 1, 5.0, 0, PERIPHERAL, 0, 0, 0),
             (75.0, 1, 7.0, 0, CENTRAL, 0, 0, 0)]
    times = np.linspace(0.5, 150.0, 40)
    rows = sorted(doses + obs(times), key=lambda r: (r[0], -r[1]))
    th = theta_scaled(scale)
    whole = run_batch([subject(rows)], [th])
    first = [r for r in rows if r[0] <= split] + obs([split])
    head = run_batch([subject(first)], [th])
    rest = obs([split]) + [r for r in rows if r[0] > split]
    tail = run_batch([subject(rest)], [th], x0=head[-1:][:, :])
    later = np.array([r[0] > split for r in rows])
    np.testing.assert_allclose(tail[1:], whole[later], rtol=0,
                               atol=1e-12 * np.abs(whole).max())


def test_a_bad_record_is_reported_by_the_single_subject_walker():
    s = subject([(0.0, 1, 10.0, 0, CENTRAL, 1, 10.0, 0)] + obs([1.0]), lag=12.0)
    good = subject([(0.0, 1, 10.0, 0, CENTRAL, 0, 0, 0)] + obs([1.0]))
    with pytest.raises(RecordError) as err:
        run_batch([good, s], [C.theta, C.theta])
    assert err.value.item == "ALAG"
    assert err.value.record == 2  # the first record of the second subject, in the batch


def test_many_overlapping_infusions_exceed_the_first_scratch_and_still_match():
    # 40 infusions of 100 min every 2 min run at once: more than the kernel holds at first.
    s = subject([(0.0, 1, 1.0, 0.01, CENTRAL, 0, 2.0, 39)] + obs([50.0, 150.0]))
    th = theta_scaled(1.0)
    got = run_batch([s], [th])
    ref = run_alone(s, th)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


@settings(max_examples=25, deadline=None)
@given(split=st.floats(0.5, 140.0))
def test_walk_continued_from_its_state_equals_the_uninterrupted_walk(split):
    """The single-subject walker's full state (amounts, running infusions, lagged and
    additional doses still to come) continues a walk exactly: an infusion, a lagged ADDL
    train and a modelled-lag dose all cross the split. 1e-12 of the largest amount."""
    s = subject([(0.0, 1, 10.0, 0.1, CENTRAL, 0, 0, 0),            # 100-min infusion
                 (5.0, 1, 4.0, 0, CENTRAL, 0, 30.0, 4)]            # ADDL train, lag 2 min
                + obs(np.linspace(1.0, 150.0, 30)), lag=2.0)
    s["lag"][0, :] = 0.0  # the infusion has no lag
    order = np.argsort(s["time"], kind="stable")
    s = {k: v[order] for k, v in s.items()}
    th = theta_scaled(1.2)
    a = C.system_matrix(th)
    args = [s[k] for k in FIELDS] + [s["f"], s["lag"]]
    whole = solve_records(a, *args, accumulators=ACC, method="analytic", ss_mode="exact")
    head = s["time"] <= split
    first = [v[head] for v in args]
    _, state = solve_records(a, *first, accumulators=ACC, method="analytic", ss_mode="exact",
                             return_state=True)
    rest = [v[~head] for v in args]
    tail = solve_records(a, *rest, accumulators=ACC, method="analytic", ss_mode="exact",
                         start=state)
    np.testing.assert_allclose(tail, whole[~head], rtol=0, atol=1e-12 * np.abs(whole).max())


def test_defective_system_steps_with_the_matrix_exponential():
    """KA equal to k10 makes A defective (one eigenvector for a double eigenvalue): the kernel
    must leave the eigen steps for the augmented matrix exponential and still agree with the
    single-subject walker (which always uses it) to 1e-10, and with the analytic solution of
    the double pole, D k t exp(-k t) / V."""
    from dmtpk.model.spec import model_from_dict
    m = model_from_dict({"model": {"name": "ka_eq_k", "structure": "one_compartment",
                                   "routes": ["iv", "inhaled"]},
                         "parameters": {"CL": "2 L/min", "V1": "20 L", "KA": "0.1 1/min",
                                        "F_INH": 1, "TLAG_INH": "0 min"}})
    cm = m.compiled
    n = cm.n_states
    times = np.linspace(1.0, 60.0, 12)
    rows = [(0.0, 1, 10.0, 0, cm.index["depot"], 0, 0, 0)] + [
        (float(t), 0, 0, 0, cm.index["central"], 0, 0, 0) for t in times]
    s = {k: np.array([r[j] for r in rows], dtype=float) for j, k in enumerate(FIELDS)}
    s["f"] = np.ones((len(rows), n))
    s["lag"] = np.zeros((len(rows), n))
    th = np.array(cm.theta)
    acc = [cm.index["eliminated"]]
    got = solve_records_batch(th[None, :].repeat(len(rows), 0), cm.layout, cm.mass_ratio,
                              np.array([0, len(rows)]), *(s[k] for k in FIELDS), s["f"],
                              s["lag"], accumulators=acc, system_matrix=cm.system_matrix)
    ref = solve_records(cm.system_matrix(th), *(s[k] for k in FIELDS), s["f"], s["lag"],
                        accumulators=acc, method="analytic", ss_mode="exact")
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
    k = 0.1
    analytic = 10.0 * k * times * np.exp(-k * times)  # mg in the central compartment
    np.testing.assert_allclose(got[1:, cm.index["central"]], analytic, rtol=1e-9)
