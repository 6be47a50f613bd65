"""Drawn covariates respect their support and bounds: a normal covariate is truncated to
(max(0, lower), upper], a log-normal one to its bounds, and the draws follow the truncated
distribution (moments and Kolmogorov-Smirnov against scipy.stats.truncnorm), reproducible from
the seed whatever the chunking; unbounded draws are the numbers they always were."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats

import dmtpk
from dmtpk.population.sampling import BLOCK_SIZE, block_generator, draw_subjects
from dmtpk.population.variability import build_covariates

N = 60 * BLOCK_SIZE  # 245,760 subjects over 60 blocks


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dmtpk.load_model("eckernas2022")


def _draws(model, dist, n=N, seed=7):
    spec, = build_covariates(model, {"WT": dist}, n)
    return spec, draw_subjects(seed, 0, n, 0, (spec,))["cov"]["WT"]


def _check_moments(x, ref):
    """Sample mean and variance within 5 standard errors of the truncated distribution's, and a
    Kolmogorov-Smirnov test against it."""
    n = x.size
    mean, var = ref.stats(moments="mv")
    mu4 = ref.expect(lambda v: (v - mean) ** 4)
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / n), (x.mean(), mean)
    assert abs(x.var() - var) < 5 * math.sqrt((mu4 - var ** 2) / n), (x.var(), var)
    assert stats.kstest(x, ref.cdf).pvalue > 1e-3


def test_normal_weight_is_truncated_at_zero(model):
    """Mean 20 kg, SD 15 kg: 9 % of an untruncated normal is negative."""
    spec, x = _draws(model, {"distribution": "normal", "mean": "20 kg", "sd": 15})
    assert spec.lower == 0.0
    assert x.min() > 0
    _check_moments(x, stats.truncnorm(-20 / 15, np.inf, loc=20, scale=15))


def test_normal_bounds_far_in_the_tail(model):
    """Bounds keeping 2e-4 of the distribution: redrawing alone would rarely reach them, the
    inverse distribution function does; still exactly the truncated normal."""
    _, x = _draws(model, {"distribution": "normal", "mean": "70 kg", "sd": 10,
                          "lower": "105 kg", "upper": "110 kg"})
    assert 105 <= x.min() and x.max() <= 110
    _check_moments(x, stats.truncnorm(3.5, 4.0, loc=70, scale=10))


def test_lognormal_bounds_truncate_on_the_log_scale(model):
    _, x = _draws(model, {"distribution": "lognormal", "median": "70 kg", "cv": 0.3,
                          "lower": "50 kg", "upper": "90 kg"})
    s = math.sqrt(math.log1p(0.09))
    a, b = (math.log(50 / 70)) / s, (math.log(90 / 70)) / s
    assert 50 <= x.min() and x.max() <= 90
    _check_moments(np.log(x), stats.truncnorm(a, b, loc=math.log(70), scale=s))


def test_truncated_draws_do_not_depend_on_chunks(model):
    dist = {"distribution": "normal", "mean": "70 kg", "sd": 10, "lower": "95 kg",
            "upper": "100 kg"}
    spec, whole = _draws(model, dist, n=3 * BLOCK_SIZE, seed=3)
    parts = [draw_subjects(3, a, b, 0, (spec,))["cov"]["WT"]
             for a, b in ((0, 1000), (1000, 5000), (5000, 3 * BLOCK_SIZE))]
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    _, again = _draws(model, dist, n=3 * BLOCK_SIZE, seed=3)
    np.testing.assert_array_equal(again, whole)


def test_unbounded_lognormal_draws_are_unchanged(model):
    """An unbounded covariate is exp(loc + scale z) of the block's normals after the etas, as
    the sampling contract says: bounds do not disturb other draws."""
    spec, = build_covariates(model, {"WT": {"distribution": "lognormal", "median": "70 kg",
                                            "cv": 0.2}}, 2 * BLOCK_SIZE)
    got = draw_subjects(11, 0, 2 * BLOCK_SIZE, 2, (spec,))["cov"]["WT"]
    expected = []
    for block in range(2):
        rng = block_generator(11, block)
        rng.standard_normal((BLOCK_SIZE, 2))
        expected.append(np.exp(spec.loc + spec.scale * rng.standard_normal(BLOCK_SIZE)))
    np.testing.assert_array_equal(got, np.concatenate(expected))


def test_per_kg_doses_stay_positive(model):
    """Concentration after 0.3 mg/kg into V1: 0.3 WT / V1 mg/L, positive for every subject."""
    r = dmtpk.simulate_population(model, dmtpk.Bolus("0.3 mg/kg"), [0.0, 5.0], n=2000, seed=5,
                                  omega={}, covariates={"WT": {"distribution": "normal",
                                                               "mean": "20 kg", "sd": 15}})
    w = r.covariates["WT"]
    assert w.min() > 0
    np.testing.assert_allclose(r.concentration[:, 0], 0.3 * w / model.value("V1") * 1000,
                               rtol=1e-12)
    assert r.metric("cmax").min() > 0
