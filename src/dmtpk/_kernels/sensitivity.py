r"""Forward sensitivities of the compiled record walker: states and their derivatives with
respect to the random effects, for a batch of subjects with Michaelis-Menten elimination.

The state :math:`x` (n amounts) and its sensitivities :math:`S_k = \partial x/\partial\eta_k`
(k = 1..p) are integrated together, the augmented system

.. math::

   \dot x = A(\theta)\,x + b - \phi(x_c)\,u, \qquad
   \dot S_k = A\,S_k + \frac{\partial A}{\partial\eta_k}\,x
              - \Big(\frac{\partial\phi}{\partial x_c} S_{k,c}
                     + \frac{\partial\phi}{\partial\eta_k}\Big)u
              + \phi\,\frac{\partial u}{\partial\eta_k},

with :math:`\phi = V_{max} C/(K_M + C)`, :math:`C = x_c/V_1`, the Michaelis-Menten flux of
:mod:`dmtpk._kernels.elimination` (and its derivative :func:`mm_dflux_dc` there: with
:math:`\phi' = \partial\phi/\partial C`, :math:`\partial\phi/\partial V_{max} =`
``mm_flux(C, 1, KM)``, :math:`\partial\phi/\partial K_M = -\phi' C/K_M`,
:math:`\partial C/\partial V_1 = -C/V_1`), and :math:`u` the unit flux vector (out of central,
into ``eliminated`` and, times the metabolite mass per mg, into the metabolite). Each random
effect moves one parameter, :math:`\partial\theta/\partial\eta_k = w_k` at its position, given
per record by the caller (so covariate factors and parameters replaced from the data are the
caller's business). :math:`\partial A/\partial\theta` is the complex-step derivative of
:func:`~dmtpk._kernels.system.fill_system` (its one home, compiled for complex parameters:
exact to rounding, no difference step).

The augmented system is stepped with the Dormand-Prince 5(4) pair of
:mod:`dmtpk._kernels.stepping` (its stage states ``dp_y2`` ... ``dp_y7`` and error estimate
``dp_error``, :func:`error_norm` and :func:`step_factor`, as the record walker), the
error controlled on the states *and* the sensitivities (one RMS norm over all components, each
scaled by ``atol + rtol max(|y0|, |y1|)``; a sensitivity is an amount per unit η, on the scale
of the amounts), so the sensitivities are as accurate as the states. Only the dynamic states
carry sensitivities: the mass-balance accumulators (``eliminated``) feed nothing back, so no
prediction depends on theirs (n + p n_dyn components in all).
Steps end at every record and every scheduled event (the end of an infusion, a lagged dose, an
additional dose).

Records are handled as the record walker does (:mod:`dmtpk._kernels.records`; the dose and
schedule helpers of :mod:`dmtpk._kernels.schedule`, ``_dose``, ``_give``, ``_input`` and
``_reset``, are the walker's): EVID 0-4, bolus and infusion doses (RATE > 0, -1, -2) resolved by
:func:`dmtpk._kernels.dosing.resolve_dose`, lags, ADDL trains, resets, parameters changing
from record to record, steady-state doses (SS 1, iterated as the walker iterates them for a
nonlinear model, the sensitivities converging with the states: :func:`_steady_state`). Doses
whose amount, duration or time depend on a random effect (F or a lag carrying one) are not
differentiated here: the caller refuses such a problem. Records the walker refuses too (SS 2
and steady-state constant infusions of a nonlinear model among them) and records with no
defined answer give the subject :data:`STATUS_RECORD` (the caller names the record), a segment needing more than :data:`~dmtpk._kernels.records.MAX_STEPS`
steps :data:`STATUS_STIFF`, a steady state that does not exist at the subject's parameters
:data:`STATUS_NO_STEADY`.

Second derivatives (:math:`\partial S_k/\partial\eta_l`, what FOCE-I's outer gradient and the
individual fits' Hessian need) come from the same kernel run with complex parameters, the
complex step :math:`\theta + ih\,\partial\theta/\partial\eta_l` (and
:math:`\partial\theta/\partial\eta_k` moved by :math:`ih\,\partial^2\theta/\partial\eta_k
\partial\eta_l`), ``second=True``: the step control reads only the real parts, so the run takes
the real run's steps and the imaginary parts over h are the derivatives of that discrete
solution, to rounding, with no difference step through the integrator. dA/dθ is then a central
difference of the algebraic ``fill_system`` (:func:`_build_second`).

All times are minutes, amounts mg and rates mg/min.
"""

from __future__ import annotations

import numpy as np

from .config import jit, jit_inline, jit_parallel, prange
from .jitted import fill_system as _fill_system
from .jitted import mm_dflux_dc as _mm_dflux_dc
from .jitted import mm_flux as _mm_flux
from .records import (BLOCK, DEFAULT_SS_TOL, MAX_STEPS, SS_MAX_INTERVALS, STATUS_CAPACITY,
                      STATUS_OK, STATUS_RECORD, scratch, ss_change, ss_converged,
                      ss_finish)
from .schedule import (C_INF, C_LD, C_TR, DUE_OK, DUE_RECORD, F_TR_II, F_TR_T, I_TR_LEFT, I_TR_REC,
                       _dose, _give, _give_again, _give_due, _input, _next_due, _reset)
from .stepping import (dp_error, dp_y2, dp_y3, dp_y4, dp_y5, dp_y6, dp_y7, error_norm,
                       step_factor)
from .system import L_CENTRAL, L_ELIM, L_METAB

__all__ = ["sensitivity_batch", "STATUS_OK", "STATUS_RECORD", "STATUS_CAPACITY",
           "STATUS_STIFF", "STATUS_NO_STEADY"]

#: The integrator gave up: more than MAX_STEPS steps in one segment (a stiff system).
STATUS_STIFF = 3
#: A steady-state dose whose train has no steady state at these parameters (the iteration did
#: not converge within SS_MAX_INTERVALS intervals: a dose rate the elimination cannot match).
STATUS_NO_STEADY = 4

#: Complex step of the derivative of the system matrix (any tiny number: no cancellation).
_H = 1e-20
#: Relative step of the central differences of the system matrix in the second-derivative run.
_DELTA = 1e-5


@jit
def _build(theta, w, pos, layout, mass_ratio, a, da, ct, ca):
    """``a`` = A(theta) and ``da[k]`` = dA/dη_k = w[k] dA/dθ_pos[k] (complex step)."""
    kas = np.zeros(0)
    _fill_system(theta, layout, mass_ratio, kas, a)
    n = a.shape[0]
    for k in range(pos.size):
        for q in range(theta.size):
            ct[q] = theta[q]
        ct[pos[k]] = theta[pos[k]] + 1j * _H
        _fill_system(ct, layout, mass_ratio, kas, ca)
        for i in range(n):
            for j in range(n):
                da[k, i, j] = ca[i, j].imag / _H * w[k]


@jit
def _build_second(theta, w, pos, layout, mass_ratio, a, da, cg, cp, cm):
    """As :func:`_build` for complex parameters ``theta`` + i h dθ/dη_l (the second-derivative
    run, module docstring): ``a`` = A(theta), and dA/dθ by central differences of
    :func:`~dmtpk._kernels.system.fill_system` (relative step :data:`_DELTA`; A is algebraic in
    θ, so the difference carries only its truncation, about 1e-10 relative), taken at the
    complex point so that its imaginary part is h d²A/dθ dη_l."""
    kas = np.zeros(0)
    _fill_system(theta, layout, mass_ratio, kas, a)
    n = a.shape[0]
    for k in range(pos.size):
        q = pos[k]
        d = _DELTA * max(abs(theta[q].real), 1e-300)
        for r in range(theta.size):
            cg[r] = theta[r]
        cg[q] = theta[q] + d
        _fill_system(cg, layout, mass_ratio, kas, cp)
        cg[q] = theta[q] - d
        _fill_system(cg, layout, mass_ratio, kas, cm)
        for i in range(n):
            for j in range(n):
                da[k, i, j] = (cp[i, j] - cm[i, j]) / (2.0 * d) * w[k]


@jit_inline
def _rhs(y, n, dyn, a, da, b, mm, dmm, c, e, m, cd, md, out):
    """Right-hand side of the augmented system (module docstring) at ``y`` = (x, S_1, ...):
    the n states, then the sensitivities of the dynamic states ``dyn`` only (the mass-balance
    accumulators feed nothing back, so nothing depends on theirs); ``cd``, ``md`` are the
    positions of the central and metabolite states in ``dyn`` (-1 when absent)."""
    p = da.shape[0]
    nd = dyn.size
    for i in range(n):
        s = b[i]
        for j in range(n):
            s += a[i, j] * y[j]
        out[i] = s
    vmax, km, v1, mr = mm[0], mm[1], mm[2], mm[3]
    zero = 0.0 * y[c]  # of y's type (real, or complex in the second-derivative run)
    flux = zero
    dfc = zero
    conc = zero
    on = vmax.real > 0.0
    if on and y[c].real > 0.0:
        conc = y[c] / v1
        flux = _mm_flux(conc, vmax, km)
        dfc = _mm_dflux_dc(conc, vmax, km)
    out[c] -= flux
    if e >= 0:
        out[e] += flux
    if m >= 0:
        out[m] += mr * flux
    for k in range(p):
        o = n + nd * k
        for ii in range(nd):
            i = dyn[ii]
            s = 0.0
            for jj in range(nd):
                j = dyn[jj]
                s += a[i, j] * y[o + jj] + da[k, i, j] * y[j]
            out[o + ii] = s
        if on:
            dconc = y[o + cd] / v1 - conc * dmm[k, 2] / v1
            dflux = dfc * (dconc - conc * dmm[k, 1] / km) + _mm_flux(conc, 1.0, km) * dmm[k, 0]
            out[o + cd] -= dflux
            if md >= 0:
                out[o + md] += mr * dflux + dmm[k, 3] * flux


@jit
def _dopri5(y, n, dyn, b, dt, a, da, mm, dmm, c, e, m, cd, md, k, hk, rtol, atol):
    """Advance the augmented state ``y`` (in place) by ``dt``; ``k`` is stage scratch
    (9, y.size), ``hk[0]`` the last step size (0: none yet). False after MAX_STEPS steps."""
    nn = y.size
    k1, k2, k3, k4, k5, k6, k7, z, y1 = k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], k[8]
    h = hk[0]
    if not h > 0.0:
        h = dt
    t = 0.0
    _rhs(y, n, dyn, a, da, b, mm, dmm, c, e, m, cd, md, k1)
    for _ in range(MAX_STEPS):
        last = False
        if t + h >= dt:
            h = dt - t
            last = True
        for i in range(nn):
            z[i] = dp_y2(y[i], h, k1[i])
        _rhs(z, n, dyn, a, da, b, mm, dmm, c, e, m, cd, md, k2)
        for i in range(nn):
            z[i] = dp_y3(y[i], h, k1[i], k2[i])
        _rhs(z, n, dyn, a, da, b, mm, dmm, c, e, m, cd, md, k3)
        for i in range(nn):
            z[i] = dp_y4(y[i], h, k1[i], k2[i], k3[i])
        _rhs(z, n, dyn, a, da, b, mm, dmm, c, e, m, cd, md, k4)
        for i in range(nn):
            z[i] = dp_y5(y[i], h, k1[i], k2[i], k3[i], k4[i])
        _rhs(z, n, dyn, a, da, b, mm, dmm, c, e, m, cd, md, k5)
        for i in range(nn):
            z[i] = dp_y6(y[i], h, k1[i], k2[i], k3[i], k4[i], k5[i])
        _rhs(z, n, dyn, a, da, b, mm, dmm, c, e, m, cd, md, k6)
        for i in range(nn):
            y1[i] = dp_y7(y[i], h, k1[i], k3[i], k4[i], k5[i], k6[i])
        _rhs(y1, n, dyn, a, da, b, mm, dmm, c, e, m, cd, md, k7)
        for i in range(nn):
            z[i] = dp_error(h, k1[i], k3[i], k4[i], k5[i], k6[i], k7[i])
        # Step control on the real parts: the second-derivative run takes the real run's
        # steps, so its imaginary parts are derivatives of the same discrete solution.
        err = error_norm(z.real, y.real, y1.real, rtol, atol)
        if err <= 1.0:
            t += h
            for i in range(nn):
                y[i] = y1[i]
                k1[i] = k7[i]
            fac = step_factor(err, 0.2)
            if last:
                if fac * h > hk[0] or not hk[0] > 0.0:
                    hk[0] = h * fac
                return True
            hk[0] = h * fac
            h *= fac
        else:
            h *= step_factor(err, 0.2)
    return False


@jit
def _advance(y, n, dyn, t, t_to, cur, a, da, mm, dmm, c, e, m, cd, md, k, hk, rtol, atol, b,
             dose, time, target, amt, rate, addl, f, lag, mrate, mdur, fs, is_, cnt):
    """Advance from ``t`` to ``t_to`` through the scheduled events due on the way (ends of
    infusions, lagged doses, additional doses: the record walker's schedule); returns
    (t, status)."""
    while True:
        t_next = _next_due(fs, cnt)
        if t_next > t_to:
            break
        t_next = max(t_next, t)
        _input(fs, is_, cnt, b)
        if t_next > t and not _dopri5(y, n, dyn, b, t_next - t, a, da, mm, dmm, c, e, m, cd,
                                      md, k, hk, rtol, atol):
            return t, STATUS_STIFF
        t = t_next
        due = _give_due(t, y, cur, time, target, amt, rate, addl, f, lag, mrate, mdur, dose, fs,
                        is_, cnt)
        if due != DUE_OK:
            return t, (STATUS_RECORD if due == DUE_RECORD else STATUS_CAPACITY)
    if t_to > t:
        _input(fs, is_, cnt, b)
        if not _dopri5(y, n, dyn, b, t_to - t, a, da, mm, dmm, c, e, m, cd, md, k, hk, rtol,
                       atol):
            return t, STATUS_STIFF
        t = t_to
    return t, STATUS_OK


@jit
def _steady_state(i, s, ti, y, prev, n, dyn, a, da, mm, dmm, c, e, m, cd, md, k, hk, rtol,
                  atol, b, dose, time, target, amt, rate, ss, ii, addl, f, lag, mrate, mdur, fs,
                  is_, cnt):
    """Pre-dose steady state of record ``i``'s dose train and its sensitivities (SS 1), as the
    record walker iterates it for a nonlinear model (:func:`dmtpk._kernels.records._ss_iterate`):
    from empty compartments the train is given every II until the change of the pre-dose
    states *and sensitivities* over an interval, extrapolated geometrically, is below
    :data:`~dmtpk._kernels.records.DEFAULT_SS_TOL` relative. The iterates' sensitivities are
    those of the states after j doses, which converge with them to the steady state's (the
    map from one pre-dose state to the next is a contraction near it). Leaves in ``y`` the
    steady state (accumulators 0) and the train's infusions and lagged doses still due at
    ``ti``; returns a status (:data:`STATUS_RECORD` for a record the walker refuses too: SS 2,
    no II, a lag of II or more; :data:`STATUS_NO_STEADY` without convergence)."""
    iii = ii[i]
    if ss[i] != 1 or not iii > 0.0:
        return STATUS_RECORD
    if not _dose(i, s, amt[i], rate[i], f, lag, mrate, mdur, dose):
        return STATUS_RECORD
    d_amt, d_rate, d_dur, d_lag = dose[0], dose[1], dose[2], dose[3]
    if d_lag >= iii:
        return STATUS_RECORD
    if mm[0].real > 0.0 and d_amt >= mm[0].real * iii:
        # The Michaelis-Menten flux, the parent's only elimination, stays below VMAX: a dose
        # rate of VMAX or more accumulates without bound (no need to iterate to find out).
        return STATUS_NO_STEADY
    on = d_dur if d_rate > 0.0 else 0.0
    nd = dyn.size
    p = da.shape[0]
    _reset(y, cnt)
    t = 0.0
    d_prev = -1.0
    for j in range(1, SS_MAX_INTERVALS + 1):
        if not _give_again(t, s, dose, d_amt, d_rate, d_dur, d_lag, y, fs, is_, cnt):
            return STATUS_CAPACITY
        t, st = _advance(y, n, dyn, t, j * iii, i, a, da, mm, dmm, c, e, m, cd, md, k, hk, rtol,
                         atol, b, dose, time, target, amt, rate, addl, f, lag, mrate, mdur, fs,
                         is_, cnt)
        if st != STATUS_OK:
            return st
        d, scale = ss_change(y, prev, dyn, n, n + p * nd)
        done = ss_converged(j, d, d_prev, scale, DEFAULT_SS_TOL, iii, d_lag + on)
        if j > 1:  # the first change is against no earlier pre-dose state
            d_prev = d
        if done:
            ss_finish(y, n, dyn, fs, cnt, ti - t)
            return STATUS_OK
        for q in range(y.size):
            prev[q] = y[q]
    return STATUS_NO_STEADY


@jit
def _subject(theta_rec, w, pos, mm_rec, dmm_rec, layout, mass_ratio, dyn, r0, r1, time, evid,
             amt, rate, target, ss, ii, addl, f, lag, mrate, mdur, x_out, s_out, fs, is_, cnt,
             rtol, atol, second):
    """Walk the records ``r0:r1`` of one subject from empty compartments, writing the state
    and its sensitivities after each record (zero for the accumulators, which are not
    integrated); returns (status, record). The state arrays take the type of ``theta_rec``
    (complex in the second-derivative run, ``second``)."""
    n = x_out.shape[1]
    p = pos.size
    nd = dyn.size
    dt = theta_rec.dtype
    y = np.zeros(n + p * nd, dtype=dt)
    prev = np.zeros(y.size, dtype=dt)
    a = np.zeros((n, n), dtype=dt)
    da = np.zeros((p, n, n), dtype=dt)
    ct = np.zeros(theta_rec.shape[1], dtype=np.complex128)
    ca = np.zeros((n, n), dtype=np.complex128)
    cg = np.zeros(theta_rec.shape[1], dtype=dt)
    cp = np.zeros((n, n), dtype=dt)
    cm = np.zeros((n, n), dtype=dt)
    mm = np.zeros(4, dtype=dt)
    dmm = np.zeros((p, 4), dtype=dt)
    b = np.zeros(n)
    dose = np.zeros(4)
    k = np.zeros((9, y.size), dtype=dt)
    hk = np.zeros(1)
    c = layout[L_CENTRAL]
    e = layout[L_ELIM]
    m = layout[L_METAB]
    cd = -1
    md = -1
    for q in range(nd):
        if dyn[q] == c:
            cd = q
        if dyn[q] == m:
            md = q
    cnt[C_INF] = 0
    cnt[C_LD] = 0
    cnt[C_TR] = 0
    built = -1
    t = time[r0] if r1 > r0 else 0.0
    cur = r0
    for i in range(r0, r1):
        same = built >= 0
        if same:
            for q in range(theta_rec.shape[1]):
                if theta_rec[i, q] != theta_rec[built, q]:
                    same = False
                    break
            for q in range(p):
                if w[i, q] != w[built, q]:
                    same = False
                    break
        if not same:
            if second:
                _build_second(theta_rec[i], w[i], pos, layout, mass_ratio, a, da, cg, cp, cm)
            else:
                _build(theta_rec[i], w[i], pos, layout, mass_ratio, a, da, ct, ca)
            for q in range(4):
                mm[q] = mm_rec[i, q]
                for kk in range(p):
                    dmm[kk, q] = dmm_rec[i, kk, q]
            built = i
        ti = time[i]
        ev = evid[i]
        if ti < t:
            if ev != 3 and ev != 4:
                return STATUS_RECORD, i
            _reset(y, cnt)
            t = ti
        else:
            t, st = _advance(y, n, dyn, t, ti, cur, a, da, mm, dmm, c, e, m, cd, md, k, hk, rtol,
                             atol, b, dose, time, target, amt, rate, addl, f, lag, mrate, mdur,
                             fs, is_, cnt)
            if st != STATUS_OK:
                return st, i
        cur = i
        if ev == 3 or ev == 4:
            _reset(y, cnt)
        if ev == 1 or ev == 4:
            s = target[i]
            if ss[i] != 0:
                st = _steady_state(i, s, ti, y, prev, n, dyn, a, da, mm, dmm, c, e, m, cd, md,
                                   k, hk, rtol, atol, b, dose, time, target, amt, rate, ss, ii,
                                   addl, f, lag, mrate, mdur, fs, is_, cnt)
                if st != STATUS_OK:
                    return st, i
            if not _dose(i, s, amt[i], rate[i], f, lag, mrate, mdur, dose):
                return STATUS_RECORD, i
            if not _give(ti, s, dose, y, fs, is_, cnt):
                return STATUS_CAPACITY, i
            if addl[i] > 0:
                if not ii[i] > 0.0:
                    return STATUS_RECORD, i
                j = cnt[C_TR]
                if j == fs.shape[1]:
                    return STATUS_CAPACITY, i
                fs[F_TR_T, j] = ti + ii[i]
                fs[F_TR_II, j] = ii[i]
                is_[I_TR_LEFT, j] = addl[i]
                is_[I_TR_REC, j] = i
                cnt[C_TR] = j + 1
        for q in range(n):
            x_out[i, q] = y[q]
        for kk in range(p):
            for q in range(nd):
                s_out[i, kk, dyn[q]] = y[n + nd * kk + q]
    return STATUS_OK, -1


@jit_parallel
def sensitivity_batch(theta_rec, w, pos, mm_rec, dmm_rec, layout, mass_ratio, dyn, first,
                      last, time, evid, amt, rate, target, ss, ii, addl, f, lag, mrate, mdur, x_out,
                      s_out, status, status_record, cap, rtol, atol, second=False):
    """States and sensitivities after every record of every subject of a batch, in parallel.

    Parameters
    ----------
    theta_rec : float64[:, :]
        Parameters in force at each record (canonical units), shape (n_records, n_params).
    w : float64[:, :]
        dθ[pos[k]]/dη_k at each record, shape (n_records, p).
    pos : int64[:]
        Position in theta of the parameter each random effect moves, shape (p,).
    mm_rec : float64[:, :]
        Michaelis-Menten values per record (VMAX mg/min, KM mg/L, V1 L, metabolite mass per
        mg; VMAX 0 for a linear model), shape (n_records, 4).
    dmm_rec : float64[:, :, :]
        Their derivatives with respect to each η, shape (n_records, p, 4).
    layout, mass_ratio
        The model's (:func:`~dmtpk._kernels.system.fill_system`).
    dyn : int64[:]
        States that are not mass-balance accumulators: only theirs have sensitivities
        (the accumulators' stay 0 in ``s_out``).
    first, last : int64[:]
        Subject ``i`` owns records ``first[i]:last[i]`` (a batch may walk any subset of the
        subjects of the record arrays).
    time, evid, amt, rate, target, ss, ii, addl, f, lag, mrate, mdur
        The records, as :func:`dmtpk._kernels.records.walk_batch` takes them.
    x_out : float64[:, :]
        State after each record (mg), shape (n_records, n_states).
    s_out : float64[:, :, :]
        Its derivatives with respect to each η, shape (n_records, p, n_states).
    status, status_record : int64[:]
        Per subject: STATUS_OK, STATUS_RECORD, STATUS_CAPACITY or STATUS_STIFF, and the record
        concerned.
    cap : int
        Simultaneous infusions, lagged doses and additional-dose trains per subject.
    rtol, atol : float
        Tolerances of the error control on states and sensitivities (relative; mg).
    second : bool
        The second-derivative run: ``theta_rec``, ``w``, ``mm_rec``, ``dmm_rec``, ``x_out`` and
        ``s_out`` complex, the parameters moved by i h along one random effect (module
        docstring); False for the real run.
    """
    n_sub = first.size
    n = x_out.shape[1]
    n_blocks = (n_sub + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        fs, is_, cnt, _, _ = scratch(n, cap, rtol, atol)
        for i in range(blk * BLOCK, min(n_sub, (blk + 1) * BLOCK)):
            st, rec = _subject(theta_rec, w, pos, mm_rec, dmm_rec, layout, mass_ratio, dyn,
                               first[i], last[i], time, evid, amt, rate, target, ss, ii,
                               addl, f, lag, mrate, mdur, x_out, s_out, fs, is_, cnt, rtol,
                               atol, second)
            status[i] = st
            status_record[i] = rec
