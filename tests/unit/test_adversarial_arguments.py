"""Adversarial corpus of mistyped population and result arguments: every one raises dmtpk's own
error naming the argument (and key) and what was expected, never a raw TypeError, ValueError,
KeyError, IndexError or AttributeError.

Argument classes: ``residual``, ``correlation``, ``distribution``, ``omega``, covariate values
and distributions (wrong keys, wrong types, out-of-support values), ``thresholds``, ``targets``,
``percentiles`` / ``metric_percentiles`` / ``summary`` quantiles (NaN, strings, empty, nested),
``output``, and attainment conditions (negative ``for_at_least``, non-numeric bounds).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dmtpk

TIMES = np.linspace(0.0, 60.0, 13)
NAN = float("nan")
CL_V1 = {"CL": 0.1, "V1": 0.1}


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dmtpk.load_model("eckernas2022")


def _population(model, **kw):
    args = dict(model=model, regimen=dmtpk.Bolus(20.0), times=TIMES, n=4, seed=1)
    args.update(kw)
    return dmtpk.simulate_population(**args)


def _rejects(call, field, words):
    try:
        call()
    except dmtpk.DmtpkError as exc:
        assert isinstance(exc, dmtpk.ValidationError), type(exc)
        assert exc.field == field, str(exc)
        assert words in str(exc), str(exc)
        assert "\n" not in str(exc)
        return
    except Exception as exc:  # the defect this corpus guards against
        pytest.fail(f"raw {type(exc).__name__}: {exc}")
    pytest.fail("accepted")


POPULATION_CASES = [
    # residual
    ({"residual": 1}, "residual", "expected True"),
    ({"residual": "yes"}, "residual", "expected True"),
    ({"residual": [0.1]}, "residual", "a mapping"),
    ({"residual": {"proportional": "a"}}, "residual.concentration.proportional", "number"),
    ({"residual": {"proportional": -1}}, "residual.concentration.proportional", ">= 0"),
    ({"residual": {"intensity": 0.5}}, "residual.intensity", "expected a table"),
    ({"residual": {"nope": {"additive": 1}}}, "residual.nope", "endpoint table"),
    ({"residual": {"intensity": {"sd": 1}}}, "residual.intensity.sd", "unknown key"),
    ({"residual": {"additive": [1, 2]}}, "residual.additive", "a number"),
    ({"residual": {1: 0.2}}, "residual", "names"),
    # correlation
    ({"omega": CL_V1, "correlation": [0.5]}, "omega.correlation", "mapping"),
    ({"omega": CL_V1, "correlation": 0.5}, "omega.correlation", "mapping"),
    ({"omega": CL_V1, "correlation": {"CL": 0.5}}, "omega.correlation", "two different"),
    ({"omega": CL_V1, "correlation": {"CL,CL": 0.5}}, "omega.correlation", "two different"),
    ({"omega": CL_V1, "correlation": {"CL,V1,Q": 0.5}}, "omega.correlation", "two different"),
    ({"omega": CL_V1, "correlation": {("CL", "V1"): 0.5}}, "omega.correlation", "strings"),
    ({"omega": CL_V1, "correlation": {"CL,V1": "a"}}, "omega.correlation", "[-1, 1]"),
    ({"omega": CL_V1, "correlation": {"CL,V1": NAN}}, "omega.correlation", "[-1, 1]"),
    ({"omega": CL_V1, "correlation": {"CL,V1": None}}, "omega.correlation", "[-1, 1]"),
    ({"correlation": [("CL", "V1")]}, "correlation", "mapping"),
    ({"omega": (["CL"], [[0.1]]), "correlation": {"CL,V1": 0.5}}, "correlation", "inside"),
    # distribution
    ({"distribution": "logit"}, "distribution", "a mapping"),
    ({"distribution": ["logit"]}, "distribution", "a mapping"),
    ({"distribution": {"FOO": "normal"}}, "distribution.FOO", "no parameter"),
    ({"distribution": {"CL": 1}}, "distribution.CL", "unknown distribution"),
    ({"distribution": {"CL": ["normal"]}}, "distribution.CL", "unknown distribution"),
    ({"distribution": {"CL": "weibull"}}, "distribution.CL", "unknown distribution"),
    ({"distribution": {"CL": "logit"}}, "distribution.CL", "between 0 and 1"),
    # omega
    ({"omega": 0.1}, "omega", "expected a mapping"),
    ({"omega": [0.1]}, "omega", "expected a mapping"),
    ({"omega": "CL"}, "omega", "expected a mapping"),
    ({"omega": (["CL"],)}, "omega", "expected a mapping"),
    ({"omega": ("CL", [[0.1]])}, "omega", "sequence of parameter names"),
    ({"omega": (["CL"], "x")}, "omega", "must be numbers"),
    ({"omega": (["CL"], [[NAN]])}, "omega", "finite"),
    ({"omega": (["CL", "CL"], np.eye(2))}, "omega", "twice"),
    ({"omega": (["CL", "V1"], [[0.1, 0.0], [0.0, -0.1]])}, "omega", "negative"),
    ({"omega": {"CL": "0.1"}}, "omega.CL", "non-negative variance"),
    ({"omega": {"CL": NAN}}, "omega.CL", "non-negative variance"),
    ({"omega": {"CL": None}}, "omega.CL", "non-negative variance"),
    ({"omega": {1: 0.1}}, "omega", "names"),
    ({"omega": {"CLX": 0.1}}, "omega.CLX", "no parameter"),
    # covariates
    ({"covariates": 70}, "covariates", "a mapping"),
    ({"covariates": ["WT"]}, "covariates", "a mapping"),
    ({"covariates": {1: 70}}, "covariates", "names"),
    ({"covariates": {"WT": {"distribution": "normal"}}}, "covariates.WT.mean", "is missing"),
    ({"covariates": {"WT": {"distribution": "normal", "mean": "70 kg"}}}, "covariates.WT.sd",
     "is missing"),
    ({"covariates": {"WT": {"distribution": "normal", "median": "70 kg", "cv": 0.2}}},
     "covariates.WT.median", "not a key of a normal"),
    ({"covariates": {"WT": {"distribution": "lognormal", "mean": "70 kg", "sd": 10}}},
     "covariates.WT.mean", "not a key of a lognormal"),
    ({"covariates": {"WT": {"distribution": "lognormal", "median": "70 kg", "cv": 0.2,
                            "sigma": 1}}}, "covariates.WT.sigma", "not a key"),
    ({"covariates": {"WT": {"median": "70 kg", "cv": 0.2}}}, "covariates.WT.distribution",
     "unknown distribution"),
    ({"covariates": {"WT": {"distribution": "uniform", "lower": 40, "upper": 90}}},
     "covariates.WT.distribution", "unknown distribution"),
    ({"covariates": {"WT": {"distribution": "lognormal", "median": "70 kg", "cv": "a"}}},
     "covariates.WT.cv", "coefficient of variation"),
    ({"covariates": {"WT": {"distribution": "lognormal", "median": "70 kg", "cv": NAN}}},
     "covariates.WT.cv", "coefficient of variation"),
    ({"covariates": {"WT": {"distribution": "lognormal", "median": "70 kg", "cv": -0.1}}},
     "covariates.WT.cv", "negative"),
    ({"covariates": {"WT": {"distribution": "lognormal", "median": "0 kg", "cv": 0.2}}},
     "covariates.WT.median", "positive"),
    ({"covariates": {"WT": {"distribution": "normal", "mean": "70 kg", "sd": None}}},
     "covariates.WT.sd", "standard deviation"),
    ({"covariates": {"WT": {"distribution": "normal", "mean": "-70 kg", "sd": 10}}},
     "covariates.WT.mean", "positive"),
    ({"covariates": {"WT": {"distribution": "normal", "mean": "70 kg", "sd": 10,
                            "lower": "-5 kg"}}}, "covariates.WT.lower", "negative"),
    ({"covariates": {"WT": {"distribution": "normal", "mean": "70 kg", "sd": 10,
                            "lower": "100 kg", "upper": "50 kg"}}}, "covariates.WT", "below"),
    ({"covariates": {"WT": {"distribution": "normal", "mean": "70 kg", "sd": 1,
                            "lower": "200 kg"}}}, "covariates.WT", "widen"),
    ({"covariates": {"WT": {"distribution": "normal", "mean": "70 kg", "sd": 0,
                            "lower": "80 kg"}}}, "covariates.WT", "outside its bounds"),
    ({"covariates": {"WT": {"distribution": "normal", "mean": "70 L", "sd": 10}}},
     "covariates.WT.mean", "kg"),
    ({"covariates": {"WT": [[70, 80], [90, 60]]}}, "covariates.WT", "flat sequence"),
    ({"covariates": {"WT": np.full((2, 2), 70.0)}}, "covariates.WT", "flat sequence"),
    ({"covariates": {"WT": [[70], [80, 90]]}}, "covariates.WT", "flat sequence"),
    ({"covariates": {"WT": [70, None, 70, 70]}}, "covariates.WT[1]", "a number"),
    ({"covariates": {"WT": object()}}, "covariates.WT", "a number"),
    ({"covariates": {"WT": [70, -1, 70, 70]}}, "covariates.WT[1]", "positive"),
    ({"covariates": {"WT": [70.0, 80.0]}}, "covariates.WT", "4 values"),
    ({"covariates": {"AGE": 40}}, "covariates.AGE", "no covariate"),
]


@pytest.mark.parametrize("kw, field, words", POPULATION_CASES,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(POPULATION_CASES)])
def test_population_arguments(model, kw, field, words):
    _rejects(lambda: _population(model, **kw), field, words)


# simulate_population validates thresholds and targets in population/runner.py and chunk.py
# (check_target), which do not call the validators yet: Model.check_thresholds and
# population.result.check_conditions are the checks they are to call. Strict: these cases
# fail loudly once the runner does.
RUNNER_CASES = [
    ({"thresholds": 5}, "thresholds", "mapping"),
    ({"thresholds": [5]}, "thresholds", "mapping"),
    ({"thresholds": {"intensity": "a"}}, "thresholds.intensity", "finite number"),
    ({"thresholds": {"intensity": NAN}}, "thresholds.intensity", "finite number"),
    ({"targets": [1]}, "targets", "mapping"),
    ({"targets": {"a": 5}}, "targets.a", "mapping"),
    ({"targets": {"a": {"above": "x"}}}, "targets.a.above", "finite number"),
    ({"targets": {"a": {"above": 5, "for_at_least": -1}}}, "targets.a.for_at_least",
     "negative"),
    ({"targets": {"a": {"cmax_below": -1}}}, "targets.a.cmax_below", "negative"),
]


@pytest.mark.parametrize("kw, field, words", RUNNER_CASES,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(RUNNER_CASES)])
def test_population_thresholds_and_targets(model, kw, field, words):
    _rejects(lambda: _population(model, **kw), field, words)


def test_validators_for_thresholds_and_targets(model):
    """What the runner is to call, checked on its own."""
    from dmtpk.population.result import check_conditions
    for args, field, words in RUNNER_CASES:
        if "thresholds" in args:
            _rejects(lambda: model.check_thresholds(args["thresholds"]), field, words)
        elif isinstance(args["targets"], dict):
            for name, tgt in args["targets"].items():
                _rejects(lambda: check_conditions(tgt, f"targets.{name}."), field, words)
    assert model.check_thresholds({"intensity": np.float32(4)}) == {"intensity": 4.0}


@pytest.fixture(scope="module")
def result(model):
    return _population(model)


@pytest.fixture(scope="module")
def summary_result(model):
    return _population(model, keep="summary", n=16)


QUANTILES = [([50, NAN], "q"), ([NAN], "q"), ("a", "q"), ("50", "q"), (None, "q"),
             ([], "q"), ([[50]], "q"), ([200], "q"), ([-1], "q"), ([50, np.inf], "q")]


@pytest.mark.parametrize("q, field", QUANTILES)
@pytest.mark.parametrize("which", ["all", "summary"])
@pytest.mark.parametrize("method", ["percentiles", "metric_percentiles", "summary"])
def test_percentiles(result, summary_result, which, method, q, field):
    r = result if which == "all" else summary_result
    call = {"percentiles": lambda: r.percentiles(q),
            "metric_percentiles": lambda: r.metric_percentiles(q),
            "summary": lambda: r.summary(q=q)}[method]
    _rejects(call, field, "percentile")


@pytest.mark.parametrize("output, words", [(1, "name of an output"),
                                           (None, "name of an output"),
                                           ("effect_site:foo", "unknown output"),
                                           ("nope", "unknown output")])
def test_percentile_outputs(result, output, words):
    _rejects(lambda: result.percentiles(50, output=output), "output", words)


@pytest.mark.parametrize("conditions, field, words", [
    ({"endpoint": "intensity", "above": 5, "for_at_least": -1}, "for_at_least", "negative"),
    ({"endpoint": "intensity", "above": 5, "for_at_least": "-1 min"}, "for_at_least",
     "negative"),
    ({"endpoint": "intensity", "above": 5, "for_at_most": -0.5}, "for_at_most", "negative"),
    ({"endpoint": "intensity", "above": 5, "for_at_least": "5 mg"}, "for_at_least", "min"),
    ({"endpoint": "intensity", "above": "x"}, "above", "finite number"),
    ({"endpoint": "intensity", "above": None}, "above", "finite number"),
    ({"endpoint": "intensity", "below": NAN}, "below", "finite number"),
    ({"cmax_below": -1}, "cmax_below", "negative"),
    ({"cmax_above": "-3 ng/mL"}, "cmax_above", "negative"),
])
def test_attainment_conditions(result, conditions, field, words):
    _rejects(lambda: result.attainment(**conditions), field, words)


@pytest.mark.parametrize("thresholds, field, words", [
    (5, "thresholds", "mapping"),
    ([5], "thresholds", "mapping"),
    ({"intensity": "a"}, "thresholds.intensity", "finite number"),
    ({"intensity": NAN}, "thresholds.intensity", "finite number"),
    ({"intensity": None}, "thresholds.intensity", "finite number"),
    ({"nope": 3}, "thresholds.nope", "no endpoint"),
])
def test_single_subject_thresholds(model, thresholds, field, words):
    r = dmtpk.simulate(model, dmtpk.Bolus(20.0), TIMES)
    _rejects(lambda: r.metrics(thresholds=thresholds), field, words)


def test_valid_arguments_still_work(model, result):
    """The same argument classes, well formed (NumPy scalars included)."""
    r = _population(model, omega={"CL": np.float32(0.1), "V1": 0.1},
                    correlation={"CL, V1": np.float64(0.3)}, distribution={"CL": "lognormal"},
                    residual={"proportional": 0.1},
                    covariates={"WT": {"distribution": "normal", "mean": "70 kg", "sd": 10,
                                       "lower": "40 kg"}})
    assert r.percentiles(np.int64(50)).shape == (1, TIMES.size)
    assert np.isfinite(r.observations["concentration"]).all()
    assert 0.0 <= result.attainment(endpoint="intensity", above=np.float32(1),
                                    for_at_least=np.int64(0)) <= 1.0


# --------------------------------------------------------------------------------------------
# Random junk of every shape: accepted, or a dmtpk error; never a raw Python error
# --------------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NAMES = st.sampled_from(["CL", "V1", "GAMMA", "WT", "intensity", "metabolite", "CL,V1",
                          "distribution", "normal", "lognormal", "mean", "sd", "median", "cv",
                          "lower", "upper", "proportional", "additive", "above", "for_at_least"])
_LEAVES = (st.none() | st.booleans() | st.integers(-10, 200) | st.floats(allow_nan=True)
           | st.text(max_size=6) | st.sampled_from(["70 kg", "5 min", "-1 min", "nan", "1 L"]))
JUNK = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4)
                    | st.tuples(inner, inner)
                    | st.dictionaries(_NAMES | st.text(max_size=4), inner, max_size=3),
                    max_leaves=8)


def _dmtpk_or_nothing(call):
    try:
        call()
    except dmtpk.DmtpkError:
        pass


@settings(max_examples=150, deadline=None)
@given(omega=JUNK, correlation=JUNK, distribution=JUNK)
def test_variability_arguments_fuzzed(model, omega, correlation, distribution):
    from dmtpk.population.variability import build_variability
    _dmtpk_or_nothing(lambda: build_variability(model, omega, correlation, distribution))


@settings(max_examples=150, deadline=None)
@given(covariates=JUNK | st.dictionaries(st.just("WT"), JUNK, max_size=1))
def test_covariate_arguments_fuzzed(model, covariates):
    from dmtpk.population.variability import build_covariates
    _dmtpk_or_nothing(lambda: build_covariates(model, covariates, 4))


@settings(max_examples=150, deadline=None)
@given(residual=JUNK)
def test_residual_arguments_fuzzed(model, residual):
    from dmtpk.population.variability import build_residual
    _dmtpk_or_nothing(lambda: build_residual(model, residual))


@settings(max_examples=100, deadline=None)
@given(q=JUNK, thresholds=JUNK, conditions=st.dictionaries(_NAMES, JUNK, max_size=3))
def test_result_arguments_fuzzed(model, result, q, thresholds, conditions):
    _dmtpk_or_nothing(lambda: result.percentiles(q))
    _dmtpk_or_nothing(lambda: result.metric_percentiles(q))
    _dmtpk_or_nothing(lambda: model.check_thresholds(thresholds))
    _dmtpk_or_nothing(lambda: result.attainment(**conditions))
