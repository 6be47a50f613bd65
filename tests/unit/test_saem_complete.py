"""SAEM on the problems FOCE-I takes: a block Ω, an estimated covariate power law, a combined
(additive + proportional) residual error, censored observations (Beal's M3); and its
convergence statement.

Data are simulated with ``simulate_dataset`` (fixed seeds) from a one-compartment model with
log-normal IIV. SAEM maximises the marginal likelihood itself, FOCE-I its Laplace
approximation; on these rich designs (7-9 samples per subject, shrinkage under 10 %) the two
maxima lie close: SAEM must agree with FOCE-I within one of FOCE-I's standard errors on every
estimate (the Laplace approximation's error and SAEM's Monte Carlo error after 300 iterations
with 400 chains are both below the sampling error; measured: 0.5 SE at most, on CL), the
FOCE-I objective at SAEM's estimates must lie within 2 units of its minimum (below the 3.84
of one parameter's likelihood-ratio test), and both recover the simulation's values within
2.5 standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk.fit import FitWarning
from dmtpk.fit.saem import convergence
from dmtpk.model.spec import model_from_dict

TIMES = np.array([0.5, 1, 2, 4, 8, 12, 24.0])       # h
TRUTH = {"CL": 4.0 / 60, "V1": 70.0, "omega(CL)": 0.09, "omega(V1)": 0.09, "prop": 0.15,
         "add": 5.0, "CL~WT": 0.75, "corr(CL,V1)": 0.6}


def raw(cl="4 L/h", v="70 L", e=0.75, prop=0.15, add="5 ng/mL", corr=0.6):
    return {"model": {"name": "one_cpt_wt", "routes": ["iv"], "structure": "one_compartment",
                      "elimination": "linear"},
            "parameters": {"CL": cl, "V1": v},
            "variability": {"omega": {"CL": 0.09, "V1": 0.09}, "correlation": {"CL,V1": corr}},
            "residual": {"proportional": prop, "additive": add},
            "covariates": {"WT": {"reference": "70 kg", "exponents": {"CL": e}}}}


def design(tmp_path, n, times=TIMES, seed=11):
    rng = np.random.default_rng(seed)
    wt = np.round(rng.uniform(45, 110, n), 1)
    lines = ["ID,TIME,AMT,EVID,MDV,DV,WT"]
    for i in range(n):
        lines.append(f"{i + 1},0,10,1,1,.,{float(wt[i])!r}")
        lines += [f"{i + 1},{t},0,0,0,0,{float(wt[i])!r}" for t in times]
    path = tmp_path / "design.csv"
    path.write_text("\n".join(lines) + "\n")
    return dmtpk.read_nonmem(path, time_unit="h", amount_unit="mg", concentration_unit="ug/L")


START = model_from_dict(raw(cl="5 L/h", v="60 L", e=0.0, prop=0.3, add="10 ng/mL", corr=0.0))
KW = dict(estimate=["CL", "V1", "CL~WT"], omega={"CL": 0.2, "V1": 0.2}, block=[["CL", "V1"]],
          covariance="r")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = design(tmp_path_factory.mktemp("saem"), 100)
    sim = dmtpk.simulate_dataset(model_from_dict(raw()), d, variability=True, residual=True,
                                 seed=3)
    return sim.to_dataset()


@pytest.fixture(scope="module")
def fits(data):
    focei = dmtpk.fit(START, data, method="focei", **KW)
    saem = dmtpk.fit(START, data, method="saem", seed=1, **KW)
    return focei, saem


@pytest.mark.slow
def test_saem_agrees_with_focei_and_recovers_the_truth(fits):
    focei, saem = fits
    assert focei.converged
    assert saem.converged, saem.message
    est_f, est_s = focei.estimates(), saem.estimates()
    assert set(est_s) == set(TRUTH)
    for lab, truth in TRUTH.items():
        se = focei.se[lab]
        assert 0 < se < 0.5 * abs(truth), lab
        assert abs(est_s[lab] - est_f[lab]) < se, lab
        assert abs(est_s[lab] - truth) < 2.5 * saem.se[lab], lab
        assert abs(est_f[lab] - truth) < 2.5 * se, lab
    assert focei.ofv <= saem.ofv < focei.ofv + 2.0


@pytest.mark.slow
def test_saem_history_and_convergence_statement(fits):
    _, saem = fits
    assert saem.history.shape == (300, len(saem.history_labels))
    assert saem.exploration == 200
    assert list(saem.history_labels) == list(saem.labels)
    # The last row is the estimate (the FOCE-I step at it does not move it).
    np.testing.assert_allclose(saem.history[-1], [saem.estimates()[k] for k in saem.labels],
                               rtol=1e-12)
    assert "exploration stationary" in saem.message
    assert set(saem.convergence_z) == set(saem.history_labels)
    assert all(abs(z) <= 4.0 for pair in saem.convergence_z.values() for z in pair)


@pytest.mark.slow
def test_automatic_exploration_is_the_fixed_run_when_it_stops_at_the_first_check(data, fits):
    """The default, ``iterations="auto"``: this problem's exploration is stationary at the
    first check (200 iterations), so the run is the fixed (200, 100) run draw for draw (the
    checks do not touch the random numbers)."""
    _, saem = fits
    assert saem.exploration == 200 and "automatic exploration, 200 + 100" in saem.message
    fixed = dmtpk.fit(START, data, method="saem", seed=1, iterations=(200, 100), **KW)
    np.testing.assert_array_equal(saem.history, fixed.history)
    assert "automatic" not in fixed.message
    for bad in ("fast", (200,), (0, 10), (20, 10.5), (True, 10)):
        with pytest.raises(dmtpk.ValidationError, match="iterations"):
            dmtpk.fit(START, data, method="saem", seed=1, iterations=bad, **KW)


def test_a_run_stopped_far_too_early_is_not_converged(data, tmp_path):
    """Variances started at 1 (truth 0.09) can shrink by 5 % per exploration iteration: after
    20 iterations they are still falling."""
    kw = dict(KW, omega={"CL": 1.0, "V1": 1.0}, covariance="none")
    with pytest.warns(FitWarning, match=r"SAEM did not converge: .* was still drifting"):
        res = dmtpk.fit(START, data, method="saem", seed=1, iterations=(20, 4), **kw)
    assert not res.converged
    named = res.message.split(": ", 1)[1].split(" was still", 1)[0]
    assert named in res.labels
    assert named.startswith("omega(")
    assert abs(res.convergence_z[named][0]) > 4.0
    fig = res.plot("saem")
    assert sum(ax.get_visible() for ax in fig.axes) == len(res.history_labels) == 8
    assert "NOT converged" in fig._suptitle.get_text()
    from dmtpk.fit.report import REPORT_FILES, SAEM_FILE
    paths = res.write_report(tmp_path / "rep", vpc_replicates=10)
    assert sorted(p.name for p in paths) == sorted(REPORT_FILES + (SAEM_FILE,))


def test_convergence_on_known_series():
    """The statement on synthetic trajectories: white noise passes, a drift of three noise SDs
    over the exploration's second half fails naming the parameter, a jump during smoothing
    fails."""
    rng = np.random.default_rng(0)
    k1, k2 = 200, 100
    noise = rng.standard_normal((k1 + k2, 2)) * 0.05 + 1.0
    smooth = np.cumsum(noise[k1:], axis=0) / np.arange(1, k2 + 1)[:, None]
    hist = np.vstack([noise[:k1], smooth])
    ok, msg, z = convergence(hist, ["CL", "V1"], k1)
    assert ok, msg
    drift = hist.copy()
    drift[k1 // 2:k1, 1] += np.linspace(0, 0.15, k1 - k1 // 2)
    ok, msg, _ = convergence(drift, ["CL", "V1"], k1)
    assert not ok and msg.startswith("V1 was still drifting")
    jump = hist.copy()
    jump[-10:, 0] += 0.05
    ok, msg, _ = convergence(jump, ["CL", "V1"], k1)
    assert not ok and msg.startswith("CL moved")


@pytest.fixture(scope="module")
def blq_data(tmp_path_factory):
    d = design(tmp_path_factory.mktemp("saem_blq"), 80, times=np.array(
        [0.5, 1, 2, 4, 6, 8, 12, 16, 24.0]), seed=5)
    truth = model_from_dict({
        "model": {"name": "one_cpt", "routes": ["iv"], "structure": "one_compartment",
                  "elimination": "linear"},
        "parameters": {"CL": "4 L/h", "V1": "70 L"},
        "variability": {"omega": {"CL": 0.09, "V1": 0.09}}, "residual": {"proportional": 0.2}})
    sim = dmtpk.simulate_dataset(truth, d, variability=True, residual=True, seed=8)
    return sim.to_dataset()


@pytest.mark.slow
def test_saem_with_m3_agrees_with_focei_m3(blq_data):
    start = model_from_dict({
        "model": {"name": "one_cpt", "routes": ["iv"], "structure": "one_compartment",
                  "elimination": "linear"},
        "parameters": {"CL": "5 L/h", "V1": "80 L"}, "residual": {"proportional": 0.3}})
    lloq = 70.0                                       # ug/L: about a third of the samples
    dv = blq_data.item("DV")
    obs = blq_data.item("EVID") == 0
    assert 0.25 < np.mean(dv[obs] < lloq) < 0.45
    # SEs from S: here FOCE-I's R matrix (differences of the M3 gradient) is not positive
    # definite.
    kw = dict(omega={"CL": 0.2, "V1": 0.2}, lloq=lloq, covariance="s")
    focei = dmtpk.fit(start, blq_data, method="focei", **kw)
    saem = dmtpk.fit(start, blq_data, method="saem", seed=2, **kw)
    assert saem.converged, saem.message
    truth = {"CL": 4.0 / 60, "V1": 70.0, "omega(CL)": 0.09, "omega(V1)": 0.09, "prop": 0.2}
    for lab, value in truth.items():
        se = focei.se[lab]
        assert abs(saem.estimates()[lab] - focei.estimates()[lab]) < se, lab
        assert abs(saem.estimates()[lab] - value) < 2.5 * saem.se[lab], lab
    assert focei.ofv <= saem.ofv + 1e-6 and saem.ofv < focei.ofv + 2.0


def test_saem_refuses_what_it_cannot_estimate(data):
    with pytest.raises(dmtpk.ValidationError, match="V1"):
        dmtpk.fit(START, data, method="saem", seed=1, estimate=["CL", "V1"],
                  omega={"CL": 0.2})
    # A covariate that changes within a subject: the regression is on subjects.
    wt = data.values["WT"].copy()
    wt[3] += 5.0                                           # ID 1, one of its observations
    with pytest.raises(dmtpk.ValidationError, match=r"estimate.CL~WT.*changes within ID 1"):
        dmtpk.fit(START, data.with_values(WT=wt), method="saem", seed=1, **KW)
