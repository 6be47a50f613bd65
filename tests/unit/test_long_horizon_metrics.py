"""Effect metrics whatever the horizon and the output grid (#13 item 1): a month of daily
20 mg boluses on an hourly output grid must show 30 episodes whose total duration is 30 times
the single dose's (the effect has washed out long before the next dose, so each episode is the
first one shifted: an exact consequence of linearity and time invariance)."""

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


@pytest.mark.parametrize("level", [5.0, "near peak"])
@pytest.mark.parametrize("step", [60.0, 7.0, 1.0])
def test_a_month_of_daily_doses_on_coarse_grids(model, step, level):
    """A threshold just under the peak makes episodes of about 2 minutes: shorter than the
    11-minute spacing of a fixed 4001-point grid over a month."""
    one_res = dmtpk.simulate(model, dmtpk.Bolus("20 mg"), np.linspace(0, 240, 24001))
    if level == "near peak":
        level = one_res.metrics().effects["intensity"].peak - 0.3
    single = one_res.metrics({"intensity": level}).effects["intensity"]
    assert single.duration > 0.5
    month = dmtpk.Bolus("20 mg").every("24 h", times=30)
    t = np.arange(0.0, 30 * 1440 + step / 2, step)
    m = dmtpk.simulate(model, month, t).metrics({"intensity": level}).effects["intensity"]
    assert m.duration == pytest.approx(30 * single.duration, rel=1e-6)
    assert m.onset == pytest.approx(single.onset, rel=1e-6)
    assert m.peak == pytest.approx(single.peak, rel=1e-6)
    assert m.offset == pytest.approx(29 * 1440 + single.offset, rel=1e-9)
