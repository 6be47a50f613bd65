"""Estimation: population FOCE-I (outer optimisation over θ, Ω, σ with the conditional modes
re-solved at every evaluation), individual maximum likelihood and Bayesian MAP, and the
covariance step.

The outer problem is minimised on the optimiser's vector ``x`` (log θ, log ω², log σ; see
:mod:`dmtpk.fit.problem`) by BFGS with the objective's gradient in closed form
(:func:`~dmtpk.fit.laplace.objective_gradient`). Every evaluation starts the inner Newton
iterations from the previous modes. The covariance step differences that gradient once more
(the R matrix) and takes the subjects' gradients for S; the covariance is mapped to the natural
scale by the delta method (``SE(θ) = θ SE(log θ)``).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..errors import ValidationError
from ..population.runner import progress_bar
from .laplace import _derivatives, conditional_modes, objective_gradient, subject_objective

__all__ = ["focei", "at_estimates", "individual", "covariance_step", "check_covariance", "FitWarning",
           "COVARIANCE_KINDS"]

#: Forms of the covariance matrix of the estimates.
COVARIANCE_KINDS = ("sandwich", "r", "s")
_GRAD_STEP = 1e-4   # central differences of the objective on the log scale
_HESS_STEP = 1e-4


class FitWarning(UserWarning):
    """A fit that finished but whose result needs care (not converged, a singular covariance
    matrix, an estimate at a bound)."""


class _Objective:
    """FOCE-I objective on ``x`` and its gradient, remembering the last modes to start the next
    evaluation."""

    def __init__(self, problem, full0, free):
        self.problem = problem
        self.full0 = full0
        self.free = free
        self.eta = np.zeros((problem.n_subjects, len(problem.eta_names)))
        self.best = np.inf
        self.n_eval = 0
        self._last = None

    def parts(self, x, keep: bool = False):
        """(OFV per subject, modes, stencil, (theta, omega, sd)) at ``x``."""
        last = self._last
        if last is not None and np.array_equal(last[0], x):
            return last[1]
        theta, omega, sd = self.problem.unpack(x, self.full0, self.free)
        eta, st, _ = conditional_modes(self.problem, theta, np.linalg.inv(omega), sd, self.eta)
        ofv, _ = subject_objective(self.problem, st, theta, omega, sd, eta)
        self.n_eval += 1
        # The next evaluation starts from the modes of the best point so far: a far trial
        # point of a line search must not spoil the start of the next.
        if keep and np.all(np.isfinite(ofv)) and ofv.sum() <= self.best:
            self.eta, self.best = eta, float(ofv.sum())
        out = (ofv, eta, st, (theta, omega, sd))
        self._last = (np.array(x, copy=True), out)
        return out

    def __call__(self, x):
        total = float(self.parts(x, keep=True)[0].sum())
        return total if np.isfinite(total) else 1e300

    def subject_gradients(self, x, keep: bool = False):
        """Gradient of each subject's objective on the free entries, shape (n_subjects, n):
        closed form (:func:`~dmtpk.fit.laplace.objective_gradient`), central differences for
        typical values without a random effect."""
        ofv, eta, st, (theta, omega, sd) = self.parts(x, keep=keep)
        g = objective_gradient(self.problem, st, theta, omega, sd, eta)[:, self.free]
        for k in np.flatnonzero(np.isnan(g).any(axis=0)):
            e = np.zeros(x.size)
            e[k] = _GRAD_STEP
            g[:, k] = (self.parts(x + e)[0] - self.parts(x - e)[0]) / (2 * _GRAD_STEP)
        return g

    def gradient(self, x):
        return self.subject_gradients(x, keep=True).sum(axis=0)


def _not_finite(problem, st, sd, i) -> ValidationError:
    """The error for subject ``i`` whose objective is not finite at the initial estimates,
    naming the first observation (file row) whose term is not."""
    from .laplace import terms
    bad = np.flatnonzero((problem.obs_sub == i) & ~np.isfinite(terms(problem, st.f, sd)))
    data = problem.prepared.data
    where = ""
    why = "a prediction of 0 or NaN under a proportional or log-scale error?"
    if bad.size:
        j = int(bad[0])
        where = (f", first at row {data.row_of(int(problem.obs_rec[j]))} (prediction "
                 f"{st.f[j]:g}, observation {problem.y[j]:g} on the residual scale)")
        records = data.subjects()[i][1]
        if (np.isnan(st.f[j]) and not problem.model.is_linear
                and np.any(data.item("SS")[records] != 0)):
            why = ("a steady-state dose whose train has no steady state at these values "
                   "(a dose rate of VMAX or more accumulates without bound)?")
    return ValidationError("initial", f"the objective of subject {problem.subject_ids[i]!r} "
                                      f"is not finite at the initial estimates{where}: {why}")


def covariance_step(grad_fun, x, kind: str = "sandwich"):
    """Covariance of ``x`` from the per-subject gradients ``grad_fun(x) -> (n_subjects, n)`` of
    the objective (-2 log-likelihood).

    R is the Hessian of the total objective (forward differences of its closed-form gradient,
    step 1e-4 on the log scale, symmetrised), S the sum over subjects of the outer products of the subjects' gradients;
    the covariance is the sandwich ``R^-1 S R^-1`` (NONMEM's default), ``2 R^-1`` or
    ``4 S^-1``.

    Returns
    -------
    cov : ndarray, shape (n, n) or None
        None when the matrix needed is singular or not positive definite.
    r, s : ndarray, shape (n, n)
    """
    n = x.size
    h = _HESS_STEP
    grads = grad_fun(x)
    s = grads.T @ grads
    r = np.empty((n, n))
    g0 = grads.sum(axis=0)
    for k in range(n):
        e = np.zeros(n)
        e[k] = h
        r[:, k] = (grad_fun(x + e).sum(axis=0) - g0) / h
    r = 0.5 * (r + r.T)
    try:
        if kind == "sandwich":
            np.linalg.cholesky(r)
            ri = np.linalg.inv(r)
            cov = ri @ s @ ri
        elif kind == "r":
            np.linalg.cholesky(r)
            cov = 2 * np.linalg.inv(r)
        else:
            np.linalg.cholesky(s)
            cov = 4 * np.linalg.inv(s)
    except np.linalg.LinAlgError:
        cov = None
    return cov, r, s


def outer_iterations(max_iter) -> int:
    """``max_iter`` as an int: a whole number >= 0 (0: evaluate the objective at the initial
    estimates); a ValidationError naming ``max_iter`` otherwise."""
    if isinstance(max_iter, bool) or not isinstance(max_iter, (int, np.integer)) or max_iter < 0:
        raise ValidationError("max_iter", f"expected a whole number of outer iterations >= 0 "
                                          f"(0: evaluate the objective at the initial "
                                          f"estimates), got {max_iter!r}")
    return int(max_iter)


def focei(problem, *, covariance: str | None = "sandwich", max_iter: int = 200,
          gtol: float = 1e-3, progress: bool | None = None):
    """Population FOCE-I estimation.

    Returns
    -------
    dict
        ``x`` (optimiser vector), ``full`` (all log-quantities), ``free`` (mask),
        ``ofv`` (per subject), ``eta``, ``stencil``, ``cov`` (of the free log-quantities or
        None), ``r``, ``s``, ``iterations``, ``evaluations``, ``converged``, ``message``,
        ``elapsed`` (s).
    """
    from scipy.optimize import minimize
    t0 = time.perf_counter()
    full0, free, low, high = problem.start()
    obj = _Objective(problem, full0, free)
    x0 = full0[free]
    start, _, st, (_, _, sd0) = obj.parts(x0, keep=True)
    if not np.all(np.isfinite(start)):
        raise _not_finite(problem, st, sd0, int(np.flatnonzero(~np.isfinite(start))[0]))
    # The optimiser works on z = x * scale, scale from the subjects' gradients at the start
    # (the BHHH approximation of the information): curvatures near 1, so that its first
    # steps are of a sensible size.
    scale = np.sqrt(np.diag(obj.subject_gradients(x0).T @ obj.subject_gradients(x0)))
    scale = np.clip(np.where(np.isfinite(scale), scale, 1.0), 1e-2, 1e6)
    if x0.size == 0 or max_iter == 0:
        # Nothing to estimate (everything fixed), or an evaluation only (NONMEM's MAXEVAL=0):
        # the objective, modes and diagnostics at the initial estimates.
        x, nit, success = x0, 0, True
        message = ("nothing to estimate: the objective at the fixed values" if x0.size == 0
                   else "max_iter=0: the objective at the initial estimates, not minimised")
    else:
        bar = progress_bar(max_iter, progress, unit="it", desc="dmtpk FOCE-I")

        def step(z):
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"OFV {obj.best:.3f}")

        try:
            res = minimize(lambda z: obj(z / scale), x0 * scale,
                           jac=lambda z: obj.gradient(z / scale) / scale, method="L-BFGS-B",
                           bounds=list(zip(low * scale, high * scale)), callback=step,
                           options={"maxiter": max_iter, "gtol": gtol, "ftol": 1e-10})
        finally:
            if bar is not None:
                bar.close()
        x = res.x / scale
        nit, success, message = int(res.nit), bool(res.success), str(res.message)
    ofv, eta, st, _ = obj.parts(x, keep=True)
    at_bound = [lab for lab, v, lo, hi in zip(np.array(problem.labels())[free], x, low, high)
                if min(v - lo, hi - v) < 1e-6]
    out = dict(x=x, full0=full0, free=free, ofv=ofv, eta=eta, stencil=st,
               iterations=nit, converged=success, message=message,
               cov=None, r=None, s=None, at_bound=at_bound)
    if covariance is not None and x.size:
        if covariance not in COVARIANCE_KINDS:
            raise ValidationError("covariance", f"expected one of {COVARIANCE_KINDS} or None, "
                                                f"got {covariance!r}")
        cov, r, s = covariance_step(obj.subject_gradients, x, covariance)
        out.update(cov=cov, r=r, s=s)
    out["evaluations"] = obj.n_eval
    out["elapsed"] = time.perf_counter() - t0
    return out


def at_estimates(problem, theta, omega, sd, *, covariance: str | None = "sandwich"):
    """The FOCE-I objective, modes and (optionally) covariance step at given estimates (for
    SAEM's results): the same dictionary as :func:`focei` without the optimiser's fields.
    ``omega`` is the variances (n_eta,) or the full matrix."""
    t0 = time.perf_counter()
    full0, free, _, _ = problem.start()
    omega = np.asarray(omega, dtype=float)
    variances = np.diag(omega) if omega.ndim == 2 else omega
    zc = full0[len(full0) - len(problem.corr_names):]
    if omega.ndim == 2 and problem.blocks:
        from .problem import _corr_coordinates
        sd_eta = np.sqrt(variances)
        corr = omega / np.outer(sd_eta, sd_eta)
        zc = np.concatenate([_corr_coordinates(corr[np.ix_(b, b)]) for b in problem.blocks])
    x = np.concatenate([np.log(theta[problem.theta_pos]), np.log(variances), np.log(sd),
                        theta[problem.cov_pos], zc])[free]
    obj = _Objective(problem, full0, free)
    obj(x)
    ofv, eta, st, _ = obj.parts(x, keep=True)
    out = dict(x=x, full0=full0, free=free, ofv=ofv, eta=eta, stencil=st, cov=None, r=None,
               s=None)
    if covariance is not None:
        out["cov"], out["r"], out["s"] = covariance_step(obj.subject_gradients, x, covariance)
    out["evaluations"] = obj.n_eval
    out["elapsed"] = time.perf_counter() - t0
    return out


def individual(problem, *, prior: bool, covariance: str = "observed", tol: float = 1e-10):
    """Maximum likelihood (``prior=False``) or MAP (``prior=True``, the model's Ω as prior) of
    each subject's own parameters, all subjects at once; residual SDs fixed.

    Each subject's estimate is its conditional mode of :math:`g_i` (see
    :mod:`dmtpk.fit.laplace`): for maximum likelihood without the prior term, the "random
    effects" being log-deviations from the initial values of the parameters estimated.

    Returns
    -------
    dict
        ``eta`` (n_subjects, p), ``cov`` (n_subjects, p, p) of η on its scale (observed:
        ``2 H^-1`` with H the exact Hessian of the -2 log-likelihood; expected: the inverse
        of the FOCE-I information matrix), ``ofv`` per subject (-2 log-likelihood or
        -2 log-posterior without constants), ``converged``, ``stencil``.
    """
    if covariance not in ("observed", "expected"):
        raise ValidationError("covariance", f"expected 'observed' or 'expected' for an "
                                            f"individual fit, got {covariance!r}")
    t0 = time.perf_counter()
    p = len(problem.eta_names)
    omega = np.diag(problem.omega0)
    omega_inv = np.linalg.inv(omega) if prior else np.zeros((p, p))
    eta, st, conv = conditional_modes(problem, problem.theta, omega_inv, problem.sd0,
                                      np.zeros((problem.n_subjects, p)), prior=prior, tol=tol,
                                      max_iter=200)
    g, _, h_exact, h_foce = _derivatives(problem, st, problem.sd0, omega_inv, eta, prior)
    h = h_exact if covariance == "observed" else h_foce
    cov = np.full(h.shape, np.nan)
    for i in range(h.shape[0]):
        try:
            np.linalg.cholesky(h[i])
            cov[i] = 2 * np.linalg.inv(h[i])
        except np.linalg.LinAlgError:
            pass
    return dict(eta=eta, cov=cov, ofv=g, converged=conv, stencil=st,
                elapsed=time.perf_counter() - t0)


def check_covariance(cov, labels) -> None:
    """Warn (naming the parameter) when the covariance step failed."""
    if cov is None:
        warnings.warn("covariance step: the matrix is singular or not positive definite; no "
                      "standard errors", FitWarning, stacklevel=3)
        return
    bad = [lab for lab, v in zip(labels, np.diag(cov)) if not v > 0]
    if bad:
        warnings.warn(f"covariance step: no standard error for {', '.join(bad)}", FitWarning,
                      stacklevel=3)

