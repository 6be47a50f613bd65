"""Statistical properties of the population engine, each against an independent reference:
sampling theory for the etas and residuals, numpy.percentile for streamed percentiles, a direct
count for target attainment, the allometric formula for covariates."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dmtpk
from dmtpk.population.chunk import individual
from dmtpk.population.summary import StreamingQuantiles

from .conftest import TIMES, w_model

REG = dmtpk.Bolus(20.0)


def test_eta_moments_match_omega():
    """Sample mean and covariance of the etas against Omega (with a correlation). With n draws
    the sample mean of eta_j has SD sqrt(omega_jj / n) and a sample covariance entry has SD
    about sqrt((s_ii s_jj + s_ij^2) / n); we allow 4.5 SD (two-sided, per entry, a false alarm
    rate below 1e-5)."""
    omega = {"CL": 0.09, "V1": 0.04, "KE0": 0.16}
    m = w_model(omega=omega, extra={"variability": {"correlation": {"CL,V1": 0.6}}})
    n = 40000
    spec = dmtpk.simulate_population(m, REG, TIMES[:3], n=2, seed=1).spec
    spec = type(spec)(**{**spec.__dict__, "seed": 123})
    _, _, _, eta, _ = individual(spec, 0, n)
    names = list(spec.var.names)
    target = np.diag([omega[k] for k in names])
    i, j = names.index("CL"), names.index("V1")
    target[i, j] = target[j, i] = 0.6 * math.sqrt(0.09 * 0.04)
    mean_sd = np.sqrt(np.diag(target) / n)
    assert np.all(np.abs(eta.mean(axis=0)) < 4.5 * mean_sd)
    cov = np.cov(eta, rowvar=False)
    sd = np.sqrt((np.outer(np.diag(target), np.diag(target)) + target ** 2) / n)
    assert np.all(np.abs(cov - target) < 4.5 * sd)


def test_logit_normal_stays_in_unit_interval_and_has_its_median():
    m = w_model(omega={"F_INH": 0.5}, extra={"variability": {"distribution": {"F_INH": "logit"}}})
    r = dmtpk.simulate_population(m, dmtpk.Inhalation(20.0), TIMES[:5], n=20000, seed=2)
    f = r.parameters["F_INH"]
    assert np.all((f > 0) & (f < 1))
    # The median of expit(logit(0.4) + eta) is 0.4; its sample median has SD about
    # 1.2533 * sd(f) / sqrt(n) (large-sample theory of the median).
    assert abs(np.median(f) - 0.4) < 4.5 * 1.2533 * f.std() / math.sqrt(f.size)


def test_streamed_percentiles_match_numpy(linear_model):
    """Stated accuracy: within one bin width of numpy.percentile, plus the gap between the two
    order statistics numpy interpolates between."""
    q = np.array([1, 5, 25, 50, 75, 95, 99])
    n = 20000
    full = dmtpk.simulate_population(linear_model, REG, TIMES, n=n, seed=4)
    summ = dmtpk.simulate_population(linear_model, REG, TIMES, n=n, seed=4, keep="summary",
                                     chunk_size=3000)
    for output, curves in (("concentration", full.concentration),
                           ("intensity", full.effect)):
        exact = np.percentile(curves, q, axis=0)
        streamed = summ.percentiles(q, output)
        width = summ.summaries[output].bin_width
        srt = np.sort(curves, axis=0)
        rank = q[:, None] / 100 * (n - 1)
        gap = srt[np.ceil(rank).astype(int), np.arange(curves.shape[1])] - \
            srt[np.floor(rank).astype(int), np.arange(curves.shape[1])]
        assert np.all(np.abs(streamed - exact) <= width[None, :] + gap + 1e-12)
    for key, exact in full.metric_percentiles(q).items():
        np.testing.assert_allclose(summ.metric_percentiles(q)[key], exact,
                                   atol=float(summ.summaries["_metrics"].bin_width.max()) * 2
                                   + 1e-9, rtol=1e-3)


def test_streaming_histogram_order_independent():
    """Whole, in reversed parts, or as a strided (Fortran-ordered) view: the same counts; NaN
    values are counted apart. Eleven columns, so one group of eight is partial."""
    rng = np.random.default_rng(0)
    x = rng.lognormal(size=(5000, 11)) * np.geomspace(1e-3, 1e3, 11)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[:, 4] = np.nan  # a metric no subject has
    a = StreamingQuantiles(x[:100])
    b = StreamingQuantiles(x[:100])
    c = StreamingQuantiles(x[:100])
    a.add(x)
    for part in np.array_split(x[::-1], 7):
        b.add(part)
    c.add(np.asfortranarray(x))
    d = StreamingQuantiles(x[:100], max_count=x.shape[0])  # 32-bit counts
    d.add(x)
    assert d.counts.dtype == np.int32 and a.counts.dtype == np.int64
    for other in (b, c, d):
        assert np.array_equal(a.counts, other.counts)
        assert np.array_equal(a.n_nan, other.n_nan)
        assert np.array_equal(a.percentiles([5, 50, 95]), other.percentiles([5, 50, 95]),
                              equal_nan=True)
    assert np.array_equal(a.n_nan, np.isnan(x).sum(axis=0))
    assert np.array_equal(a.count, (~np.isnan(x)).sum(axis=0))
    assert np.array_equal(a.vmin, np.nanmin(np.where(np.isnan(x), np.inf, x), axis=0))


def test_proportional_residual_statistics(linear_model):
    """obs = pred (1 + 0.15 eps1) + 0 eps2: (obs/pred - 1) has mean 0 and SD 0.15."""
    r = dmtpk.simulate_population(linear_model, REG, TIMES, n=2000, seed=6,
                                  residual={"proportional": 0.15})
    ratio = r.observations["concentration"] / r.concentration - 1
    n = ratio.size
    assert abs(ratio.mean()) < 4.5 * 0.15 / math.sqrt(n)
    assert abs(ratio.std() - 0.15) < 4.5 * 0.15 / math.sqrt(2 * n)


def test_additive_and_logit_residuals(linear_model):
    r = dmtpk.simulate_population(
        linear_model, REG, TIMES, n=2000, seed=6,
        residual={"additive": "0.001 mg/L",
                  "intensity": {"logit_additive": 0.5, "lower": 0, "upper": 10}})
    diff = r.observations["concentration"] - r.concentration  # additive SD 1 ng/mL
    assert abs(diff.std() - 1.0) < 4.5 / math.sqrt(2 * diff.size)
    obs = r.observations["intensity"]
    assert np.all((obs >= 0) & (obs <= 10))
    pred = r.effect
    sel = (pred > 0.5) & (pred < 9.5)
    z = np.log(obs[sel] / (10 - obs[sel])) - np.log(pred[sel] / (10 - pred[sel]))
    assert abs(z.std() - 0.5) < 4.5 * 0.5 / math.sqrt(2 * z.size)


def test_attainment_matches_direct_count(linear_model):
    targets = {"strong": {"endpoint": "intensity", "above": 7, "for_at_least": "25 min"},
               "safe": {"cmax_below": "2500 ng/mL"}}
    times = np.linspace(0, 60, 601)
    full = dmtpk.simulate_population(linear_model, REG, times, n=4000, seed=12, targets=targets)
    summ = dmtpk.simulate_population(linear_model, REG, times, n=4000, seed=12, targets=targets,
                                     keep="summary", chunk_size=1500)
    # Direct count, written here: time above 7 by trapezoid crossings on the grid.
    y = full.effect
    dt = np.diff(times)
    above = y > 7
    dur = np.zeros(y.shape[0])
    for k in range(times.size - 1):
        a, b = y[:, k] - 7, y[:, k + 1] - 7
        both = above[:, k] & above[:, k + 1]
        up = ~above[:, k] & above[:, k + 1]
        down = above[:, k] & ~above[:, k + 1]
        dur += np.where(both, dt[k], 0.0)
        dur += np.where(up, dt[k] * b / np.where(up, b - a, 1.0), 0.0)
        dur += np.where(down, dt[k] * a / np.where(down, a - b, 1.0), 0.0)
    expected_strong = np.mean(dur >= 25)
    expected_safe = np.mean(full.concentration.max(axis=1) < 2500)
    assert full.attainment("strong") == pytest.approx(expected_strong, abs=1e-12)
    assert summ.attainment("strong") == pytest.approx(expected_strong, abs=1e-12)
    assert full.attainment(endpoint="intensity", above=7, for_at_least=25) == \
        pytest.approx(expected_strong, abs=1e-12)
    assert summ.attainment("safe") == pytest.approx(expected_safe, abs=1e-12)
    assert 0.0 < expected_strong < 1.0


def test_allometric_weight_and_per_kg_doses():
    m = w_model(omega={}, extra={"covariates": {"WT": {"reference": "70 kg",
                                                       "exponents": {"CL": 0.75, "V1": 1.0}}}})
    wts = np.array([35.0, 70.0, 140.0])
    r = dmtpk.simulate_population(m, dmtpk.Bolus("0.2 mg/kg"), TIMES, n=3,
                                  seed=1, covariates={"WT": wts})
    np.testing.assert_allclose(r.parameters["CL"], 1.5 * (wts / 70) ** 0.75, rtol=1e-14)
    np.testing.assert_allclose(r.parameters["V1"], 10.0 * wts / 70, rtol=1e-14)
    # Concentration just after a bolus of 0.2 mg/kg into V1: 0.2 WT / V1 mg/L.
    np.testing.assert_allclose(r.concentration[:, 0], 0.2 * wts / (10.0 * wts / 70) * 1000,
                               rtol=1e-12)


def test_drawn_weights_respect_bounds_and_median():
    m = w_model(omega={}, extra={"covariates": {"WT": {"reference": "70 kg",
                                                       "exponents": {"CL": 0.75}}}})
    r = dmtpk.simulate_population(m, REG, TIMES[:3], n=20000, seed=2, covariates={
        "WT": {"distribution": "lognormal", "median": "70 kg", "cv": 0.2, "lower": "50 kg",
               "upper": "100 kg"}})
    w = r.covariates["WT"]
    assert w.min() >= 50 and w.max() <= 100
    assert abs(np.median(w) - 70) < 1.0  # truncation nearly symmetric on the log scale


def test_grid_auc_matches_linear_up_log_down(linear_model, mm_model):
    """The compiled AUC (a series in place of the logarithm on gentle falls) against
    ``dmtpk.metrics.auc_linear_up_log_down`` (numpy, logarithms) on the same curves, including
    a coarse grid where most falls are steep and the logarithm is taken: 1e-13 relative."""
    from dmtpk.metrics import auc_linear_up_log_down
    for model, times in ((linear_model, TIMES), (mm_model, TIMES[::8])):
        pop = dmtpk.simulate_population(model, REG, times, n=200, seed=10)
        ref = np.array([auc_linear_up_log_down(times, c) for c in pop.concentration])
        np.testing.assert_allclose(pop.metric("auc"), ref, rtol=1e-13)
