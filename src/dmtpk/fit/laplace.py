r"""Conditional modes of the random effects and NONMEM's FOCE-I objective.

For subject :math:`i` with observations :math:`y_j` (on the residual scale), predictions
:math:`f_j(\eta)` and residual variances :math:`R_j = a^2 + b^2 f_j^2` (see
:mod:`dmtpk.fit.problem`),

.. math::

   g_i(\eta) = \sum_j \left[\frac{(y_j - f_j)^2}{R_j} + \ln R_j\right]
               + \eta^\top \Omega^{-1} \eta

is minimised over :math:`\eta` (the conditional mode :math:`\hat\eta_i`) by Newton's method
on the exact Hessian of :math:`g_i`, falling back to the FOCE-I matrix below where that is not
positive definite, with a backtracking line search. NONMEM's FOCE-I objective of the subject is

.. math::

   \mathrm{OFV}_i = g_i(\hat\eta_i) + \ln|\Omega| + \ln|\tilde H_i|, \qquad
   \tilde H_i = \sum_j \frac{a_j a_j^\top}{R_j} + \frac{1}{2}\sum_j c_j c_j^\top + \Omega^{-1},

with :math:`a_j = \partial f_j/\partial\eta` and :math:`c_j = (\partial R_j/\partial\eta)/R_j`,
at :math:`\hat\eta_i`, without the :math:`n_{obs}\ln 2\pi` constant (as NONMEM prints it).
This is the Laplace approximation of :math:`-2\log\int p(y_i|\eta)p(\eta)\,d\eta` with the
expected (not the observed) information of the data term, which is what distinguishes FOCE-I
from the Sheiner-Beal linearisation (FOCE without interaction).

Sensitivities :math:`\partial f/\partial\eta` and :math:`\partial^2 f/\partial\eta^2` of a
linear model are central differences (step :data:`STEP` on the η scale) of the exact solution of
the linear system, all stencil points of all subjects in one compiled call: the solution is a
smooth closed form in the parameters, so the differences carry no solver noise (truncation about
``STEP**2``, 1e-8 relative).

A model with Michaelis-Menten elimination has no closed form: :math:`f` and
:math:`a = \partial f/\partial\eta` come from the integrator's forward sensitivities
(:mod:`dmtpk.fit.sensitivity`, error control on states and sensitivities at rtol 1e-9). The
conditional modes are then found by quasi-Newton steps (the FOCE-I matrix, which needs only
:math:`a`, updated by BFGS). The second derivatives that the exact Hessian of the individual
fits and the closed-form outer gradient need come, at the modes, from the same integrator run
with complex parameters (:func:`~dmtpk.fit.sensitivity.predict_second`: the complex step
through the integrator's own steps, exact to rounding for its discrete solution; only the
algebraic observation map is differenced). They enter neither the objective nor the modes,
only the gradient that guides the optimiser and the standard errors of individual fits.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_ndtr

from .sensitivity import predict_second, predict_sensitivities

__all__ = ["STEP", "Stencil", "conditional_modes", "subject_objective", "objective_gradient",
           "terms", "data_term"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

#: Central-difference step on the η scale.
STEP = 1e-4


class Stencil:
    """Predictions at η and its central-difference neighbours, for all subjects at once.

    Attributes (shapes with n_obs observations, p random effects)
    ----------
    f : ndarray, shape (n_obs,)
    a : ndarray, shape (p, n_obs)
        First derivatives.
    s : ndarray, shape (p, p, n_obs) or None
        Second derivatives (``second=True``).
    """

    def __init__(self, problem, theta, eta, second: bool, subjects=None):
        if not problem.model.is_linear:
            self._sensitivities(problem, theta, eta, second, subjects)
            return
        p = eta.shape[-1]
        h = STEP
        eye = np.eye(p)
        pts = [eta[None], eta[None] + h * eye[:, None, :], eta[None] - h * eye[:, None, :]]
        pairs = [(k, m) for k in range(p) for m in range(k + 1, p)] if second else []
        if pairs:
            both = np.array([eye[k] + eye[m] for k, m in pairs])
            pts += [eta[None] + h * both[:, None, :], eta[None] - h * both[:, None, :]]
        f_all = problem.predict(theta, np.concatenate(pts))
        f = f_all[0]
        fp, fm = f_all[1:1 + p], f_all[1 + p:1 + 2 * p]
        self.f = f
        self.a = (fp - fm) / (2 * h)
        self.s = None
        if second:
            s = np.empty((p, p, f.size))
            for k in range(p):
                s[k, k] = (fp[k] - 2 * f + fm[k]) / (h * h)
            npair = len(pairs)
            fpp = f_all[1 + 2 * p:1 + 2 * p + npair]
            fmm = f_all[1 + 2 * p + npair:]
            for j, (k, m) in enumerate(pairs):
                # f(+k+m) + f(-k-m) - 2 f = h^2 (s_kk + s_mm + 2 s_km) + O(h^4)
                s[k, m] = s[m, k] = 0.5 * ((fpp[j] + fmm[j] - 2 * f) / (h * h)
                                           - s[k, k] - s[m, m])
            self.s = s

    def _sensitivities(self, problem, theta, eta, second, subjects):
        """f and a from the integrator's forward sensitivities (of the ``subjects`` only, the
        others NaN); s (``second``) from its run with complex parameters (see the module
        docstring)."""
        f, a = predict_sensitivities(problem, theta, eta[None], subjects)
        self.f, self.a, self.s = f[0], a[0], None
        if second:
            self.s = predict_second(problem, theta, eta)


def _sum_by_subject(problem, values):
    """Sum over each subject's observations of ``values`` (..., n_obs) -> (n_subjects, ...)."""
    n = problem.n_subjects
    v = np.asarray(values)
    if v.ndim == 1:
        return np.bincount(problem.obs_sub, v, n)
    flat = v.reshape(-1, v.shape[-1])
    out = np.stack([np.bincount(problem.obs_sub, row, n) for row in flat], axis=-1)
    return out.reshape((n,) + v.shape[:-1])


def terms(problem, f, sd, order: int = 0):
    r"""Each observation's -2 log-likelihood term and its first and second derivatives with
    respect to the prediction.

    An observation contributes :math:`(y - f)^2/R + \ln R`; a censored one (below the limit
    of quantification, Beal's M3) :math:`-2 \ln \Phi(z)`, :math:`z = (L - f)/\sqrt{R}`, the
    probability of being below the limit :math:`L`.

    Returns
    -------
    phi : ndarray, shape f.shape
        (and ``phi1``, ``phi2`` for ``order`` 1 and 2); non-finite terms are +inf.
    """
    r_var, r1, r2 = problem.variance(f, sd)
    cens = problem.censored
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = problem.y - f
        phi = r * r / r_var + np.log(r_var)
        if order:
            phi1 = -2 * r / r_var - r * r * r1 / r_var ** 2 + r1 / r_var
        if order > 1:
            phi2 = (2 / r_var + 4 * r * r1 / r_var ** 2 + 2 * r * r * r1 ** 2 / r_var ** 3
                    - r * r * r2 / r_var ** 2 + r2 / r_var - r1 ** 2 / r_var ** 2)
        if cens is not None:
            fc = f[..., cens]
            rv, d1r, d2r = r_var[..., cens], r1[..., cens], r2[..., cens]
            sdv = np.sqrt(rv)
            z = (problem.lloq[cens] - fc) / sdv
            log_cdf = log_ndtr(z)
            phi[..., cens] = -2 * log_cdf
            if order:
                lam = np.exp(-0.5 * z * z - _HALF_LOG_2PI - log_cdf)     # pdf / cdf
                s1 = d1r / (2 * sdv)
                z1 = -1 / sdv - z * s1 / sdv
                phi1[..., cens] = -2 * lam * z1
            if order > 1:
                s2 = d2r / (2 * sdv) - d1r ** 2 / (4 * rv * sdv)
                z2 = s1 / sdv ** 2 - (z1 * s1 / sdv + z * (s2 * sdv - s1 * s1) / rv)
                phi2[..., cens] = -2 * (-lam * (z + lam) * z1 * z1 + lam * z2)
    phi = np.where(np.isfinite(phi), phi, np.inf)
    if order == 0:
        return phi
    if order == 1:
        return phi, phi1
    return phi, phi1, phi2


def data_term(problem, f, sd):
    """Per subject sum of the observations' terms (see :func:`terms`), shape (n_subjects,)
    for ``f`` of shape (n_obs,)."""
    return _sum_by_subject(problem, terms(problem, f, sd))


def _derivatives(problem, st: Stencil, sd, omega_inv, eta, prior: bool):
    r"""g, its gradient, exact Hessian (if second derivatives) and the FOCE-I matrix 2 H~.

    The FOCE-I matrix takes each observation's expected information,
    :math:`2 a a^\top / R + c c^\top`; a censored observation has none of that form and
    enters with its exact second derivative (as a Laplace approximation does).
    """
    f, a = st.f, st.a
    r_var, r1, _ = problem.variance(f, sd)
    phi, d1, d2 = terms(problem, f, sd, order=2)
    g = _sum_by_subject(problem, phi)
    grad = _sum_by_subject(problem, d1 * a)                       # (N, p)
    aa = a[:, None, :] * a[None, :, :]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # (non-finite where a prediction is 0 under a proportional error: the caller sees a
        # non-finite objective there)
        c = r1 * a / r_var
        info = 2 * aa / r_var + c[:, None, :] * c[None, :, :]
        h_exact = None
        if st.s is not None:
            h_exact = _sum_by_subject(problem, d2 * aa + d1 * st.s)
        cens = problem.censored
        if cens is not None:
            exact = d2 * aa + (d1 * st.s if st.s is not None else 0.0)
            info[..., cens] = exact[..., cens]
    h_foce = _sum_by_subject(problem, info)
    if prior:
        g = g + np.einsum("ij,jk,ik->i", eta, omega_inv, eta)
        grad = grad + 2 * eta @ omega_inv
        h_foce = h_foce + 2 * omega_inv
        if h_exact is not None:
            h_exact = h_exact + 2 * omega_inv
    return g, grad, h_exact, h_foce


def _positive_definite(h):
    """Per matrix of a stack: positive definite (by Cholesky)."""
    ok = np.ones(h.shape[0], dtype=bool)
    try:
        np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        for i in range(h.shape[0]):
            try:
                np.linalg.cholesky(h[i])
            except np.linalg.LinAlgError:
                ok[i] = False
    return ok


def conditional_modes(problem, theta, omega_inv, sd, eta0, *, prior: bool = True,
                      tol: float = 1e-9, max_iter: int = 100):
    """Minimise :math:`g_i` over η for every subject.

    Parameters
    ----------
    problem : Problem
    theta : ndarray, shape (n_params,)
        Typical values (canonical units).
    omega_inv : ndarray, shape (p, p)
        Inverse of Ω (ignored without ``prior``).
    sd : ndarray, shape (n_sd,)
    eta0 : ndarray, shape (n_subjects, p)
        Starting point (the previous modes in an outer loop).
    prior : bool
        Include :math:`\\eta^\\top\\Omega^{-1}\\eta` (False: maximum likelihood in η).
    tol : float
        Convergence: largest Newton step on the η scale.

    Returns
    -------
    eta : ndarray, shape (n_subjects, p)
    stencil : Stencil
        First and second derivatives at ``eta``.
    converged : ndarray of bool, shape (n_subjects,)
    """
    if not problem.model.is_linear:
        return _modes_integrator(problem, theta, omega_inv, sd, eta0, prior, tol, max_iter)
    eta = np.array(eta0, dtype=float)
    n = eta.shape[0]
    converged = np.zeros(n, dtype=bool)
    for _ in range(max_iter):
        st = Stencil(problem, theta, eta, second=True)
        g, grad, h_exact, h_foce = _derivatives(problem, st, sd, omega_inv, eta, prior)
        h = h_exact.copy()
        bad = ~_positive_definite(h) | ~np.all(np.isfinite(h), axis=(1, 2))
        h[bad] = h_foce[bad]
        h[~np.all(np.isfinite(h), axis=(1, 2))] = np.eye(eta.shape[1])
        step = -np.linalg.solve(h, grad[..., None])[..., 0]
        step[~np.isfinite(step)] = 0.0
        size = np.max(np.abs(step), axis=1)
        # At most 1 on the η scale per iteration (a factor e on a log-normal parameter).
        step *= np.minimum(1.0, 1.0 / np.maximum(size, 1e-300))[:, None]
        converged = size < tol
        if converged.all():
            return eta, st, converged
        # Backtracking: halve each subject's step until g does not increase.
        scale = np.where(converged, 0.0, 1.0)
        for _ in range(40):
            trial = eta + scale[:, None] * step
            f_t = problem.predict(theta, trial[None])[0]
            g_t = data_term(problem, f_t, sd)
            if prior:
                g_t = g_t + np.einsum("ij,jk,ik->i", trial, omega_inv, trial)
            worse = ~(g_t <= g + 1e-12 * np.abs(g)) & (scale > 0)
            if not worse.any():
                break
            scale[worse] *= 0.5
        else:
            scale[worse] = 0.0  # no decrease along the step: at the mode within rounding
        eta = eta + scale[:, None] * step
    st = Stencil(problem, theta, eta, second=True)
    return eta, st, converged


def _modes_integrator(problem, theta, omega_inv, sd, eta0, prior, tol, max_iter):
    """:func:`conditional_modes` for a model without closed form (f and a from the
    integrator's forward sensitivities, no second derivatives while iterating).

    Quasi-Newton: each subject's Hessian of g starts as the FOCE-I matrix (Gauss-Newton) and
    is updated by BFGS from the exact gradients of the accepted steps (superlinear, where
    Gauss-Newton alone converges linearly). Every trial point is one call of the integrator
    that gives f and a there, for the subjects still moving only, so an accepted trial is the
    next iterate's stencil. A subject
    whose step no longer decreases g within ten halvings sits at its mode within the
    integrator's noise (rtol 1e-9). The second derivatives of the returned stencil are
    computed once, at the modes (:func:`~dmtpk.fit.sensitivity.predict_second`).
    """
    eta = np.array(eta0, dtype=float)
    n, p = eta.shape
    st = Stencil(problem, theta, eta, second=False)
    g, grad, _, hess = _derivatives(problem, st, sd, omega_inv, eta, prior)
    converged = np.zeros(n, dtype=bool)
    for _ in range(max_iter):
        h = hess.copy()
        bad = ~np.all(np.isfinite(h), axis=(1, 2))
        h[bad] = np.eye(p)
        bad = ~_positive_definite(h)
        h[bad] = np.eye(p)
        step = -np.linalg.solve(h, grad[..., None])[..., 0]
        step[~np.isfinite(step)] = 0.0
        size = np.max(np.abs(step), axis=1)
        step *= np.minimum(1.0, 1.0 / np.maximum(size, 1e-300))[:, None]
        converged |= size < tol
        if converged.all():
            break
        scale = np.where(converged, 0.0, 1.0)
        for _ in range(10):
            trial = eta + scale[:, None] * step
            st_t = Stencil(problem, theta, trial, second=False, subjects=scale > 0)
            g_t, grad_t, _, _ = _derivatives(problem, st_t, sd, omega_inv, trial, prior)
            ok = (g_t <= g + 1e-12 * np.abs(g)) & (scale > 0)
            if ok.any():
                d = trial[ok] - eta[ok]
                y = grad_t[ok] - grad[ok]
                hess[ok] = _bfgs(hess[ok], d, y)
                eta[ok], g[ok], grad[ok] = trial[ok], g_t[ok], grad_t[ok]
                sel = ok[problem.obs_sub]
                st.f[sel] = st_t.f[sel]
                st.a[:, sel] = st_t.a[:, sel]
                scale[ok] = 0.0
            if not (scale > 0).any():
                break
            scale[scale > 0] *= 0.5
        else:
            converged |= scale > 0   # no decrease along the step: at the mode within noise
        if converged.all():
            break
    st.s = predict_second(problem, theta, eta)   # f and a at eta are st's already
    return eta, st, converged


def _bfgs(h, d, y):
    """BFGS update of the Hessians ``h`` (m, p, p) by steps ``d`` and gradient changes ``y``
    (m, p); a matrix whose pair fails the curvature condition is kept."""
    hd = np.einsum("ijk,ik->ij", h, d)
    dhd = np.einsum("ij,ij->i", d, hd)
    yd = np.einsum("ij,ij->i", y, d)
    ok = (yd > 1e-12 * np.maximum(dhd, 1e-300)) & (dhd > 0)
    upd = h - hd[:, :, None] * hd[:, None, :] / np.where(ok, dhd, 1.0)[:, None, None] \
        + y[:, :, None] * y[:, None, :] / np.where(ok, yd, 1.0)[:, None, None]
    return np.where(ok[:, None, None], upd, h)


def subject_objective(problem, st: Stencil, theta, omega, sd, eta, *, prior: bool = True):
    """FOCE-I objective of every subject at its mode (see the module docstring).

    Returns
    -------
    ofv : ndarray, shape (n_subjects,)
    h_tilde : ndarray, shape (n_subjects, p, p)
    """
    omega_inv = np.linalg.inv(omega)
    g, _, _, h_foce = _derivatives(problem, st, sd, omega_inv, eta, prior)
    h_tilde = 0.5 * h_foce
    finite = np.all(np.isfinite(h_tilde), axis=(1, 2))
    sign, logdet = np.linalg.slogdet(np.where(finite[:, None, None], h_tilde,
                                              np.eye(h_tilde.shape[1])))
    sign = np.where(finite, sign, 0.0)
    logdet = np.where(sign > 0, logdet, np.inf)
    ofv = g + logdet
    if prior:
        ofv = ofv + np.linalg.slogdet(omega)[1]
    return ofv, h_tilde


def objective_gradient(problem, st: Stencil, theta, omega, sd, eta):
    r"""Gradient of every subject's FOCE-I objective with respect to the optimiser's full
    log-vector (log θ of the estimated typical values, log ω², log σ), at the modes ``eta``.

    The modes move with the parameters, so the total derivative is

    .. math::

       \frac{d\,\mathrm{OFV}_i}{dx} = \partial_x g_i + \partial_x \ln|\Omega|
           + \partial_x \ln|\tilde H_i| - v_i^\top \partial_x \nabla_\eta g_i,
       \qquad v_i = (\nabla^2_{\eta\eta} g_i)^{-1} \nabla_\eta \ln|\tilde H_i|,

    (the term :math:`\partial_\eta g_i` vanishes at the mode). Every piece is a closed form in
    the predictions and their first and second derivatives at the mode, which the stencil
    holds: a typical value whose parameter has a log-normal random effect enters the
    predictions only through :math:`\log\theta + \eta`, so its derivatives are those in η
    (a normal one: :math:`\theta\,\partial/\partial\eta`). Typical values without a random
    effect are not covered: their columns are NaN (the caller differences them).

    Returns
    -------
    ndarray, shape (n_subjects, n_theta + n_eta + n_sd)
    """
    n_sub = problem.n_subjects
    if problem.censored is not None:
        # The closed form covers uncensored observations; with M3 terms the caller differences.
        return np.full((n_sub, len(problem.labels())), np.nan)
    sub = problem.obs_sub
    f, a, s = st.f, st.a, st.s
    omega_inv = np.linalg.inv(omega)
    r_var, r1, r2 = problem.variance(f, sd)
    r = problem.y - f
    _, phi1, phi2 = terms(problem, f, sd, order=2)
    aa = a[:, None, :] * a[None, :, :]
    w = 1 / r_var + 0.5 * r1 ** 2 / r_var ** 2
    dw = -r1 / r_var ** 2 + r1 * r2 / r_var ** 2 - r1 ** 3 / r_var ** 3
    h_tilde = _sum_by_subject(problem, w * aa) + omega_inv
    h_inv = np.linalg.inv(h_tilde)
    data_hess = _sum_by_subject(problem, phi2 * aa + phi1 * s)       # (N, p, p)
    hess = data_hess + 2 * omega_inv
    ha = np.einsum("jkl,lj->kj", h_inv[sub], a)                       # H~^-1 a_j, (p, n_obs)
    q = np.sum(a * ha, axis=0)                                          # a_j' H~^-1 a_j
    u = np.einsum("kj,kmj->mj", ha, s)                                  # a_j' H~^-1 s_{.m j}
    dl_deta = _sum_by_subject(problem, dw * a * q + 2 * w * u)        # (N, p)
    v = np.linalg.solve(hess, dl_deta[..., None])[..., 0]             # (N, p)
    data_grad = _sum_by_subject(problem, phi1 * a)                    # (N, p)

    nt, ne = len(problem.names), len(problem.eta_names)
    out = np.full((n_sub, len(problem.labels())), np.nan)  # exponents: differenced
    # Typical values that carry a random effect.
    for k, pos in enumerate(problem.theta_pos):
        hit = np.flatnonzero(problem.eta_pos == pos)
        if not hit.size:
            continue
        m = int(hit[0])
        scale = theta[pos] if problem.eta_normal[m] else 1.0
        out[:, k] = scale * (data_grad[:, m] + dl_deta[:, m]
                             - np.einsum("ik,ik->i", v, data_hess[:, :, m]))
    # Variances of the random effects (diagonal omega; with blocks they are differenced).
    om = np.diag(omega)
    hinv_diag = np.diagonal(h_inv, axis1=1, axis2=2)
    for k in range(ne if not problem.blocks else 0):
        out[:, nt + k] = (-eta[:, k] ** 2 / om[k] + 1.0 - hinv_diag[:, k] / om[k]
                          + v[:, k] * 2 * eta[:, k] / om[k])
    # Residual standard deviations.
    for l_sd in range(len(problem.sd_names)):
        d_a = np.zeros(problem.n_obs)
        d_b = np.zeros(problem.n_obs)
        for k_out, (_, _, ia, ib, _, _) in enumerate(problem.outputs):
            sel = problem.obs_out == k_out
            if ia == l_sd:
                d_a[sel] = 2 * sd[l_sd] ** 2
            if ib == l_sd:
                d_b[sel] = 2 * sd[l_sd] ** 2
        rx = d_a + d_b * f * f
        r1x = 2 * d_b * f
        dphi = (-r * r / r_var ** 2 + 1 / r_var) * rx
        dphi1 = (2 * r * rx / r_var ** 2 - r * r * r1x / r_var ** 2
                 + 2 * r * r * r1 * rx / r_var ** 3 + r1x / r_var - r1 * rx / r_var ** 2)
        dw_x = -rx / r_var ** 2 + r1 * r1x / r_var ** 2 - r1 ** 2 * rx / r_var ** 3
        out[:, nt + ne + l_sd] = (_sum_by_subject(problem, dphi)
                                  + _sum_by_subject(problem, dw_x * q)
                                  - np.einsum("ik,ik->i", v,
                                              _sum_by_subject(problem, dphi1 * a)))
    return out
