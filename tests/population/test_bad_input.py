"""Bad input to the population engine is rejected with a message naming what and where."""

from __future__ import annotations

import pytest

import dmtpk

from .conftest import TIMES, w_model

REG = dmtpk.Bolus(20.0)


def _sim(**kw):
    args = dict(model=w_model(), regimen=REG, times=TIMES[:5], n=10, seed=1)
    args.update(kw)
    return dmtpk.simulate_population(**args)


@pytest.mark.parametrize("kw, field, words", [
    ({"n": 0}, "n", "positive"),
    ({"n": 2.5}, "n", "whole"),
    ({"seed": -1}, "seed", "non-negative"),
    ({"seed": 1.5}, "seed", "integer"),
    ({"backend": "gpu"}, "backend", "unknown backend"),
    ({"keep": "some"}, "keep", "'all' or 'summary'"),
    ({"chunk_size": 0}, "chunk_size", "positive"),
    ({"omega": {"CLX": 0.1}}, "omega.CLX", "no parameter"),
    ({"omega": {"CL": -0.1}}, "omega.CL", "non-negative"),
    ({"omega": {"CL": float("nan")}}, "omega.CL", "non-negative"),
    ({"omega": {"CL": 0.1, "V1": 0.1, "Q": 0.1},
      "correlation": {"CL,V1": 0.9, "CL,Q": 0.9, "V1,Q": -0.9}}, "omega", "positive definite"),
    ({"omega": {"CL": 0.1, "V1": 0.1}, "correlation": {"CL,V1": 1.5}}, "omega.correlation",
     "[-1, 1]"),
    ({"distribution": {"CL": "weibull"}}, "distribution.CL", "unknown distribution"),
    ({"distribution": {"CL": "logit"}}, "distribution.CL", "between 0 and 1"),
    ({"covariates": {"WT": [70.0, float("nan")] + [70.0] * 8}}, "covariates.WT[1]", "finite"),
    ({"covariates": {"WT": [70.0, 80.0]}}, "covariates.WT", "10 values"),
    ({"covariates": {"AGE": 40}}, "covariates.AGE", "no covariate"),
    ({"regimen": dmtpk.Bolus("0.3 mg/kg")}, "covariates.WT", "per-kg"),
    ({"residual": {"intensity": {"logit_additive": 0.5}}}, "residual.intensity", "lower and upper"),
    ({"thresholds": {"nope": 3}}, "endpoint", "no endpoint"),
    ({"targets": {"x": {"above": 3, "longer": 5}}}, "targets.x", "unknown condition"),
    ({"targets": {"x": {"endpoint": "intensity"}}}, "targets.x", "exactly one of above"),
    ({"method": "euler"}, "method", "unknown method"),
])
def test_rejected(kw, field, words):
    with pytest.raises(dmtpk.ValidationError) as err:
        _sim(**kw)
    assert err.value.field == field
    assert words in str(err.value)


def test_negative_individual_parameter_names_the_subject():
    """A normal eta with a large variance makes some clearances negative: refuse, naming the
    subject, rather than simulate nonsense."""
    with pytest.raises(dmtpk.ValidationError, match=r"subject \d+ has invalid"):
        _sim(n=200, omega={"CL": 4.0}, distribution={"CL": "normal"})


def test_summary_rejects_per_subject_requests():
    r = _sim(keep="summary")
    with pytest.raises(dmtpk.ValidationError, match="keep='all'"):
        r.effect  # noqa: B018 - the property raises
    with pytest.raises(dmtpk.ValidationError, match="declare targets"):
        r.attainment(endpoint="intensity", above=3)
    with pytest.raises(dmtpk.ValidationError, match=r"\[0, 100\]"):
        r.percentiles([150])
