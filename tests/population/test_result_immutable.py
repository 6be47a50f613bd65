"""PopulationResult is an immutable value: built once by simulate_population, never filled in.

Its attributes cannot be reassigned, its arrays are read-only views and its mappings read-only;
the caller's own arrays (the output times) keep their flags."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import dmtpk

from .conftest import TIMES

REG = dmtpk.Bolus(20.0)


@pytest.fixture(scope="module")
def full(linear_model):
    return dmtpk.simulate_population(linear_model, REG, TIMES, n=20, seed=1, keep="all",
                                     residual={"proportional": 0.1}, replicates=2,
                                     uncertainty={"CL": 0.01})


@pytest.fixture(scope="module")
def summary(linear_model):
    return dmtpk.simulate_population(linear_model, REG, TIMES, n=20, seed=1, keep="summary",
                                     targets={"any": {"endpoint": "intensity", "above": 3}})


@pytest.mark.parametrize("name, value", [("n", 3), ("concentration", None), ("keep", "all"),
                                         ("effects", {}), ("n_fallback", 1)])
def test_assigning_an_attribute_raises(full, name, value):
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(full, name, value)


def test_assigning_an_attribute_of_a_summary_raises(summary):
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.summaries = {}


def test_arrays_are_read_only(full):
    arrays = [full.time, full.concentration, full.replicate, *full.effects.values(),
              *full.effect_sites.values(), *full.parameters.values(),
              *full.observations.values(), *full.replicate_parameters.values(),
              *full.metrics.values()]
    for a in arrays:
        assert not a.flags.writeable
    with pytest.raises(ValueError):
        full.concentration[0, 0] = 1.0
    with pytest.raises(ValueError):
        full.metrics["cmax"][0] = 1.0


def test_mappings_are_read_only(full, summary):
    with pytest.raises(TypeError):
        full.effects["intensity"] = full.concentration
    with pytest.raises(TypeError):
        full.parameters["CL"] = np.zeros(full.n)
    with pytest.raises(TypeError):
        full.metrics["cmax"] = np.zeros(full.n)
    with pytest.raises(TypeError):
        summary.target_counts["any"] = 0


def test_the_callers_times_keep_their_flags(linear_model):
    times = np.linspace(0.0, 10.0, 11)
    r = dmtpk.simulate_population(linear_model, REG, times, n=2, seed=1)
    assert times.flags.writeable
    assert not r.time.flags.writeable
    np.testing.assert_array_equal(r.time, times)


def test_read_only_results_still_answer(full, summary):
    """Percentiles, metrics and attainment work on the read-only arrays."""
    assert full.percentiles([50]).shape == (1, TIMES.size)
    assert set(full.metric_percentiles()) == set(full.metrics)
    assert 0.0 <= full.attainment(endpoint="intensity", above=3) <= 1.0
    assert 0.0 <= summary.attainment("any") <= 1.0
    assert summary.metrics == {}
