"""A huge ADDL costs nothing beyond the last record: additional doses are never expanded, in
the compiled walker and in the single-subject walker (bounded time and memory)."""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

from dataset_helpers import obs, one_cmt, records
from dmtpk import simulate_dataset


@pytest.mark.parametrize("batch", [True, False], ids=["compiled-walker", "single-subject"])
def test_huge_addl_is_not_expanded(batch):
    times = [1.0, 30.0, 100.0]
    huge = records([(1, 0.0, 1, 10.0, 0, 2, 0, 24.0, 10**9)] + obs(1, times))
    # The doses that can reach the samples: 0, 24, 48, 72, 96 h.
    few = records([(1, 0.0, 1, 10.0, 0, 2, 0, 24.0, 4)] + obs(1, times))
    ref = simulate_dataset(one_cmt(), few, batch=batch).pred
    tracemalloc.start()
    t = time.perf_counter()
    got = simulate_dataset(one_cmt(), huge, batch=batch).pred
    elapsed = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(got, ref)
    assert peak < 20e6, f"peak Python memory {peak / 1e6:.1f} MB"
    assert elapsed < 5.0, f"{elapsed:.1f} s"
