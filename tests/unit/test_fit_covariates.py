"""Estimating a covariate power law, CL = θ (WT/70)^e, by FOCE-I, on data simulated here with
numpy (one-compartment bolus, e = 0.75, weights 45-110 kg, 30 % IIV on CL and V, 15 %
log-normal residual error). The fit starts from e = 0 (no effect)."""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk.model.spec import model_from_dict

TIMES = np.array([0.5, 1, 2, 4, 8, 12, 24.0])


def model(e=0.0):
    return model_from_dict({
        "model": {"name": "one_cpt_wt", "routes": ["iv"], "structure": "one_compartment",
                  "elimination": "linear"},
        "parameters": {"CL": "5 L/h", "V1": "60 L"},
        "covariates": {"WT": {"reference": "70 kg", "exponents": {"CL": e}}},
        "residual": {"exponential": 0.2}})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(17)
    n = 80
    wt = rng.uniform(45, 110, n)
    cl = 4.0 * (wt / 70) ** 0.75 * np.exp(0.3 * rng.standard_normal(n))
    v = 70.0 * np.exp(0.3 * rng.standard_normal(n))
    lines = ["ID,TIME,AMT,EVID,MDV,DV,WT"]
    for i in range(n):
        f = 10_000 / v[i] * np.exp(-cl[i] / v[i] * TIMES)
        y = f * np.exp(0.15 * rng.standard_normal(TIMES.size))
        lines.append(f"{i + 1},0,10,1,1,.,{float(wt[i])!r}")
        lines += [f"{i + 1},{t},0,0,0,{float(c)!r},{float(wt[i])!r}" for t, c in zip(TIMES, y)]
    path = tmp_path_factory.mktemp("wt") / "wt.csv"
    path.write_text("\n".join(lines) + "\n")
    return dmtpk.read_nonmem(path, time_unit="h", amount_unit="mg", concentration_unit="ug/L")


def test_focei_estimates_the_exponent(data, tmp_path):
    res = dmtpk.fit(model(), data, estimate=["CL", "V1", "CL~WT"],
                    omega={"CL": 0.2, "V1": 0.2})
    e, se = res.theta["CL~WT"], res.se["CL~WT"]
    assert 0 < se < 0.3
    assert abs(e - 0.75) < 2.5 * se
    assert res.theta["CL"] * 60 == pytest.approx(4.0, rel=0.10)
    lo, hi = res.ci["CL~WT"]
    assert lo == pytest.approx(e - 1.96 * se, rel=1e-3) and hi > e
    # The covariate explains variability: omega(CL) falls from the no-effect fit's.
    none = dmtpk.fit(model(), data, estimate=["CL", "V1"], omega={"CL": 0.2, "V1": 0.2},
                     covariance="none")
    assert res.omega["CL"] < none.omega["CL"]
    assert res.ofv < none.ofv - 10
    # The fitted model carries the exponent and reads back.
    m = dmtpk.load_model(res.write_model(tmp_path / "wt.toml"))
    assert m.covariates["WT"]["exponents"]["CL"] == pytest.approx(e)


def test_unknown_covariate_effect_is_named(data):
    with pytest.raises(dmtpk.ValidationError, match="V1~WT"):
        dmtpk.fit(model(), data, estimate=["CL", "V1~WT"], omega={"CL": 0.2})
