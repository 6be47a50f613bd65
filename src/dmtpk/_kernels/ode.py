r"""Compiled adaptive integrator for nonlinear models (Michaelis–Menten elimination).

Each subject's system :math:`\dot x = A(\theta)x + b(t) - f_{MM}(x)` is integrated from event to
event (doses are jumps, infusion rates change only at breaks, so no step ever crosses an event)
with the Dormand–Prince 5(4) pair and its 4th-order dense output (Hairer, Nørsett & Wanner,
*Solving ODEs I*, 2nd ed., sect. II.5-6; the tableau of their DOPRI5 code, from
:mod:`dmtpk._kernels.stepping`). Absorption depots
are linear and feed only the central compartment, so between events they are solved in closed
form and enter the integrated system as a known input :math:`k_a x_d(t)`: fast absorption
(KA = 100 /min) is then neither stiff nor a limit on the step size, and the step size follows
the disposition alone (on the benchmark's inhaled workload 98 steps per subject instead of 171
at rtol 1e-7).

Subjects run side by side in lanes of :data:`LANES`: each lane keeps its own dosing segments
(lags may differ), time, step size, acceptance and outputs, while the stages, right-hand sides
and error norms are loops across the lanes, which the compiler vectorises. With two threads
this runs W3 at about three times the speed of one subject at a time (189k against 57-64k
subjects/s, interleaved runs), which scales poorly across threads. A lone subject is a group of
its own in the same code, so a subject's result is the same to the bit whatever its neighbours.

A stiffness detector (the same book, sect. IV.2: :math:`h\rho > 3.25` on 15 accepted steps,
:math:`\rho` estimated from the last two stages) hands the rest of a lane's segment to the
L-stable second-order Rosenbrock method ROS2 (:mod:`dmtpk._kernels.ros2`), run for that subject
alone, with the depots back in the integrated state and a Jacobian built from :math:`A` and the
Michaelis–Menten derivative. The flux is :mod:`dmtpk._kernels.elimination`'s, the PD forms
:mod:`dmtpk._kernels.pd`'s.

Status codes instead of exceptions: 0 ok, 3 step size underflow, 4 too many steps, 2 invalid
parameters. The failing time is written to ``fail_time``.
"""

from __future__ import annotations

import math

import numpy as np

from .config import jit, jit_inline, jit_parallel, jit_vector, jit_vector_inline, prange
from .jitted import fill_system, mm_flux_amount
from .dosing import DOSE_OK
from .jitted import resolve_dose, table_record
from .linear import (BLOCK, EP_CODE, EP_SIGN, EP_STATE, STATUS_BAD_PARAMETER, endpoint_pd,
                     pd_curve)
from .ros2 import (MAX_STEPS, STATUS_OK, STATUS_STEP_UNDERFLOW, STATUS_TOO_MANY_STEPS,
                   segment_stiff)
from .stepping import (D1, D3, D4, D5, D6, D7, FAC_MAX, FAC_MIN, SAFETY, dp_error, dp_y2,
                       dp_y3, dp_y4, dp_y5, dp_y6, dp_y7)
from .system import L_CENTRAL, L_DEPOT, L_ELIM, L_METAB, L_NSTATES, P_FM, P_KA, P_MV, P_V1

#: First step of each segment (min).
H_START = 0.05
# Columns of the depot array (one row per depot): state index, KA (1/min), amount at the start
# of the segment (mg), and the amount R/KA (mg) its zero-order input R during the segment
# would hold at steady state.
D_STATE, D_KA, D_X0, D_SS = range(4)


@jit_inline
def _depot_amount(dep, ll, j, tau):
    """Amount (mg) in depot j of lane ``ll`` a time ``tau`` after the segment start:
    x0 e^(-ka tau) plus the zero-order input R (mg/min) as R/ka (1 - e^(-ka tau)), exact for a
    segment without events. ``dep`` has shape (lanes, depots, 4)."""
    ss = dep[ll, j, D_SS]
    return ss + (dep[ll, j, D_X0] - ss) * math.exp(-dep[ll, j, D_KA] * tau)


@jit_inline
def _set_depots(dep, ll, n_dep, tau, y, col):
    """Write lane ``ll``'s closed-form depot amounts a time ``tau`` into the segment into
    column ``col`` of ``y`` (n, columns)."""
    for j in range(n_dep):
        y[np.int64(dep[ll, j, D_STATE]), col] = _depot_amount(dep, ll, j, tau)


#: Subjects integrated side by side: each keeps its own time and step size, and every stage
#: runs as one loop over them. The compiler vectorises these loops only from 16 lanes on (it
#: leaves loops with fewer, known, iterations scalar when their arrays might overlap); W3 with
#: two threads ran at 133k subjects/s with 8 lanes, 151k with 16, 168k with 32, 178k with 64
#: and 189k with 128 (interleaved runs). A block of BLOCK subjects holds whole groups.
LANES = 128


@jit_vector_inline
def _rhs_lanes(x, ab, nz_i, nz_j, nzv, nnz, b, vmax, kmv1, fm_mass, c, e, m, has_mm, out):
    """Right-hand side A x + b + absorption ``ab`` minus the Michaelis-Menten flux
    (:func:`~dmtpk._kernels.elimination.mm_flux_amount`; ``kmv1`` is KM V1 per lane) of every
    lane (the columns of ``x``, (n, lanes)); each lane's arithmetic is its own, so its result
    does not depend on its neighbours."""
    n = x.shape[0]
    for i in range(n):
        for ll in range(LANES):
            out[i, ll] = b[i, ll]
    for ll in range(LANES):
        out[c, ll] += ab[ll]
    for k in range(nnz):
        i = nz_i[k]
        j = nz_j[k]
        for ll in range(LANES):
            out[i, ll] += nzv[k, ll] * x[j, ll]
    if has_mm:
        for ll in range(LANES):
            flux = mm_flux_amount(x[c, ll], vmax[ll], kmv1[ll])  # one division
            out[c, ll] -= flux
            out[e, ll] += flux
            if m >= 0:
                out[m, ll] += fm_mass[ll] * flux


@jit_vector_inline
def _absorption_lanes(dep, n_dep, t, hu, t0, ab):
    """Absorption flux (mg/min) into the central compartment of every lane at the times
    t + c h of the step's stages, c = 0, 1/5, 3/10, 4/5, 8/9 and 1 (rows of ``ab``,
    (6, LANES)): the sum over the lane's depots of KA times :func:`_depot_amount`. The stage
    fractions are multiples of 1/90, so each depot needs two exps, e^(-KA (t - t0)) and
    q = e^(-KA h / 90), and products of powers of q (relative error about 1e-15) instead of one
    exp per stage."""
    for r in range(6):
        for ll in range(LANES):
            ab[r, ll] = 0.0
    for j in range(n_dep):
        for ll in range(LANES):
            ka = dep[ll, j, D_KA]
            ss = dep[ll, j, D_SS]
            d0 = (dep[ll, j, D_X0] - ss) * math.exp(-ka * (t[ll] - t0[ll]))
            q = math.exp(-ka * hu[ll] / 90.0)
            q2 = q * q
            q8 = (q2 * q2) * (q2 * q2)
            q16 = q8 * q8
            q64 = (q16 * q16) * (q16 * q16)
            p18 = q16 * q2
            p80 = q64 * q16
            ab[0, ll] += ka * (ss + d0)
            ab[1, ll] += ka * (ss + d0 * p18)
            ab[2, ll] += ka * (ss + d0 * (p18 * q8 * q))
            ab[3, ll] += ka * (ss + d0 * (q64 * q8))
            ab[4, ll] += ka * (ss + d0 * p80)
            ab[5, ll] += ka * (ss + d0 * (p80 * q8 * q2))


LN2 = 0.6931471805599453


@jit_vector_inline
def _step_factors(en, fac, w, e2, bits):
    """The step-size factor (:func:`dmtpk._kernels.stepping.step_factor`), exponent 1/5,
    of every lane's error norm ``en`` into ``fac``, in loops without calls, which the compiler
    vectorises across the lanes (a call to libm's pow, exp or log stays scalar):
    en^(-1/5) = 2^k e^r with ln(en) from the binary exponent and the atanh series of the
    mantissa (to s^11, relative error below 1e-7: ample for a step-size factor),
    k = round(-ln(en) / (5 ln 2)) and e^r by its Taylor series to r^9 (|r| <= ln 2 / 2, error
    below 1e-9). A NaN norm gives 0.2, as in the scalar function. ``w``, ``e2`` and
    ``bits`` are scratch (LANES,)."""
    for ll in range(LANES):
        v = en[ll]
        w[ll] = 1e-10 if not v > 1e-10 else (1e300 if v > 1e300 else v)
    ib = w.view(np.int64)
    for ll in range(LANES):
        e2[ll] = ((ib[ll] >> 52) & 0x7FF) - 1023
        bits[ll] = (ib[ll] & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000
    mant = bits.view(np.float64)
    for ll in range(LANES):
        sm = (mant[ll] - 1.0) / (mant[ll] + 1.0)
        s2 = sm * sm
        ln_w = e2[ll] * LN2 + 2.0 * sm * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (
            1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 / 11.0)))))
        y = -0.2 * ln_w
        k = math.floor(y / LN2 + 0.5)
        r = y - k * LN2
        w[ll] = 1.0 + r * (1.0 + r * (1.0 / 2.0 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (
            1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0 + r * (1.0 / 40320.0
                                                                    + r / 362880.0))))))))
        e2[ll] = (np.int64(k) + 1023) << 52
    scale = e2.view(np.float64)
    for ll in range(LANES):
        f = SAFETY * w[ll] * scale[ll]
        v = en[ll]
        if v <= 1.0:
            fac[ll] = min(FAC_MAX, max(FAC_MIN, f))
        elif v > 1.0:
            fac[ll] = min(1.0, max(FAC_MIN, f))
        else:
            fac[ll] = FAC_MIN


@jit_inline
def _dense_output(x, y1, k1, k3, k4, k5, k6, k7, ll, h, th, states, k):
    """DOPRI5's continuous extension of lane ``ll``'s step from x to y1 at fraction ``th`` of
    the step, into ``states[ll, k]``."""
    th1 = 1.0 - th
    for i in range(x.shape[0]):
        d2 = y1[i, ll] - x[i, ll]
        d3 = h * k1[i, ll] - d2
        d4 = d2 - h * k7[i, ll] - d3
        d5 = h * (D1 * k1[i, ll] + D3 * k3[i, ll] + D4 * k4[i, ll] + D5 * k5[i, ll]
                  + D6 * k6[i, ll] + D7 * k7[i, ll])
        states[ll, k, i] = x[i, ll] + th * (d2 + th1 * (d3 + th * (d4 + th1 * d5)))


@jit
def _next_segment(ll, x, b, b_red, dep, is_dep, t_eff, target, amount, bk, n_break, ev_rate,
                  ev_dur, times, states, seg, t, h, t0, t1, last, k_out, steps, stiff_count,
                  nonstiff_count, need_k1, finished):
    """Start lane ``ll``'s next segment (between two successive times at which its inputs
    change): apply the doses, set the inputs, write the outputs at exactly its start, and
    reset the step. Segments of zero length are passed through; a lane with none left (or
    whose next one starts after the last output) is ``finished``."""
    t_end = times[times.size - 1]
    while seg[ll] < n_break[ll]:
        i_b = seg[ll]
        ts = bk[ll, i_b]
        while i_b + 1 < n_break[ll] and bk[ll, i_b + 1] == ts:
            i_b += 1
        if ts > t_end:
            break
        seg[ll] = i_b + 1
        _start_segment(ts, ev_rate, ev_dur, t_eff[ll], target[ll], amount[ll], is_dep, dep, ll,
                       x, b, b_red)
        lst = i_b + 1 >= n_break[ll] or bk[ll, i_b + 1] > t_end
        te = t_end if lst else bk[ll, i_b + 1]
        # Outputs at exactly the start take the state after its events.
        k = k_out[ll]
        while k < times.size and times[k] <= ts:
            if times[k] == ts:
                for i in range(x.shape[0]):
                    states[ll, k, i] = x[i, ll]
            k += 1
        k_out[ll] = k
        if te > ts:
            t0[ll] = ts
            t1[ll] = te
            last[ll] = lst
            t[ll] = ts
            h[ll] = min(te - ts, H_START)
            steps[ll] = 0
            stiff_count[ll] = 0
            nonstiff_count[ll] = 0
            need_k1[ll] = True
            return
    finished[ll] = True


@jit_vector
def _integrate_lanes(x, nz_i, nz_j, nzv, nnz_red, nnz, al, dep, n_dep, is_dep, vmax, km, v1,
                     fm_mass, c, e, m, has_mm, t_eff, target, amount, bk, n_break, ev_rate,
                     ev_dur, times, rtol, atol, states, status, fail_time, finished, work,
                     depot_outputs):
    """Integrate LANES subjects side by side over the whole dosing history: lane ``l`` is
    column ``l`` of ``x`` ((n, LANES), zero at the start), its outputs go to ``states[l]``.

    Each lane keeps its own segments (its dosing times, lags included), time, step size, error
    norm, acceptance, stiffness count and outputs; the Dormand-Prince stages, the right-hand
    sides and the error estimates are loops across lanes. Lanes ``finished`` from the start
    (unused) ride along with a zero step.

    Between events the depots (``dep``, (LANES, depots, 4)) are solved in closed form: the
    integrated system is the first ``nnz_red`` entries of A (no depot row or column, values
    ``nzv`` per lane) with the depots' absorption flux as a known input, so absorption is
    neither a stiffness (KA = 100 /min) nor an accuracy limit on the step. A lane that turns
    stiff (Hairer & Wanner sect. IV.2: h rho > 3.25 on 15 accepted steps) finishes its segment
    alone with :func:`~dmtpk._kernels.ros2.segment_stiff`, depots back in the integrated state.
    Failures go to ``status`` and ``fail_time``.
    """
    n = x.shape[0]
    nl = LANES
    m_t = times.size
    lw = np.empty((11, n, nl))
    k1 = lw[0]
    k2 = lw[1]
    k3 = lw[2]
    k4 = lw[3]
    k5 = lw[4]
    k6 = lw[5]
    k7 = lw[6]
    y1 = lw[7]
    ys = lw[8]
    err = lw[9]
    kk = lw[10]
    b = np.zeros((n, nl))
    b_red = np.zeros((n, nl))
    t = np.zeros(nl)
    h = np.zeros(nl)
    t0 = np.zeros(nl)
    t1 = np.zeros(nl)
    hu = np.zeros(nl)
    ab = np.zeros((6, nl))
    fac = np.zeros(nl)
    sf_w = np.zeros(nl)
    sf_e = np.zeros(nl, dtype=np.int64)
    sf_b = np.zeros(nl, dtype=np.int64)
    en = np.zeros(nl)
    last = np.zeros(nl, dtype=np.bool_)
    need_k1 = np.zeros(nl, dtype=np.bool_)
    accepted = np.zeros(nl, dtype=np.bool_)
    num = np.zeros(nl)
    den = np.zeros(nl)
    seg = np.zeros(nl, dtype=np.int64)
    k_out = np.zeros(nl, dtype=np.int64)
    steps = np.zeros(nl, dtype=np.int64)
    stiff_count = np.zeros(nl, dtype=np.int64)
    nonstiff_count = np.zeros(nl, dtype=np.int64)
    x1 = np.empty(n)
    b1 = np.empty(n)
    nz_v1 = np.empty(nnz)
    ws = work[:7]
    w = work[7:7 + n]
    piv = np.empty(n, dtype=np.int64)
    n_int = n - n_dep  # states the error norm runs over (the depots are exact)
    kmv1 = np.empty(nl)
    for ll in range(nl):
        kmv1[ll] = km[ll] * v1[ll]
    for ll in range(nl):
        if finished[ll]:
            continue
        if n_break[ll] == 0:
            finished[ll] = True
            continue
        while k_out[ll] < m_t and times[k_out[ll]] < bk[ll, 0]:
            k_out[ll] += 1  # nothing has been given yet: zero state
        _next_segment(ll, x, b, b_red, dep, is_dep, t_eff, target, amount, bk, n_break,
                      ev_rate, ev_dur, times, states, seg, t, h, t0, t1, last, k_out, steps,
                      stiff_count, nonstiff_count, need_k1, finished)
    while True:
        # Derivative at the start of new segments (FSAL gives it otherwise).
        new = False
        for ll in range(nl):
            new = new or need_k1[ll]
        if new:
            _absorption_lanes(dep, n_dep, t, hu, t0, ab)
            _rhs_lanes(x, ab[0], nz_i, nz_j, nzv, nnz_red, b_red, vmax, kmv1, fm_mass, c, e, m,
                       has_mm, kk)
            for i in range(n):
                for ll in range(nl):
                    if need_k1[ll]:
                        k1[i, ll] = kk[i, ll]
            for ll in range(nl):
                need_k1[ll] = False
        active = 0
        for ll in range(nl):
            hu[ll] = 0.0
            if finished[ll]:
                continue
            steps[ll] += 1
            if steps[ll] > MAX_STEPS or h[ll] < 1e-12 * max(1.0, abs(t[ll])):
                status[ll] = STATUS_TOO_MANY_STEPS if steps[ll] > MAX_STEPS \
                    else STATUS_STEP_UNDERFLOW
                fail_time[ll] = t[ll]
                finished[ll] = True
                continue
            if t[ll] + h[ll] >= t1[ll] or t[ll] + 1.01 * h[ll] >= t1[ll]:
                h[ll] = t1[ll] - t[ll]
            hu[ll] = h[ll]
            active += 1
        if active == 0:
            break
        for i in range(n):
            for ll in range(nl):
                ys[i, ll] = dp_y2(x[i, ll], hu[ll], k1[i, ll])
        _absorption_lanes(dep, n_dep, t, hu, t0, ab)
        _rhs_lanes(ys, ab[1], nz_i, nz_j, nzv, nnz_red, b_red, vmax, kmv1, fm_mass, c, e, m,
                   has_mm, k2)
        for i in range(n):
            for ll in range(nl):
                ys[i, ll] = dp_y3(x[i, ll], hu[ll], k1[i, ll], k2[i, ll])
        _rhs_lanes(ys, ab[2], nz_i, nz_j, nzv, nnz_red, b_red, vmax, kmv1, fm_mass, c, e, m,
                   has_mm, k3)
        for i in range(n):
            for ll in range(nl):
                ys[i, ll] = dp_y4(x[i, ll], hu[ll], k1[i, ll], k2[i, ll], k3[i, ll])
        _rhs_lanes(ys, ab[3], nz_i, nz_j, nzv, nnz_red, b_red, vmax, kmv1, fm_mass, c, e, m,
                   has_mm, k4)
        for i in range(n):
            for ll in range(nl):
                ys[i, ll] = dp_y5(x[i, ll], hu[ll], k1[i, ll], k2[i, ll], k3[i, ll],
                                  k4[i, ll])
        _rhs_lanes(ys, ab[4], nz_i, nz_j, nzv, nnz_red, b_red, vmax, kmv1, fm_mass, c, e, m,
                   has_mm, k5)
        for i in range(n):
            for ll in range(nl):
                ys[i, ll] = dp_y6(x[i, ll], hu[ll], k1[i, ll], k2[i, ll], k3[i, ll],
                                  k4[i, ll], k5[i, ll])
        _rhs_lanes(ys, ab[5], nz_i, nz_j, nzv, nnz_red, b_red, vmax, kmv1, fm_mass, c, e, m,
                   has_mm, k6)
        for i in range(n):
            for ll in range(nl):
                y1[i, ll] = dp_y7(x[i, ll], hu[ll], k1[i, ll], k3[i, ll], k4[i, ll],
                                  k5[i, ll], k6[i, ll])
        _rhs_lanes(y1, ab[5], nz_i, nz_j, nzv, nnz_red, b_red, vmax, kmv1, fm_mass, c, e, m,
                   has_mm, k7)
        # Error estimate and its RMS norm, scaled by atol + rtol max(|x|, |y1|), per lane.
        for ll in range(nl):
            en[ll] = 0.0
        for i in range(n):
            for ll in range(nl):
                err[i, ll] = dp_error(hu[ll], k1[i, ll], k3[i, ll], k4[i, ll], k5[i, ll],
                                      k6[i, ll], k7[i, ll])
                sc = atol + rtol * max(abs(x[i, ll]), abs(y1[i, ll]))
                en[ll] += (err[i, ll] / sc) ** 2
        # Stiffness measure rho^2 ~ |k7 - k6|^2 / |y1 - y6|^2 (Hairer & Wanner sect. IV.2).
        for ll in range(nl):
            en[ll] = math.sqrt(en[ll] / n_int)
            num[ll] = 0.0
            den[ll] = 0.0
        for i in range(n):
            for ll in range(nl):
                num[ll] += (k7[i, ll] - k6[i, ll]) ** 2
                den[ll] += (y1[i, ll] - ys[i, ll]) ** 2
        for ll in range(nl):
            hl = hu[ll]
            accepted[ll] = hl != 0.0 and en[ll] <= 1.0
            if hl == 0.0:
                continue
            if accepted[ll]:
                # h rho > 3.25 on 15 accepted steps (6 non-stiff ones reset the count) is stiff.
                if den[ll] > 0.0 and hl * math.sqrt(num[ll] / den[ll]) > 3.25:
                    stiff_count[ll] += 1
                    nonstiff_count[ll] = 0
                else:
                    nonstiff_count[ll] += 1
                    if nonstiff_count[ll] >= 6:
                        stiff_count[ll] = 0
                t_new = t[ll] + hl
                k = k_out[ll]
                while k < m_t and (times[k] < t_new or (last[ll] and times[k] <= t_new)):
                    if times[k] > t1[ll]:
                        break
                    _dense_output(x, y1, k1, k3, k4, k5, k6, k7, ll, hl,
                                  (times[k] - t[ll]) / hl, states, k)
                    if depot_outputs:
                        for j in range(n_dep):
                            states[ll, k, np.int64(dep[ll, j, D_STATE])] = _depot_amount(
                                dep, ll, j, times[k] - t0[ll])
                    k += 1
                k_out[ll] = k
                t[ll] = t_new
        _step_factors(en, fac, sf_w, sf_e, sf_b)
        for ll in range(nl):
            if hu[ll] != 0.0:
                h[ll] = hu[ll] * fac[ll]
        for i in range(n):
            for ll in range(nl):
                if accepted[ll]:
                    x[i, ll] = y1[i, ll]
                    k1[i, ll] = k7[i, ll]
        for ll in range(nl):
            if not accepted[ll]:
                continue
            stiff = stiff_count[ll] >= 15
            if stiff:
                # The depots rejoin the integrated state; ROS2 finishes the segment.
                _set_depots(dep, ll, n_dep, t[ll] - t0[ll], x, ll)
                if t[ll] < t1[ll]:
                    for i in range(n):
                        x1[i] = x[i, ll]
                        b1[i] = b[i, ll]
                    for k in range(nnz):
                        nz_v1[k] = nzv[k, ll]
                    st, k_out[ll], tf = segment_stiff(
                        x1, t[ll], h[ll], t1[ll], last[ll], al[ll], nz_i, nz_j, nz_v1, nnz, b1,
                        vmax[ll], km[ll], v1[ll], fm_mass[ll], c, e, m, times, k_out[ll],
                        states[ll], rtol, atol, ws, w, piv)
                    for i in range(n):
                        x[i, ll] = x1[i]
                    if st != STATUS_OK:
                        status[ll] = st
                        fail_time[ll] = tf
                        finished[ll] = True
                        continue
                    t[ll] = t1[ll]
            if t[ll] < t1[ll]:
                continue
            if not stiff:
                _set_depots(dep, ll, n_dep, t1[ll] - t0[ll], x, ll)
            _next_segment(ll, x, b, b_red, dep, is_dep, t_eff, target, amount, bk, n_break,
                          ev_rate, ev_dur, times, states, seg, t, h, t0, t1, last, k_out,
                          steps, stiff_count, nonstiff_count, need_k1, finished)


@jit
def _setup_subject(theta, weight, layout, mass_ratio, route_pos, mm_pos, ev_time, ev_amt,
                   ev_rate, ev_dur, ev_route, ev_f, ev_lag, ev_evid, ev_perkg, depot_of_row,
                   extra_kas, a, dep, ll, is_dep, t_eff, target, amount, breaks):
    """One subject's system and dosing: writes ``a`` (A, (n, n)), the depots' state indices and
    KA into ``dep[ll]`` and ``is_dep``, each dose record's effective time, target state and
    amount (or rate) into ``t_eff``, ``target`` and ``amount``, and the sorted times at which
    inputs change into ``breaks``. Returns (status, number of breaks, VMAX, KM, V1, metabolite
    mass per mg eliminated)."""
    n_rec = ev_time.size
    v1 = theta[layout[P_V1]]
    vmax = theta[mm_pos[0]] if mm_pos[0] >= 0 else 0.0
    km = theta[mm_pos[1]] if mm_pos[1] >= 0 else 1.0
    if not (v1 > 0 and km > 0 and vmax >= 0):
        return STATUS_BAD_PARAMETER, 0, vmax, km, v1, 0.0
    c = layout[L_CENTRAL]
    m = layout[L_METAB]
    fm_mass = theta[layout[P_FM]] * mass_ratio if m >= 0 else 0.0
    n_dep = dep.shape[1]
    kas = np.empty(n_dep)
    if n_dep > 0:
        kas[0] = theta[layout[P_KA]]
        for j in range(extra_kas.size):
            kas[1 + j] = extra_kas[j]
    fill_system(theta, layout, mass_ratio, kas, a)
    # Depots (their only outflow is absorption into the central compartment): solved in closed
    # form between events.
    is_dep[:] = False
    for j in range(n_dep):
        d = layout[L_DEPOT] if j == 0 else layout[L_NSTATES] + j - 1
        dep[ll, j, D_STATE] = d
        dep[ll, j, D_KA] = kas[j]
        is_dep[d] = True
    f_inh = theta[route_pos[0]] if route_pos[0] >= 0 else 1.0
    lag_inh = theta[route_pos[1]] if route_pos[1] >= 0 else 0.0
    n_break = 0
    for r in range(n_rec):
        if ev_evid[r] != 1:
            t_eff[r] = np.inf
            continue
        route = ev_route[r]
        d_amt, d_rate, d_f, d_lag, d_mrate, d_mdur, d_scale = table_record(
            ev_amt[r], ev_rate[r], ev_dur[r], route, ev_f[r], ev_lag[r], ev_perkg[r], f_inh,
            lag_inh, weight)
        st, d_amount, d_rate, d_dur, lag = resolve_dose(d_amt, d_rate, d_f, d_lag, d_mrate,
                                                        d_mdur, d_scale)
        if st != DOSE_OK:
            return STATUS_BAD_PARAMETER, 0, vmax, km, v1, fm_mass
        t_eff[r] = ev_time[r] + lag
        if route == 1:
            dj = depot_of_row[r]
            if dj >= n_dep or not kas[dj] > 0:  # only a dosed depot needs a valid KA
                return STATUS_BAD_PARAMETER, 0, vmax, km, v1, fm_mass
            target[r] = layout[L_DEPOT] if dj == 0 else layout[L_NSTATES] + dj - 1
        else:
            target[r] = c
        amount[r] = d_rate if d_rate > 0 else d_amount
        breaks[n_break] = t_eff[r]
        n_break += 1
        if d_rate > 0:
            breaks[n_break] = t_eff[r] + d_dur
            n_break += 1
    breaks[:n_break] = np.sort(breaks[:n_break])
    return STATUS_OK, n_break, vmax, km, v1, fm_mass


@jit
def _sparsity(a, is_dep, nz_i, nz_j, nz_v):
    """Non-zero entries of ``a``, those without a depot row or column first. Returns
    (entries without depots, all entries)."""
    n = a.shape[0]
    nnz = 0
    nnz_red = 0
    for with_depot in (False, True):
        for i in range(n):
            for j in range(n):
                if a[i, j] != 0.0 and (is_dep[i] or is_dep[j]) == with_depot:
                    nz_i[nnz] = i
                    nz_j[nnz] = j
                    nz_v[nnz] = a[i, j]
                    nnz += 1
        if not with_depot:
            nnz_red = nnz
    return nnz_red, nnz


@jit
def _start_segment(t0, ev_rate, ev_dur, t_eff, target, amount, is_dep, dep, ll, x, b, b_red):
    """Apply lane ``ll``'s doses given at t0 to column ``ll`` of ``x`` and set the inputs
    running from t0: ``b`` (all states), ``b_red`` (without the depots) and the depots'
    amounts and steady-state amounts in ``dep[ll]``."""
    n = x.shape[0]
    for i in range(n):
        b[i, ll] = 0.0
    for r in range(t_eff.size):
        if t_eff[r] == np.inf:
            continue
        if ev_rate[r] > 0:
            if t_eff[r] <= t0 < t_eff[r] + ev_dur[r]:
                b[target[r], ll] += amount[r]
        elif t_eff[r] == t0:
            x[target[r], ll] += amount[r]
    for i in range(n):
        b_red[i, ll] = 0.0 if is_dep[i] else b[i, ll]
    for j in range(dep.shape[1]):
        d = np.int64(dep[ll, j, D_STATE])
        dep[ll, j, D_X0] = x[d, ll]
        dep[ll, j, D_SS] = b[d, ll] / dep[ll, j, D_KA]


@jit
def _ode_group(g0, g1, theta, weight, layout, mass_ratio, route_pos, mm_pos, ev_time, ev_amt,
               ev_rate, ev_dur, ev_route, ev_f, ev_lag, ev_evid, ev_perkg, depot_of_row,
               extra_kas, times, rtol, atol, states, status, fail_time, work, depot_outputs):
    """States of subjects g0 to g1 - 1 (at most LANES) at ``times`` into ``states[l]``
    ((LANES, n_times, n)), integrated side by side (:func:`_integrate_lanes`; unused lanes
    repeat the last subject and are ignored). Returns False, having integrated nothing, when
    the subjects cannot share lanes (a different pattern of non-zero entries in A, or
    Michaelis-Menten elimination switched off for some only: a parameter exactly zero); the
    caller then gives each subject a group of its own, which always works. ``work`` is scratch
    of shape (7 + n, n) for the Rosenbrock steps; ``depot_outputs`` says whether the depots'
    amounts are written to the outputs. A subject's result is the same to the bit whatever its
    neighbours: every lane does the same operations in the same order."""
    nl = LANES
    n = states.shape[2]
    n_rec = ev_time.size
    n_dep = 1 + extra_kas.size if layout[L_DEPOT] >= 0 else 0
    g = g1 - g0
    al = np.empty((nl, n, n))
    dep = np.empty((nl, n_dep, 4))
    is_dep = np.empty(n, dtype=np.bool_)
    t_eff = np.empty((nl, n_rec))
    target = np.empty((nl, n_rec), dtype=np.int64)
    amount = np.empty((nl, n_rec))
    bk = np.empty((nl, 2 * n_rec))
    n_break = np.zeros(nl, dtype=np.int64)
    vmax = np.empty(nl)
    km = np.empty(nl)
    v1 = np.empty(nl)
    fm_mass = np.empty(nl)
    nz_i = np.empty(n * n, dtype=np.int64)
    nz_j = np.empty(n * n, dtype=np.int64)
    nz_i1 = np.empty(n * n, dtype=np.int64)
    nz_j1 = np.empty(n * n, dtype=np.int64)
    nz_v = np.empty(n * n)
    nzv = np.empty((n * n, nl))
    finished = np.zeros(nl, dtype=np.bool_)
    nnz_red = nnz = 0
    for ll in range(nl):
        status[ll] = STATUS_OK
        fail_time[ll] = 0.0
        finished[ll] = ll >= g
    for ll in range(nl):
        i = g0 + min(ll, g - 1)
        st, n_break[ll], vmax[ll], km[ll], v1[ll], fm_mass[ll] = _setup_subject(
            theta[i], weight[i], layout, mass_ratio, route_pos, mm_pos, ev_time, ev_amt,
            ev_rate, ev_dur, ev_route, ev_f, ev_lag, ev_evid, ev_perkg, depot_of_row, extra_kas,
            al[ll], dep, ll, is_dep, t_eff[ll], target[ll], amount[ll], bk[ll])
        if st != STATUS_OK:
            if g > 1:
                return False
            status[0] = st
            return True
        if ll == 0:
            nnz_red, nnz = _sparsity(al[0], is_dep, nz_i, nz_j, nz_v)
        else:
            r_red, r_all = _sparsity(al[ll], is_dep, nz_i1, nz_j1, nz_v)
            if r_red != nnz_red or r_all != nnz or (vmax[ll] > 0.0) != (vmax[0] > 0.0):
                return False
            for k in range(nnz):
                if nz_i1[k] != nz_i[k] or nz_j1[k] != nz_j[k]:
                    return False
        for k in range(nnz):
            nzv[k, ll] = nz_v[k]
    x = np.zeros((n, nl))
    states[:, :, :] = 0.0
    _integrate_lanes(x, nz_i, nz_j, nzv, nnz_red, nnz, al, dep, n_dep, is_dep, vmax, km, v1,
                     fm_mass, layout[L_CENTRAL], layout[L_ELIM], layout[L_METAB],
                     vmax[0] > 0.0, t_eff, target, amount, bk, n_break, ev_rate, ev_dur, times,
                     rtol, atol, states, status, fail_time, finished, work,
                     depot_outputs)
    return True


@jit_parallel
def ode_population(theta, weight, layout, mass_ratio, route_pos, mm_pos, ep, rows, ep_row,
                   ev_time, ev_amt, ev_rate, ev_dur, ev_route, ev_f, ev_lag, ev_evid, ev_perkg,
                   depot_of_row, extra_kas, n_total, times, rtol, atol, out_conc, out_e, status,
                   fail_time):
    """Every row of ``theta`` by integration, in parallel, :data:`LANES` subjects side by side
    (:func:`_ode_group`); outputs as :func:`dmtpk._kernels.linear.linear_population`
    (``n_total`` states per subject)."""
    n = theta.shape[0]
    n_ep = ep.shape[0]
    m_t = times.size
    c = layout[L_CENTRAL]
    mm = layout[L_METAB]
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        states = np.empty((LANES, m_t, n_total))
        work = np.empty((7 + n_total, n_total))
        conc = np.empty((rows.size, m_t))
        st_g = np.empty(LANES, dtype=np.int64)
        tf_g = np.empty(LANES)
        single = np.empty((LANES, m_t, n_total))
        st_1 = np.empty(LANES, dtype=np.int64)
        tf_1 = np.empty(LANES)
        b_end = min(n, (blk + 1) * BLOCK)
        for g0 in range(blk * BLOCK, b_end, LANES):
            g1 = min(b_end, g0 + LANES)
            if not _ode_group(g0, g1, theta, weight, layout, mass_ratio, route_pos, mm_pos,
                              ev_time, ev_amt, ev_rate, ev_dur, ev_route, ev_f, ev_lag, ev_evid,
                              ev_perkg, depot_of_row, extra_kas, times, rtol, atol, states,
                              st_g, tf_g, work, False):
                for i in range(g0, g1):
                    ll = i - g0
                    _ode_group(i, i + 1, theta, weight, layout, mass_ratio, route_pos, mm_pos,
                               ev_time, ev_amt, ev_rate, ev_dur, ev_route, ev_f, ev_lag,
                               ev_evid, ev_perkg, depot_of_row, extra_kas, times, rtol, atol,
                               single, st_1, tf_1, work, False)
                    states[ll] = single[0]
                    st_g[ll] = st_1[0]
                    tf_g[ll] = tf_1[0]
            for i in range(g0, g1):
                ll = i - g0
                th = theta[i]
                status[i] = st_g[ll]
                fail_time[i] = tf_g[ll]
                if st_g[ll] != STATUS_OK:
                    continue
                v1 = th[layout[P_V1]]
                vm = th[layout[P_MV]] if mm >= 0 else 1.0
                for r in range(rows.size):
                    o = rows[r]
                    for k in range(m_t):
                        if o == 0:
                            val = states[ll, k, c] / v1
                        elif o == 1:
                            val = states[ll, k, mm] / vm
                        else:
                            val = states[ll, k, ep[o - 2, EP_STATE]]
                        conc[r, k] = val * 1000.0
                        out_conc[i, r, k] = val * 1000.0
                for q in range(n_ep):
                    e0, mscale, ec50, gamma, slope = endpoint_pd(th, ep, q)
                    pd_curve(conc[ep_row[q]], ep[q, EP_CODE], ep[q, EP_SIGN], e0, mscale, ec50,
                             gamma, slope, out_e[i, q])
