"""Population metrics against the single-subject metrics of the same subjects (#13 item 3).

Per-subject metrics of a population are computed on the output grid (crossings interpolated
linearly), those of ``Result.metrics()`` on the continuous solution. On a grid whose step is
below the model's fastest time constant (0.72 min for eckernas2022: effect-site
equilibration) they agree subject by subject: Cmax within 1 %, onset and offset within one
step, duration within two. On coarser or sparse grids they cannot, and the run says so: a
GridWarning and a note in the summary.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dmtpk
from dmtpk.population.result import GridWarning

REGIMEN = dmtpk.Bolus("20 mg", salt="fumarate")


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dmtpk.load_model("eckernas2022")


@pytest.mark.parametrize("step", [0.1, 0.25, 0.5])
def test_fine_grids_agree_with_single_subject_metrics(model, step):
    t = np.arange(0.0, 60.0 + step / 2, step)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GridWarning)         # a fine grid gives no warning
        pop = dmtpk.simulate_population(model, REGIMEN, t, n=12, seed=5, keep="all")
    for i in range(12):
        values = {k: float(v[i]) for k, v in pop.parameters.items()}
        single = dmtpk.simulate(model, REGIMEN, t, parameters=values).metrics()
        e = single.effects["intensity"]
        assert pop.metric("cmax")[i] == pytest.approx(single.exposure.cmax, rel=0.01)
        if np.isfinite(e.onset):
            assert abs(pop.metric("onset", "intensity")[i] - e.onset) <= step
            assert abs(pop.metric("duration", "intensity")[i] - e.duration) <= 2 * step
        if np.isfinite(e.offset):
            assert abs(pop.metric("offset", "intensity")[i] - e.offset) <= step


@pytest.mark.parametrize("grid", [np.arange(0.0, 601.0, 60.0),                 # hourly
                                  np.array([0, 2, 5, 10, 15, 30, 60.0])])       # clinical
def test_coarse_and_sparse_grids_say_they_are_grid_statistics(model, grid):
    with pytest.warns(GridWarning, match="statistics of the output grid"):
        pop = dmtpk.simulate_population(model, REGIMEN, grid, n=20, seed=1)
    assert "statistics of the output grid" in pop.summary()
