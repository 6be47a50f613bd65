"""A block Ω (NONMEM's $OMEGA BLOCK(2)) on CL and V, estimated by FOCE-I from data simulated
here with numpy: one-compartment bolus, 100 subjects, variances 0.09 and a correlation of 0.6
between the random effects of CL and V, 15 % log-normal residual error. The correlation's
coordinates are unconstrained (canonical partial correlations), so Ω stays positive definite.
"""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk.fit.problem import _chol_corr, _corr_coordinates
from dmtpk.model.spec import model_from_dict

TIMES = np.array([0.5, 1, 2, 4, 8, 12, 24.0])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(31)
    n = 100
    cov = 0.09 * np.array([[1.0, 0.6], [0.6, 1.0]])
    eta = rng.standard_normal((n, 2)) @ np.linalg.cholesky(cov).T
    cl, v = 4.0 * np.exp(eta[:, 0]), 70.0 * np.exp(eta[:, 1])
    lines = ["ID,TIME,AMT,EVID,MDV,DV"]
    for i in range(n):
        f = 10_000 / v[i] * np.exp(-cl[i] / v[i] * TIMES)
        y = f * np.exp(0.15 * rng.standard_normal(TIMES.size))
        lines.append(f"{i + 1},0,10,1,1,.")
        lines += [f"{i + 1},{t},0,0,0,{float(c)!r}" for t, c in zip(TIMES, y)]
    path = tmp_path_factory.mktemp("block") / "b.csv"
    path.write_text("\n".join(lines) + "\n")
    return dmtpk.read_nonmem(path, time_unit="h", amount_unit="mg", concentration_unit="ug/L")


def model():
    return model_from_dict({
        "model": {"name": "one_cpt", "routes": ["iv"], "structure": "one_compartment",
                  "elimination": "linear"},
        "parameters": {"CL": "5 L/h", "V1": "60 L"}, "residual": {"exponential": 0.2}})


def test_partial_correlation_coordinates_round_trip():
    rng = np.random.default_rng(0)
    for m in (2, 3, 4):
        z = rng.normal(size=m * (m - 1) // 2)
        w = _chol_corr(z, m)
        c = w @ w.T
        assert np.allclose(np.diag(c), 1.0) and np.all(np.linalg.eigvalsh(c) > 0)
        assert np.allclose(_corr_coordinates(c), z)


def test_block_omega_recovers_the_correlation(data, tmp_path):
    res = dmtpk.fit(model(), data, omega={"CL": 0.2, "V1": 0.2}, block=[["CL", "V1"]])
    r, se = res.correlations["CL,V1"], res.se["corr(CL,V1)"]
    assert 0 < se < 0.2
    assert abs(r - 0.6) < 2.5 * se
    om = res.omega_matrix
    assert om[0, 1] == pytest.approx(r * np.sqrt(om[0, 0] * om[1, 1]))
    diag = dmtpk.fit(model(), data, omega={"CL": 0.2, "V1": 0.2}, covariance="none")
    assert res.ofv < diag.ofv - 10          # the correlation is in the data
    m = dmtpk.load_model(res.write_model(tmp_path / "block.toml"))
    assert m.variability["correlation"]["CL,V1"] == pytest.approx(r)


def test_block_arguments_are_checked(data):
    with pytest.raises(dmtpk.ValidationError, match="block.Q"):
        dmtpk.fit(model(), data, omega={"CL": 0.1, "V1": 0.1}, block=[["CL", "Q"]])
    with pytest.raises(dmtpk.ValidationError, match="correlation"):
        dmtpk.fit(model(), data, omega={"CL": 0.1, "V1": 0.1}, block=[["CL", "V1"]],
                  correlation={"CL,V1": 1.5})
