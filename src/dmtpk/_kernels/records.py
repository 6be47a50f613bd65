r"""Compiled record walker: NONMEM-style records of a batch of subjects, each with its own.

The kernel twin of :mod:`dmtpk.engines.records` (which documents the semantics, PREDPP's): the
records of subject ``i`` are rows ``start[i]:start[i + 1]`` of flat per-record arrays, and the
state just after every record is written to the same rows of the output. Output times are
records too (EVID 2), so a batch is fully ragged: every subject has its own doses and its own
sampling times; a shared grid is the case where all subjects have the same rows.

Per record: EVID 0-4, AMT, RATE (> 0 from the data, -1 rate from the model, -2 duration from
the model), target state, SS 0/1/2 with II, ADDL, and per state F, lag, modelled rate and
duration. Parameters may change from record to record (time-varying covariates): the system is
rebuilt when a subject's parameter row changes, as the walker's advance to a record uses that
record's parameters.

Linear models step exactly: with the eigendecomposition :math:`A = V\Lambda V^{-1}` (real for
mammillary models with depots, effect compartments and a metabolite) a step of length
:math:`\tau` with constant input :math:`b` is :math:`x \leftarrow V(e^{\Lambda\tau}V^{-1}x +
\varphi(\Lambda, \tau) V^{-1} b)`, :math:`\varphi = \mathrm{expm1}(\lambda\tau)/\lambda`. When
:math:`V` is ill-conditioned (cond > :data:`MAX_EIGVEC_COND`: nearly equal rate constants) the
step is the matrix exponential of the augmented matrix :math:`[[A, b], [0, 0]]` instead.
Steady states are exact (the formula of :mod:`dmtpk.engines.records`).

Michaelis-Menten models step with an adaptive Dormand-Prince 5(4) pair between events (the
flux VMAX C/(KM + C) of :func:`dmtpk._kernels.elimination.mm_flux`, C clamped at 0 so round-off
below zero cannot reverse it). Their steady states (SS 1 with II) are iterated to convergence
as the single-subject walker iterates them (:func:`_ss_iterate`); superposed steady states
(SS 2), steady-state constant infusions and segments that need more than :data:`MAX_STEPS`
steps (stiff systems) are left to the single-subject walker.

Records with no defined answer (invalid F or lag, RATE -1 without a modelled rate, a lag of at
least II with SS, time going back without a reset, ...) are not reported from here: the subject
gets status :data:`STATUS_RECORD` and the caller re-runs it through the single-subject walker,
whose :class:`~dmtpk.engines.records.RecordError` names the record and the item. One set of
messages, one definition of the semantics.

All times are minutes, amounts mg and rates mg/min.
"""

from __future__ import annotations

import math

import numpy as np

from .config import jit, jit_inline, jit_parallel, prange
from .jitted import expm
from .jitted import fill_system as _fill_system
from .jitted import mm_flux as _mm_flux
from .stepping import (dp_error, dp_y2, dp_y3, dp_y4, dp_y5, dp_y6, dp_y7, error_norm,
                       step_factor)
from .schedule import (C_INF, C_LD, C_TR, DUE_OK, DUE_RECORD, F_INF_E, F_INF_R, F_LD_T, F_TR_II,
                       F_TR_T, I_INF_S, I_TR_LEFT, I_TR_REC, _dose, _give, _give_again,
                       _give_due, _input, _next_due, _reset)
from .system import L_CENTRAL, L_ELIM, L_METAB

STATUS_OK = 0
#: A record the kernel leaves to the single-subject walker (it raises the error, or handles the
#: case).
STATUS_RECORD = 1
#: More simultaneous infusions or pending doses than the scratch holds: run again with more.
STATUS_CAPACITY = 2

#: Most Dormand-Prince steps in one segment between events before the subject is left to the
#: single-subject walker (whose SciPy integrators handle stiff systems).
MAX_STEPS = 100_000

#: Most dosing intervals an iterated (Michaelis-Menten) steady state may take; the
#: single-subject walker uses the same limit.
SS_MAX_INTERVALS = 20000
#: Default relative tolerance of an iterated steady state.
DEFAULT_SS_TOL = 1e-10

#: How a subject's system is stepped.
MODE_EIGEN, MODE_EXPM, MODE_MM = 0, 1, 2

# Rows of the float scratch ``vec``: eigenvalues, work vectors, the state, a steady state, the
# dose being built (4), the Michaelis-Menten values (VMAX, KM, V1, metabolite mass per mg), the
# tolerances and the last step size (RTOL, ATOL, H, SS_TOL).
V_LAM, V_Z, V_U, V_B, V_X, V_SS, V_DOSE, V_MM, V_TOL = range(9)
N_VEC = 9 + 7 + 1  # + the seven Dormand-Prince stages and one work row

#: Subjects per parallel task: scratch is allocated once per block.
BLOCK = 16

#: Largest condition number of the eigenvector matrix for which the eigen step is used (error
#: about eps x cond(V) relative to the largest state: below 1e-10).
MAX_EIGVEC_COND = 1e5


@jit
def _decompose(a, lam, v, vinv):
    """Eigendecomposition of ``a`` into ``lam``, ``v``, ``vinv``; False when it is unusable
    (ill-conditioned), then the caller steps with the matrix exponential."""
    n = a.shape[0]
    w, vv = np.linalg.eig(a)
    inv = np.linalg.inv(vv)
    nv = 0.0
    ni = 0.0
    for j in range(n):
        s = 0.0
        si = 0.0
        for i in range(n):
            s += abs(vv[i, j])
            si += abs(inv[i, j])
        nv = max(nv, s)
        ni = max(ni, si)
    if not (nv * ni < MAX_EIGVEC_COND):
        return False
    for j in range(n):
        lam[j] = w[j]
        for i in range(n):
            v[i, j] = vv[i, j]
            vinv[i, j] = inv[i, j]
    return True


@jit_inline
def _rhs(x, a, b, mm, c, e, m, out):
    """out = A x + b minus the Michaelis-Menten flux out of state ``c`` (into ``e`` and, times
    the metabolite mass per mg, into ``m``; either may be -1)."""
    n = x.size
    for i in range(n):
        s = b[i]
        for j in range(n):
            s += a[i, j] * x[j]
        out[i] = s
    flux = _mm_flux(max(x[c], 0.0) / mm[2], mm[0], mm[1])
    out[c] -= flux
    if e >= 0:
        out[e] += flux
    if m >= 0:
        out[m] += mm[3] * flux


@jit
def _dopri5(x, b, dt, a, vec, c, e, m):
    """Advance ``x`` (in place) by ``dt`` with the Dormand-Prince 5(4) pair and step-size
    control (tolerances and the last step size in ``vec[V_TOL]``); False after
    :data:`MAX_STEPS` steps."""
    n = x.size
    mm = vec[V_MM]
    rtol = vec[V_TOL, 0]
    atol = vec[V_TOL, 1]
    k1 = vec[V_TOL + 1, :n]
    k2 = vec[V_TOL + 2, :n]
    k3 = vec[V_TOL + 3, :n]
    k4 = vec[V_TOL + 4, :n]
    k5 = vec[V_TOL + 5, :n]
    k6 = vec[V_TOL + 6, :n]
    k7 = vec[V_TOL + 7, :n]
    y = vec[V_TOL + 8, :n]
    y1 = vec[V_Z, :n]
    h = vec[V_TOL, 2]
    if not h > 0.0:
        h = dt
    t = 0.0
    _rhs(x, a, b, mm, c, e, m, k1)
    for _ in range(MAX_STEPS):
        last = False
        if t + h >= dt:
            h = dt - t
            last = True
        for i in range(n):
            y[i] = dp_y2(x[i], h, k1[i])
        _rhs(y, a, b, mm, c, e, m, k2)
        for i in range(n):
            y[i] = dp_y3(x[i], h, k1[i], k2[i])
        _rhs(y, a, b, mm, c, e, m, k3)
        for i in range(n):
            y[i] = dp_y4(x[i], h, k1[i], k2[i], k3[i])
        _rhs(y, a, b, mm, c, e, m, k4)
        for i in range(n):
            y[i] = dp_y5(x[i], h, k1[i], k2[i], k3[i], k4[i])
        _rhs(y, a, b, mm, c, e, m, k5)
        for i in range(n):
            y[i] = dp_y6(x[i], h, k1[i], k2[i], k3[i], k4[i], k5[i])
        _rhs(y, a, b, mm, c, e, m, k6)
        for i in range(n):
            y1[i] = dp_y7(x[i], h, k1[i], k3[i], k4[i], k5[i], k6[i])
        _rhs(y1, a, b, mm, c, e, m, k7)
        for i in range(n):  # the error estimate, into the stage scratch y
            y[i] = dp_error(h, k1[i], k3[i], k4[i], k5[i], k6[i], k7[i])
        err = error_norm(y, x, y1, rtol, atol)
        if err <= 1.0:
            t += h
            for i in range(n):
                x[i] = y1[i]
                k1[i] = k7[i]
            fac = step_factor(err, 0.2)
            if last:
                if fac * h > vec[V_TOL, 2] or not vec[V_TOL, 2] > 0.0:
                    vec[V_TOL, 2] = h * fac
                return True
            vec[V_TOL, 2] = h * fac
            h *= fac
        else:
            h *= step_factor(err, 0.2)
    return False


@jit
def _step(x, b, dt, mode, mat, vec, c, e, m):
    """Advance ``x`` (in place) by ``dt`` min of x' = A x + b (+ the Michaelis-Menten flux in
    ``MODE_MM``), b constant; False when the integrator gave up."""
    if dt <= 0.0:
        return True
    n = x.size
    a = mat[0]
    if mode == MODE_MM:
        return _dopri5(x, b, dt, a, vec, c, e, m)
    if mode == MODE_EIGEN:
        v = mat[1]
        vinv = mat[2]
        lam = vec[V_LAM, :n]
        z = vec[V_Z, :n]
        has_b = False
        for k in range(n):
            if b[k] != 0.0:
                has_b = True
                break
        for k in range(n):
            s = 0.0
            for j in range(n):
                s += vinv[k, j] * x[j]
            s *= math.exp(lam[k] * dt)
            if has_b:
                w = 0.0
                for j in range(n):
                    w += vinv[k, j] * b[j]
                if lam[k] != 0.0:
                    s += math.expm1(lam[k] * dt) / lam[k] * w
                else:
                    s += dt * w
            z[k] = s
        for i in range(n):
            s = 0.0
            for k in range(n):
                s += v[i, k] * z[k]
            x[i] = s
        return True
    u = vec[V_U, :n]
    aug = np.zeros((n + 1, n + 1))
    for i in range(n):
        for j in range(n):
            aug[i, j] = a[i, j] * dt
        aug[i, n] = b[i] * dt
    em = expm(aug)
    for i in range(n):
        s = em[i, n]
        for j in range(n):
            s += em[i, j] * x[j]
        u[i] = s
    for i in range(n):
        x[i] = u[i]
    return True


@jit
def _walk(x, t, t_to, cur, mode, mat, vec, c, e, m, time, target, amt, rate, addl, f, lag,
          mrate, mdur, fs, is_, cnt):
    """Advance the schedule from ``t`` to ``t_to``, giving every scheduled event due at or
    before it; returns (t, status). ``cur`` is the latest record processed (its F and lag build
    the additional doses)."""
    n = x.size
    b = vec[V_B, :n]
    dose = vec[V_DOSE, :4]
    while True:
        t_next = _next_due(fs, cnt)
        if t_next > t_to:
            break
        t_next = max(t_next, t)
        _input(fs, is_, cnt, b)
        if not _step(x, b, t_next - t, mode, mat, vec, c, e, m):
            return t, STATUS_RECORD
        t = t_next
        due = _give_due(t, x, cur, time, target, amt, rate, addl, f, lag, mrate, mdur, dose, fs,
                        is_, cnt)
        if due != DUE_OK:
            return t, (STATUS_RECORD if due == DUE_RECORD else STATUS_CAPACITY)
    if t_to > t:
        _input(fs, is_, cnt, b)
        if not _step(x, b, t_to - t, mode, mat, vec, c, e, m):
            return t, STATUS_RECORD
        t = t_to
    return t, STATUS_OK


@jit
def _single_dose_states(k_max, ii, s, dose, mode, mat, vec, phi):
    """States ``phi[k - 1]`` at k*II (k = 1..k_max) after one dose of a steady-state train
    given at 0 (its lag and infusion duration applied), from an empty system."""
    n = phi.shape[1]
    x = np.zeros(n)
    b = np.zeros(n)
    t = 0.0
    lg = dose[3]
    r = dose[1]
    d = dose[2]
    t_off = lg + d if r > 0.0 else lg
    given = False
    for k in range(1, k_max + 1):
        t_to = k * ii
        # Break points inside (t, t_to]: the dose, the end of its infusion.
        while True:
            nxt = math.inf
            if not given:
                nxt = lg
            elif r > 0.0 and t < t_off:
                nxt = t_off
            if nxt > t_to:
                break
            b[s] = r if (given and r > 0.0 and t < t_off) else 0.0
            _step(x, b, nxt - t, mode, mat, vec, -1, -1, -1)
            t = max(t, nxt)
            if not given:
                given = True
                if r == 0.0:
                    x[s] += dose[0]
                elif d <= 0.0:
                    t_off = t
        b[s] = r if (given and r > 0.0 and t < t_off) else 0.0
        _step(x, b, t_to - t, mode, mat, vec, -1, -1, -1)
        t = t_to
        for j in range(n):
            phi[k - 1, j] = x[j]


@jit
def _steady_state(ii, s, dose, mode, mat, vec, dyn, out):
    """Pre-dose steady state of the train (linear models; dynamic states, written into
    ``out`` at their positions): S = sum_{k<m} Phi(k II) + (I - E)^-1 Phi(m II), E the
    dynamic subsystem's exp(A II); False without a steady state."""
    lg = dose[3]
    d = dose[2] if dose[1] > 0.0 else 0.0
    m = max(1, math.ceil((lg + d) / ii - 1e-12))
    if m * ii < lg + d:
        m += 1
    n = out.size
    phi = np.zeros((m, n))
    _single_dose_states(m, ii, s, dose, mode, mat, vec, phi)
    a = mat[0]
    nd = dyn.size
    add = np.zeros((nd, nd))
    for p in range(nd):
        for q in range(nd):
            add[p, q] = a[dyn[p], dyn[q]] * ii
    lhs = np.eye(nd) - expm(add)
    rhs = np.empty(nd)
    for p in range(nd):
        rhs[p] = phi[m - 1, dyn[p]]
    # A singular I - E means a compartment without elimination: no steady state.
    det = np.linalg.det(lhs)
    if not (abs(det) > 0.0) or not math.isfinite(det):
        return False
    y = np.linalg.solve(lhs, rhs)
    for p in range(nd):
        tot = y[p]
        for k in range(m - 1):
            tot += phi[k, dyn[p]]
        out[dyn[p]] = tot
    return True


@jit
def _ss_constant(s, rate, a, dyn, out):
    """Steady state of a constant infusion of ``rate`` into ``s`` (linear models): writes
    -A_dd^-1 b into ``out`` at the dynamic states; False without one."""
    nd = dyn.size
    sd = -1
    add = np.zeros((nd, nd))
    bd = np.zeros(nd)
    for p in range(nd):
        if dyn[p] == s:
            sd = p
        for q in range(nd):
            add[p, q] = a[dyn[p], dyn[q]]
    if sd < 0:
        return False
    bd[sd] = rate
    det = np.linalg.det(add)
    if not (abs(det) > 0.0) or not math.isfinite(det):
        return False
    y = np.linalg.solve(add, bd)
    for p in range(nd):
        out[dyn[p]] = -y[p]
    return True


@jit_inline
def ss_converged(j, d, d_prev, scale, tol, ii, busy):
    """Whether the iteration of a steady state has converged after its ``j``-th interval:
    ``d`` is the largest change of the pre-dose state over the interval (``d_prev`` over the
    one before, -1 for none), ``scale`` the largest state; converged when the change is nil,
    or when, past the first interval free of the dose's own lag and infusion (``busy`` min),
    the geometric extrapolation of the changes still to come is below ``tol`` relative."""
    if j < 2:
        return False
    if d == 0.0:
        return True
    if d_prev > 0.0 and j * ii > busy + ii:
        ratio = d / d_prev
        return ratio < 1.0 and d * ratio / (1.0 - ratio) <= tol * max(scale, 1e-300)
    return False


@jit_inline
def ss_change(x, prev, dyn, lo, hi):
    """(largest change, largest magnitude) of ``x`` against ``prev`` over the dynamic states
    ``dyn`` and the entries ``lo:hi`` (the sensitivities, for the sensitivity kernel; an empty
    range for the walker): what :func:`ss_converged` compares from one interval to the next."""
    d = 0.0
    scale = 0.0
    for p in range(dyn.size):
        q = dyn[p]
        d = max(d, abs(x[q] - prev[q]))
        scale = max(scale, abs(x[q]))
    for q in range(lo, hi):
        d = max(d, abs(x[q] - prev[q]))
        scale = max(scale, abs(x[q]))
    return d, scale


@jit_inline
def ss_finish(x, n, dyn, fs, cnt, dt):
    """End an iterated steady state: the mass-balance accumulators (the first ``n`` entries of
    ``x`` that are not in ``dyn``) start from 0, and the running infusions' ends and the
    lagged doses' times move by ``dt``, from the iteration's clock to the record's."""
    for q in range(n):
        acc = True
        for r in range(dyn.size):
            if dyn[r] == q:
                acc = False
        if acc:
            x[q] = 0.0
    for k in range(cnt[C_INF]):
        fs[F_INF_E, k] += dt
    for k in range(cnt[C_LD]):
        fs[F_LD_T, k] += dt


@jit
def _ss_iterate(i, s, ti, iii, mode, mat, vec, dyn, x, c, e, m, time, target, amt, rate, addl,
                f, lag, mrate, mdur, fs, is_, cnt):
    """Steady state of record ``i``'s dose train (resolved in ``vec[V_DOSE]``) iterated to
    convergence from an empty body, as the single-subject walker iterates it (nonlinear models,
    SS 1): the train is given every ``iii`` min until the pre-dose state of the dynamic states
    changes by less than ``vec[V_TOL, 3]`` relative (geometric extrapolation of the remaining
    change). Leaves in ``x`` the pre-dose steady state (accumulators 0) and the train's
    infusions still running at ``ti``; returns a status (:data:`STATUS_RECORD` without
    convergence)."""
    n = x.size
    dose = vec[V_DOSE, :4]
    d_amt, d_rate, d_dur, d_lag = dose[0], dose[1], dose[2], dose[3]
    on = d_dur if d_rate > 0.0 else 0.0
    tol = vec[V_TOL, 3]
    prev = vec[V_SS, :n]
    _reset(x, cnt)
    t = 0.0
    d_prev = -1.0
    for j in range(1, SS_MAX_INTERVALS + 1):
        if not _give_again(t, s, dose, d_amt, d_rate, d_dur, d_lag, x, fs, is_, cnt):
            return STATUS_CAPACITY
        t, st = _walk(x, t, j * iii, i, mode, mat, vec, c, e, m, time, target, amt, rate, addl,
                      f, lag, mrate, mdur, fs, is_, cnt)
        if st != STATUS_OK:
            return st
        d, scale = ss_change(x, prev, dyn, 0, 0)
        done = ss_converged(j, d, d_prev, scale, tol, iii, d_lag + on)
        if j > 1:  # the first change is against no earlier pre-dose state
            d_prev = d
        if done:
            ss_finish(x, n, dyn, fs, cnt, ti - t)
            return STATUS_OK
        for p in range(dyn.size):
            prev[dyn[p]] = x[dyn[p]]
    return STATUS_RECORD


@jit
def _ss_record(i, s, ti, mode, mat, vec, dyn, x, amt, rate, ss, ii, addl, f, lag, mrate, mdur,
               fs, is_, cnt, c, e, m, time, target):
    """The steady-state part of dose record ``i`` (SS 1 or 2); returns (done, status): done
    when the record is complete (a steady-state constant infusion gives no dose after)."""
    n = x.size
    dose = vec[V_DOSE, :4]
    ssi = ss[i]
    iii = ii[i]
    if mode == MODE_MM:
        if ssi != 1 or not iii > 0.0:  # superposition and constant infusions: the walker
            return True, STATUS_RECORD
        if not _dose(i, s, amt[i], rate[i], f, lag, mrate, mdur, dose):
            return True, STATUS_RECORD
        if dose[3] >= iii:
            return True, STATUS_RECORD
        return False, _ss_iterate(i, s, ti, iii, mode, mat, vec, dyn, x, c, e, m, time, target,
                                  amt, rate, addl, f, lag, mrate, mdur, fs, is_, cnt)
    if iii == 0.0 and amt[i] == 0.0 and rate[i] > 0.0:
        if f[i, s] != 1.0 or addl[i] != 0:
            return True, STATUS_RECORD
        ssx = vec[V_SS, :n]
        if not _ss_constant(s, rate[i], mat[0], dyn, ssx):
            return True, STATUS_RECORD
        if ssi == 1:
            _reset(x, cnt)
        for p in range(dyn.size):
            x[dyn[p]] += ssx[dyn[p]]
        return True, STATUS_OK
    if not iii > 0.0:
        return True, STATUS_RECORD
    if not _dose(i, s, amt[i], rate[i], f, lag, mrate, mdur, dose):
        return True, STATUS_RECORD
    lg = dose[3]
    if lg >= iii:
        return True, STATUS_RECORD
    in_dyn = False
    for p in range(dyn.size):
        if dyn[p] == s:
            in_dyn = True
    if not in_dyn:
        return True, STATUS_RECORD
    ssx = vec[V_SS, :n]
    for k in range(n):
        ssx[k] = 0.0
    if not _steady_state(iii, s, dose, mode, mat, vec, dyn, ssx):
        return True, STATUS_RECORD
    if ssi == 1:
        _reset(x, cnt)
    for p in range(dyn.size):
        x[dyn[p]] += ssx[dyn[p]]
    # Infusions of the train still running at the record time.
    if dose[1] > 0.0:
        cap = fs.shape[1]
        k = 1
        while -k * iii + lg + dose[2] > 0.0:
            j = cnt[C_INF]
            if j == cap:
                return True, STATUS_CAPACITY
            is_[I_INF_S, j] = s
            fs[F_INF_R, j] = dose[1]
            fs[F_INF_E, j] = ti + (-k * iii + lg + dose[2])
            cnt[C_INF] = j + 1
            k += 1
    return False, STATUS_OK


@jit
def walk_subject(theta_rec, mm_rec, layout, mass_ratio, r0, r1, time, evid, amt, rate, target,
                 ss, ii, addl, f, lag, mrate, mdur, dyn, x0, out, fs, is_, cnt, mat, vec):
    """Walk the records ``r0:r1`` of one subject, writing the state after each into
    ``out[r0:r1]``, from the amounts ``x0`` at the first record's time.

    ``fs``, ``is_``, ``cnt``, ``mat`` and ``vec`` are scratch (see :func:`scratch`); the
    tolerances of the Michaelis-Menten integrator are in ``vec[V_TOL, :2]``.

    Returns
    -------
    (status, record)
        :data:`STATUS_OK`, or a status and the record (absolute row) it concerns.
    """
    st, rec, _, _ = walk_subject_built(theta_rec, mm_rec, layout, mass_ratio, r0, r1, time,
                                       evid, amt, rate, target, ss, ii, addl, f, lag, mrate,
                                       mdur, dyn, x0, out, fs, is_, cnt, mat, vec, -1, MODE_EIGEN)
    return st, rec


@jit
def walk_subject_built(theta_rec, mm_rec, layout, mass_ratio, r0, r1, time, evid, amt, rate,
                       target, ss, ii, addl, f, lag, mrate, mdur, dyn, x0, out, fs, is_, cnt, mat,
                       vec, built, mode):
    """:func:`walk_subject` with the system of row ``built`` of ``theta_rec`` already in the
    scratch ``mat``/``vec``, stepped in ``mode`` (``built`` -1: none), as a previous subject
    of the same batch left it: a subject whose parameters equal it skips the rebuild (one
    eigendecomposition per subject otherwise).

    Returns
    -------
    (status, record, built, mode)
        As :func:`walk_subject`, and the row and mode of the system left in the scratch.
    """
    n = out.shape[1]
    a = mat[0]
    x = vec[V_X, :n]
    dose = vec[V_DOSE, :4]
    for k in range(n):
        x[k] = x0[k]
    kas = np.zeros(0)
    c = layout[L_CENTRAL]
    e = layout[L_ELIM]
    m = layout[L_METAB]
    cnt[C_INF] = 0
    cnt[C_LD] = 0
    cnt[C_TR] = 0
    vec[V_TOL, 2] = 0.0  # no step size yet
    t = time[r0] if r1 > r0 else 0.0
    cur = r0
    for i in range(r0, r1):
        # The system in force on the way to record i (rebuilt only when the parameters change).
        same = built >= 0
        if same:
            for p in range(theta_rec.shape[1]):
                if theta_rec[i, p] != theta_rec[built, p]:
                    same = False
                    break
        if not same:
            _fill_system(theta_rec[i], layout, mass_ratio, kas, a)
            if mm_rec[i, 0] > 0.0:
                mode = MODE_MM
                for k in range(4):
                    vec[V_MM, k] = mm_rec[i, k]
            elif _decompose(a, vec[V_LAM, :n], mat[1], mat[2]):
                mode = MODE_EIGEN
            else:
                mode = MODE_EXPM
            built = i
        ti = time[i]
        ev = evid[i]
        if ti < t:
            if ev != 3 and ev != 4:
                return STATUS_RECORD, i, built, mode
            _reset(x, cnt)
            t = ti
        elif cnt[C_INF] == 0 and cnt[C_LD] == 0 and cnt[C_TR] == 0:
            # Nothing scheduled: one free step (the common case; the general advance costs
            # far more than a step).
            b = vec[V_B, :n]
            for k in range(n):
                b[k] = 0.0
            if not _step(x, b, ti - t, mode, mat, vec, c, e, m):
                return STATUS_RECORD, i, built, mode
            t = max(t, ti)
        else:
            t, st = _walk(x, t, ti, cur, mode, mat, vec, c, e, m, time, target, amt, rate,
                          addl, f, lag, mrate, mdur, fs, is_, cnt)
            if st != STATUS_OK:
                return st, i, built, mode
        cur = i
        if ev == 3 or ev == 4:
            _reset(x, cnt)
        if ev == 1 or ev == 4:
            s = target[i]
            if ss[i] == 1 or ss[i] == 2:
                done, st = _ss_record(i, s, ti, mode, mat, vec, dyn, x, amt, rate, ss, ii, addl,
                                      f, lag, mrate, mdur, fs, is_, cnt, c, e, m, time, target)
                if st != STATUS_OK:
                    return st, i, built, mode
                if done:
                    for k in range(n):
                        out[i, k] = x[k]
                    continue
            if not _dose(i, s, amt[i], rate[i], f, lag, mrate, mdur, dose):
                return STATUS_RECORD, i, built, mode
            if not _give(ti, s, dose, x, fs, is_, cnt):
                return STATUS_CAPACITY, i, built, mode
            if addl[i] > 0:
                if not ii[i] > 0.0:
                    return STATUS_RECORD, i, built, mode
                j = cnt[C_TR]
                if j == fs.shape[1]:
                    return STATUS_CAPACITY, i, built, mode
                fs[F_TR_T, j] = ti + ii[i]
                fs[F_TR_II, j] = ii[i]
                is_[I_TR_LEFT, j] = addl[i]
                is_[I_TR_REC, j] = i
                cnt[C_TR] = j + 1
        for k in range(n):
            out[i, k] = x[k]
    return STATUS_OK, -1, built, mode


@jit
def scratch(n, cap, rtol, atol):
    """Scratch of :func:`walk_subject` for ``n`` states and ``cap`` scheduled items of each
    kind: (fs, is_, cnt, mat, vec)."""
    vec = np.zeros((N_VEC, max(n, 4)))
    vec[V_TOL, 0] = rtol
    vec[V_TOL, 1] = atol
    vec[V_TOL, 3] = DEFAULT_SS_TOL
    return (np.zeros((8, cap)), np.zeros((4, cap), dtype=np.int64),
            np.zeros(3, dtype=np.int64), np.zeros((3, n, n)), vec)


@jit_parallel
def walk_batch(theta_rec, mm_rec, layout, mass_ratio, start, time, evid, amt, rate, target, ss,
               ii, addl, f, lag, mrate, mdur, dyn, x0, out, status, status_record, cap, rtol,
               atol, ss_tol=DEFAULT_SS_TOL):
    """Every subject of a batch, in parallel.

    Parameters
    ----------
    theta_rec : float64[:, :]
        Parameters in force at each record (canonical units), shape (n_records, n_params).
    mm_rec : float64[:, :]
        Michaelis-Menten values per record (VMAX mg/min, KM mg/L, V1 L, metabolite mass per
        mg), shape (n_records, 4); VMAX 0 for a linear model.
    start : int64[:]
        Subject ``i`` owns records ``start[i]:start[i + 1]``, shape (n_subjects + 1,).
    time, amt, rate, ii : float64[:]
        Per record: time (min), amount (mg), rate (mg/min; -1, -2 modelled), interval (min).
    evid, target, ss, addl : int64[:]
        Per record: EVID, receiving state, SS, ADDL.
    f, lag, mrate, mdur : float64[:, :]
        Per record and state: bioavailability, lag (min), modelled rate (mg/min) and duration
        (min), shape (n_records, n_states).
    dyn : int64[:]
        States that are not mass-balance accumulators (the steady states are theirs).
    x0 : float64[:, :]
        Amounts at each subject's first record, shape (n_subjects, n_states).
    out : float64[:, :]
        State after each record, shape (n_records, n_states).
    status, status_record : int64[:]
        Per subject: :data:`STATUS_OK`, :data:`STATUS_RECORD` or :data:`STATUS_CAPACITY`, and
        the record concerned.
    cap : int
        Simultaneous infusions, lagged doses and additional-dose trains each subject may hold.
    rtol, atol : float
        Tolerances of the Michaelis-Menten integrator (relative; absolute in mg).
    ss_tol : float
        Relative tolerance of an iterated (Michaelis-Menten) steady state.

    Each subject writes only its own rows, so results do not depend on the number of threads or
    on how subjects are batched.
    """
    n_sub = start.size - 1
    n = out.shape[1]
    n_blocks = (n_sub + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        fs, is_, cnt, mat, vec = scratch(n, cap, rtol, atol)
        vec[V_TOL, 3] = ss_tol
        built = -1
        mode = MODE_EIGEN
        for i in range(blk * BLOCK, min(n_sub, (blk + 1) * BLOCK)):
            st, rec, built, mode = walk_subject_built(
                theta_rec, mm_rec, layout, mass_ratio, start[i], start[i + 1], time, evid, amt,
                rate, target, ss, ii, addl, f, lag, mrate, mdur, dyn, x0[i], out, fs, is_, cnt,
                mat, vec, built, mode)
            status[i] = st
            status_record[i] = rec
