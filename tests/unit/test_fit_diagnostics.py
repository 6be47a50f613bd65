"""Simulation diagnostics of a population fit (NPDE, VPC, plots) on data simulated here with
numpy from the analytic one-compartment curve, log-normal IIV and log-normal residual error.

With the right model the NPDE are N(0, 1) (mean, variance, Kolmogorov-Smirnov) and the
observed median lies inside the simulated 90 % interval in most VPC bins; with a wrong volume
held fixed they are not.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import dmtpk
from dmtpk.model.spec import model_from_dict

DOSE = 10.0
TIMES = np.array([0.25, 0.5, 1, 2, 4, 6, 8, 12, 16, 24.0])


def model(cl=4.0, v=70.0):
    return model_from_dict({
        "model": {"name": "one_cpt", "routes": ["iv"], "structure": "one_compartment",
                  "elimination": "linear"},
        "parameters": {"CL": f"{cl} L/h", "V1": f"{v} L"},
        "residual": {"exponential": 0.15}})


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(99)
    n = 60
    cl = 4.0 * np.exp(0.3 * rng.standard_normal(n))
    v = 70.0 * np.exp(0.25 * rng.standard_normal(n))
    f = DOSE * 1000 / v[:, None] * np.exp(-(cl / v)[:, None] * TIMES[None, :])
    y = f * np.exp(0.15 * rng.standard_normal(f.shape))
    lines = ["ID,TIME,AMT,EVID,MDV,DV"]
    for i in range(n):
        lines.append(f"{i + 1},0,{DOSE},1,1,.")
        lines += [f"{i + 1},{t},0,0,0,{float(c)!r}" for t, c in zip(TIMES, y[i])]
    path = tmp_path_factory.mktemp("diag") / "d.csv"
    path.write_text("\n".join(lines) + "\n")
    return dmtpk.read_nonmem(path, time_unit="h", amount_unit="mg", concentration_unit="ug/L")


@pytest.fixture(scope="module")
def good(data):
    return dmtpk.fit(model(5.0, 60.0), data, omega={"CL": 0.1, "V1": 0.1}, covariance="none")


def test_npde_of_the_right_model_are_standard_normal(good):
    d = good.npde(n=500, seed=1)
    assert d.shape == (good.n_obs,) and np.all(np.isfinite(d))
    assert abs(d.mean()) < 0.1
    assert 0.85 < d.var() < 1.15
    assert stats.kstest(d, "norm").pvalue > 0.01
    # Reproducible from the seed.
    assert np.array_equal(d, good.npde(n=500, seed=1))


def test_npde_detect_a_wrong_volume(data):
    wrong = dmtpk.fit(model(4.0, 100.0), data, estimate=["CL"], omega={"CL": 0.1},
                      covariance="none")
    d = wrong.npde(n=500, seed=1)
    assert abs(d.mean()) > 0.3 or stats.kstest(d, "norm").pvalue < 1e-4


def test_vpc_brackets_the_observed_median(good):
    v = good.vpc(n=200, seed=2, bins=6)
    med = list(v["q"]).index(50)
    inside = [(lo <= o <= hi) for o, (lo, _, hi) in zip(v["observed"][:, med],
                                                       v["simulated"][:, med])]
    assert sum(inside) >= 5
    assert v["n"].sum() == good.n_obs
    pc = good.vpc(n=100, seed=2, bins=6, prediction_corrected=True)
    assert pc["prediction_corrected"] and np.all(np.isfinite(pc["observed"]))


def test_plots_draw(good):
    for kind in ("diagnostics", "individuals", "eta"):
        fig = good.plot(kind)
        assert fig.axes
    fig = good.plot("vpc", n=50, bins=5)
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(dmtpk.ValidationError, match="kind"):
        good.plot("nope")
    with pytest.raises(dmtpk.ValidationError, match="output"):
        good.vpc(output="intensity")


def test_report_is_written_all_or_none(good, tmp_path):
    import csv
    from dmtpk.fit.report import REPORT_FILES
    paths = good.write_report(tmp_path / "rep", vpc_replicates=30)
    assert sorted(p.name for p in paths) == sorted(REPORT_FILES)
    with open(tmp_path / "rep" / "parameters.csv") as fh:
        rows = {r["parameter"]: r for r in csv.DictReader(fh)}
    assert float(rows["CL"]["estimate"]) == good.theta["CL"]     # written round-trip exact
    assert dmtpk.load_model(tmp_path / "rep" / "model.toml").value("CL") == \
        pytest.approx(good.theta["CL"])
    before = (tmp_path / "rep" / "table.csv").read_bytes()
    with pytest.raises(dmtpk.DmtpkError, match="exists"):
        good.write_report(tmp_path / "rep", vpc_replicates=30)
    assert (tmp_path / "rep" / "table.csv").read_bytes() == before
