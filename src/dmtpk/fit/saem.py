r"""Population estimation by SAEM (stochastic approximation EM, Kuhn & Lavielle 2004), as
Monolix, saemix and nlmixr2 do it.

Individual parameters are :math:`\phi_i = \mu + \eta_i` on the log scale (log-normal random
effects; normal ones on the natural scale), :math:`\eta_i \sim N(0, \Omega)` with Ω diagonal,
and every estimated typical value carries a random effect. Each iteration

1. draws the random effects of every subject from their conditional distribution by
   Metropolis-Hastings with three kernels (saemix's): proposals from the prior
   :math:`N(0, \Omega)`, a random walk in all components together and a random walk in one
   component at a time, the walks' scales adapted towards an acceptance rate of 0.4; every
   proposal is one compiled call for all subjects;
2. updates the sufficient statistics :math:`S_1 = \sum_i \phi_i`,
   :math:`S_2 = \sum_i \phi_i^2` and the residual sum :math:`S_3 = \sum_j (y_j - f_j)^2 / v_j`
   (:math:`v_j = 1` additive, :math:`f_j^2` proportional, on the residual scale) by
   :math:`S \leftarrow S + \gamma_k (s(\phi) - S)`, with :math:`\gamma_k = 1` for the first
   ``k1`` iterations (exploration) and :math:`1/(k - k_1)` afterwards (smoothing);
3. sets :math:`\mu = S_1/N`, :math:`\omega^2 = S_2/N - \mu^2`,
   :math:`\sigma^2 = S_3 / n_{obs}`; during exploration the variances may shrink by at most
   5 % per iteration (simulated annealing, as Monolix), which keeps the chains mixing.

Residual errors with one standard deviation (additive, proportional, exponential, logit)
have this closed-form M-step; a combined error is not offered. Random numbers come from one
``numpy.random.Generator`` seeded by ``seed``, so a run is reproducible. The objective is
then the FOCE-I approximation at the SAEM estimates (:mod:`dmtpk.fit.laplace`).
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import ValidationError
from .laplace import data_term

__all__ = ["saem", "DEFAULT_ITERATIONS"]

#: Exploration and smoothing iterations.
DEFAULT_ITERATIONS = (200, 100)
_TARGET_ACCEPT = 0.4
_ANNEAL = 0.95


def _check(problem):
    eta_of = {int(p): k for k, p in enumerate(problem.eta_pos)}
    missing = [n for n, p in zip(problem.names, problem.theta_pos) if int(p) not in eta_of]
    if missing:
        raise ValidationError("estimate", f"SAEM estimates typical values through their random "
                                          f"effects; {', '.join(missing)} has none (add it to "
                                          "omega or fix it)")
    extra = [n for n, p in zip(problem.eta_names, problem.eta_pos) if p not in problem.theta_pos]
    if extra:
        raise ValidationError("omega", f"{', '.join(extra)} has a random effect but its typical "
                                       "value is not estimated; SAEM estimates both")
    if problem.blocks:
        raise ValidationError("block", "SAEM estimates a diagonal omega only (blocks are not "
                                       "built); use FOCE-I")
    if problem.cov_names:
        raise ValidationError("estimate", "SAEM does not estimate covariate exponents yet "
                                          f"({', '.join(problem.cov_names)}); use FOCE-I")
    if problem.censored is not None:
        raise ValidationError("blq", "SAEM with censored observations (M3) is not built; use "
                                     "method='focei'")
    for label, _, ia, ib, _, _ in problem.outputs:
        if ia >= 0 and ib >= 0:
            raise ValidationError("residual", f"SAEM needs a residual error with one standard "
                                              f"deviation; {label}'s is combined")
    return np.array([eta_of[int(p)] for p in problem.theta_pos])


def saem(problem, *, seed: int, iterations=DEFAULT_ITERATIONS, chains: int | None = None,
         n_kernel=(2, 2, 2)):
    """Run SAEM (see the module docstring).

    Parameters
    ----------
    problem : Problem
    seed : int
    iterations : (int, int)
        Exploration and smoothing iterations.
    chains : int, optional
        Markov chains per subject, averaged in the statistics (default enough for 400 chains
        in all, at least 1: the Monte Carlo noise of the variances falls with their number).
    n_kernel : (int, int, int)
        Metropolis-Hastings steps of each kernel per iteration.

    Returns
    -------
    dict
        ``theta`` (full parameter vector), ``omega`` (n_eta,), ``sd`` (n_sd,), ``eta`` (the
        last draws of the first chain), ``history`` (n_iter, n_theta + n_eta + n_sd: estimates per iteration),
        ``elapsed``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValidationError("seed", f"SAEM needs an integer seed, got {seed!r}")
    k1, k2 = (int(v) for v in iterations)
    if k1 < 1 or k2 < 1:
        raise ValidationError("iterations", f"expected two positive counts, got {iterations!r}")
    t0 = time.perf_counter()
    order = _check(problem)          # theta k -> eta order[k]
    rng = np.random.default_rng(seed)
    n, p = problem.n_subjects, len(problem.eta_names)
    if chains is None:
        chains = max(1, -(-400 // n))
    normal = problem.eta_normal
    theta = problem.theta.copy()
    pos = problem.eta_pos
    mu = np.where(normal, theta[pos], np.log(theta[pos]))
    omega = problem.omega0.copy()
    sd = problem.sd0.copy()
    n_obs = problem.n_obs
    # Residual scale per observation: 1 (additive, log, logit) or f^2 (proportional).
    prop_obs = np.zeros(n_obs, dtype=bool)
    sd_obs = np.zeros(n_obs, dtype=np.int64)
    for k, (_, _, ia, ib, _, _) in enumerate(problem.outputs):
        sel = problem.obs_out == k
        prop_obs[sel] = ib >= 0
        sd_obs[sel] = ib if ib >= 0 else ia

    def typical(mu_):
        th = theta.copy()
        th[pos] = np.where(normal, mu_, np.exp(mu_))
        return th

    def d_of(eta, th):
        f = problem.predict(th, eta)
        return np.stack([data_term(problem, f[c], sd) for c in range(eta.shape[0])]), f

    shape = (chains, n, p)
    eta = np.zeros(shape)
    th = typical(mu)
    d, f = d_of(eta, th)
    step = np.sqrt(omega) * 0.5
    s1 = np.zeros(p)
    s2 = np.zeros(p)
    s3 = np.zeros(len(sd))
    cnt = np.bincount(sd_obs, minlength=len(sd)) * chains
    history = []

    def prior_of(e):
        return 0.5 * np.sum(e * e / omega, axis=-1)

    for it in range(k1 + k2):
        # Kernel 1: proposals from the prior; the acceptance ratio is the likelihood's.
        for _ in range(n_kernel[0]):
            prop = rng.standard_normal(shape) * np.sqrt(omega)
            d_new, _ = d_of(prop, th)
            acc = np.log(rng.random((chains, n))) < -0.5 * (d_new - d)
            eta[acc], d[acc] = prop[acc], d_new[acc]
        prior = prior_of(eta)
        # Kernel 2: random walk in all components.
        for _ in range(n_kernel[1]):
            prop = eta + rng.standard_normal(shape) * step
            d_new, _ = d_of(prop, th)
            pr_new = prior_of(prop)
            acc = np.log(rng.random((chains, n))) < -0.5 * (d_new - d) - (pr_new - prior)
            eta[acc], d[acc], prior[acc] = prop[acc], d_new[acc], pr_new[acc]
        # Kernel 3: random walk in one component at a time, scale adapted per component.
        for _ in range(n_kernel[2]):
            for k in range(p):
                prop = eta.copy()
                prop[..., k] += rng.standard_normal((chains, n)) * step[k]
                d_new, _ = d_of(prop, th)
                pr_new = prior_of(prop)
                acc = np.log(rng.random((chains, n))) < -0.5 * (d_new - d) - (pr_new - prior)
                eta[acc], d[acc], prior[acc] = prop[acc], d_new[acc], pr_new[acc]
                step[k] *= 1.0 + 0.4 * (acc.mean() - _TARGET_ACCEPT)
        # Stochastic approximation of the sufficient statistics (over subjects and chains).
        phi = mu + eta
        _, f = d_of(eta, th)
        res2 = (problem.y - f) ** 2
        res2 = np.where(prop_obs, res2 / (f * f), res2)
        s3_new = np.bincount(np.broadcast_to(sd_obs, res2.shape).ravel(), res2.ravel(),
                             len(sd))
        gamma = 1.0 if it < k1 else 1.0 / (it - k1 + 1)
        s1 += gamma * (phi.sum(axis=(0, 1)) - s1)
        s2 += gamma * ((phi * phi).sum(axis=(0, 1)) - s2)
        s3 += gamma * (s3_new - s3)
        # M-step.
        mu_new = s1 / (n * chains)
        om_new = np.maximum(s2 / (n * chains) - mu_new ** 2, 1e-12)
        sd_new = np.sqrt(s3 / np.maximum(cnt, 1))
        if it < k1:
            om_new = np.maximum(om_new, _ANNEAL * omega)
            sd_new = np.maximum(sd_new, _ANNEAL * sd)
        eta = phi - mu_new  # the same individual parameters around the new typical values
        mu, omega, sd = mu_new, om_new, sd_new
        th = typical(mu)
        d = np.stack([data_term(problem, f[c], sd) for c in range(chains)])
        history.append(np.concatenate([th[problem.theta_pos], omega, sd]))
    return dict(theta=th, omega=omega, sd=sd, eta=eta[0], history=np.array(history),
                order=order, elapsed=time.perf_counter() - t0)
