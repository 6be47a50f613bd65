r"""Predictions and their derivatives with respect to the random effects, for models whose
solution has no closed form (Michaelis-Menten elimination).

The compiled walker :func:`dmtpk._kernels.sensitivity.sensitivity_batch` integrates every
subject's states together with their forward sensitivities :math:`S = \partial x/\partial\eta`
(error control on both). Here the random effects are mapped to the parameters of every record
and the states to the observations:

- :math:`\partial\theta_{rec}/\partial\eta_k`: the parameters of a record are linear in the
  subject's row of individual values (:meth:`PreparedDataset.theta_records
  <dmtpk.dataset.prepare.PreparedDataset.theta_records>`: covariate factors multiply it,
  ``subject_parameters`` and ``parameter_columns`` replace it), so the derivative is the
  difference of two calls, exact: with the parameter doubled for a log-normal effect
  (:math:`\partial\theta/\partial\eta = \theta`), plus one for a normal one.
- :math:`\partial f/\partial\eta_k`: the observation map (concentrations, effect-site
  responses, the residual scale's log or logit) is evaluated once with complex arguments
  :math:`x + ih S_k`, :math:`\theta + ih\,\partial\theta/\partial\eta_k` (complex step,
  :math:`h = 10^{-20}`): the imaginary part over :math:`h` is the derivative to rounding, with
  no difference step.

Doses whose amount or timing depends on a random effect (a random effect on ``F_INH`` or
``TLAG_INH``) are not differentiated: :func:`check_differentiable` refuses them.
"""

from __future__ import annotations

import numpy as np

from ..errors import ValidationError

__all__ = ["RTOL", "ATOL", "OBS_STEP", "check_differentiable", "predict_sensitivities",
           "predict_second"]

#: Tolerances of the sensitivity integrator (relative; absolute in mg, also per unit η).
RTOL, ATOL = 1e-9, 1e-12
_H = 1e-20
_CAPACITY = 8
#: Step (on the η scale) of the central difference of the observation map in
#: :func:`predict_second`.
OBS_STEP = 1e-4


def check_differentiable(problem) -> None:
    """For a model with Michaelis-Menten elimination, refuse random effects the sensitivity
    kernel does not differentiate (those moving the inhaled depot's bioavailability or lag:
    they change a dose's amount or time). Linear models pass (their closed form covers all)."""
    if problem.model.is_linear:
        return
    compiled = problem.model.compiled
    for name in ("F_INH", "TLAG_INH"):
        p = compiled.param.get(name, -1)
        if p >= 0 and p in problem.eta_pos:
            raise ValidationError(f"omega.{name}", f"a random effect on {name} moves a dose's "
                                  "amount or time, which the integrator's sensitivities do not "
                                  "cover yet (fit it without one, or fix it)")


def predict_sensitivities(problem, theta: np.ndarray, eta: np.ndarray, subjects=None,
                          rtol: float = RTOL, atol: float = ATOL):
    """Predictions at the observations (residual scale) and their derivatives in η.

    Parameters
    ----------
    problem : Problem
    theta : ndarray, shape (n_params,)
        The full parameter vector (canonical units; exponents after the model's parameters).
    eta : ndarray, shape (m, n_subjects, p)
        ``m`` sets of random effects, run as one batch.
    subjects : ndarray of bool, shape (n_subjects,), optional
        Integrate only these subjects (the others' values are NaN); default all.
    rtol, atol : float
        Tolerances of the integrator (states and sensitivities).

    Returns
    -------
    f : ndarray, shape (m, n_obs)
    a : ndarray, shape (m, p, n_obs)
        :math:`\\partial f/\\partial\\eta_k` (NaN with ``f`` for a subject whose parameters
        leave their support).
    """
    prepared = problem.prepared
    compiled = prepared.model.compiled
    eta = np.asarray(eta, dtype=float)
    m, n_sub, p = eta.shape
    rec, w, bad = _record_parameters(problem, theta, eta)
    n_rec, n_par = rec.shape[1:]
    flat = np.ascontiguousarray(rec.reshape(m * n_rec, n_par))
    w_flat = np.ascontiguousarray(w.reshape(m * n_rec, p))
    mm, dmm = _mm_values(problem, compiled, flat, w_flat)
    x, s = _run(prepared, compiled, flat, w_flat, problem.eta_pos, mm, dmm, m, subjects, rtol,
                atol)
    # The observation map with complex arguments: f + i h a.
    xs = x.reshape(m, n_rec, -1)
    if p:
        sk = np.moveaxis(s.reshape(m, n_rec, p, -1), 2, 0)              # (p, m, n_rec, n)
        pred_c = _observe(problem, xs[None] + 1j * _H * sk,
                          rec[None] + 1j * _H * _moved(problem, w, n_par))
        a = np.moveaxis(pred_c.imag / _H, 0, 1)                          # (m, p, n_obs)
    else:
        a = np.zeros((m, 0, problem.n_obs))
    f = _observe(problem, xs, rec)
    if subjects is not None:
        bad = bad | ~np.asarray(subjects, dtype=bool)
    if bad.any():
        sel = bad[..., problem.obs_sub]                                  # (m, n_obs)
        f = np.where(sel, np.nan, f)
        a = np.where(sel[:, None, :], np.nan, a)
    return f, a


def predict_second(problem, theta: np.ndarray, eta: np.ndarray, rtol: float = RTOL,
                   atol: float = ATOL) -> np.ndarray:
    r"""Second derivatives of the predictions in η, by complex step through the integrator.

    Copy l of the dataset runs with the parameters moved by :math:`ih\,\partial\theta/
    \partial\eta_l` (and :math:`\partial\theta/\partial\eta_k` by :math:`ih\,\partial^2
    \theta/\partial\eta_k\partial\eta_l`: :math:`\delta_{kl}\,\partial\theta/\partial\eta_k`
    for a log-normal effect, 0 for a normal one, the parameters of a record being linear in
    the subject's row); the kernel takes the real run's steps (``second=True``), so the
    imaginary parts of its states and sensitivities over h are their derivatives in
    :math:`\eta_l`, exact to rounding. The observation map's own second derivative is a
    central difference of that algebraic map (step :data:`OBS_STEP` on the η scale, along
    :math:`S_k` and :math:`\partial\theta/\partial\eta_k`), taken with those complex
    arguments: truncation about 1e-8 relative, no integrator in it.

    Parameters
    ----------
    problem : Problem
    theta : ndarray, shape (n_params,)
    eta : ndarray, shape (n_subjects, p)
    rtol, atol : float
        Tolerances of the (real) run whose steps are taken.

    Returns
    -------
    s : ndarray, shape (p, p, n_obs)
        :math:`s_{lk} = \partial^2 f/\partial\eta_l\partial\eta_k`, symmetrised (NaN for a
        subject whose parameters leave their support, or that the integrator gave up on).
    """
    prepared = problem.prepared
    compiled = prepared.model.compiled
    eta = np.asarray(eta, dtype=float)
    n_sub, p = eta.shape
    rec, w, bad = _record_parameters(problem, theta, eta[None])
    n_rec, n_par = rec.shape[1:]
    rec_c = np.repeat(rec, p, axis=0).astype(complex)                 # copy l: eta_l + i h
    w_c = np.repeat(w, p, axis=0).astype(complex)
    for l, q in enumerate(problem.eta_pos):
        rec_c[l, :, q] += 1j * _H * w[0, :, l]
        if not problem.eta_normal[l]:
            w_c[l, :, l] += 1j * _H * w[0, :, l]
    flat = np.ascontiguousarray(rec_c.reshape(p * n_rec, n_par))
    w_flat = np.ascontiguousarray(w_c.reshape(p * n_rec, p))
    mm, dmm = _mm_values(problem, compiled, flat, w_flat)
    x, s = _run(prepared, compiled, flat, w_flat, problem.eta_pos, mm, dmm, p, None, rtol,
                atol, second=True)
    x = x.reshape(p, n_rec, -1)                                        # [l]
    sk = np.moveaxis(s.reshape(p, n_rec, p, -1), 2, 1)                 # [l, k]
    dth = _moved(problem, w_c, n_par)                                  # [k, l]
    dth = np.swapaxes(dth, 0, 1)                                       # [l, k]
    d = OBS_STEP
    up = _observe(problem, x[:, None] + d * sk, rec_c[:, None] + d * dth)
    down = _observe(problem, x[:, None] - d * sk, rec_c[:, None] - d * dth)
    out = ((up - down) / (2 * d)).imag / _H                            # (p, p, n_obs)
    out = 0.5 * (out + np.swapaxes(out, 0, 1))
    if bad.any():
        out = np.where(bad[0][problem.obs_sub], np.nan, out)
    return out


def _record_parameters(problem, theta, eta):
    """Each record's parameters ``rec`` (m, n_records, n_params) for random effects ``eta``
    (m, n_subjects, p), their derivatives ``w`` (m, n_records, p) in each η at its parameter
    (exact: the parameters of a record are linear in the subject's row, so the derivative is
    the difference of two calls, with the parameter doubled for a log-normal effect and plus
    one for a normal one), and which subject sets leave the parameters' support ``bad``
    (m, n_subjects; run with the typical values)."""
    prepared = problem.prepared
    n_par = problem.n_params
    m, _, p = eta.shape
    rows = problem.rows(theta, eta)
    log_pos = problem.eta_pos[~problem.eta_normal]
    bad = ~np.all(np.isfinite(rows), axis=-1) | np.any(rows[..., log_pos] <= 0, axis=-1)
    if bad.any():
        rows = np.where(bad[..., None], theta[:n_par], rows)
    exps = theta[n_par:] if theta.size > n_par else None
    rec = prepared.theta_records(rows, exps)
    w = np.zeros((m, rec.shape[1], p))
    for k, q in enumerate(problem.eta_pos):
        moved = rows.copy()
        if problem.eta_normal[k]:
            moved[..., q] += 1.0
        else:
            moved[..., q] *= 2.0
        w[..., k] = (prepared.theta_records(moved, exps) - rec)[..., q]
    return rec, w, bad


def _mm_values(problem, compiled, flat, w_flat):
    """The kernel's Michaelis-Menten values per record and their derivatives in each η
    (``mm_parameters`` is linear in the parameters)."""
    mm = np.nan_to_num(compiled.mm_parameters(flat))
    dmm = np.zeros((flat.shape[0], w_flat.shape[1], 4), dtype=flat.dtype)
    for k, q in enumerate(problem.eta_pos):
        d = np.zeros_like(flat)
        d[:, q] = w_flat[:, k]
        dmm[:, k] = np.nan_to_num(compiled.mm_parameters(d))
    return mm, dmm


def _moved(problem, w, n_par):
    """dθ_rec/dη_k as full parameter vectors, shape (p,) + w.shape[:-1] + (n_par,)."""
    p = w.shape[-1]
    dth = np.zeros((p,) + w.shape[:-1] + (n_par,), dtype=w.dtype)
    for k, q in enumerate(problem.eta_pos):
        dth[k, ..., q] = w[..., k]
    return dth


def _observe(problem, x, rec):
    """The observations on the residual scale from states ``x`` (..., n_records, n_states)
    and record parameters ``rec`` (..., n_records, n_params), real or complex."""
    pred = problem.prepared.outputs(x, rec)[0][..., problem.obs_rec] * problem.to_output
    return problem.transform(pred)


def _run(prepared, compiled, flat, w_flat, pos, mm, dmm, m, subjects, rtol, atol,
         second=False):
    """The kernel over ``m`` copies of the dataset (the ``subjects`` of each, default all). A
    record with no defined answer is named in the error; a subject on which the explicit
    integrator gives up (a stiff segment), or whose steady-state dose has no steady state at
    its parameters (a dose rate beyond what the elimination can clear), gets NaN states, as
    parameters outside their support do: an optimiser's trial point may go there."""
    from .._kernels.sensitivity import (STATUS_CAPACITY, STATUS_NO_STEADY, STATUS_OK,
                                        STATUS_STIFF, sensitivity_batch)
    starts, recs = prepared.kernel_records(flat.real, m)  # F and lag carry no random effect
    n = compiled.n_states
    p = pos.size
    n_all = flat.shape[0]
    first, last = starts[:-1], starts[1:]
    if subjects is not None:
        keep = np.tile(np.asarray(subjects, dtype=bool), m)
        first, last = first[keep], last[keep]
    first, last = np.ascontiguousarray(first), np.ascontiguousarray(last)
    n_sub = first.size
    x = np.zeros((n_all, n), dtype=flat.dtype)
    s = np.zeros((n_all, p, n), dtype=flat.dtype)
    status = np.zeros(n_sub, dtype=np.int64)
    where = np.zeros(n_sub, dtype=np.int64)
    dyn = np.array([k for k in range(n) if k not in compiled.accumulators], dtype=np.int64)
    args = (flat, w_flat, np.asarray(pos, dtype=np.int64), mm, dmm, compiled.layout,
            float(compiled.mass_ratio), dyn)
    sensitivity_batch(*args, first, last, *recs, x, s, status, where, _CAPACITY, rtol, atol,
                      second)
    cap = _CAPACITY
    while np.any(status == STATUS_CAPACITY):
        cap *= 4
        for i in np.flatnonzero(status == STATUS_CAPACITY):
            st = np.zeros(1, dtype=np.int64)
            sr = np.zeros(1, dtype=np.int64)
            sensitivity_batch(*args, first[i:i + 1], last[i:i + 1], *recs, x, s, st, sr, cap,
                              rtol, atol, second)
            status[i], where[i] = st[0], sr[0]
    n_rec = prepared.starts[-1]
    no_answer = (status == STATUS_STIFF) | (status == STATUS_NO_STEADY)
    for i in np.flatnonzero(no_answer):
        # The integrator gave up on a stiff segment, or the dose train has no steady state
        # (parameters far out, as an optimiser's trial point may take them): no prediction for
        # the subject, as for parameters outside their support.
        x[first[i]:last[i]] = np.nan
        s[first[i]:last[i]] = np.nan
    for i in np.flatnonzero((status != STATUS_OK) & ~no_answer):
        rec = int(where[i])
        # A record with no defined answer: the prepared dataset's solver names it.
        prepared.predict(flat.real[(rec // n_rec) * n_rec:][:n_rec])
        data = prepared.data
        raise ValidationError("data", f"{data.path}, row {data.row_of(rec % n_rec)}: the "
                              "integrator's sensitivities do not cover this record")
    return x, s
