"""The FOCE-I objective's closed-form gradient against central differences of the objective
itself (modes re-solved at every point), for every kind of parameter and residual form."""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk.fit.estimate import _Objective
from dmtpk.fit.problem import build_problem
from dmtpk.model.spec import model_from_dict

TIMES = [0.25, 0.5, 1, 2, 3, 4, 6, 8, 12]


def two_cpt(residual):
    return model_from_dict({
        "model": {"name": "two_cpt", "routes": ["iv"], "structure": "two_compartment",
                  "elimination": "linear"},
        "parameters": {"CL": "4 L/h", "V1": "60 L", "Q": "5 L/h", "V2": "40 L"},
        "residual": residual})


def dataset(tmp_path, n=12, seed=5):
    """Subjects with 10 mg, observations from a two-compartment curve with 25 % scatter (the
    values only need to be plausible: the test compares two derivatives of one objective)."""
    rng = np.random.default_rng(seed)
    lines = ["ID,TIME,AMT,EVID,MDV,DV"]
    for i in range(1, n + 1):
        lines.append(f"{i},0,10,1,1,.")
        scale = np.exp(0.3 * rng.standard_normal())
        for t in TIMES:
            c = scale * (120 * np.exp(-0.9 * t) + 40 * np.exp(-0.08 * t))
            lines.append(f"{i},{t},0,0,0,{float(c * np.exp(0.25 * rng.standard_normal()))!r}")
    path = tmp_path / "d.csv"
    path.write_text("\n".join(lines) + "\n")
    return dmtpk.read_nonmem(path, time_unit="h", amount_unit="mg", concentration_unit="ug/L")


@pytest.mark.parametrize("residual", [{"proportional": 0.2},
                                      {"proportional": 0.15, "additive": "2 ng/mL"},
                                      {"additive": "8 ng/mL"},
                                      {"exponential": 0.25}])
def test_gradient_equals_differences_of_the_objective(tmp_path, residual):
    data = dataset(tmp_path)
    # Q has no random effect: its column is differenced by the code, the others closed form.
    problem = build_problem(two_cpt(residual), data, estimate=["CL", "V1", "Q", "V2"],
                            omega={"CL": 0.1, "V1": 0.08, "V2": 0.12})
    full = np.concatenate([np.log(problem.theta[problem.theta_pos]), np.log(problem.omega0),
                           np.log(problem.sd0)])
    x = full + 0.05 * np.random.default_rng(1).standard_normal(full.size)  # off the optimum
    obj = _Objective(problem, full, np.ones(full.size, dtype=bool))
    obj(x)
    grad = obj.subject_gradients(x)
    # The reference is limited by the modes' tolerance (1e-9): objective noise of about 1e-10
    # over a step of 1e-4 gives about 1e-6 absolute.
    h = 1e-4
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        fd = (obj.parts(x + e)[0] - obj.parts(x - e)[0]) / (2 * h)
        scale = np.abs(fd).max() + 1e-3
        assert np.abs(grad[:, k] - fd).max() < 1e-4 * scale + 2e-6, problem.labels()[k]
