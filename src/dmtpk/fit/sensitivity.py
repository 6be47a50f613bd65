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

__all__ = ["RTOL", "ATOL", "check_differentiable", "predict_sensitivities"]

#: Tolerances of the sensitivity integrator (relative; absolute in mg, also per unit η).
RTOL, ATOL = 1e-9, 1e-12
_H = 1e-20
_CAPACITY = 8


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
    n_par = problem.n_params
    rows = problem.rows(theta, eta)
    log_pos = problem.eta_pos[~problem.eta_normal]
    bad = ~np.all(np.isfinite(rows), axis=-1) | np.any(rows[..., log_pos] <= 0, axis=-1)
    if bad.any():
        rows = np.where(bad[..., None], theta[:n_par], rows)
    exps = theta[n_par:] if theta.size > n_par else None
    rec = prepared.theta_records(rows, exps)                       # (m, n_rec, n_par)
    n_rec = rec.shape[1]
    w = np.zeros((m, n_rec, p))
    for k, q in enumerate(problem.eta_pos):
        moved = rows.copy()
        if problem.eta_normal[k]:
            moved[..., q] += 1.0
        else:
            moved[..., q] *= 2.0
        w[..., k] = (prepared.theta_records(moved, exps) - rec)[..., q]
    flat = np.ascontiguousarray(rec.reshape(m * n_rec, n_par))
    w_flat = np.ascontiguousarray(w.reshape(m * n_rec, p))
    mm = np.nan_to_num(compiled.mm_parameters(flat))
    dmm = np.zeros((m * n_rec, p, 4))
    for k, q in enumerate(problem.eta_pos):
        d = np.zeros_like(flat)
        d[:, q] = w_flat[:, k]
        dmm[:, k] = np.nan_to_num(compiled.mm_parameters(d))
    x, s = _run(prepared, compiled, flat, w_flat, problem.eta_pos, mm, dmm, m, subjects, rtol,
                atol)
    # The observation map with complex arguments: f + i h a.
    xs = x.reshape(m, n_rec, -1)
    if p:
        sk = np.moveaxis(s.reshape(m, n_rec, p, -1), 2, 0)              # (p, m, n_rec, n)
        dth = np.zeros((p, m, n_rec, n_par))
        for k, q in enumerate(problem.eta_pos):
            dth[k, ..., q] = w[..., k]
        pred_c = prepared.outputs(xs[None] + 1j * _H * sk, rec[None] + 1j * _H * dth)[0]
        pred_c = pred_c[..., problem.obs_rec] * problem.to_output
        a = np.moveaxis(problem.transform(pred_c).imag / _H, 0, 1)     # (m, p, n_obs)
    else:
        a = np.zeros((m, 0, problem.n_obs))
    pred = prepared.outputs(xs, rec)[0][..., problem.obs_rec] * problem.to_output
    f = problem.transform(pred)
    if subjects is not None:
        bad = bad | ~np.asarray(subjects, dtype=bool)
    if bad.any():
        sel = bad[..., problem.obs_sub]                                  # (m, n_obs)
        f = np.where(sel, np.nan, f)
        a = np.where(sel[:, None, :], np.nan, a)
    return f, a


def _run(prepared, compiled, flat, w_flat, pos, mm, dmm, m, subjects, rtol, atol):
    """The kernel over ``m`` copies of the dataset (the ``subjects`` of each, default all). A
    record with no defined answer is named in the error; a subject on which the explicit
    integrator gives up (a stiff segment), or whose steady-state dose has no steady state at
    its parameters (a dose rate beyond what the elimination can clear), gets NaN states, as
    parameters outside their support do: an optimiser's trial point may go there."""
    from .._kernels.sensitivity import (STATUS_CAPACITY, STATUS_NO_STEADY, STATUS_OK,
                                        STATUS_STIFF, sensitivity_batch)
    starts, recs = prepared.kernel_records(flat, m)
    n = compiled.n_states
    p = pos.size
    n_all = flat.shape[0]
    first, last = starts[:-1], starts[1:]
    if subjects is not None:
        keep = np.tile(np.asarray(subjects, dtype=bool), m)
        first, last = first[keep], last[keep]
    first, last = np.ascontiguousarray(first), np.ascontiguousarray(last)
    n_sub = first.size
    x = np.zeros((n_all, n))
    s = np.zeros((n_all, p, n))
    status = np.zeros(n_sub, dtype=np.int64)
    where = np.zeros(n_sub, dtype=np.int64)
    dyn = np.array([k for k in range(n) if k not in compiled.accumulators], dtype=np.int64)
    args = (flat, w_flat, np.asarray(pos, dtype=np.int64), mm, dmm, compiled.layout,
            float(compiled.mass_ratio), dyn)
    sensitivity_batch(*args, first, last, *recs, x, s, status, where, _CAPACITY, rtol, atol)
    cap = _CAPACITY
    while np.any(status == STATUS_CAPACITY):
        cap *= 4
        for i in np.flatnonzero(status == STATUS_CAPACITY):
            st = np.zeros(1, dtype=np.int64)
            sr = np.zeros(1, dtype=np.int64)
            sensitivity_batch(*args, first[i:i + 1], last[i:i + 1], *recs, x, s, st, sr, cap,
                              rtol, atol)
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
        prepared.predict(flat[(rec // n_rec) * n_rec:][:n_rec])
        data = prepared.data
        raise ValidationError("data", f"{data.path}, row {data.row_of(rec % n_rec)}: the "
                              "integrator's sensitivities do not cover this record")
    return x, s
