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


def test_tmax_percentiles_are_grid_times_and_streamed_accuracy_is_stated(model):
    """Every subject's Tmax is a grid time, so its percentiles are grid times (the inverted
    CDF), exactly, streamed or not; the other streamed percentiles state their accuracy (the
    bound itself is tested in test_statistics.py)."""
    t = np.arange(0, 30.01, 0.25)
    q = [5, 25, 50, 75, 95]
    reg = dmtpk.Bolus("10 mg") + dmtpk.Infusion(rate="1 mg/min", duration="10 min")
    full = dmtpk.simulate_population(model, reg, t, n=3000, seed=2, keep="all")
    exact = np.percentile(full.metric("tmax"), q, method="inverted_cdf")
    assert np.all(np.isin(exact, t))
    np.testing.assert_array_equal(full.metric_percentiles(q)["tmax"], exact)
    summ = dmtpk.simulate_population(model, reg, t, n=3000, seed=2, keep="summary",
                                     chunk_size=700)
    np.testing.assert_array_equal(summ.metric_percentiles(q)["tmax"], exact)
    acc = summ.metric_accuracy()
    assert acc["tmax"] == 0 and acc["cmax"] > 0
    assert all(v == 0 for v in full.metric_accuracy().values())
    assert "within one histogram bin" in summ.summary()
