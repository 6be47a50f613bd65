"""SAEM on the Schoemaker et al. (2019) Bolus_2CPT single-dose data, against NONMEM 7.4.3's
FOCE-I estimates (``runODE032.ext``) and against the marginal likelihood itself.

SAEM maximises the exact marginal likelihood, FOCE-I its Laplace approximation, so the two
need not agree where the data say little: Q's random effect has 40 % shrinkage and NONMEM's
own relative SE of its variance is 31 %. Measured: the importance-sampling objective (the
marginal likelihood, common random numbers, 2,000 samples per subject) along V2 with the other
estimates at SAEM's is 20165.44 at NONMEM's V2 (48.26 L), 20164.88 at 49.0, 20164.68 at 49.87
(SAEM's) and 20164.94 at 50.7, while the FOCE-I objective rises from 20168.47 to 20170.21 over
the same points: the exact likelihood is flat between 49 and 50.7 L and peaks near 49.9 L,
3.3 % above NONMEM's FOCE-I value. The checks are therefore: typical values of CL, V1, Q and
the residual SD within 3 % of NONMEM's (the issue's criterion), V2 within one of NONMEM's
standard errors, the variances of CL and V1 (shrinkage 2 %) within 10 %, those of Q and V2
within one NONMEM standard error, and the marginal likelihood no worse at the SAEM estimates
than at NONMEM's.

The run has 400 exploration iterations (and 100 of smoothing): with 200 (where the default
automatic exploration makes its first check), the convergence statement finds omega(Q), the
random effect with 40 % shrinkage, still drifting
(Geweke z = -4.6: its iterates rise from about 0.10 to 0.13 over the exploration's second
half); with 400 every parameter's |z| is below 1.3 and the run is reported converged. That
run puts V2 at 49.63 L, 2.8 % above NONMEM's, so the issue's 3 % criterion holds for V2 too
(by a narrow margin on the likelihood's flat ridge; the 200-iteration run gave 49.87 L, 3.3 %).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import dmtpk
from dmtpk.fit import FitWarning

from test_focei_nonmem import CORPUS, EXT, NAMES, model_at, omega_at

pytestmark = pytest.mark.skipif(
    not (CORPUS / "runODE032.ext").exists(),
    reason=f"Schoemaker 2019 datasets and NONMEM's runODE032.ext not found at {CORPUS}")

TO_H = {"CL": 60.0, "Q": 60.0, "V1": 1.0, "V2": 1.0}


@pytest.fixture(scope="module")
def data():
    return dmtpk.read_nonmem(CORPUS / "Bolus_2CPT.csv", time_unit="h", amount_unit="ug",
                             concentration_unit="ug/L", drop=["SS", "II"], ignore="SD == 0")


@pytest.fixture(scope="module")
def saem(data):
    start = EXT[0]
    return dmtpk.fit(model_at(start), data, omega=omega_at(start), method="saem", seed=7,
                     iterations=(400, 100), covariance="none", importance_samples=1000)


def test_saem_converged(saem):
    assert saem.converged, saem.message
    assert saem.history.shape == (500, 9)


def test_saem_typical_values_within_3_percent_of_nonmem(saem):
    final, se = EXT[-1000000000], EXT[-1000000001]
    for k, n in enumerate(NAMES):
        nm = final[f"THETA{k + 1}"]
        if n == "V2":
            assert abs(math.log(saem.theta[n] * TO_H[n]) - nm) < se[f"THETA{k + 1}"]
        else:
            assert saem.theta[n] * TO_H[n] == pytest.approx(math.exp(nm), rel=0.03), n
    assert saem.sigma["prop"] == pytest.approx(final["THETA5"], rel=0.03)


def test_saem_v2_within_3_percent_of_nonmem(saem):
    assert saem.theta["V2"] == pytest.approx(math.exp(EXT[-1000000000]["THETA4"]), rel=0.03)


def test_saem_variances(saem):
    final, se = EXT[-1000000000], EXT[-1000000001]
    for k, n in enumerate(NAMES):
        key = f"OMEGA({k + 1},{k + 1})"
        if n in ("CL", "V1"):
            assert saem.omega[n] == pytest.approx(final[key], rel=0.10), n
        else:
            assert abs(saem.omega[n] - final[key]) < se[key], n


def test_saem_marginal_likelihood_not_worse_than_nonmem_s(saem, data):
    from dmtpk.fit.estimate import at_estimates
    from dmtpk.fit.importance import importance_objective
    from dmtpk.fit.laplace import subject_objective
    from dmtpk.fit.problem import build_problem
    final = EXT[-1000000000]
    problem = build_problem(model_at(final), data, omega=omega_at(final))
    out = at_estimates(problem, problem.theta, problem.omega0, problem.sd0, covariance=None)
    omega = np.diag(problem.omega0)
    _, h = subject_objective(problem, out["stencil"], problem.theta, omega, problem.sd0,
                             out["eta"])
    ofv, mc_se = importance_objective(problem, problem.theta, omega, problem.sd0, out["eta"], h,
                                      samples=1000, seed=7)
    assert saem.ofv_importance <= ofv.sum() + 2 * math.hypot(mc_se, saem.ofv_importance_se)
    # The importance-sampling objective is close to the Laplace one here (a few units).
    assert abs(ofv.sum() - final["OBJ"]) < 5


def test_saem_is_reproducible_from_its_seed(data):
    start = EXT[0]
    kw = dict(omega=omega_at(start), method="saem", covariance="none", iterations=(5, 5))
    with pytest.warns(FitWarning, match="too short"):   # five iterations cannot converge
        a = dmtpk.fit(model_at(start), data, seed=11, **kw)
        b = dmtpk.fit(model_at(start), data, seed=11, **kw)
        c = dmtpk.fit(model_at(start), data, seed=12, **kw)
    assert np.array_equal(a.history, b.history)
    assert not np.array_equal(a.history, c.history)


def test_the_automatic_exploration_runs_until_stationary(data):
    """The default ``iterations="auto"`` with the validation's seed: the first 200 exploration
    iterations leave omega(Q) drifting (the module docstring: Geweke z -4.6), so the
    exploration is extended, by 100 at a time, until stationary, and the run ends converged
    with CL, V1, Q and the residual SD within 3 % of NONMEM's (V2: see the module docstring).
    Measured: 300 + 100 iterations, 9.8 s on a quiet machine."""
    from dmtpk.fit.saem import Z_LIMIT, exploration_z
    start, final = EXT[0], EXT[-1000000000]
    res = dmtpk.fit(model_at(start), data, omega=omega_at(start), method="saem", seed=7,
                    covariance="none", progress=False)
    first = exploration_z(res.history[:200], 200)
    assert np.max(np.abs(first)) > Z_LIMIT          # why it went on
    assert res.exploration > 200 and res.exploration % 100 == 0
    assert res.converged, res.message
    assert "automatic exploration" in res.message
    for k, n in enumerate(NAMES[:3]):
        assert res.theta[n] * TO_H[n] == pytest.approx(math.exp(final[f"THETA{k + 1}"]),
                                                        rel=0.03), n
    assert res.sigma["prop"] == pytest.approx(final["THETA5"], rel=0.03)
