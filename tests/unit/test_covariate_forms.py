"""Linear and categorical covariate effects (``[covariates]``: ``linear`` slopes per unit of the
covariate, ``categorical`` factors per level, level 1 the reference), beside the power laws.

- The model file's errors name the file and key.
- A dataset's predictions equal the closed form of a one-compartment bolus with
  CL_i = CL (1 + s (WT_i - 70)) x theta_SEX (exact to rounding: 1e-12 relative).
- The population engine applies the same factors to each subject's parameters (1e-12).
- The model file round-trips through ``to_toml``.
- FOCE-I recovers a linear slope and a categorical factor from data simulated with them
  (``simulate_dataset``, fixed seed): within 2.5 of its standard errors and the SEs small;
  the fitted model carries them and reads back.
"""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk.model.spec import model_from_dict
from dmtpk.model.toml import to_toml

TIMES = np.array([0.5, 1, 2, 4, 8, 12, 24.0])    # h
SLOPE, SEX2 = 0.01, 0.7                          # per kg; factor of level 2


def raw(slope=SLOPE, sex2=SEX2, omega=True):
    out = {
        "model": {"name": "one_cpt_cov", "routes": ["iv"], "structure": "one_compartment",
                  "elimination": "linear"},
        "parameters": {"CL": "4 L/h", "V1": "70 L"},
        "covariates": {"WT": {"reference": "70 kg", "linear": {"CL": slope}},
                       "SEX": {"categorical": {"CL": {"2": sex2}}}},
        "residual": {"exponential": 0.15}}
    if omega:
        out["variability"] = {"omega": {"CL": 0.09, "V1": 0.09}}
    return out


def write(tmp_path, wt, sex, name="cov.csv"):
    lines = ["ID,TIME,AMT,EVID,MDV,DV,WT,SEX"]
    for i in range(len(wt)):
        lines.append(f"{i + 1},0,10,1,1,.,{wt[i]!r},{sex[i]}")
        lines += [f"{i + 1},{t},0,0,0,0,{wt[i]!r},{sex[i]}" for t in TIMES]
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return dmtpk.read_nonmem(path, time_unit="h", amount_unit="mg", concentration_unit="ug/L")


@pytest.mark.parametrize("cov, key", [
    ({"SEX": {"categorical": {"CL": {"1": 0.8}}}}, "covariates.SEX.categorical.CL.1"),
    ({"SEX": {"categorical": {"CL": {"two": 0.8}}}}, "covariates.SEX.categorical.CL.two"),
    ({"SEX": {"categorical": {"CL": {"2": 0.0}}}}, "covariates.SEX.categorical.CL.2"),
    ({"SEX": {"categorical": {"KA": {"2": 0.8}}}}, "covariates.SEX.categorical.KA"),
    ({"SEX": {"categorical": {"CL": {}}}}, "covariates.SEX.categorical.CL"),
    ({"SEX": {"reference": 1, "categorical": {"CL": {"2": 0.8}}}}, "covariates.SEX.reference"),
    ({"WT": {"reference": "70 kg", "exponents": {"CL": 0.75}, "linear": {"CL": 0.01}}},
     "covariates.WT.linear.CL"),
    ({"WT": {"reference": "70 kg", "linear": {"Q": 0.01}}}, "covariates.WT.linear.Q"),
    ({"WT": {"reference": "70 kg", "linear": {"CL": "0.01 L"}}}, "covariates.WT.linear.CL"),
    ({"WT": {"reference": "70 kg", "slope": {"CL": 0.01}}}, "covariates.WT.slope"),
    ({"WT": {"linear": {"CL": 0.01}}}, "covariates.WT"),
])
def test_model_file_errors_name_the_key(cov, key):
    r = raw()
    r["covariates"] = cov
    with pytest.raises(dmtpk.ModelFileError) as exc:
        model_from_dict(r)
    assert exc.value.key == key


def test_linear_slope_with_a_unit_converts():
    r = raw()
    r["covariates"]["WT"]["linear"]["CL"] = "0.00001 1/g"
    assert model_from_dict(r).covariates["WT"]["linear"]["CL"] == pytest.approx(0.01)


def test_dataset_predictions_equal_the_closed_form(tmp_path):
    wt = [50.0, 70.0, 95.5, 120.0]
    sex = [1, 2, 2, 1]
    data = write(tmp_path, wt, sex)
    sim = dmtpk.simulate_dataset(model_from_dict(raw(omega=False)), data)
    obs = data.item("EVID") == 0
    ids = data.item("ID")[obs].astype(int) - 1
    cl = 4.0 * (1 + SLOPE * (np.array(wt) - 70)) * np.where(np.array(sex) == 2, SEX2, 1.0)
    t = data.item("TIME")[obs]
    expect = 10_000 / 70 * np.exp(-cl[ids] / 70 * t)
    got = np.asarray(sim.concentration)[obs]
    np.testing.assert_allclose(got, expect, rtol=1e-12)


def test_dataset_levels_and_signs_are_checked(tmp_path):
    with pytest.raises(dmtpk.DatasetError, match="levels 1, 2"):
        dmtpk.simulate_dataset(model_from_dict(raw(omega=False)),
                               write(tmp_path, [70.0, 70.0], [1, 3]))
    with pytest.raises(dmtpk.DatasetError, match="non-positive"):
        dmtpk.simulate_dataset(model_from_dict(raw(slope=-0.02, omega=False)),
                               write(tmp_path, [70.0, 130.0], [1, 1], "neg.csv"))


def test_population_applies_the_same_factors():
    model = model_from_dict(raw(omega=False))
    wt = np.array([50.0, 70.0, 95.5, 120.0])
    sex = np.array([1, 2, 2, 1])
    pop = dmtpk.simulate_population(model, dmtpk.Bolus("10 mg", 0), np.linspace(0, 600, 5),
                                    n=4, seed=1, covariates={"WT": wt, "SEX": sex})
    cl = 4.0 / 60 * (1 + SLOPE * (wt - 70)) * np.where(sex == 2, SEX2, 1.0)   # L/min
    np.testing.assert_allclose(pop.parameters["CL"], cl, rtol=1e-12)
    with pytest.raises(dmtpk.ValidationError, match=r"covariates.SEX\[1\]"):
        dmtpk.simulate_population(model, dmtpk.Bolus("10 mg", 0), np.linspace(0, 600, 5),
                                  n=2, seed=1, covariates={"SEX": [1, 3]})
    with pytest.raises(dmtpk.ValidationError, match="categorical"):
        dmtpk.simulate_population(model, dmtpk.Bolus("10 mg", 0), np.linspace(0, 600, 5),
                                  n=2, seed=1, covariates={"SEX": {"distribution": "normal",
                                                                   "mean": 1, "sd": 1}})
    neg = model_from_dict(raw(slope=-0.02, omega=False))
    with pytest.raises(dmtpk.ValidationError, match="upper bound"):
        dmtpk.simulate_population(neg, dmtpk.Bolus("10 mg", 0), np.linspace(0, 600, 5), n=2,
                                  seed=1, covariates={"WT": {"distribution": "lognormal",
                                                             "median": "70 kg", "cv": 0.2}})


def test_model_file_round_trips(tmp_path):
    model = model_from_dict(raw())
    path = tmp_path / "m.toml"
    path.write_text(to_toml(model))
    back = dmtpk.load_model(path)
    assert back.covariates == model.covariates


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    rng = np.random.default_rng(11)
    n = 80
    wt = np.round(rng.uniform(45, 110, n), 1)
    sex = rng.integers(1, 3, n)
    design = write(tmp_path_factory.mktemp("covsim"), wt.tolist(), sex.tolist())
    sim = dmtpk.simulate_dataset(model_from_dict(raw()), design, variability=True,
                                 residual=True, seed=23)
    return sim.to_dataset()


START = dict(estimate=["CL", "V1", "CL~WT", "CL~SEX[2]"], omega={"CL": 0.2, "V1": 0.2})


@pytest.fixture(scope="module")
def focei(simulated):
    return dmtpk.fit(model_from_dict(raw(slope=0.0, sex2=1.0)), simulated, **START)


def test_focei_recovers_linear_and_categorical_effects(focei, tmp_path):
    res = focei
    assert res.converged
    for label, truth in (("CL~WT", SLOPE), ("CL~SEX[2]", SEX2)):
        est, se = res.theta[label], res.se[label]
        assert 0 < se < 0.3 * abs(truth), label
        assert abs(est - truth) < 2.5 * se, label
    assert res.theta["CL"] * 60 == pytest.approx(4.0, rel=0.10)
    back = dmtpk.load_model(res.write_model(tmp_path / "fit.toml"))
    assert back.covariates["WT"]["linear"]["CL"] == pytest.approx(res.theta["CL~WT"])
    assert back.covariates["SEX"]["categorical"]["CL"]["2"] == pytest.approx(
        res.theta["CL~SEX[2]"])


@pytest.mark.slow
def test_saem_estimates_them_as_focei_does(focei, simulated):
    """SAEM and FOCE-I estimate the same model; on this rich design they agree within one of
    FOCE-I's standard errors (see tests/unit/test_saem_complete.py for the reasoning)."""
    res = dmtpk.fit(model_from_dict(raw(slope=0.0, sex2=1.0)), simulated, method="saem",
                    seed=4, covariance="none", **START)
    assert res.converged, res.message
    for label in focei.labels:
        assert abs(res.estimates()[label] - focei.estimates()[label]) < focei.se[label], label


def test_a_far_slope_gives_nan_predictions_for_the_subjects_it_makes_non_positive(tmp_path):
    """An optimiser's trial slope of -0.03/kg makes CL negative above 103 kg: those subjects'
    predictions are NaN (the objective rejects the step), the others' equal the closed form."""
    from dmtpk.fit.problem import build_problem
    wt = [50.0, 90.0, 120.0]
    data = write(tmp_path, wt, [1, 1, 1])
    data = data.with_values(DV=np.where(data.item("EVID") == 0, 1.0, np.nan))
    pb = build_problem(model_from_dict(raw()), data, estimate=["CL", "CL~WT"],
                       omega={"CL": 0.1})
    theta = pb.theta.copy()
    theta[pb.cov_pos[0]] = -0.03
    f = pb.predict(theta, np.zeros((1, 3, 1)))[0]
    heavy = pb.obs_sub == 2
    assert np.all(np.isnan(f[heavy])) and np.all(np.isfinite(f[~heavy]))
    cl = 4.0 * (1 - 0.03 * (np.array(wt) - 70))
    t = data.item("TIME")[pb.obs_rec][~heavy]
    expect = 10_000 / 70 * np.exp(-cl[pb.obs_sub[~heavy]] / 70 * t)
    np.testing.assert_allclose(np.exp(f[~heavy]), expect, rtol=1e-10)
