"""The metric catalogue (dmtpk.catalogue) is the one list of metric names, units and labels:
its order matches the metric dataclasses, and the keys, labels and units derived from it are the
ones results, tables and plots use."""

from __future__ import annotations

import dataclasses

import pytest

from dmtpk.catalogue import (CATALOGUE, EFFECT_METRICS, EXPOSURE_METRICS, METRICS,
                             POPULATION_EXPOSURE_METRICS, metric_label, metric_unit,
                             split_metric_key)
from dmtpk.metrics import EffectMetrics, ExposureMetrics
from dmtpk.model.spec import model_from_dict


def test_exposure_metrics_are_the_fields_of_exposure_metrics_in_order():
    assert EXPOSURE_METRICS == tuple(f.name for f in dataclasses.fields(ExposureMetrics))


def test_effect_metrics_are_fields_of_effect_metrics_in_order():
    names = [f.name for f in dataclasses.fields(EffectMetrics)]
    assert [k for k in names if k in EFFECT_METRICS] == list(EFFECT_METRICS)


def test_population_metrics_are_the_kernel_columns():
    # the order dmtpk._kernels.metrics.grid_metrics writes them
    assert POPULATION_EXPOSURE_METRICS == ("cmax", "tmax", "auc")
    assert EFFECT_METRICS == ("onset", "peak", "time_to_peak", "offset", "duration")


def test_keys_are_unique_and_indexed():
    assert len(METRICS) == len(CATALOGUE)
    assert all(METRICS[m.key] is m for m in CATALOGUE)


@pytest.mark.parametrize("key, endpoint, name", [("cmax", None, "cmax"),
                                                 ("intensity.onset", "intensity", "onset")])
def test_split_metric_key(key, endpoint, name):
    assert split_metric_key(key) == (endpoint, name)


def test_labels():
    assert metric_label("half_life") == "t1/2 terminal"
    assert metric_label("intensity.time_to_peak") == "intensity time to peak"
    with pytest.raises(KeyError):
        metric_label("nonsense")


def test_units_peak_takes_the_endpoints_unit():
    model = model_from_dict({
        "model": {"name": "m", "structure": "one_compartment", "routes": ["iv"]},
        "parameters": {"CL": "1 L/min", "V1": "10 L", "E0": 0, "SLOPE": "0.1 mL/ng"},
        "effects": {"intensity": {"link": "direct", "model": "linear",
                                  "parameters": {"E0": "E0", "SLOPE": "SLOPE"},
                                  "unit": "score", "threshold": 1}}})
    assert metric_unit("auc") == "ng·min/mL"
    assert metric_unit("intensity.duration", model) == "min"
    assert metric_unit("intensity.peak", model) == "score"
    assert metric_unit("intensity.peak") == ""  # without the model the unit is unknown
    assert metric_unit("nonsense") == ""
