r"""The population objective by importance sampling: the marginal likelihood itself, not its
Laplace (FOCE-I) approximation.

For subject :math:`i`,

.. math::

   -2\log L_i = -2 \log \frac{1}{M}\sum_{s=1}^M
       \frac{p(y_i \mid \eta_s)\, p(\eta_s)}{q_i(\eta_s)},
   \qquad \eta_s \sim q_i,

with :math:`q_i` a multivariate t distribution (:data:`DF` degrees of freedom, heavier tails
than the posterior) centred on the conditional mode with the scale matrix
:math:`\tilde H_i^{-1}` of the FOCE-I approximation. Reported like NONMEM's objectives:
without the :math:`n_{obs}\ln 2\pi` constant. All samples of all subjects run as one compiled
batch; the random numbers come from ``seed``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln, logsumexp

from .laplace import data_term

__all__ = ["importance_objective", "DF"]

#: Degrees of freedom of the proposal.
DF = 5.0


def importance_objective(problem, theta, omega, sd, eta_hat, h_tilde, *, samples: int = 1000,
                         seed: int = 0, batch: int = 100):
    """Per-subject -2 log-likelihood by importance sampling, and its Monte Carlo SE.

    Parameters
    ----------
    problem : Problem
    theta : ndarray, shape (n_params,)
    omega : ndarray, shape (p, p)
    sd : ndarray, shape (n_sd,)
    eta_hat : ndarray, shape (n_subjects, p)
        Conditional modes.
    h_tilde : ndarray, shape (n_subjects, p, p)
        FOCE-I information matrices at the modes (from
        :func:`~dmtpk.fit.laplace.subject_objective`).
    samples : int
        Samples per subject.
    seed : int
    batch : int
        Samples per compiled call.

    Returns
    -------
    ofv : ndarray, shape (n_subjects,)
    se : float
        Monte Carlo standard error of the total (delta method on the weights' means).
    """
    rng = np.random.default_rng(seed)
    n, p = eta_hat.shape
    scale = np.linalg.cholesky(np.linalg.inv(h_tilde))            # (n, p, p)
    logdet_scale = 2 * np.sum(np.log(np.diagonal(scale, axis1=1, axis2=2)), axis=1)
    omega_inv = np.linalg.inv(omega)
    logdet_omega = np.linalg.slogdet(omega)[1]
    log_t_const = (gammaln((DF + p) / 2) - gammaln(DF / 2) - 0.5 * p * math.log(DF * math.pi))
    lw = []
    for start in range(0, samples, batch):
        m = min(batch, samples - start)
        z = rng.standard_normal((m, n, p))
        chi = rng.chisquare(DF, size=(m, n, 1))
        t = z * np.sqrt(DF / chi)
        eta = eta_hat[None] + np.einsum("ikl,mil->mik", scale, t)
        f = problem.predict(theta, eta)
        d = np.stack([data_term(problem, f[k], sd) for k in range(m)])        # (m, n)
        prior = np.einsum("mik,kl,mil->mi", eta, omega_inv, eta)
        log_q = (log_t_const - 0.5 * logdet_scale[None]
                 - 0.5 * (DF + p) * np.log1p(np.sum(t * t, axis=2) / DF))
        lw.append(-0.5 * (d + prior + logdet_omega) - 0.5 * p * math.log(2 * math.pi) - log_q)
    lw = np.concatenate(lw)                                                      # (M, n)
    log_mean = logsumexp(lw, axis=0) - math.log(lw.shape[0])
    w = np.exp(lw - log_mean[None])
    rel_var = np.var(w, axis=0) / lw.shape[0]                # var of the mean / mean^2
    se = float(2 * np.sqrt(np.sum(rel_var)))
    return -2 * log_mean, se
