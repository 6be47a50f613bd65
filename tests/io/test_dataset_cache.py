"""``simulate_dataset`` reuses a dataset's preparation for the same model and dataset objects
with equal options; these tests hold that the reuse never changes an answer."""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk.dataset import simulate as dataset_simulate

from dataset_helpers import CL, V, obs, one_cmt, records

TIMES = (0.5, 1.0, 2.0, 4.0, 8.0)
DOSE = 10.0  # mg


def _data():
    rows = [(1, 0.0, 1, DOSE, 0, 2, 0, 0, 0)] + obs(1, TIMES)
    rows += [(2, 0.0, 1, 2 * DOSE, 0, 2, 0, 0, 0)] + obs(2, TIMES)
    return records(rows, amount_unit="mg", concentration_unit="mg/L")


def _analytic(dose, cl):
    """One-compartment IV bolus: C = dose / V exp(-CL/V t), mg/L (t in h, CL in L/h)."""
    return dose / V * np.exp(-cl / V * np.asarray(TIMES))


def _obs_pred(res, sid):
    sel = (res.id == sid) & (res.data.item("EVID") == 0)
    return res.pred[sel]


@pytest.fixture(autouse=True)
def _empty_cache():
    dataset_simulate._PREPARED.clear()
    yield
    dataset_simulate._PREPARED.clear()


def test_second_call_equals_first_and_the_closed_form():
    model, data = one_cmt(), _data()
    first = dmtpk.simulate_dataset(model, data)
    assert len(dataset_simulate._PREPARED) == 1
    second = dmtpk.simulate_dataset(model, data)
    assert len(dataset_simulate._PREPARED) == 1  # reused, not prepared again
    np.testing.assert_array_equal(first.pred, second.pred)
    np.testing.assert_array_equal(first.states, second.states)
    # Exact engine against the closed form: round-off only (1e-12 relative).
    for sid, dose in ((1, DOSE), (2, 2 * DOSE)):
        np.testing.assert_allclose(_obs_pred(second, sid), _analytic(dose, CL), rtol=1e-12)


def test_changed_options_and_other_objects_are_prepared_afresh():
    model, data = one_cmt(), _data()
    dmtpk.simulate_dataset(model, data)
    faster = dmtpk.simulate_dataset(model, data, parameters={"CL": f"{2 * CL} L/h"})
    np.testing.assert_allclose(_obs_pred(faster, 1), _analytic(DOSE, 2 * CL), rtol=1e-12)
    # The same values again: the first preparation still answers with the model's CL.
    again = dmtpk.simulate_dataset(model, data)
    np.testing.assert_allclose(_obs_pred(again, 1), _analytic(DOSE, CL), rtol=1e-12)
    # An equal dataset that is another object is its own entry, with the same answer.
    other = dmtpk.simulate_dataset(model, _data())
    np.testing.assert_array_equal(other.pred, again.pred)
    assert len(dataset_simulate._PREPARED) == 3


def test_results_do_not_share_writable_arrays():
    model, data = one_cmt(), _data()
    first = dmtpk.simulate_dataset(model, data)
    kept = first.pred.copy()
    first.pred[:] = -1.0
    first.states[:] = -1.0
    first.theta[:] = -1.0
    second = dmtpk.simulate_dataset(model, data)
    np.testing.assert_array_equal(second.pred, kept)
    assert not second.output.flags.writeable  # shared between calls, so read-only
    with pytest.raises(ValueError):
        second.output[0] = "metabolite"


def test_cache_keeps_a_bounded_number_of_preparations():
    model = one_cmt()
    datasets = [_data() for _ in range(dataset_simulate.PREPARED_CACHE_SIZE + 3)]
    for d in datasets:
        dmtpk.simulate_dataset(model, d)
    assert len(dataset_simulate._PREPARED) == dataset_simulate.PREPARED_CACHE_SIZE
