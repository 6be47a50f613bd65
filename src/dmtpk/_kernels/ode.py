r"""Compiled adaptive integrator for nonlinear models (Michaelis–Menten elimination).

Each subject's system :math:`\dot x = A(\theta)x + b(t) - f_{MM}(x)` is integrated from event to
event (doses are jumps, infusion rates change only at breaks, so no step ever crosses an event)
with the Dormand–Prince 5(4) pair and its 4th-order dense output (Hairer, Nørsett & Wanner,
*Solving ODEs I*, 2nd ed., sect. II.5-6; the tableau of their DOPRI5 code). Absorption depots
are linear and feed only the central compartment, so between events they are solved in closed
form and enter the integrated system as a known input :math:`k_a x_d(t)`: fast absorption
(KA = 100 /min) is then neither stiff nor a limit on the step size, and the step size follows
the disposition alone (on the benchmark's inhaled workload 98 steps per subject instead of 171
at rtol 1e-7). A stiffness detector (the same book, sect. IV.2: :math:`h\rho > 3.25` on 15
accepted steps, :math:`\rho` estimated from the last two stages) hands the rest of a segment to
the L-stable second-order Rosenbrock method ROS2 (Verwer et al. 1999, SIAM J Sci Comput
20:1456), with the depots back in the integrated state and a Jacobian built from :math:`A` and
the Michaelis–Menten derivative. Outputs on ROS2 steps use cubic Hermite interpolation.

Status codes instead of exceptions: 0 ok, 3 step size underflow, 4 too many steps, 2 invalid
parameters. The failing time is written to ``fail_time``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .linear import (BLOCK, EP_CODE, EP_E0, EP_EC50, EP_EMAX, EP_FRACTIONAL, EP_GAMMA, EP_SIGN,
                     EP_SLOPE, EP_STATE, pd_curve, record_values)
from .system import (L_CENTRAL, L_DEPOT, L_ELIM, L_METAB, L_NSTATES, P_FM, P_KA, P_MV, P_V1,
                     fill_system)

fill_system_jit = njit(cache=True)(fill_system)

STATUS_OK = 0
STATUS_BAD_PARAMETER = 2
STATUS_STEP_UNDERFLOW = 3
STATUS_TOO_MANY_STEPS = 4

# Dormand-Prince 5(4) tableau.
C2, C3, C4, C5 = 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0
A21 = 1.0 / 5.0
A31, A32 = 3.0 / 40.0, 9.0 / 40.0
A41, A42, A43 = 44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0
A51, A52, A53, A54 = 19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0
A61, A62, A63, A64, A65 = (9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0,
                           -5103.0 / 18656.0)
A71, A73, A74, A75, A76 = (35.0 / 384.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0,
                           11.0 / 84.0)
E1, E3, E4, E5, E6, E7 = (71.0 / 57600.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0,
                          22.0 / 525.0, -1.0 / 40.0)
D1, D3, D4, D5, D6, D7 = (-12715105075.0 / 11282082432.0, 87487479700.0 / 32700410799.0,
                          -10690763975.0 / 1880347072.0, 701980252875.0 / 199316789632.0,
                          -1453857185.0 / 822651844.0, 69997945.0 / 29380423.0)
GAMMA_ROS2 = 1.0 + 1.0 / math.sqrt(2.0)
MAX_STEPS = 200000
# Columns of the depot array (one row per depot): state index, KA (1/min), amount at the start
# of the segment (mg), and the amount R/KA (mg) its zero-order input R during the segment
# would hold at steady state.
D_STATE, D_KA, D_X0, D_SS = range(4)


@njit(cache=True, inline="always")
def _rhs(x, absorption, nz_i, nz_j, nz_v, nnz, b, vmax, km, v1, fm_mass, c, e, m, out):
    """out = A x + b (A as its first ``nnz`` non-zero entries), plus ``absorption`` (mg/min)
    into ``c`` from depots solved in closed form, minus the Michaelis-Menten flux from ``c``
    (into ``e`` and ``m``)."""
    n = x.size
    for i in range(n):
        out[i] = b[i]
    out[c] += absorption
    for k in range(nnz):
        out[nz_i[k]] += nz_v[k] * x[nz_j[k]]
    if vmax > 0.0:
        conc = x[c] / v1
        flux = vmax * conc / (km + conc)
        out[c] -= flux
        out[e] += flux
        if m >= 0:
            out[m] += fm_mass * flux


@njit(cache=True)
def _absorption(dep, n_f, tau):
    """Absorption flux (mg/min) into the central compartment from the first ``n_f`` depots a
    time ``tau`` into the segment."""
    flux = 0.0
    for j in range(n_f):
        flux += dep[j, D_KA] * _depot_amount(dep, j, tau)
    return flux


@njit(cache=True, inline="always")
def _depot_amount(dep, j, tau):
    """Amount (mg) in depot j a time ``tau`` after the segment start: x0 e^(-ka tau) plus the
    zero-order input R (mg/min) as R/ka (1 - e^(-ka tau)), exact for a segment without
    events."""
    ss = dep[j, D_SS]
    return ss + (dep[j, D_X0] - ss) * math.exp(-dep[j, D_KA] * tau)


@njit(cache=True, inline="always")
def _step_factor(en, exponent):
    """Step-size factor 0.9 en^-exponent (exponent 1/(order + 1)), within [0.2, 5] after an
    accepted step (en <= 1) and [0.2, 1] after a rejected one."""
    if en <= 1.0:
        return min(5.0, max(0.2, 0.9 * max(en, 1e-10) ** -exponent))
    return min(1.0, max(0.2, 0.9 * en ** -exponent))


@njit(cache=True)
def _norm(err, y0, y1, rtol, atol, count):
    """RMS of the scaled error over ``count`` integrated states (states solved in closed form
    have zero error and do not count)."""
    s = 0.0
    for i in range(err.size):
        sc = atol + rtol * max(abs(y0[i]), abs(y1[i]))
        s += (err[i] / sc) ** 2
    return math.sqrt(s / count)


@njit(cache=True)
def _lu_solve_inplace(w, piv, rhs):
    """Solve with an LU factorisation made by :func:`_lu_factor` (partial pivoting)."""
    n = rhs.size
    for i in range(n):
        p = piv[i]
        tmp = rhs[i]
        rhs[i] = rhs[p]
        rhs[p] = tmp
    for i in range(n):
        for j in range(i):
            rhs[i] -= w[i, j] * rhs[j]
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            rhs[i] -= w[i, j] * rhs[j]
        rhs[i] /= w[i, i]


@njit(cache=True)
def _lu_factor(w, piv):
    n = w.shape[0]
    for k in range(n):
        p = k
        big = abs(w[k, k])
        for i in range(k + 1, n):
            if abs(w[i, k]) > big:
                big = abs(w[i, k])
                p = i
        piv[k] = p
        if p != k:
            for j in range(n):
                tmp = w[k, j]
                w[k, j] = w[p, j]
                w[p, j] = tmp
        if w[k, k] == 0.0:
            return 1
        for i in range(k + 1, n):
            w[i, k] /= w[k, k]
            for j in range(k + 1, n):
                w[i, j] -= w[i, k] * w[k, j]
    return 0


@njit(cache=True, inline="always")
def _set_depots(dep, n_dep, tau, y):
    """Write the closed-form depot amounts a time ``tau`` into the segment into ``y``."""
    for j in range(n_dep):
        y[np.int64(dep[j, D_STATE])] = _depot_amount(dep, j, tau)


@njit(cache=True)
def _segment(x, t0, t1, last, a, nz_i, nz_j, nz_v, nnz_red, nnz, b, b_red, dep, n_dep, vmax, km,
             v1, fm_mass, c, e, m, times, k_out, states, rtol, atol, ws, w, piv):
    """Integrate from t0 to t1 (state ``x`` is overwritten with x(t1)); store the states at
    output times t0 <= times[k] < t1 (<= t1 when ``last``) into ``states[k]``, from ``k_out``.

    The ``n_dep`` depots (rows of ``dep``, which holds their amounts at t0 and input rates) are
    solved in closed form while the explicit method runs: the integrated system is then the
    first ``nnz_red`` entries of A (no depot row or column) with inputs ``b_red`` (no depot
    input) and the depots' absorption flux as a known function of time. Absorption is then
    neither a stiffness (KA = 100 /min) nor an accuracy limit on the step. If the rest of the
    system turns stiff, the depots rejoin the integrated state (all ``nnz`` entries, inputs
    ``b``) for the Rosenbrock method, which needs an autonomous system.

    Returns (status, next output index, failure time).
    """
    n = x.size
    k1 = ws[0]
    k2 = ws[1]
    k3 = ws[2]
    k4 = ws[3]
    k5 = ws[4]
    k6 = ws[5]
    k7 = ws[6]
    y1 = ws[7]
    ys = ws[8]
    err = ws[9]
    r5 = ws[10]
    m_t = times.size
    # Outputs at exactly t0 take the state after the events at t0.
    while k_out < m_t and times[k_out] <= t0:
        if times[k_out] == t0:
            for i in range(n):
                states[k_out, i] = x[i]
        k_out += 1
    span = t1 - t0
    if span <= 0.0:
        return STATUS_OK, k_out, t0
    n_f = n_dep  # depots in closed form (0 once stiff)
    n_int = n - n_dep  # states the error norm runs over
    t = t0
    h = min(span, 0.05)
    _rhs(x, _absorption(dep, n_f, 0.0), nz_i, nz_j, nz_v, nnz_red, b_red, vmax, km, v1,
         fm_mass, c, e, m, k1)
    stiff_count = 0
    nonstiff_count = 0
    stiff = False
    steps = 0
    while t < t1:
        steps += 1
        if steps > MAX_STEPS:
            return STATUS_TOO_MANY_STEPS, k_out, t
        if h < 1e-12 * max(1.0, abs(t)):
            return STATUS_STEP_UNDERFLOW, k_out, t
        if t + h >= t1 or t + 1.01 * h >= t1:
            h = t1 - t
        if not stiff:
            for i in range(n):
                ys[i] = x[i] + h * A21 * k1[i]
            _rhs(ys, _absorption(dep, n_f, t + C2 * h - t0), nz_i, nz_j, nz_v, nnz_red, b_red,
                 vmax, km, v1, fm_mass, c, e, m, k2)
            for i in range(n):
                ys[i] = x[i] + h * (A31 * k1[i] + A32 * k2[i])
            _rhs(ys, _absorption(dep, n_f, t + C3 * h - t0), nz_i, nz_j, nz_v, nnz_red, b_red,
                 vmax, km, v1, fm_mass, c, e, m, k3)
            for i in range(n):
                ys[i] = x[i] + h * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i])
            _rhs(ys, _absorption(dep, n_f, t + C4 * h - t0), nz_i, nz_j, nz_v, nnz_red, b_red,
                 vmax, km, v1, fm_mass, c, e, m, k4)
            for i in range(n):
                ys[i] = x[i] + h * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i])
            _rhs(ys, _absorption(dep, n_f, t + C5 * h - t0), nz_i, nz_j, nz_v, nnz_red, b_red,
                 vmax, km, v1, fm_mass, c, e, m, k5)
            for i in range(n):
                ys[i] = x[i] + h * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i]
                                    + A65 * k5[i])
            ab_end = _absorption(dep, n_f, t + h - t0)  # stages 6 and 7 are both at t + h
            _rhs(ys, ab_end, nz_i, nz_j, nz_v, nnz_red, b_red, vmax, km, v1, fm_mass, c, e, m,
                 k6)
            for i in range(n):
                y1[i] = x[i] + h * (A71 * k1[i] + A73 * k3[i] + A74 * k4[i] + A75 * k5[i]
                                    + A76 * k6[i])
            _rhs(y1, ab_end, nz_i, nz_j, nz_v, nnz_red, b_red, vmax, km, v1, fm_mass, c, e, m,
                 k7)
            for i in range(n):
                err[i] = h * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i]
                              + E7 * k7[i])
            en = _norm(err, x, y1, rtol, atol, n_int)
            if en <= 1.0:
                # Stiffness test on the accepted step: h * rho, rho ~ |k7 - k6| / |y1 - y6|.
                num = 0.0
                den = 0.0
                for i in range(n):
                    num += (k7[i] - k6[i]) ** 2
                    den += (y1[i] - ys[i]) ** 2
                if den > 0.0 and h * math.sqrt(num / den) > 3.25:
                    nonstiff_count = 0
                    stiff_count += 1
                    if stiff_count >= 15:
                        stiff = True
                else:
                    nonstiff_count += 1
                    if nonstiff_count >= 6:
                        stiff_count = 0
                t_new = t + h
                prepared = False
                while k_out < m_t and (times[k_out] < t_new or (last and times[k_out] <= t_new)):
                    if times[k_out] > t1:
                        break
                    if not prepared:  # dense-output coefficients, once per step
                        for i in range(n):
                            rc2 = y1[i] - x[i]
                            rc3 = h * k1[i] - rc2
                            err[i] = rc2
                            k2[i] = rc3
                            ys[i] = rc2 - h * k7[i] - rc3
                            r5[i] = h * (D1 * k1[i] + D3 * k3[i] + D4 * k4[i] + D5 * k5[i]
                                         + D6 * k6[i] + D7 * k7[i])
                        prepared = True
                    th = (times[k_out] - t) / h
                    th1 = 1.0 - th
                    for i in range(n):
                        states[k_out, i] = x[i] + th * (err[i] + th1 * (k2[i] + th * (
                            ys[i] + th1 * r5[i])))
                    _set_depots(dep, n_f, times[k_out] - t0, states[k_out])
                    k_out += 1
                for i in range(n):
                    x[i] = y1[i]
                    k1[i] = k7[i]
                t = t_new
                if stiff and n_f > 0:
                    # The depots rejoin the integrated state for the Rosenbrock method.
                    _set_depots(dep, n_f, t - t0, x)
                    n_f = 0
                    n_int = n
            h *= _step_factor(en, 0.2)
        else:
            # ROS2: W = I - gamma h J; k1 = W^-1 f(x); k2 = W^-1 (f(x + h k1) - 2 k1).
            for i in range(n):
                for j in range(n):
                    w[i, j] = -GAMMA_ROS2 * h * a[i, j]
                w[i, i] += 1.0
            if vmax > 0.0:
                conc = x[c] / v1
                d = vmax * km / (km + conc) ** 2 / v1
                w[c, c] += GAMMA_ROS2 * h * d
                w[e, c] -= GAMMA_ROS2 * h * d
                if m >= 0:
                    w[m, c] -= GAMMA_ROS2 * h * fm_mass * d
            if _lu_factor(w, piv) != 0:
                return STATUS_STEP_UNDERFLOW, k_out, t
            _rhs(x, 0.0, nz_i, nz_j, nz_v, nnz, b, vmax, km, v1, fm_mass, c, e, m, k1)
            for i in range(n):
                k2[i] = k1[i]  # f(x), kept for the Hermite interpolation
            _lu_solve_inplace(w, piv, k1)
            for i in range(n):
                ys[i] = x[i] + h * k1[i]
            _rhs(ys, 0.0, nz_i, nz_j, nz_v, nnz, b, vmax, km, v1, fm_mass, c, e, m, k3)
            for i in range(n):
                k3[i] -= 2.0 * k1[i]
            _lu_solve_inplace(w, piv, k3)
            for i in range(n):
                y1[i] = x[i] + 1.5 * h * k1[i] + 0.5 * h * k3[i]
                err[i] = 0.5 * h * (k1[i] + k3[i])
            en = _norm(err, x, y1, rtol, atol, n)
            if en <= 1.0:
                t_new = t + h
                _rhs(y1, 0.0, nz_i, nz_j, nz_v, nnz, b, vmax, km, v1, fm_mass, c, e, m, k4)
                while k_out < m_t and (times[k_out] < t_new or (last and times[k_out] <= t_new)):
                    if times[k_out] > t1:
                        break
                    th = (times[k_out] - t) / h
                    h00 = (1.0 + 2.0 * th) * (1.0 - th) ** 2
                    h10 = th * (1.0 - th) ** 2
                    h01 = th * th * (3.0 - 2.0 * th)
                    h11 = th * th * (th - 1.0)
                    for i in range(n):
                        states[k_out, i] = (h00 * x[i] + h10 * h * k2[i] + h01 * y1[i]
                                            + h11 * h * k4[i])
                    k_out += 1
                for i in range(n):
                    x[i] = y1[i]
                t = t_new
            h *= _step_factor(en, 0.5)
    _set_depots(dep, n_f, t1 - t0, x)
    return STATUS_OK, k_out, t


@njit(cache=True)
def ode_subject(theta, weight, layout, mass_ratio, route_pos, mm_pos, ev_time, ev_amt, ev_rate,
                ev_dur, ev_route, ev_f, ev_lag, ev_evid, ev_perkg, depot_of_row, extra_kas,
                times, rtol, atol, states, work):
    """States of one subject at ``times`` (``states``, shape (n_times, n)) by integration.

    ``depot_of_row`` gives, for inhaled records, 0 for the model's depot or j >= 1 for extra
    depot j (absorption rate ``extra_kas[j - 1]``); extra depots are states n_states + j - 1.
    ``work`` is scratch of shape (11 + 2 n, n). Returns (status, failure time).
    """
    n = states.shape[1]
    n_rec = ev_time.size
    v1 = theta[layout[P_V1]]
    vmax = theta[mm_pos[0]] if mm_pos[0] >= 0 else 0.0
    km = theta[mm_pos[1]] if mm_pos[1] >= 0 else 1.0
    if not (v1 > 0 and km > 0 and vmax >= 0):
        return STATUS_BAD_PARAMETER, 0.0
    c = layout[L_CENTRAL]
    e = layout[L_ELIM]
    m = layout[L_METAB]
    fm_mass = theta[layout[P_FM]] * mass_ratio if m >= 0 else 0.0
    has_depot = layout[L_DEPOT] >= 0
    kas = np.empty(1 + extra_kas.size if has_depot else 0)
    if has_depot:
        kas[0] = theta[layout[P_KA]]
        for j in range(extra_kas.size):
            kas[1 + j] = extra_kas[j]
    a = work[:n]
    fill_system_jit(theta, layout, mass_ratio, kas, a)
    # Depots (their only outflow is absorption into the central compartment): solved in closed
    # form between events while the explicit method runs.
    n_dep = kas.size
    dep = np.empty((n_dep, 4))
    is_dep = np.zeros(n, dtype=np.bool_)
    for j in range(n_dep):
        d = layout[L_DEPOT] if j == 0 else layout[L_NSTATES] + j - 1
        dep[j, D_STATE] = d
        dep[j, D_KA] = kas[j]
        is_dep[d] = True
        if not kas[j] > 0:
            return STATUS_BAD_PARAMETER, 0.0
    # Non-zero entries of A: those without a depot row or column first (the first nnz_red).
    nz_i = np.empty(n * n, dtype=np.int64)
    nz_j = np.empty(n * n, dtype=np.int64)
    nz_v = np.empty(n * n)
    nnz = 0
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
    f_inh = theta[route_pos[0]] if route_pos[0] >= 0 else 1.0
    lag_inh = theta[route_pos[1]] if route_pos[1] >= 0 else 0.0
    # Effective record times, amounts and targets.
    t_eff = np.empty(n_rec)
    target = np.empty(n_rec, dtype=np.int64)
    amount = np.empty(n_rec)
    n_break = 0
    breaks = np.empty(2 * n_rec)
    for r in range(n_rec):
        if ev_evid[r] != 1:
            t_eff[r] = np.inf
            continue
        route = ev_route[r]
        f, lag, scale = record_values(r, ev_route, ev_f, ev_lag, ev_perkg, f_inh, lag_inh,
                                      weight)
        t_eff[r] = ev_time[r] + lag
        if route == 1:
            dj = depot_of_row[r]
            target[r] = layout[L_DEPOT] if dj == 0 else layout[L_NSTATES] + dj - 1
        else:
            target[r] = c
        amount[r] = (ev_rate[r] if ev_rate[r] > 0 else ev_amt[r]) * f * scale
        breaks[n_break] = t_eff[r]
        n_break += 1
        if ev_rate[r] > 0:
            breaks[n_break] = t_eff[r] + ev_dur[r]
            n_break += 1
    bk = np.sort(breaks[:n_break])
    x = np.zeros(n)
    b = np.zeros(n)
    b_red = np.zeros(n)
    for k in range(times.size):
        for i in range(n):
            states[k, i] = 0.0
    k_out = 0
    while k_out < times.size and times[k_out] < bk[0]:
        k_out += 1  # nothing has been given yet: zero state
    t_end = times[times.size - 1]
    ws = work[n:n + 11]
    w = work[n + 11:n + 11 + n]
    piv = np.empty(n, dtype=np.int64)
    i_b = 0
    while i_b < n_break:
        t0 = bk[i_b]
        while i_b + 1 < n_break and bk[i_b + 1] == t0:
            i_b += 1
        if t0 > t_end:
            break
        for i in range(n):
            b[i] = 0.0
        for r in range(n_rec):
            if t_eff[r] == np.inf:
                continue
            if ev_rate[r] > 0:
                if t_eff[r] <= t0 < t_eff[r] + ev_dur[r]:
                    b[target[r]] += amount[r]
            elif t_eff[r] == t0:
                x[target[r]] += amount[r]
        for i in range(n):
            b_red[i] = 0.0 if is_dep[i] else b[i]
        for j in range(n_dep):
            d = np.int64(dep[j, D_STATE])
            dep[j, D_X0] = x[d]
            dep[j, D_SS] = b[d] / dep[j, D_KA]
        last = i_b + 1 >= n_break or bk[i_b + 1] > t_end
        t1 = t_end if last else bk[i_b + 1]
        st, k_out, tf = _segment(x, t0, t1, last, a, nz_i, nz_j, nz_v, nnz_red, nnz, b, b_red,
                                 dep, n_dep, vmax, km, v1, fm_mass, c, e, m, times, k_out,
                                 states, rtol, atol, ws, w, piv)
        if st != STATUS_OK:
            return st, tf
        i_b += 1
    return STATUS_OK, 0.0


@njit(parallel=True, cache=True)
def ode_population(theta, weight, layout, mass_ratio, route_pos, mm_pos, ep, rows, ep_row,
                   ev_time, ev_amt, ev_rate, ev_dur, ev_route, ev_f, ev_lag, ev_evid, ev_perkg,
                   depot_of_row, extra_kas, n_total, times, rtol, atol, out_conc, out_e, status,
                   fail_time):
    """:func:`ode_subject` for every row of ``theta``, in parallel; outputs as
    :func:`dmtpk._kernels.linear.linear_population` (``n_total`` states per subject)."""
    n = theta.shape[0]
    n_ep = ep.shape[0]
    m_t = times.size
    c = layout[L_CENTRAL]
    mm = layout[L_METAB]
    n_blocks = (n + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        states = np.empty((m_t, n_total))
        work = np.empty((11 + 2 * n_total, n_total))
        conc = np.empty((rows.size, m_t))
        for i in range(blk * BLOCK, min(n, (blk + 1) * BLOCK)):
            th = theta[i]
            st, tf = ode_subject(th, weight[i], layout, mass_ratio, route_pos, mm_pos, ev_time,
                                 ev_amt, ev_rate, ev_dur, ev_route, ev_f, ev_lag, ev_evid,
                                 ev_perkg, depot_of_row, extra_kas, times, rtol, atol, states,
                                 work)
            status[i] = st
            fail_time[i] = tf
            if st != STATUS_OK:
                continue
            v1 = th[layout[P_V1]]
            vm = th[layout[P_MV]] if mm >= 0 else 1.0
            for r in range(rows.size):
                o = rows[r]
                for k in range(m_t):
                    if o == 0:
                        val = states[k, c] / v1
                    elif o == 1:
                        val = states[k, mm] / vm
                    else:
                        val = states[k, ep[o - 2, EP_STATE]]
                    conc[r, k] = val * 1000.0
                    out_conc[i, r, k] = val * 1000.0
            for q in range(n_ep):
                e0 = th[ep[q, EP_E0]] if ep[q, EP_E0] >= 0 else 0.0
                emax = th[ep[q, EP_EMAX]] if ep[q, EP_EMAX] >= 0 else 0.0
                mscale = emax * e0 if ep[q, EP_FRACTIONAL] == 1 else emax
                ec50 = 1000.0 * th[ep[q, EP_EC50]] if ep[q, EP_EC50] >= 0 else 1.0
                gamma = th[ep[q, EP_GAMMA]] if ep[q, EP_GAMMA] >= 0 else 1.0
                slope = th[ep[q, EP_SLOPE]] / 1000.0 if ep[q, EP_SLOPE] >= 0 else 0.0
                pd_curve(conc[ep_row[q]], ep[q, EP_CODE], ep[q, EP_SIGN], e0, mscale, ec50,
                         gamma, slope, out_e[i, q])
