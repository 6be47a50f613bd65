"""Replicated trials with uncertain typical values (NONMEM's NSUBPROBLEMS).

References: sampling theory for the drawn typical values (mean and covariance of a multivariate
normal), and the definition that the subjects of one trial share its typical values."""

from __future__ import annotations


import numpy as np
import pytest

import dmtpk

from .conftest import TIMES, w_model

REG = dmtpk.Bolus(20.0)


def test_typical_values_follow_their_uncertainty():
    cov = np.array([[0.04, 0.5 * 0.2 * 1.0], [0.5 * 0.2 * 1.0, 1.0]])  # CL (L/min), V1 (L)
    reps = 5000
    r = dmtpk.simulate_population(w_model(omega={}), REG, TIMES[:3], n=1, seed=3,
                                  replicates=reps, uncertainty=(["CL", "V1"], cov))
    draws = np.stack([r.replicate_parameters["CL"], r.replicate_parameters["V1"]], axis=1)
    sd_mean = np.sqrt(np.diag(cov) / reps)
    assert np.all(np.abs(draws.mean(axis=0) - [1.5, 10.0]) < 4.5 * sd_mean)
    sd_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov ** 2) / reps)
    assert np.all(np.abs(np.cov(draws, rowvar=False) - cov) < 4.5 * sd_cov)


def test_subjects_of_a_trial_share_its_typical_values():
    r = dmtpk.simulate_population(w_model(omega={"V1": 0.09}), REG, TIMES[:3], n=50, seed=4,
                                  replicates=6, uncertainty={"CL": 0.04})
    assert r.n == 300
    np.testing.assert_array_equal(r.replicate, np.repeat(np.arange(6), 50))
    for k in range(6):
        cl = r.parameters["CL"][r.replicate == k]
        assert np.all(cl == r.replicate_parameters["CL"][k])  # no IIV on CL
    assert np.unique(r.replicate_parameters["CL"]).size == 6


def test_replicates_reproducible_and_keyed_by_trial():
    a = dmtpk.simulate_population(w_model(), REG, TIMES, n=100, seed=9, replicates=3,
                                  uncertainty={"CL": 0.04}, chunk_size=37)
    b = dmtpk.simulate_population(w_model(), REG, TIMES, n=100, seed=9, replicates=5,
                                  uncertainty={"CL": 0.04})
    assert np.array_equal(a.replicate_parameters["CL"], b.replicate_parameters["CL"][:3])
    assert np.array_equal(a.concentration, b.concentration[:300])


@pytest.mark.parametrize("kw, field", [
    ({"replicates": 0}, "replicates"),
    ({"uncertainty": {"CLX": 0.1}}, "uncertainty.CLX"),
    ({"uncertainty": (["CL", "V1"], [[0.04, 1.0], [1.0, 0.04]])}, "uncertainty"),
])
def test_bad_uncertainty(kw, field):
    with pytest.raises(dmtpk.ValidationError) as err:
        dmtpk.simulate_population(w_model(), REG, TIMES[:3], n=2, seed=1, **kw)
    assert err.value.field == field


def test_draws_stay_in_the_domain():
    """A wide uncertainty on CL (SD 1.5 L/min around 1.5) gives a negative draw 15.9 % of the
    time; those are redrawn, so the trials' CL follow the normal truncated at 0, whose share
    below 1.5 is (Phi(0) - Phi(-1)) / (1 - Phi(-1)) = 0.405 (not 0.5)."""
    from statistics import NormalDist
    reps = 4000
    r = dmtpk.simulate_population(w_model(omega={}), REG, TIMES[:3], n=1, seed=2,
                                  replicates=reps, uncertainty={"CL": 2.25})
    cl = r.replicate_parameters["CL"]
    assert np.all(cl > 0)
    phi = NormalDist().cdf
    expected = (phi(0) - phi(-1)) / (1 - phi(-1))
    assert abs(np.mean(cl < 1.5) - expected) < 4.5 * np.sqrt(expected * (1 - expected) / reps)
