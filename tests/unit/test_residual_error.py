"""Residual-error forms (dmtpk.model.residual.ResidualError) against independent references.

Log-densities and log-CDFs come from scipy.stats: norm for the additive, proportional and
combined forms, lognorm for the exponential one, and for the logit form norm.logpdf of the logit
plus the log-Jacobian of the change of variables, written out here. Derivatives are checked
against central finite differences of those scipy functions, normalisation by scipy's quad,
simulation by large-sample moments (tolerances from sampling theory) and, for the forms the
population engine already simulated, by the formula it used, bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

import dmtpk
from dmtpk.errors import ModelFileError, ValidationError
from dmtpk.model.residual import ResidualError
from dmtpk.model.spec import model_from_dict
from dmtpk.population.variability import apply_residual, build_residual

LO, HI = 0.0, 10.0

FORMS = {
    "additive": ResidualError(additive=0.7),
    "proportional": ResidualError(proportional=0.2),
    "combined": ResidualError(additive=0.7, proportional=0.2),
    "exponential": ResidualError(exponential=0.3),
    "logit": ResidualError(logit_additive=0.82, lower=LO, upper=HI),
}


# -- references (scipy) -----------------------------------------------------------------------

def _normal_sd(err, f):
    return math.sqrt(err.additive ** 2 + (err.proportional * f) ** 2)


def ref_logpdf(name, y, f):
    """log p(y | f) from scipy.stats."""
    err = FORMS[name]
    if name == "exponential":
        return stats.lognorm.logpdf(y, s=err.exponential, scale=f)
    if name == "logit":
        w = HI - LO
        u, uf = (y - LO) / w, (f - LO) / w
        # z = logit(u(y)); dz/dy = 1 / (w u (1 - u))
        return (stats.norm.logpdf(special.logit(u), loc=special.logit(uf),
                                  scale=err.logit_additive) - math.log(w * u * (1.0 - u)))
    return stats.norm.logpdf(y, loc=f, scale=_normal_sd(err, f))


def ref_logcdf(name, limit, f):
    err = FORMS[name]
    if name == "exponential":
        return stats.lognorm.logcdf(limit, s=err.exponential, scale=f)
    if name == "logit":
        w = HI - LO
        return stats.norm.logcdf(special.logit((limit - LO) / w),
                                 loc=special.logit((f - LO) / w), scale=err.logit_additive)
    return stats.norm.logcdf(limit, loc=f, scale=_normal_sd(err, f))


def support(name):
    return {"exponential": (0.0, math.inf), "logit": (LO, HI)}.get(name, (-math.inf, math.inf))


def grid(name):
    """(y, f) pairs inside the support: predictions from near 0 to large, observations around."""
    if name == "logit":
        fs = np.array([0.05, 0.8, 3.0, 5.0, 7.5, 9.9])
        ys = np.array([0.01, 0.5, 2.0, 5.0, 8.0, 9.99])
    else:
        fs = np.array([0.05, 0.8, 3.0, 20.0, 150.0])
        ys = np.array([0.02, 0.6, 2.5, 18.0, 160.0, 400.0])
        if name in ("additive", "combined"):
            ys = np.concatenate([ys, [-3.0, -0.1]])
    y, f = np.meshgrid(ys, fs)
    return y.ravel(), f.ravel()


# -- log-density, derivative, CDF --------------------------------------------------------------

@pytest.mark.parametrize("name", FORMS)
def test_log_density_matches_scipy_on_a_grid(name):
    y, f = grid(name)
    got = FORMS[name].log_density(y, f)
    want = np.array([ref_logpdf(name, a, b) for a, b in zip(y, f)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got.shape == y.shape


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(sorted(FORMS)),
       f=st.floats(0.01, 500.0), ratio=st.floats(0.05, 3.0))
def test_log_density_matches_scipy_property(name, f, ratio):
    if name == "logit":
        f = LO + (HI - LO) * (f / 500.01)
        y = LO + (HI - LO) * min(max(ratio / 3.05, 1e-6), 1 - 1e-6)
    else:
        y = f * ratio
    got = FORMS[name].log_density(y, f)
    assert math.isclose(got, ref_logpdf(name, y, f), rel_tol=1e-11, abs_tol=1e-11)


@pytest.mark.parametrize("name", FORMS)
def test_derivative_matches_finite_difference_of_scipy(name):
    y, f = grid(name)
    got = FORMS[name].dlog_density_dpred(y, f)
    h = 1e-5 * np.maximum(np.abs(f), 1e-2)
    fd = np.array([(ref_logpdf(name, a, b + d) - ref_logpdf(name, a, b - d)) / (2 * d)
                   for a, b, d in zip(y, f, h)])
    # central difference: truncation O(h^2 f'''), rounding O(eps |log p| / h)
    np.testing.assert_allclose(got, fd, rtol=2e-6, atol=1e-6 * np.abs(fd).max())


@pytest.mark.parametrize("name", FORMS)
def test_log_cdf_matches_scipy(name):
    limit, f = grid(name)
    got = FORMS[name].log_cdf(limit, f)
    want = np.array([ref_logcdf(name, a, b) for a, b in zip(limit, f)])
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name", FORMS)
@pytest.mark.parametrize("f", [0.4, 3.0, 9.0])
def test_density_integrates_to_one(name, f):
    err = FORMS[name]
    lo, hi = support(name)
    if math.isinf(lo):  # normal forms: integrate over mean +- 40 SD (the rest is < 1e-300)
        s = _normal_sd(err, f)
        lo, hi = f - 40 * s, f + 40 * s
    val, abserr = integrate.quad(lambda y: math.exp(err.log_density(y, f)), lo, hi,
                                 points=[f] if math.isfinite(hi) and lo < f < hi else None,
                                 limit=200, epsabs=1e-12, epsrel=1e-11)
    assert abs(val - 1.0) < 1e-8 + abserr


def test_log_cdf_is_the_integral_of_the_density():
    """M3 likelihood consistency: log_cdf(L) = log of the density integrated below L."""
    for name, err in FORMS.items():
        lo = support(name)[0]
        f, limit = 3.0, 2.0
        start = lo if math.isfinite(lo) else f - 40 * _normal_sd(err, f)
        val, _ = integrate.quad(lambda y: math.exp(err.log_density(y, f)), start, limit,
                                epsabs=1e-13, epsrel=1e-11)
        assert math.isclose(err.log_cdf(limit, f), math.log(val), rel_tol=1e-8), name


def test_weighted_residuals_on_the_transformed_scale():
    y, f = np.array([0.5, 4.0, 12.0]), np.array([1.0, 3.0, 10.0])
    for name in ("additive", "proportional", "combined"):
        err = FORMS[name]
        sd = np.array([_normal_sd(err, v) for v in f])
        np.testing.assert_allclose(err.weighted_residual(y, f), (y - f) / sd, rtol=1e-14)
    np.testing.assert_allclose(FORMS["exponential"].weighted_residual(y, f),
                               np.log(y / f) / 0.3, rtol=1e-13)
    yl, fl = np.array([0.5, 4.0, 9.5]), np.array([1.0, 3.0, 9.0])
    np.testing.assert_allclose(FORMS["logit"].weighted_residual(yl, fl),
                               (special.logit(yl / 10) - special.logit(fl / 10)) / 0.82,
                               rtol=1e-13)


# -- outside the support and degenerate cases: -inf, never a floating-point warning -----------

def test_outside_the_support():
    exp_, logit = FORMS["exponential"], FORMS["logit"]
    y = np.array([-1.0, 0.0])
    assert np.all(exp_.log_density(y, 2.0) == -np.inf)
    assert np.all(np.isnan(exp_.dlog_density_dpred(y, 2.0)))
    assert np.all(np.isnan(exp_.weighted_residual(y, 2.0)))
    assert np.all(exp_.log_cdf(y, 2.0) == -np.inf)
    yb = np.array([-1.0, LO, HI, 11.0])
    assert np.all(logit.log_density(yb, 5.0) == -np.inf)
    assert np.all(np.isnan(logit.weighted_residual(yb, 5.0)))
    np.testing.assert_array_equal(logit.log_cdf(yb, 5.0), [-np.inf, -np.inf, 0.0, 0.0])
    # a prediction of 0 with exponential error: the distribution collapses onto y = 0
    assert exp_.log_density(1.0, 0.0) == -np.inf and exp_.log_cdf(1.0, 0.0) == 0.0
    assert np.isnan(exp_.log_density(1.0, -1.0))
    assert np.isnan(FORMS["combined"].log_density(np.nan, 1.0))


def test_proportional_error_at_zero_prediction_is_a_point_mass():
    prop = FORMS["proportional"]
    assert prop.log_density(0.0, 0.0) == np.inf
    assert prop.log_density(0.1, 0.0) == -np.inf
    assert np.isnan(prop.dlog_density_dpred(0.1, 0.0))
    assert prop.log_cdf(0.1, 0.0) == 0.0 and prop.log_cdf(-0.1, 0.0) == -np.inf


def test_logit_predictions_on_the_bounds_are_clipped_as_in_simulation():
    logit = FORMS["logit"]
    y = np.array([0.3, 5.0, 9.7])
    inside = 1e-9 * (HI - LO)
    # equal up to the rounding of HI - inside (the logit there moves by 1e8 per unit of f)
    np.testing.assert_allclose(logit.log_density(y, LO), logit.log_density(y, LO + inside),
                               rtol=1e-6)
    np.testing.assert_allclose(logit.log_density(y, 12.0), logit.log_density(y, HI - inside),
                               rtol=1e-6)
    np.testing.assert_array_equal(logit.log_density(y, 12.0), logit.log_density(y, HI))
    assert np.all(np.isfinite(logit.log_density(y, LO)))
    np.testing.assert_array_equal(logit.dlog_density_dpred(y, np.array([-1.0, LO, 12.0])), 0.0)


# -- simulation ----------------------------------------------------------------------------------

def _today(pred, entry, eps):
    """The population engine's formula before ResidualError, copied verbatim."""
    if "logit_additive" in entry:
        lo, hi = entry["lower"], entry["upper"]
        width = hi - lo
        p = np.clip((pred - lo) / width, 1e-9, 1.0 - 1e-9)
        z = np.log(p / (1.0 - p)) + entry["logit_additive"] * eps[0]
        return lo + width / (1.0 + np.exp(-z))
    return pred * (1.0 + entry["proportional"] * eps[0]) + entry["additive"] * eps[1]


@pytest.mark.parametrize("entry", [
    {"proportional": 0.15, "additive": 0.0},
    {"proportional": 0.0, "additive": 1.3},
    {"proportional": 0.5, "additive": 0.25},
    {"proportional": 0.0, "additive": 0.0, "logit_additive": 0.82, "lower": 0.0, "upper": 10.0},
])
def test_simulation_is_todays_formula_bit_for_bit(entry):
    rng = np.random.default_rng(3)
    lo = entry.get("lower", -5.0)
    pred = np.concatenate([[0.0, 10.0, lo], rng.uniform(0.0, 10.0, 997)]).reshape(20, 50)
    eps = rng.standard_normal((2, 20, 50))
    want = _today(pred, entry, eps)
    err = ResidualError(**entry)
    assert np.array_equal(err.simulate(pred, eps), want)
    assert np.array_equal(apply_residual(pred, err, eps), want)
    assert np.array_equal(apply_residual(pred, entry, eps), want)


def test_model_file_residual_builds_the_same_observations():
    m = dmtpk.load_model("eckernas2022")
    res = build_residual(m, True)
    rng = np.random.default_rng(11)
    eps = rng.standard_normal((2, 4, 30))
    pred = rng.uniform(0.0, 10.0, (4, 30))
    for name, entry in [("concentration", {"proportional": 0.5, "additive": 0.0}),
                        ("metabolite", {"proportional": 0.19, "additive": 0.0}),
                        ("intensity", {"logit_additive": 0.82, "lower": 0.0, "upper": 10.0})]:
        assert np.array_equal(apply_residual(pred, res.outputs[name], eps),
                              _today(pred, entry, eps)), name


@pytest.mark.parametrize("name", FORMS)
def test_large_sample_moments_agree_with_variance(name):
    """On the scale the error is additive on, h(y) - h(f) has mean 0 and variance
    ``variance(f)``. n = 200 000: the sample mean is within 5 SE (SE = s/sqrt(n)), the sample
    variance within 5 SE (SE = s^2 sqrt(2/(n - 1)), normal kurtosis)."""
    err = FORMS[name]
    f = 3.0 if name == "logit" else 40.0
    n = 200_000
    eps = np.random.default_rng(2024).standard_normal((2, n))
    y = err.simulate(np.full(n, f), eps)
    d = np.asarray(err.transform(y)) - np.asarray(err.transform(f))
    var = float(err.variance(f))
    assert abs(d.mean()) < 5 * math.sqrt(var / n)
    assert abs(d.var(ddof=1) - var) < 5 * var * math.sqrt(2 / (n - 1))
    assert np.allclose(err.weighted_residual(y, f), d / math.sqrt(var))


def test_variance_values():
    f = np.array([0.0, 2.0, 10.0])
    np.testing.assert_allclose(FORMS["combined"].variance(f), 0.49 + (0.2 * f) ** 2)
    np.testing.assert_allclose(FORMS["additive"].variance(f), 0.49)
    np.testing.assert_allclose(FORMS["exponential"].variance(f), 0.09)
    assert FORMS["logit"].scale == "logit" and FORMS["exponential"].scale == "log"
    assert [e.form for e in FORMS.values()] == list(FORMS)


# -- validation ---------------------------------------------------------------------------------

@pytest.mark.parametrize("kw, field", [
    ({"additive": -0.1}, "additive"),
    ({"proportional": float("nan")}, "proportional"),
    ({"exponential": -1.0}, "exponential"),
    ({"proportional": True}, "proportional"),
    ({"additive": "x"}, "additive"),
    ({}, "additive"),
    ({"additive": 0.0, "proportional": 0.0}, "additive"),
    ({"proportional": 0.1, "exponential": 0.2}, "exponential"),
    ({"additive": 0.1, "logit_additive": 0.2, "lower": 0, "upper": 1}, "logit_additive"),
    ({"logit_additive": 0.5, "upper": 10}, "lower"),
    ({"logit_additive": 0.5, "lower": 0}, "upper"),
    ({"logit_additive": 0.5, "lower": 10, "upper": 10}, "upper"),
    ({"logit_additive": 0.5, "lower": 10, "upper": 0}, "upper"),
    ({"logit_additive": 0.5, "lower": 0, "upper": float("inf")}, "upper"),
    ({"proportional": 0.1, "lower": 0}, "lower"),
])
def test_invalid_parameters_name_the_field(kw, field):
    with pytest.raises(ValidationError) as exc:
        ResidualError(**kw)
    assert exc.value.field == field


def test_eps_needs_a_leading_axis_of_two():
    with pytest.raises(ValidationError) as exc:
        FORMS["additive"].simulate(np.ones(5), np.ones(5))
    assert exc.value.field == "eps"


def _model(residual):
    raw = {"model": {"name": "r", "structure": "one_compartment", "elimination": "linear",
                     "routes": ["iv"]},
           "parameters": {"CL": "1 L/min", "V1": "10 L", "E0": 0, "SLOPE": "1 L/mg"},
           "effects": {"score": {"link": "direct", "model": "linear",
                                 "parameters": {"E0": "E0", "SLOPE": "SLOPE"}}},
           "residual": residual}
    return model_from_dict(raw)


def test_build_residual_names_the_output_and_key():
    m = _model({"proportional": 0.1})
    with pytest.raises(ValidationError) as exc:
        build_residual(m, {"proportional": -0.1})
    assert exc.value.field == "residual.concentration.proportional"
    with pytest.raises(ValidationError) as exc:
        build_residual(m, {"score": {"logit_additive": 0.3, "lower": 5, "upper": 1}})
    assert exc.value.field == "residual.score.upper"
    with pytest.raises(ValidationError) as exc:
        build_residual(m, {"score": {"sd": 0.3}})
    assert exc.value.field == "residual.score.sd"


def test_exponential_key_in_the_model_file():
    m = _model({"exponential": 0.25, "score": {"exponential": 0.1}})
    res = build_residual(m, True)
    assert res.outputs["concentration"] == ResidualError(exponential=0.25)
    assert res.outputs["score"].form == "exponential"
    for bad, key in [({"exponential": 0.25, "proportional": 0.1}, "residual.exponential"),
                     ({"score": {"exponential": 0.1, "additive": 0.1}},
                      "residual.score.exponential"),
                     ({"score": {"exponential": -0.1}}, "residual.score.exponential"),
                     ({"proportional": 0.0}, "residual.proportional"),
                     ({"score": {"logit_additive": 0.0, "lower": 0, "upper": 1}},
                      "residual.score.logit_additive")]:
        with pytest.raises(ModelFileError) as exc:
            _model(bad)
        assert exc.value.key == key
