"""A joint fit of plasma concentrations and an effect endpoint (each with its own residual
error: proportional for DMT, logit-additive for the 0-10 intensity rating) recovers the
values the data were simulated with.

The data are the published eckernas2022 model's (Eckernäs et al. 2022) with IIV on CL and EC50
only (omega 0.09) and a 20 % proportional error on DMT, simulated on 40 subjects after 20 mg
with concentrations (DVID 1) and ratings (DVID 2) at 2-60 min. KE0 is held at its value: with
samples 2 min apart and an equilibration half-life of 0.5 min it is not identifiable (left
free, one replicate in four ran to its bound; the fit warns then).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dmtpk
from dmtpk.model.spec import _thaw, model_from_dict

TIMES = [2, 5, 10, 15, 20, 30, 45, 60]


@pytest.fixture(scope="module")
def truth():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = _thaw(dmtpk.load_model("eckernas2022").raw)
    raw["variability"] = {"omega": {"CL": 0.09, "EC50": 0.09}}
    raw["residual"]["proportional"] = 0.2
    return model_from_dict(raw)


@pytest.fixture(scope="module")
def data(truth, tmp_path_factory):
    lines = ["ID,TIME,AMT,EVID,MDV,DV,DVID"]
    for i in range(1, 41):
        lines.append(f"{i},0,20,1,1,.,.")
        for t in TIMES:
            lines += [f"{i},{t},0,0,0,0,1", f"{i},{t},0,0,0,0,2"]
    path = tmp_path_factory.mktemp("pkpd") / "pkpd.csv"
    path.write_text("\n".join(lines) + "\n")
    design = dmtpk.read_nonmem(path, time_unit="min", amount_unit="mg",
                               concentration_unit="ng/mL")
    sim = dmtpk.simulate_dataset(truth, design, variability=True, residual=True, seed=5)
    return sim.to_dataset()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_joint_pk_pd_fit_recovers_the_simulation_values(truth, data):
    start = truth.with_parameters({"CL": 1.3 * truth.value("CL"),
                                   "EC50": 0.7 * truth.value("EC50")})
    res = dmtpk.fit(start, data, estimate=["CL", "V1", "EC50"], omega={"CL": 0.2, "EC50": 0.2},
                    covariance="r")
    assert res.converged
    assert set(res.sigma) == {"prop", "intensity.logit"}
    assert {o for o in res.table["OUTPUT"]} == {"concentration", "intensity"}
    for name, tol in (("CL", 0.10), ("V1", 0.10), ("EC50", 0.20)):
        assert res.theta[name] == pytest.approx(truth.value(name), rel=tol), name
    assert res.sigma["prop"] == pytest.approx(0.2, rel=0.15)
    assert res.sigma["intensity.logit"] == pytest.approx(0.82, rel=0.15)
    for name in ("CL", "V1", "EC50"):
        lo, hi = res.ci[name]
        assert lo < res.theta[name] < hi
