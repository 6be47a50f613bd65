r"""Stiff segments of the compiled integrator: the Rosenbrock method ROS2 for one subject.

When a lane of :mod:`dmtpk._kernels.ode` turns stiff (:math:`h\rho > 3.25` on 15 accepted
steps), its subject finishes the segment here, alone, with the L-stable second-order
Rosenbrock method ROS2 (Verwer, Spee, Blom & Hundsdorfer 1999, SIAM J Sci Comput 20:1456-1480):

.. math:: W = I - \gamma h J, \quad W k_1 = f(x), \quad W k_2 = f(x + h k_1) - 2 k_1, \quad
          x_{n+1} = x + \tfrac{3}{2} h k_1 + \tfrac{1}{2} h k_2,

:math:`\gamma = 1 + 1/\sqrt 2`, error estimate :math:`\tfrac{1}{2} h (k_1 + k_2)`, with the
analytic Jacobian :math:`J = A - \partial f_{MM}/\partial x` (the derivative of
:func:`dmtpk._kernels.elimination.mm_dflux_dc`) and the depots back in the integrated state.
Outputs on its steps use cubic Hermite interpolation. The error norm and the step-size factor
are :mod:`dmtpk._kernels.stepping`'s.

Status codes (shared with :mod:`dmtpk._kernels.ode`): 0 ok, 3 step size underflow, 4 too many
steps.
"""

from __future__ import annotations

import math

from .config import jit, jit_inline
from .jitted import mm_dflux_dc, mm_flux
from .stepping import error_norm, step_factor

STATUS_OK = 0
STATUS_STEP_UNDERFLOW = 3
STATUS_TOO_MANY_STEPS = 4
#: Most steps of one segment (in each integrator).
MAX_STEPS = 200000
GAMMA_ROS2 = 1.0 + 1.0 / math.sqrt(2.0)


@jit_inline
def _rhs(x, nz_i, nz_j, nz_v, nnz, b, vmax, km, v1, fm_mass, c, e, m, out):
    """out = A x + b (A as its first ``nnz`` non-zero entries), minus the Michaelis-Menten flux
    from ``c`` (into ``e`` and ``m``)."""
    n = x.size
    for i in range(n):
        out[i] = b[i]
    for k in range(nnz):
        out[nz_i[k]] += nz_v[k] * x[nz_j[k]]
    if vmax > 0.0:
        flux = mm_flux(x[c] / v1, vmax, km)
        out[c] -= flux
        out[e] += flux
        if m >= 0:
            out[m] += fm_mass * flux


@jit
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


@jit
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


@jit
def segment_stiff(x, t, h, t1, last, a, nz_i, nz_j, nz_v, nnz, b, vmax, km, v1, fm_mass, c, e, m,
                   times, k_out, states, rtol, atol, ws, w, piv):
    """Integrate one subject from ``t`` to t1 (the end of a segment without events) with the
    Rosenbrock method ROS2, first step ``h``, every state (depots included, ``x`` holding
    their amounts at t) integrated: all ``nnz`` entries of A, inputs ``b``. ``x`` is
    overwritten with x(t1); outputs at t < times[k] < t1 (<= t1 when ``last``) go to
    ``states[k]`` ((n_times, n)), from ``k_out``. Returns (status, next output index, failure
    time)."""
    n = x.size
    k1 = ws[0]
    k2 = ws[1]
    k3 = ws[2]
    k4 = ws[3]
    y1 = ws[4]
    ys = ws[5]
    err = ws[6]
    m_t = times.size
    steps = 0
    while t < t1:
        steps += 1
        if steps > MAX_STEPS:
            return STATUS_TOO_MANY_STEPS, k_out, t
        if h < 1e-12 * max(1.0, abs(t)):
            return STATUS_STEP_UNDERFLOW, k_out, t
        if t + h >= t1 or t + 1.01 * h >= t1:
            h = t1 - t
        # W = I - gamma h J; k1 = W^-1 f(x); k2 = W^-1 (f(x + h k1) - 2 k1).
        for i in range(n):
            for j in range(n):
                w[i, j] = -GAMMA_ROS2 * h * a[i, j]
            w[i, i] += 1.0
        if vmax > 0.0:
            d = mm_dflux_dc(x[c] / v1, vmax, km) / v1  # d flux / d x_c
            w[c, c] += GAMMA_ROS2 * h * d
            w[e, c] -= GAMMA_ROS2 * h * d
            if m >= 0:
                w[m, c] -= GAMMA_ROS2 * h * fm_mass * d
        if _lu_factor(w, piv) != 0:
            return STATUS_STEP_UNDERFLOW, k_out, t
        _rhs(x, nz_i, nz_j, nz_v, nnz, b, vmax, km, v1, fm_mass, c, e, m, k1)
        for i in range(n):
            k2[i] = k1[i]  # f(x), kept for the Hermite interpolation
        _lu_solve_inplace(w, piv, k1)
        for i in range(n):
            ys[i] = x[i] + h * k1[i]
        _rhs(ys, nz_i, nz_j, nz_v, nnz, b, vmax, km, v1, fm_mass, c, e, m, k3)
        for i in range(n):
            k3[i] -= 2.0 * k1[i]
        _lu_solve_inplace(w, piv, k3)
        for i in range(n):
            y1[i] = x[i] + 1.5 * h * k1[i] + 0.5 * h * k3[i]
            err[i] = 0.5 * h * (k1[i] + k3[i])
        en = error_norm(err, x, y1, rtol, atol)
        if en <= 1.0:
            t_new = t + h
            _rhs(y1, nz_i, nz_j, nz_v, nnz, b, vmax, km, v1, fm_mass, c, e, m, k4)
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
        h *= step_factor(en, 0.5)
    return STATUS_OK, k_out, t
