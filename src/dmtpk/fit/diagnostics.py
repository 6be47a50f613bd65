r"""Simulation-based diagnostics of a population fit: replicate datasets, NPDE and the visual
predictive check (VPC, prediction-corrected too).

Replicates are the dataset's own design simulated from the fitted model: random effects
:math:`\eta \sim N(0, \hat\Omega)` for every subject, residual error on each output's scale
(back-transformed for the exponential and logit forms), all replicates in one compiled batch
per block of :data:`BLOCK`, random numbers from ``seed``.

NPDE (Brendel et al. 2006, Comets et al. 2008): for each subject, the observations and every
simulated vector are decorrelated with the Cholesky factor of the simulated covariance; the
prediction discrepancy of an observation is the share of decorrelated simulations below it,
its NPDE :math:`\Phi^{-1}` of that share (kept inside :math:`[1/2K, 1 - 1/2K]` for K
replicates). A correct model gives NPDE ~ N(0, 1). Censored observations get NaN.

VPC (Holford 2005; pcVPC: Bergstrand et al. 2011): observations binned by time (bins with
equal counts); per bin, the observed percentiles against the 90 % interval of the same
percentiles over the replicates. Prediction-corrected, every value is multiplied by the bin's
median population prediction over its own population prediction.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

__all__ = ["simulate_replicates", "npde", "vpc", "BLOCK"]

#: Replicates per compiled call.
BLOCK = 50


def _back(problem, y):
    """Residual-scale values to each output's own scale."""
    out = y.copy()
    for k, (_, form, _, _, lo, hi) in enumerate(problem.outputs):
        sel = problem.obs_out == k
        if form == "log":
            out[..., sel] = np.exp(y[..., sel])
        elif form == "logit":
            out[..., sel] = lo + (hi - lo) / (1.0 + np.exp(-y[..., sel]))
    return out


def simulate_replicates(problem, theta, omega, sd, n: int, seed: int) -> np.ndarray:
    """``n`` replicates of every observation, shape (n, n_obs), on each output's own scale
    (ng/mL for concentrations)."""
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(omega)
    out = np.empty((n, problem.n_obs))
    for start in range(0, n, BLOCK):
        m = min(BLOCK, n - start)
        eta = rng.standard_normal((m, problem.n_subjects, omega.shape[0])) @ chol.T
        f = problem.predict(theta, eta)
        r_var, _, _ = problem.variance(f, sd)
        y = f + np.sqrt(r_var) * rng.standard_normal(f.shape)
        out[start:start + m] = _back(problem, y)
    return out


def npde(problem, observed: np.ndarray, sims: np.ndarray) -> np.ndarray:
    """NPDE of every observation (NaN for censored ones), shape (n_obs,).

    Parameters
    ----------
    observed : ndarray, shape (n_obs,)
        On each output's own scale.
    sims : ndarray, shape (K, n_obs)
        From :func:`simulate_replicates`.
    """
    k = sims.shape[0]
    out = np.full(observed.size, np.nan)
    cens = problem.censored if problem.censored is not None else np.zeros(observed.size, bool)
    for i in range(problem.n_subjects):
        sel = np.flatnonzero((problem.obs_sub == i) & ~cens)
        if not sel.size:
            continue
        s = sims[:, sel]
        mean = s.mean(axis=0)
        cov = np.atleast_2d(np.cov(s, rowvar=False))
        try:
            chol = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            chol = np.diag(np.sqrt(np.clip(np.diag(cov), 1e-300, None)))
        obs_d = np.linalg.solve(chol, observed[sel] - mean)
        sim_d = np.linalg.solve(chol, (s - mean).T).T
        pde = np.mean(sim_d < obs_d, axis=0)
        pde = np.clip(pde, 1 / (2 * k), 1 - 1 / (2 * k))
        out[sel] = ndtri(pde)
    return out


def vpc(problem, time, observed, pred, sims, *, bins: int = 8, q=(5, 50, 95),
        prediction_corrected: bool = False, output: int = 0) -> dict:
    """Observed and simulated percentiles per time bin for one output.

    Parameters
    ----------
    time, observed, pred : ndarray, shape (n_obs,)
        Observation times, observations and population predictions (own scale).
    sims : ndarray, shape (K, n_obs)
    bins : int
        Bins with equal numbers of observations.
    q : sequence of float
        Percentiles.
    output : int
        Index into ``problem.outputs``.

    Returns
    -------
    dict
        ``edges`` (bins + 1,), ``time`` (bin medians), ``observed`` (bins, len(q)),
        ``simulated`` (bins, len(q), 3: 5th, 50th and 95th percentile over replicates of each
        percentile), ``q``, ``n`` (observations per bin).
    """
    cens = problem.censored if problem.censored is not None else np.zeros(time.size, bool)
    sel = np.flatnonzero((problem.obs_out == output) & ~cens)
    t = time[sel]
    y = observed[sel]
    s = sims[:, sel]
    if prediction_corrected:
        p = pred[sel]
    edges = np.unique(np.quantile(t, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, edges.size - 2)
    nb = edges.size - 1
    obs_q = np.full((nb, len(q)), np.nan)
    sim_q = np.full((nb, len(q), 3), np.nan)
    mid = np.full(nb, np.nan)
    counts = np.zeros(nb, dtype=np.int64)
    for b in range(nb):
        in_bin = which == b
        counts[b] = in_bin.sum()
        if not counts[b]:
            continue
        yb, sb = y[in_bin], s[:, in_bin]
        if prediction_corrected:
            corr = np.median(p[in_bin]) / p[in_bin]
            yb, sb = yb * corr, sb * corr
        mid[b] = np.median(t[in_bin])
        obs_q[b] = np.percentile(yb, q)
        per_rep = np.percentile(sb, q, axis=1).T               # (K, len(q))
        sim_q[b] = np.percentile(per_rep, (5, 50, 95), axis=0).T
    return dict(edges=edges, time=mid, observed=obs_q, simulated=sim_q, q=tuple(q), n=counts)
