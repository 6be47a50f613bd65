"""Box-Cox IIV and between-occasion variability (the EEG model's variability forms).

Independent references: the Box-Cox transform is monotonic in eta, so the p-th quantile of
P = theta exp((exp(eta)^lam - 1)/lam) is the transform of eta's p-th quantile, sigma z_p
(normal quantiles from the standard library); between-occasion variability adds an independent
normal kappa to eta, so var(log P) = omega + omega_occ for a log-normal parameter.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

import dmtpk

from .conftest import TIMES, w_model

N = 40000


def test_boxcox_quantiles():
    lam, var = -0.348, 1.57
    m = w_model(omega={"EC50": var}, extra={"variability": {
        "distribution": {"EC50": "boxcox"}, "boxcox": {"EC50": lam}}})
    r = dmtpk.simulate_population(m, dmtpk.Bolus(20.0), TIMES[:3], n=N, seed=5)
    ec50 = r.parameters["EC50"] / m.value("EC50")
    sd = math.sqrt(var)
    for p in (0.05, 0.25, 0.5, 0.75, 0.95):
        z = NormalDist().inv_cdf(p)
        expected = math.exp(math.expm1(lam * sd * z) / lam)
        # Sampling error of a quantile: sqrt(p(1-p)/n) / density; 4.5 SD, measured on the eta
        # scale, mapped through the (monotonic) transform.
        dz = 4.5 * math.sqrt(p * (1 - p) / N) / NormalDist().pdf(z)
        lo = math.exp(math.expm1(lam * sd * (z - dz)) / lam)
        hi = math.exp(math.expm1(lam * sd * (z + dz)) / lam)
        assert lo <= np.quantile(ec50, p) <= hi, (p, np.quantile(ec50, p), expected)


def test_occasion_variability_adds_to_eta():
    m = w_model(omega={"CL": 0.09}, extra={"variability": {"occasion": {"omega": {"CL": 0.04}}}})
    on = dmtpk.simulate_population(m, dmtpk.Bolus(20.0), TIMES[:3], n=N, seed=6)
    var = np.var(np.log(on.parameters["CL"] / 1.5))
    # Sampling SD of a variance estimate: var * sqrt(2 / (n - 1)).
    assert abs(var - 0.13) < 4.5 * 0.13 * math.sqrt(2 / (N - 1))
    off = dmtpk.simulate_population(m, dmtpk.Bolus(20.0), TIMES[:3], n=N, seed=6,
                                    omega={"CL": 0.09})
    var_off = np.var(np.log(off.parameters["CL"] / 1.5))
    assert abs(var_off - 0.13) < 4.5 * 0.13 * math.sqrt(2 / (N - 1))  # occasion kept


def test_eeg_model_population_runs():
    m = dmtpk.load_model("eckernas2023_eeg")
    r = dmtpk.simulate_population(m, dmtpk.Bolus("20 mg", salt="fumarate"),
                                  np.linspace(0, 60, 61), n=500, seed=2)
    alpha = r.effects[m.effects[0].name]
    assert np.all(np.isfinite(alpha))
    assert set(r.effects) == {e.name for e in m.effects}
