r"""Population estimation by SAEM (stochastic approximation EM, Kuhn & Lavielle 2004), as
Monolix, saemix and nlmixr2 do it.

Individual parameters are :math:`\phi_i = m_i + \eta_i` on the log scale (log-normal random
effects; normal ones on the natural scale), :math:`\eta_i \sim N(0, \Omega)`, with
:math:`m_i = \mu + \sum_t h_t(\beta_t, z_{it})` the typical value of subject :math:`i`: the
log-factors of the estimated covariate terms (:mod:`dmtpk.model.covariates`; :math:`\beta z`
for a power law, :math:`z\log\beta` for a categorical level, :math:`\log(1 + \beta z)` for a
linear effect). Every estimated typical value carries a random effect. Each iteration

1. draws the random effects of every subject from their conditional distribution by
   Metropolis-Hastings with three kernels (saemix's): proposals from the prior
   :math:`N(0, \Omega)`, a random walk in all components together and a random walk in one
   component at a time, the walks' scales adapted towards an acceptance rate of 0.4; every
   proposal is one compiled call for all subjects. Censored observations enter the
   likelihood with Beal's M3 term (:func:`~dmtpk.fit.laplace.terms`);
2. updates the sufficient statistics, each subject's mean :math:`S_{1,i} = E[\phi_i]` and
   :math:`S_2 = \sum_i E[\phi_i\phi_i^\top]` (averaged over the chains), by
   :math:`S \leftarrow S + \gamma_k (s(\phi) - S)`, with :math:`\gamma_k = 1` for the first
   ``k1`` iterations (exploration) and :math:`1/(k - k_1)` afterwards (smoothing);
3. M-step: :math:`\mu` (and the covariate coefficients β) minimise
   :math:`\sum_i (S_{1,i} - m_i)^\top \Omega^{-1} (S_{1,i} - m_i)` (the mean without
   covariates; a least-squares problem with them, exact in one step for power laws and
   levels), :math:`\Omega = \frac1N\sum_i E[(\phi_i - m_i)(\phi_i - m_i)^\top]` from the
   statistics, restricted to the diagonal and the estimated blocks; the residual SDs in
   closed form from :math:`S_3 = \sum_j (y_j - f_j)^2 / v_j` (:math:`v_j = 1` additive,
   :math:`f_j^2` proportional, on the residual scale) when every output has one SD and
   nothing is censored, otherwise (combined error, M3) by minimising the residual -2 log
   likelihood at the current individual predictions (a 1-D or 2-D optimisation, as saemix
   and Monolix do) and averaging the minimisers with the same step :math:`\gamma_k`. During
   exploration the variances and SDs may shrink by at most 5 % per iteration (simulated
   annealing, as Monolix), which keeps the chains mixing.

Covariates must be constant within each subject (the regression is on subjects). Random
numbers come from one ``numpy.random.Generator`` seeded by ``seed``, so a run is
reproducible. The objective is then the FOCE-I approximation at the SAEM estimates
(:mod:`dmtpk.fit.laplace`).

**Convergence.** The estimates of every iteration are kept (``history``, one column per
:meth:`~dmtpk.fit.problem.Problem.labels` entry). :func:`convergence` states whether the run
converged: the second half of the exploration phase must be stationary (Geweke's z-score of
each parameter, the mean of its first 20 % against that of its last 50 %, with the long-run
variance of an AR(1) fit to the iterates' deviations from a straight line, so that a drift
is not taken for noise; positive quantities on the log scale) within :data:`Z_LIMIT`, and
the smoothing phase's last half must have moved each estimate by less than :data:`Z_LIMIT`
Monte Carlo standard errors of the smoothed estimate (from the same long-run variance).

``iterations="auto"`` runs the exploration until it is stationary, as Monolix's automatic
stopping of its exploratory phase does: :data:`AUTO` = (first check, extension, at most,
smoothing) iterations; after the first 200 exploration iterations and every 100 more, the
same Geweke check over the second half of the exploration so far; while a parameter still
drifts, 100 more, up to 1,000; then 100 smoothing iterations. The run stays reproducible
from its seed (the draws do not depend on when the checks fall).
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..errors import ValidationError
from ..model.covariates import factor as covariate_factor
from .laplace import data_term, terms

__all__ = ["saem", "convergence", "exploration_z", "iteration_counts", "DEFAULT_ITERATIONS",
           "AUTO", "Z_LIMIT"]

#: Exploration and smoothing iterations by default: the exploration extended until stationary
#: (:data:`AUTO`).
DEFAULT_ITERATIONS = "auto"
#: ``iterations="auto"``: first exploration check, extension, most exploration iterations,
#: smoothing iterations.
AUTO = (200, 100, 1000, 100)
#: Largest |z| of a stationary parameter (Geweke) and of the smoothing phase's change.
Z_LIMIT = 4.0
_TARGET_ACCEPT = 0.4
_ANNEAL = 0.95
_MIN_WINDOW = 10


def _layout(problem):
    """Check what SAEM can estimate and map the problem's entries onto its quantities."""
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
    fixed = problem.fixed
    fixed_corr = [c for c in problem.corr_names if c in fixed]
    if fixed_corr:
        raise ValidationError("fix", f"SAEM estimates every correlation of a block; "
                                     f"{', '.join(fixed_corr)} is fixed (use FOCE-I)")
    order = np.array([eta_of[int(p)] for p in problem.theta_pos])
    mu_free = np.ones(len(problem.eta_names), dtype=bool)
    for k, n in enumerate(problem.names):
        mu_free[order[k]] = n not in fixed
    # Estimated covariate terms: (position in theta, eta index, form, z per subject).
    terms_all = problem.prepared.covariate_terms
    starts = problem.prepared.starts
    cov = []
    for name, pos in zip(problem.cov_names, problem.cov_pos):
        if name in fixed:
            continue
        label, ppos, form, _, z = terms_all[int(pos) - problem.n_params]
        k = eta_of.get(int(ppos))
        pname = name.partition("~")[0]
        if k is None or problem.eta_normal[k]:
            raise ValidationError(f"estimate.{name}", f"SAEM estimates a covariate effect on a "
                                  f"parameter with a log-normal random effect; {pname} has "
                                  f"{'a normal one' if k is not None else 'none'} (use FOCE-I)")
        z_sub = z[starts[:-1]]
        spread = np.maximum.reduceat(z, starts[:-1]) - np.minimum.reduceat(z, starts[:-1])
        if np.any(spread > 1e-12 * np.maximum(1.0, np.abs(z_sub))):
            i = int(np.flatnonzero(spread > 1e-12 * np.maximum(1.0, np.abs(z_sub)))[0])
            raise ValidationError(f"estimate.{name}", f"SAEM estimates effects of covariates "
                                  f"constant within each subject; "
                                  f"{name.partition('~')[2]} changes within ID "
                                  f"{problem.subject_ids[i]} (use FOCE-I)")
        cov.append((int(pos), k, form, np.array(z_sub)))
    om_fixed = np.array([f"omega({n})" in fixed for n in problem.eta_names], dtype=bool)
    sd_free = np.array([n not in fixed for n in problem.sd_names], dtype=bool)
    closed = problem.censored is None and all(not (ia >= 0 and ib >= 0)
                                              for _, _, ia, ib, _, _ in problem.outputs)
    return order, mu_free, cov, om_fixed, sd_free, closed


def _log_factors(cov, beta, n, p):
    """Σ_t h_t(β_t, z_t) per subject and random effect, shape (n, p)."""
    h = np.zeros((n, p))
    for (_, k, form, z), b in zip(cov, beta):
        h[:, k] += np.log(covariate_factor(form, b, z))
    return h


def _beta_bounds(cov):
    """Bounds of each coefficient where every subject's factor stays positive (categorical
    factors are optimised on the log scale, unbounded)."""
    low, high = [], []
    for _, _, form, z in cov:
        lo, hi = -np.inf, np.inf
        if form == "linear":
            if z.max() > 0:
                lo = -0.999 / z.max()
            if z.min() < 0:
                hi = -0.999 / z.min()
        low.append(lo)
        high.append(hi)
    return np.array(low), np.array(high)


def _regression(s1, mu, beta, cov, mu_free, omega, bounds):
    """μ and β minimising Σ_i (S1_i - m_i)' Ω^-1 (S1_i - m_i) (see the module docstring)."""
    n, p = s1.shape
    if not cov:
        out = mu.copy()
        out[mu_free] = s1.mean(axis=0)[mu_free]
        return out, beta
    from scipy.optimize import least_squares
    w = np.linalg.cholesky(np.linalg.inv(omega))
    cat = np.array([c[2] == "categorical" for c in cov], dtype=bool)
    nm = int(mu_free.sum())

    def unpack(x):
        m = mu.copy()
        m[mu_free] = x[:nm]
        b = x[nm:].copy()
        b[cat] = np.exp(b[cat])
        return m, b

    def fun(x):
        m, b = unpack(x)
        return ((s1 - m - _log_factors(cov, b, n, p)) @ w).ravel()

    b0 = np.where(cat, np.log(np.where(cat, beta, 1.0)), np.clip(beta, *_bounds_inside(bounds)))
    x0 = np.concatenate([mu[mu_free], b0])
    lo = np.concatenate([np.full(nm, -np.inf), np.where(cat, -np.inf, bounds[0])])
    hi = np.concatenate([np.full(nm, np.inf), np.where(cat, np.inf, bounds[1])])
    sol = least_squares(fun, x0, bounds=(lo, hi), method="trf", x_scale="jac",
                        xtol=1e-12, ftol=1e-12, gtol=1e-12)
    return unpack(sol.x)


def _bounds_inside(bounds):
    lo, hi = bounds
    return (np.where(np.isfinite(lo), lo * 0.999 + 1e-12, -np.inf),
            np.where(np.isfinite(hi), hi * 0.999 - 1e-12, np.inf))


def _structured(om, problem, om_fixed, omega0):
    """Ω restricted to the diagonal and the estimated blocks; fixed variances held (with the
    correlations kept)."""
    p = om.shape[0]
    mask = np.eye(p, dtype=bool)
    for b in problem.blocks:
        mask[np.ix_(b, b)] = True
    om = np.where(mask, 0.5 * (om + om.T), 0.0)
    d = np.maximum(np.diag(om), 1e-12)
    target = np.where(om_fixed, omega0, d)
    return _rescale(om, d, target)


def _rescale(om, d_old, d_new):
    """Ω with its variances replaced by ``d_new`` and its correlations kept."""
    s = np.sqrt(d_new / d_old)
    out = om * np.outer(s, s)
    np.fill_diagonal(out, d_new)
    return out


def _sd_step(problem, f, sd, sd_free):
    """The residual SDs minimising the -2 log-likelihood of every observation at the current
    predictions ``f`` (chains, n_obs), the others held: BFGS on log σ with the gradient in
    closed form (dR/d log σ = 2σ² or 2σ²f²; an M3 term's through its z-score)."""
    from scipy.optimize import minimize
    from scipy.special import log_ndtr
    idx = np.flatnonzero(sd_free)
    cens = problem.censored
    parts = []
    for l_sd in idx:
        d_a = np.zeros(problem.n_obs)
        d_b = np.zeros(problem.n_obs)
        for k, (_, _, ia, ib, _, _) in enumerate(problem.outputs):
            sel = problem.obs_out == k
            d_a[sel] = ia == l_sd
            d_b[sel] = ib == l_sd
        parts.append((d_a, d_b))

    def obj(x):
        s = sd.copy()
        s[idx] = np.exp(x)
        v = terms(problem, f, s)
        total = float(np.sum(v))
        if not np.isfinite(total):
            return 1e300, np.zeros_like(x)
        r_var = problem.variance(f, s)[0]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            r = problem.y - f
            dphi_dr = -r * r / r_var ** 2 + 1 / r_var
            if cens is not None:
                z = (problem.lloq[cens] - f[..., cens]) / np.sqrt(r_var[..., cens])
                lam = np.exp(-0.5 * z * z - 0.5 * math.log(2 * math.pi) - log_ndtr(z))
                dphi_dr[..., cens] = lam * z / r_var[..., cens]
        grad = np.array([np.sum(dphi_dr * 2 * s[l] ** 2 * (d_a + d_b * f * f))
                         for l, (d_a, d_b) in zip(idx, parts)])
        return total, np.nan_to_num(grad)

    x0 = np.log(sd[idx])
    sol = minimize(obj, x0, jac=True, method="BFGS", options={"gtol": 1e-6})
    out = sd.copy()
    out[idx] = np.exp(np.clip(sol.x, -30.0, 30.0))
    return out


def saem(problem, *, seed: int, iterations=DEFAULT_ITERATIONS, chains: int | None = None,
         n_kernel=(2, 2, 2)):
    """Run SAEM (see the module docstring).

    Parameters
    ----------
    problem : Problem
    seed : int
    iterations : (int, int) or "auto"
        Exploration and smoothing iterations, or ``"auto"``: the exploration extended until
        it is stationary (:data:`AUTO`, module docstring).
    chains : int, optional
        Markov chains per subject, averaged in the statistics (default enough for 400 chains
        in all, at least 1: the Monte Carlo noise of the variances falls with their number).
    n_kernel : (int, int, int)
        Metropolis-Hastings steps of each kernel per iteration.

    Returns
    -------
    dict
        ``theta`` (full parameter vector with the covariate coefficients), ``omega``
        (n_eta, n_eta), ``sd`` (n_sd,), ``eta`` (the last draws of the first chain),
        ``history`` (n_iter, n_labels: the estimates of every iteration, columns
        ``labels``), ``labels``, ``converged``, ``message``, ``z`` (see
        :func:`convergence`), ``elapsed``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValidationError("seed", f"SAEM needs an integer seed, got {seed!r}")
    iterations = iteration_counts(iterations)
    auto = iterations == "auto"
    if auto:
        k1, extend, k1_max, k2 = AUTO
    else:
        k1, k2 = iterations
    t0 = time.perf_counter()
    order, mu_free, cov, om_fixed, sd_free, closed = _layout(problem)
    rng = np.random.default_rng(seed)
    n, p = problem.n_subjects, len(problem.eta_names)
    if chains is None:
        chains = max(1, -(-400 // n))
    normal = problem.eta_normal
    theta = problem.theta.copy()
    pos = problem.eta_pos
    mu = np.where(normal, theta[pos], np.log(theta[pos]))
    cov_pos = np.array([c[0] for c in cov], dtype=np.int64)
    beta = theta[cov_pos].astype(float)
    bounds = _beta_bounds(cov)
    for k, (_, _, form, _) in enumerate(cov):
        if form == "categorical" and not beta[k] > 0:
            raise ValidationError("initial", "a categorical factor starts positive")
        if form == "linear" and not bounds[0][k] < beta[k] < bounds[1][k]:
            raise ValidationError("initial", "a linear covariate slope must start where every "
                                             "subject's factor is positive")
    omega0 = problem.omega0.copy()
    omega = problem.omega_matrix(omega0, problem.corr0)
    sd = problem.sd0.copy()
    n_obs = problem.n_obs
    # Residual scale per observation: 1 (additive, log, logit) or f^2 (proportional).
    prop_obs = np.zeros(n_obs, dtype=bool)
    sd_obs = np.zeros(n_obs, dtype=np.int64)
    for k, (_, _, ia, ib, _, _) in enumerate(problem.outputs):
        sel = problem.obs_out == k
        prop_obs[sel] = ib >= 0
        sd_obs[sel] = ib if ib >= 0 else ia

    def typical(mu_, beta_):
        th = theta.copy()
        th[pos] = np.where(normal, mu_, np.exp(mu_))
        th[cov_pos] = beta_
        return th

    def d_of(eta, th):
        f = problem.predict(th, eta)
        return np.stack([data_term(problem, f[c], sd) for c in range(eta.shape[0])]), f

    shape = (chains, n, p)
    eta = np.zeros(shape)
    th = typical(mu, beta)
    m_i = mu + _log_factors(cov, beta, n, p)
    d, f = d_of(eta, th)
    step = np.sqrt(np.diag(omega)) * 0.5
    s1 = np.zeros((n, p))
    s2 = np.zeros((p, p))
    s3 = np.zeros(len(sd))
    cnt = np.bincount(sd_obs, minlength=len(sd)) * chains
    history = []
    labels = problem.labels()

    it = -1
    while it + 1 < k1 + k2:
        it += 1
        omega_inv = np.linalg.inv(omega)
        chol = np.linalg.cholesky(omega)

        def prior_of(e):
            return 0.5 * np.einsum("...k,kl,...l->...", e, omega_inv, e)

        # Kernel 1: proposals from the prior; the acceptance ratio is the likelihood's.
        for _ in range(n_kernel[0]):
            prop = rng.standard_normal(shape) @ chol.T
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
        phi = m_i + eta
        _, f = d_of(eta, th)
        gamma = 1.0 if it < k1 else 1.0 / (it - k1 + 1)
        s1 += gamma * (phi.mean(axis=0) - s1)
        s2 += gamma * (np.einsum("cik,cil->kl", phi, phi) / chains - s2)
        # M-step.
        mu_new, beta_new = _regression(s1, mu, beta, cov, mu_free, omega, bounds)
        m_new = mu_new + _log_factors(cov, beta_new, n, p)
        om_new = (s2 - s1.T @ m_new - m_new.T @ s1 + m_new.T @ m_new) / n
        om_new = _structured(om_new, problem, om_fixed, omega0)
        if closed:
            res2 = (problem.y - f) ** 2
            res2 = np.where(prop_obs, res2 / (f * f), res2)
            s3_new = np.bincount(np.broadcast_to(sd_obs, res2.shape).ravel(), res2.ravel(),
                                 len(sd))
            s3 += gamma * (s3_new - s3)
            sd_new = np.where(sd_free, np.sqrt(s3 / np.maximum(cnt, 1)), sd)
        else:
            sd_new = sd + gamma * (_sd_step(problem, f, sd, sd_free) - sd)
        if it < k1:
            d_old, d_est = np.diag(omega), np.diag(om_new)
            om_new = _rescale(om_new, d_est, np.maximum(d_est, _ANNEAL * d_old))
            sd_new = np.maximum(sd_new, _ANNEAL * sd)
        eta = phi - m_new  # the same individual parameters around the new typical values
        mu, beta, omega, sd, m_i = mu_new, beta_new, om_new, sd_new, m_new
        th = typical(mu, beta)
        d = np.stack([data_term(problem, f[c], sd) for c in range(chains)])
        history.append(_row(problem, th, omega, sd))
        if auto and it + 1 == k1 and k1 + extend <= k1_max:
            z = exploration_z(np.array(history), k1)
            if z is not None and np.max(np.abs(z)) > Z_LIMIT:
                k1 += extend  # still drifting: explore further before smoothing
    history = np.array(history)
    ok, message, z = convergence(history, labels, k1)
    return dict(theta=th, omega=omega, sd=sd, eta=eta[0], history=history, labels=labels,
                order=order, converged=ok, message=message, z=z, exploration=k1,
                smoothing=k2, elapsed=time.perf_counter() - t0)


def iteration_counts(iterations):
    """``"auto"``, or the (exploration, smoothing) counts as two ints; a ValidationError
    naming ``iterations`` for anything else (counts must be positive whole numbers)."""
    if isinstance(iterations, str) and iterations == "auto":
        return "auto"
    try:
        k1, k2 = iterations
    except (TypeError, ValueError):
        k1 = k2 = None
    if not all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) and k >= 1
               for k in (k1, k2)):
        raise ValidationError("iterations", f"expected two positive whole numbers "
                                            f"(exploration, smoothing) or 'auto', got "
                                            f"{iterations!r}")
    return int(k1), int(k2)


def _row(problem, th, omega, sd):
    """One iteration's estimates in the order of :meth:`Problem.labels`."""
    var = np.diag(omega)
    corr = [omega[i, j] / math.sqrt(var[i] * var[j]) for i, j in problem.corr_pairs]
    return np.concatenate([th[problem.theta_pos], var, sd, th[problem.cov_pos], corr])


def _long_run_variance(x):
    """Long-run variance (n times the variance of the mean) of the noise of a series ``x``
    (n, k), per column: the residuals of a straight line through it (so that a drift is not
    mistaken for noise) with AR(1) autocorrelation (lag-1 coefficient clipped to [0, 0.99])."""
    n = x.shape[0]
    t = np.arange(n) - 0.5 * (n - 1)
    slope = (t @ (x - x.mean(axis=0))) / (t @ t)
    c = x - x.mean(axis=0) - np.outer(t, slope)
    var = np.sum(c * c, axis=0) / max(n - 2, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.sum(c[1:] * c[:-1], axis=0) / np.sum(c * c, axis=0)
    rho = np.clip(np.nan_to_num(rho), 0.0, 0.99)
    return var * (1 + rho) / (1 - rho)


def _scaled(history):
    """The iterates with positive quantities on the log scale (variances move by factors)."""
    pos = np.all(history > 0, axis=0)
    return np.where(pos, np.log(np.where(pos, history, 1.0)), history)


def exploration_z(history, k1: int):
    """Geweke z-score of each column over the second half of the first ``k1`` iterations of
    ``history`` (module docstring), or None when that window is too short."""
    got = _exploration(_scaled(history), k1)
    return None if got is None else got[0]


def _exploration(hist, k1: int):
    """(Geweke z, long-run variance) per column of the scaled iterates ``hist`` over the
    second half of the first ``k1`` iterations, or None when that window is too short."""
    window = hist[k1 // 2:k1]
    m = window.shape[0]
    if m < _MIN_WINDOW:
        return None
    a, b = window[:max(2, m // 5)], window[m - max(2, m // 2):]
    s0 = np.maximum(_long_run_variance(window), 1e-300)
    return (a.mean(axis=0) - b.mean(axis=0)) / np.sqrt(s0 / a.shape[0] + s0 / b.shape[0]), s0


def convergence(history, labels, k1: int):
    """Whether a SAEM run converged, and why (see the module docstring).

    Parameters
    ----------
    history : ndarray, shape (k1 + k2, n_labels)
        The estimates of every iteration.
    labels : sequence of str
    k1 : int
        Exploration iterations.

    Returns
    -------
    converged : bool
    message : str
        Names the parameter that fails (or the largest z-score when none does).
    z : dict
        Per label: the exploration's Geweke z-score and the smoothing change in Monte Carlo
        standard errors, ``(z_explore, z_smooth)``.
    """
    k2 = history.shape[0] - k1
    hist = _scaled(history)
    got = _exploration(hist, k1)
    if got is None:
        return (False, f"the exploration phase ({k1} iterations) is too short to check its "
                       f"stationarity (at least {2 * _MIN_WINDOW})", {})
    z_exp, s0 = got
    # Smoothing: the estimate after the last half against the one before, in Monte Carlo
    # SEs of the smoothed estimate (the same long-run variance).
    s_all = s0
    half = hist[k1 + k2 // 2 - 1] if k2 >= 2 else hist[k1 - 1]
    z_smooth = (hist[-1] - half) / np.sqrt(s_all / max(k2, 1))
    z = {lab: (float(ze), float(zs)) for lab, ze, zs in zip(labels, z_exp, z_smooth)}
    worst = int(np.argmax(np.abs(z_exp)))
    worst_s = int(np.argmax(np.abs(z_smooth)))
    if abs(z_exp[worst]) > Z_LIMIT:
        return (False, f"{labels[worst]} was still drifting at the end of the exploration "
                       f"phase (Geweke z = {z_exp[worst]:.1f}, limit {Z_LIMIT:g}); run more "
                       "exploration iterations", z)
    if abs(z_smooth[worst_s]) > Z_LIMIT:
        return (False, f"{labels[worst_s]} moved by {z_smooth[worst_s]:.1f} Monte Carlo "
                       f"standard errors over the last half of the smoothing phase (limit "
                       f"{Z_LIMIT:g}); run more smoothing iterations", z)
    return (True, f"exploration stationary (largest Geweke |z| {abs(z_exp[worst]):.1f}, "
                  f"{labels[worst]}), smoothing settled (largest change "
                  f"{abs(z_smooth[worst_s]):.1f} Monte Carlo SEs, {labels[worst_s]})", z)
