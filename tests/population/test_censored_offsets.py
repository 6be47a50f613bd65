"""Subjects still beyond the threshold at the end of the grid have a censored offset, not an
effect that was never reached (#13 item 16): the two are told apart in the API, the summary,
the CSV and the command-line table."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dmtpk


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dmtpk.load_model("eckernas2022")


def test_censored_and_never_reached_are_told_apart(model):
    # An infusion running past the end of the grid: many subjects are still above 5 at 30 min;
    # a low threshold-crossing share makes some never reach it.
    reg = dmtpk.Bolus("4 mg") + dmtpk.Infusion(rate="0.6 mg/min", duration="60 min")
    t = np.arange(0, 30.01, 0.25)
    full = dmtpk.simulate_population(model, reg, t, n=400, seed=3, keep="all")
    onset = full.metric("onset", "intensity")
    offset = full.metric("offset", "intensity")
    never = np.isnan(onset).mean()
    censored = (np.isfinite(onset) & np.isnan(offset)).mean()
    assert 0 < never < 1 and 0 < censored < 1
    got = full.censored_fraction()["intensity.offset"]
    assert got == pytest.approx(censored)
    # Streamed summaries give the same shares.
    summ = dmtpk.simulate_population(model, reg, t, n=400, seed=3, keep="summary")
    assert summ.censored_fraction()["intensity.offset"] == pytest.approx(censored)
    assert summ.metric_nan_fraction()["intensity.onset"] == pytest.approx(never)
    text = summ.summary()
    assert "still beyond at the end" in text and "never reached" in text
    # The typical subject's own metrics say censored too when its effect is still above.
    typical = dmtpk.simulate(model, reg, t).metrics().effects["intensity"]
    if np.isfinite(typical.onset):
        assert typical.censored and np.isnan(typical.offset)
