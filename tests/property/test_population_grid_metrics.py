"""Population metrics against single-subject metrics on random grids (#13 item 3), a property
test over fine, coarse and sparse output grids.

Population metrics are statistics of the output grid (see ``population.result.grid_note``):

- Cmax is the grid maximum: it equals the maximum of the same subject's single-subject
  concentrations on the same grid (another engine), to 1e-6;
- onset and offset are within the grid's largest step of the exact ones (``Result.metrics()``,
  root-found on the continuous solution), and the duration within two steps;
- an effect the grid misses altogether was shorter than two steps.
"""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import given, settings, strategies as st

import dmtpk

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    MODEL = dmtpk.load_model("eckernas2022")
REGIMEN = dmtpk.Bolus("20 mg", salt="fumarate")

uniform = st.sampled_from([0.05, 0.25, 1.0, 3.0, 7.5, 20.0, 60.0]).map(
    lambda h: np.arange(0.0, 60.0 + h / 2, h))
sparse = st.lists(st.floats(0.1, 59.9), min_size=2, max_size=10, unique=True).map(
    lambda xs: np.unique(np.concatenate([[0.0, 60.0], np.round(xs, 3)])))


@settings(max_examples=12, deadline=None)
@given(grid=st.one_of(uniform, sparse), seed=st.integers(0, 1000))
def test_population_metrics_are_grid_statistics_of_the_same_subjects(grid, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pop = dmtpk.simulate_population(MODEL, REGIMEN, grid, n=4, seed=seed, keep="all")
    step = float(np.max(np.diff(grid)))
    for i in range(4):
        values = {k: float(v[i]) for k, v in pop.parameters.items()}
        single = dmtpk.simulate(MODEL, REGIMEN, grid, parameters=values)
        assert np.isclose(pop.metric("cmax")[i], single.concentration.max(), rtol=1e-6)
        exact = single.metrics().effects["intensity"]
        onset = pop.metric("onset", "intensity")[i]
        duration = pop.metric("duration", "intensity")[i]
        if np.isfinite(exact.onset) and np.isfinite(onset):
            assert abs(onset - exact.onset) <= step + 1e-9
        elif np.isfinite(exact.onset):          # the grid missed the episode
            assert exact.duration <= 2 * step
        assert abs(np.nan_to_num(duration) - exact.duration) <= 2 * step + 1e-9
        offset = pop.metric("offset", "intensity")[i]
        if np.isfinite(exact.offset) and np.isfinite(offset):
            assert abs(offset - exact.offset) <= step + 1e-9
