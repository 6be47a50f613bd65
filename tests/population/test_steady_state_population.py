"""Populations of regimens with a steady-state dose run through the compiled record walker:
every subject equals the single-subject walker's exact steady state (linear models) and the
closed form of a steady-state bolus train."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import dmtpk
from dmtpk.model.spec import model_from_dict
from dmtpk.population.chunk import run_chunk

from .conftest import w_model

TIMES = np.linspace(0.0, 120.0, 61)
# Both sides step exactly (eigen steps in the kernel, matrix exponentials in the walker): the
# difference is round-off, far below the 1e-10 relative.
RTOL = 1e-10


def _subject(res, i):
    return {k: float(v[i]) for k, v in res.parameters.items()}


def _check_against_walker(model, regimen, res, subjects, weight=None):
    for i in subjects:
        w = None if weight is None else float(weight[i])
        one = dmtpk.simulate(model, regimen, TIMES, parameters=_subject(res, i), weight=w)
        np.testing.assert_allclose(res.concentration[i], one.concentration, rtol=RTOL,
                                   atol=1e-12 * one.concentration.max())
        for name in res.effects:
            np.testing.assert_allclose(res.effects[name][i], one.effects[name], rtol=RTOL,
                                       atol=1e-12)


def test_one_compartment_bolus_train_equals_its_closed_form():
    """C(t) = D/V exp(-k t) / (1 - exp(-k tau)) over the interval after a steady-state bolus."""
    model = model_from_dict({
        "model": {"name": "one", "structure": "one_compartment", "routes": ["iv"]},
        "parameters": {"CL": "0.8 L/min", "V1": "12 L"},
        "variability": {"omega": {"CL": 0.09, "V1": 0.04}}})
    tau, dose = 60.0, 10.0
    t = np.linspace(0.0, tau - 1e-9, 31)
    res = dmtpk.simulate_population(model, dmtpk.SteadyState(dmtpk.Bolus(dose), tau), t, n=50,
                                    seed=3, keep="all")
    cl, v = res.parameters["CL"][:, None], res.parameters["V1"][:, None]
    k = cl / v
    want = dose / v * np.exp(-k * t) / (1.0 - np.exp(-k * tau)) * 1000.0  # ng/mL
    np.testing.assert_allclose(res.concentration, want, rtol=1e-12)


@pytest.mark.parametrize("regimen", [
    dmtpk.SteadyState(dmtpk.Bolus(10.0), "45 min"),
    dmtpk.SteadyState(dmtpk.Bolus(10.0), "45 min") + dmtpk.Bolus(5.0, at=30.0),
    dmtpk.SteadyState(dmtpk.Infusion(dose=12.0, duration=10.0), "60 min"),
    # an infusion longer than the interval: two of the train's infusions run at the record
    dmtpk.SteadyState(dmtpk.Infusion(dose=12.0, duration=70.0), "30 min"),
], ids=["bolus", "bolus+extra", "infusion", "overlapping-infusions"])
def test_linear_population_equals_the_single_subject_walker(regimen):
    model = w_model(routes=("iv",))
    res = dmtpk.simulate_population(model, regimen, TIMES, n=40, seed=11, keep="all")
    _check_against_walker(model, regimen, res, range(0, 40, 7))


def test_inhaled_steady_state_takes_each_subjects_f_and_lag():
    model = w_model(extra={"parameters": {"TLAG_INH": "0.5 min"},
                           "variability": {"omega": {"CL": 0.09, "V1": 0.09, "KA": 0.09,
                                                     "F_INH": 0.04, "TLAG_INH": 0.09}}})
    regimen = dmtpk.SteadyState(dmtpk.Inhalation(20.0), "30 min") + \
        dmtpk.Inhalation(10.0, at=40.0, f=0.8)
    res = dmtpk.simulate_population(model, regimen, TIMES, n=30, seed=5, keep="all")
    assert np.ptp(res.parameters["F_INH"]) > 0 and np.ptp(res.parameters["TLAG_INH"]) > 0
    _check_against_walker(model, regimen, res, range(0, 30, 6))


def test_per_kg_steady_state_scales_with_each_weight():
    model = w_model(routes=("iv",))
    regimen = dmtpk.SteadyState(dmtpk.Bolus("0.15 mg/kg"), "40 min")
    res = dmtpk.simulate_population(model, regimen, TIMES, n=20, seed=2, keep="all",
                                    covariates={"WT": {"distribution": "lognormal",
                                                            "median": "70 kg", "cv": 0.2}})
    wt = res.covariates["WT"]
    assert np.ptp(wt) > 1.0
    _check_against_walker(model, regimen, res, range(0, 20, 4), weight=wt)


def test_summary_streaming_and_pickled_spec_give_the_same_subjects():
    model = w_model(routes=("iv",))
    regimen = dmtpk.SteadyState(dmtpk.Bolus(10.0), "45 min")
    full = dmtpk.simulate_population(model, regimen, TIMES, n=300, seed=9, keep="all",
                                     chunk_size=128)
    summ = dmtpk.simulate_population(model, regimen, TIMES, n=300, seed=9, keep="summary",
                                     chunk_size=128)
    # Streamed percentiles lie within one histogram bin of exact (2 % here).
    np.testing.assert_allclose(summ.percentiles([50])[0],
                               np.percentile(full.concentration, 50, axis=0), rtol=0.02)
    spec = pickle.loads(pickle.dumps(full.spec))  # as a Dask worker receives it
    part = run_chunk(spec, 100, 110)
    np.testing.assert_array_equal(part["conc"][:, 0, :], full.concentration[100:110])


def test_invalid_individual_parameters_are_named():
    model = w_model(routes=("iv",), omega={"CL": 4.0})
    with pytest.raises(dmtpk.ValidationError, match="subject"):
        dmtpk.simulate_population(model, dmtpk.SteadyState(dmtpk.Bolus(10.0), "45 min"), TIMES,
                                  n=200, seed=1, distribution={"CL": "normal"})
