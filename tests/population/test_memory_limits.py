"""Sizes that cannot fit are refused before any allocation or work (#13 item 9, the Python
API): a population whose kept curves, or whose per-subject index, exceed the machine's
physical memory raises a ValidationError naming ``n`` before any subject is simulated (without
the check, 10^13 streamed subjects would run for days and then fail to allocate the index)."""

from __future__ import annotations

import pytest

import dmtpk


@pytest.mark.parametrize("keep, n", [("summary", 10 ** 13), ("all", 10 ** 9)])
def test_a_population_that_cannot_fit_is_refused_at_once(keep, n):
    with pytest.raises(dmtpk.ValidationError, match=r"^n: .*GiB"):
        dmtpk.simulate_population("eckernas2022", dmtpk.Bolus(20), range(0, 61), n=n, seed=1,
                                  keep=keep)
