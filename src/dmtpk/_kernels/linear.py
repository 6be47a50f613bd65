r"""Closed-form population kernel for linear models.

For a linear model every output is a sum of exponentials. The transfer function from an input to
an output is a product of simple factors: the input (central: 1; depot: :math:`k_a/(s+k_a)`),
the mammillary disposition :math:`\prod_p (s + k_{p1}) / D(s)` (central amount, peripheral exit
rate constants :math:`k_{p1}` as zeros, :math:`D` the characteristic polynomial), and the output
(plasma: :math:`1/V_1`; metabolite: :math:`f_m\,\rho\,k_{10}/((s + k_{me}) V_m)`; effect site:
:math:`k_{e0}/(s+k_{e0})`). With distinct poles :math:`\lambda_j` the impulse response is
:math:`\sum_j r_j e^{\lambda_j t}`, :math:`r_j = N(\lambda_j)/\prod_{m\ne j}(\lambda_j-\lambda_m)`
(partial fractions, as in the closed-form ADVAN solutions of Abuhelwa et al. 2015,
J Pharmacol Toxicol Methods 73:42-48). Doses superpose: a bolus :math:`D` adds
:math:`D\sum_j r_j e^{\lambda_j \tau}`; an infusion at rate :math:`R` adds
:math:`R\sum_j r_j\,\mathrm{expm1}(\lambda_j\tau)/\lambda_j` while running and
:math:`R\sum_j r_j e^{\lambda_j(t-t_e)}\mathrm{expm1}(\lambda_j d)/\lambda_j` after its end.

When two poles of one output nearly coincide (relative gap below :data:`MIN_POLE_GAP`, e.g.
KA = KE0 drawn by chance) the partial fractions lose accuracy; the kernel then marks the subject
with status :data:`STATUS_DEGENERATE` and the caller solves it with the exact single-subject
engine, whose matrix exponential has no such limit.

This module compiles with Numba (flags from :mod:`dmtpk._kernels.config`); only the population
engine imports it, so ``import dmtpk`` stays light.
"""

from __future__ import annotations

import math

import numpy as np

from .config import jit, jit_inline, jit_parallel, jit_vector, jit_vector_inline, \
    prange
from .dosing import DOSE_OK
from .jitted import pd_response, resolve_dose, table_record
from .system import (L_METAB, L_P1, L_P2, P_CL, P_FM, P_KA, P_MCL, P_MV, P_Q, P_Q3, P_V1, P_V2,
                     P_V3)

STATUS_OK = 0
STATUS_DEGENERATE = 1
STATUS_BAD_PARAMETER = 2
#: Smallest relative gap between two poles of one output for the partial fractions to be used;
#: their error is about eps / gap, so 1e-6 keeps it near 1e-10.
MIN_POLE_GAP = 1e-6

# Columns of the endpoint description array (one row per endpoint).
EP_STATE, EP_DRIVER, EP_KE0, EP_CODE, EP_SIGN, EP_FRACTIONAL, EP_E0, EP_EMAX, EP_EC50, \
    EP_GAMMA, EP_SLOPE = range(11)


@jit
def disposition_poles(k10, k12, k21, k13, k31, n_cmt, out):
    """Eigenvalues (all negative) of the 1-, 2- or 3-compartment mammillary system; writes
    ``out[:n_cmt]``. Returns 0, or 1 when the parameters give no valid negative real roots."""
    if n_cmt == 1:
        out[0] = -k10
        return 0 if k10 > 0 else 1
    if n_cmt == 2:
        b = k10 + k12 + k21
        c = k10 * k21
        disc = b * b - 4.0 * c
        if disc < 0 or c <= 0:
            return 1
        q = -0.5 * (b + math.sqrt(disc))
        out[0] = q
        out[1] = c / q
        return 0
    # Three compartments: s^3 + a2 s^2 + a1 s + a0, three real negative roots (trigonometric
    # form), each polished with two Newton steps.
    a2 = k10 + k12 + k13 + k21 + k31
    a1 = k10 * k21 + k10 * k31 + k12 * k31 + k13 * k21 + k21 * k31
    a0 = k10 * k21 * k31
    if a0 <= 0:
        return 1
    p = (3.0 * a1 - a2 * a2) / 9.0
    q = (9.0 * a2 * a1 - 27.0 * a0 - 2.0 * a2 * a2 * a2) / 54.0
    if p >= 0:
        return 1
    r = math.sqrt(-p * p * p)
    arg = q / r
    arg = min(1.0, max(-1.0, arg))
    theta = math.acos(arg)
    m = 2.0 * math.sqrt(-p)
    for k in range(3):
        x = m * math.cos((theta + 2.0 * math.pi * k) / 3.0) - a2 / 3.0
        for _ in range(2):
            f = ((x + a2) * x + a1) * x + a0
            df = (3.0 * x + 2.0 * a2) * x + a1
            if df != 0.0:
                x -= f / df
        out[k] = x
    return 0


@jit
def residues(poles, n_poles, zeros, n_zeros, gain, out):
    """Partial-fraction residues of gain * prod(s + zeros) / prod(s - poles); writes
    ``out[:n_poles]``. Returns 1 if two poles are closer than :data:`MIN_POLE_GAP`."""
    for j in range(n_poles):
        lj = poles[j]
        num = gain
        for z in range(n_zeros):
            num *= lj + zeros[z]
        den = 1.0
        for m in range(n_poles):
            if m != j:
                d = lj - poles[m]
                if abs(d) <= MIN_POLE_GAP * max(abs(lj), abs(poles[m])):
                    return 1
                den *= d
        out[j] = num / den
    return 0


#: Subjects per parallel task: scratch arrays are allocated once per block.
BLOCK = 256
#: Most poles of one output: depot, three disposition, metabolite, effect site.
MAX_POLES = 6


@jit_vector_inline
def prepare_subject(th, weight, layout, mass_ratio, route_pos, ep, rows, ev_time, ev_amt,
                    ev_rate, ev_dur, ev_route, ev_f, ev_lag, ev_ka, ev_evid, ev_perkg, td, kind,
                    size, dur, lam, rmat, n_poles, pd_par, zeros, disp, poles, res, idx):
    """Turn one subject's parameters ``th`` (n_params) and the event table into sums of
    exponentials.

    Writes, per dose ``d``: effective time ``td[d]`` (min, after lag), ``kind[d]`` (0 bolus,
    1 infusion), ``size[d]`` (amount in mg, or rate in mg/min), ``dur[d]``, its poles
    ``lam[d, :n_poles[d]]`` (1/min) and residues ``rmat[d, r, :]`` of each output row ``r``
    (ng/mL per mg, or per mg/min). ``rows[r]`` says what row ``r`` holds: 0 plasma parent,
    1 plasma metabolite, 2 + k the effect site of endpoint k. ``pd_par[k]`` holds endpoint k's
    PD values (E0, M, EC50 in ng/mL, GAMMA, SLOPE per ng/mL), M the effect scale (EMAX, or
    E0 x EMAX when fractional). ``zeros`` (2), ``disp`` (3), ``poles``, ``res`` and ``idx``
    (:data:`MAX_POLES`) are scratch.

    Returns
    -------
    (status, n_doses)
    """
    n_ep = ep.shape[0]
    v1 = th[layout[P_V1]]
    cl = th[layout[P_CL]]
    if not (v1 > 0 and cl > 0):
        return STATUS_BAD_PARAMETER, 0
    k10 = cl / v1
    k12 = k21 = k13 = k31 = 0.0
    n_cmt = 1
    zeros[0] = zeros[1] = 0.0
    if layout[L_P1] >= 0:
        k12 = th[layout[P_Q]] / v1
        k21 = th[layout[P_Q]] / th[layout[P_V2]]
        zeros[0] = k21
        n_cmt = 2
    if layout[L_P2] >= 0:
        k13 = th[layout[P_Q3]] / v1
        k31 = th[layout[P_Q3]] / th[layout[P_V3]]
        zeros[1] = k31
        n_cmt = 3
    if disposition_poles(k10, k12, k21, k13, k31, n_cmt, disp) != 0:
        return STATUS_BAD_PARAMETER, 0
    has_m = layout[L_METAB] >= 0
    kme = 0.0
    m_gain = 0.0
    if has_m:
        vm = th[layout[P_MV]]
        kme = th[layout[P_MCL]] / vm
        m_gain = th[layout[P_FM]] * mass_ratio * k10 / vm
    f_inh = th[route_pos[0]] if route_pos[0] >= 0 else 1.0
    lag_inh = th[route_pos[1]] if route_pos[1] >= 0 else 0.0
    ka_model = th[layout[P_KA]] if layout[P_KA] >= 0 else 0.0
    for k in range(n_ep):
        pd_par[k, 0], pd_par[k, 1], pd_par[k, 2], pd_par[k, 3], pd_par[k, 4] = endpoint_pd(
            th, ep, k)

    nd = 0
    for r in range(ev_time.size):
        if ev_evid[r] != 1:
            continue
        route = ev_route[r]
        d_amt, d_rate, d_f, d_lag, d_mrate, d_mdur, d_scale = table_record(
            ev_amt[r], ev_rate[r], ev_dur[r], route, ev_f[r], ev_lag[r], ev_perkg[r], f_inh,
            lag_inh, weight)
        st, amount, rate, duration, lag = resolve_dose(d_amt, d_rate, d_f, d_lag, d_mrate,
                                                       d_mdur, d_scale)
        if st != DOSE_OK:
            return STATUS_BAD_PARAMETER, 0
        td[nd] = ev_time[r] + lag
        if rate > 0:
            kind[nd] = 1
            size[nd] = rate
            dur[nd] = duration
        else:
            kind[nd] = 0
            size[nd] = amount
            dur[nd] = 0.0
        # Poles of this dose: [depot], disposition, [metabolite], effect sites.
        nu = 0
        in_gain = 1.0
        if route == 1:
            ka = ev_ka[r]
            if math.isnan(ka):
                ka = ka_model
            if not ka > 0:
                return STATUS_BAD_PARAMETER, 0
            lam[nd, nu] = -ka
            nu += 1
            in_gain = ka
        n_in = nu
        for j in range(n_cmt):
            lam[nd, nu] = disp[j]
            nu += 1
        m_pos = nu
        if has_m:
            lam[nd, nu] = -kme
            nu += 1
        ke_pos = nu
        for k in range(n_ep):
            lam[nd, nu] = -th[ep[k, EP_KE0]] if ep[k, EP_STATE] >= 0 else -1.0
            nu += 1
        n_poles[nd] = nu
        for r in range(rows.size):
            for j in range(nu):
                rmat[nd, r, j] = 0.0
            o = rows[r]
            via_m = (o == 1) or (o >= 2 and ep[o - 2, EP_DRIVER] == 1)
            npo = 0
            for j in range(n_in + n_cmt):
                idx[npo] = j
                npo += 1
            gain = 1000.0 * in_gain  # mg/L -> ng/mL
            if via_m:
                idx[npo] = m_pos
                npo += 1
                gain *= m_gain
            else:
                gain /= v1
            if o >= 2:
                idx[npo] = ke_pos + o - 2
                npo += 1
                gain *= th[ep[o - 2, EP_KE0]]
            for j in range(npo):
                poles[j] = lam[nd, idx[j]]
            if residues(poles, npo, zeros, n_cmt - 1, gain, res) != 0:
                return STATUS_DEGENERATE, 0
            for j in range(npo):
                rmat[nd, r, idx[j]] += res[j]
        nd += 1
    return STATUS_OK, nd


#: On a uniform grid, exp(lam*(t_k - t_d)) is a fresh exp every ANCHOR points times the powers
#: step^j (j < ANCHOR) of step = exp(lam*h), computed once per pole: the accumulated rounding
#: stays below about ANCHOR ulp (1e-14 relative), and the products, independent of each other,
#: vectorise instead of forming one chain of multiplications along the grid.
ANCHOR = 32


@jit_vector_inline
def _exp_series(lj, times, t0, k0, k1, h, ebuf, scale, powers):
    """ebuf[k] = scale * exp(lj * (times[k] - t0)) for k in [k0, k1); uniform grid if h > 0.
    ``powers`` (:data:`ANCHOR`) is scratch, filled by doubling (step^(m + j) = step^m step^j,
    m = 1, 2, 4, ...): five vectorised products instead of a chain of 32 multiplications, and
    at most five roundings deep."""
    if h > 0.0:
        step = math.exp(lj * h)
        p = 1.0
        for j in range(min(ANCHOR, k1 - k0)):
            powers[j] = p
            p *= step
        k = k0
        while k < k1:
            v = scale * math.exp(lj * (times[k] - t0))
            kend = min(k + ANCHOR, k1)
            for kk in range(k, kend):
                ebuf[kk] = v * powers[kk - k]
            k = kend
    else:
        for k in range(k0, k1):
            ebuf[k] = scale * math.exp(lj * (times[k] - t0))


@jit_vector_inline
def superpose(times, h, n_doses, td, kind, size, dur, lam, rmat, n_poles, out, i, ebuf,
              powers):
    """Output rows (ng/mL) at every time by superposition of every dose, written into
    ``out[i]`` (shape (n_rows, n_times) of ``out``, the final result array): the first term of
    a row is stored, the others added, so each row is written without being cleared first.
    ``h`` is the spacing of a uniform grid (0 if not uniform). ``ebuf`` (n_times) and
    ``powers`` (:data:`ANCHOR`) are scratch."""
    m_t = times.size
    n_out = out.shape[1]
    started = 0  # rows 0 .. n_out - 1 hold a term when bit o of started is set
    for d in range(n_doses):
        k0 = np.searchsorted(times, td[d], side="left")
        if kind[d] == 1:
            while k0 < m_t and times[k0] <= td[d]:
                k0 += 1  # an infusion has delivered nothing at its start
        k1 = np.searchsorted(times, td[d] + dur[d], side="left") if kind[d] == 1 else m_t
        for k in range(k0):
            ebuf[k] = 0.0  # rows are summed over the whole grid, from k = 0
        for j in range(n_poles[d]):
            lj = lam[d, j]
            if kind[d] == 0:
                _exp_series(lj, times, td[d], k0, m_t, h, ebuf, 1.0, powers)
            else:
                # While running: expm1(lj*tau)/lj, from the carried exponential where |lj*tau|
                # is at least 0.1 (cancellation then costs under 10 ulp), else expm1 itself.
                _exp_series(lj, times, td[d], k0, k1, h, ebuf, 1.0, powers)
                for k in range(k0, k1):
                    x = lj * (times[k] - td[d])
                    ebuf[k] = (math.expm1(x) if x > -0.1 else ebuf[k] - 1.0) / lj
                _exp_series(lj, times, td[d] + dur[d], k1, m_t, h, ebuf,
                            math.expm1(lj * dur[d]) / lj, powers)
            for o in range(n_out):
                coef = rmat[d, o, j] * size[d]
                if coef == 0.0:
                    continue
                if started & (1 << o):
                    for k in range(m_t):
                        out[i, o, k] += coef * ebuf[k]
                else:
                    for k in range(m_t):
                        out[i, o, k] = coef * ebuf[k]
                    started |= 1 << o
    for o in range(n_out):
        if not started & (1 << o):
            for k in range(m_t):
                out[i, o, k] = 0.0


@jit_inline
def endpoint_pd(theta, ep, q):
    """PD values of endpoint ``q`` (row of ``ep``) from one subject's ``theta``: (E0, the effect
    scale M, EC50 in ng/mL, GAMMA, SLOPE per ng/mL), M = EMAX, or E0 x EMAX for the fractional
    forms; absent values are E0 0, EMAX 0, EC50 1, GAMMA 1, SLOPE 0."""
    e0 = theta[ep[q, EP_E0]] if ep[q, EP_E0] >= 0 else 0.0
    emax = theta[ep[q, EP_EMAX]] if ep[q, EP_EMAX] >= 0 else 0.0
    m = emax * e0 if ep[q, EP_FRACTIONAL] == 1 else emax
    ec50 = 1000.0 * theta[ep[q, EP_EC50]] if ep[q, EP_EC50] >= 0 else 1.0
    gamma = theta[ep[q, EP_GAMMA]] if ep[q, EP_GAMMA] >= 0 else 1.0
    slope = theta[ep[q, EP_SLOPE]] / 1000.0 if ep[q, EP_SLOPE] >= 0 else 0.0
    return e0, m, ec50, gamma, slope


@jit_vector_inline
def pd_into(src, i, r, code, sign, e0, m, ec50, gamma, slope, dst, q):
    """:func:`dmtpk._kernels.pd.pd_response` over the curve ``src[i, r]`` into ``dst[i, q]``
    (shapes (n, n_rows, n_times) and (n, n_ep, n_times)), with the effect scale ``m`` given
    (:func:`endpoint_pd`). GAMMA 1 and 2 of the Emax family get loops of their own with GAMMA
    passed as a constant, so that their power compiles to the argument itself or a product
    instead of a call of ``pow`` per point; the loops vectorise (NumPy's error model)."""
    m_t = src.shape[2]
    if code != 0 and gamma == 2.0:
        for k in range(m_t):
            dst[i, q, k] = pd_response(src[i, r, k], code, sign, False, e0, m, ec50, 2.0, slope)
    elif code != 0 and gamma == 1.0:
        for k in range(m_t):
            dst[i, q, k] = pd_response(src[i, r, k], code, sign, False, e0, m, ec50, 1.0, slope)
    else:
        for k in range(m_t):
            dst[i, q, k] = pd_response(src[i, r, k], code, sign, False, e0, m, ec50, gamma,
                                       slope)


@jit_vector
def pd_curve(conc, code, sign, e0, m, ec50, gamma, slope, out):
    """:func:`pd_into` on one curve ``conc`` (n_times) into ``out`` (n_times)."""
    pd_into(conc.reshape((1, 1, conc.size)), 0, 0, code, sign, e0, m, ec50, gamma, slope,
            out.reshape((1, 1, out.size)), 0)


@jit_vector
def _linear_block(i0, i1, theta, weight, layout, mass_ratio, route_pos, ep, rows, ep_row,
                  ev_time, ev_amt, ev_rate, ev_dur, ev_route, ev_f, ev_lag, ev_ka, ev_evid,
                  ev_perkg, times, h, out_conc, out_e, status):
    """Subjects ``i0`` to ``i1 - 1`` of :func:`linear_population`, one task's share: scratch
    allocated once, each subject's parameters copied into it (no per-subject views of the
    shared arrays, whose reference counts the threads would otherwise contend for), the curves
    and responses written once, in place, into the final arrays."""
    n_ep = ep.shape[0]
    n_rows = rows.size
    n_rec = ev_time.size
    n_par = theta.shape[1]
    th = np.empty(n_par)
    td = np.empty(n_rec)
    kind = np.empty(n_rec, dtype=np.int64)
    size = np.empty(n_rec)
    dur = np.empty(n_rec)
    lam = np.empty((n_rec, 3 + 3 + n_ep))
    rmat = np.empty((n_rec, n_rows, 3 + 3 + n_ep))
    n_poles = np.empty(n_rec, dtype=np.int64)
    pd_par = np.empty((n_ep, 5))
    ebuf = np.empty(times.size)
    powers = np.empty(ANCHOR)
    zeros = np.empty(2)
    disp = np.empty(3)
    poles = np.empty(MAX_POLES)
    res = np.empty(MAX_POLES)
    idx = np.empty(MAX_POLES, dtype=np.int64)
    for i in range(i0, i1):
        for p in range(n_par):
            th[p] = theta[i, p]
        st, nd = prepare_subject(th, weight[i], layout, mass_ratio, route_pos, ep, rows,
                                 ev_time, ev_amt, ev_rate, ev_dur, ev_route, ev_f, ev_lag,
                                 ev_ka, ev_evid, ev_perkg, td, kind, size, dur, lam, rmat,
                                 n_poles, pd_par, zeros, disp, poles, res, idx)
        status[i] = st
        if st != STATUS_OK:
            continue
        superpose(times, h, nd, td, kind, size, dur, lam, rmat, n_poles, out_conc, i, ebuf,
                  powers)
        for q in range(n_ep):
            pd_into(out_conc, i, ep_row[q], ep[q, EP_CODE], ep[q, EP_SIGN], pd_par[q, 0],
                    pd_par[q, 1], pd_par[q, 2], pd_par[q, 3], pd_par[q, 4], out_e, q)


@jit_parallel
def linear_population(theta, weight, layout, mass_ratio, route_pos, ep, rows, ep_row, ev_time,
                      ev_amt, ev_rate, ev_dur, ev_route, ev_f, ev_lag, ev_ka, ev_evid, ev_perkg,
                      times, h, out_conc, out_e, status):
    """Every subject (row of ``theta``, shape (n, n_params)) by the closed form, in parallel.

    Parameters
    ----------
    rows : int64[:]
        What each output row holds (0 plasma parent, 1 metabolite, 2 + k effect site of
        endpoint k); row 0 is the plasma parent.
    ep_row : int64[:]
        Output row whose concentration drives each endpoint.
    h : float
        Spacing of ``times`` when uniform (see :func:`uniform_step`), else 0.
    out_conc : float64[:, :, :]
        Output concentrations (ng/mL), shape (n, n_rows, n_times).
    out_e : float64[:, :, :]
        Responses, shape (n, n_ep, n_times).
    status : int64[:]
        0 ok, 1 near-equal poles (solve with the single-subject engine), 2 invalid parameters.

    Each subject writes only its own rows, so results do not depend on the number of threads
    or on how subjects are split into calls; a block's rows are first touched by the thread
    that computes them.
    """
    n = theta.shape[0]
    n_blocks = (n + BLOCK - 1) // BLOCK
    for b in prange(n_blocks):
        _linear_block(b * BLOCK, min(n, (b + 1) * BLOCK), theta, weight, layout, mass_ratio,
                      route_pos, ep, rows, ep_row, ev_time, ev_amt, ev_rate, ev_dur, ev_route,
                      ev_f, ev_lag, ev_ka, ev_evid, ev_perkg, times, h, out_conc, out_e,
                      status)


def uniform_step(times) -> float:
    """Spacing of ``times`` if they are uniform to 1e-12 of their span (else 0.0)."""
    times = np.asarray(times, dtype=float)
    if times.size < 3:
        return 0.0
    h = (times[-1] - times[0]) / (times.size - 1)
    grid = times[0] + h * np.arange(times.size)
    tol = 1e-12 * max(1.0, abs(times[-1]))
    return float(h) if h > 0 and np.max(np.abs(times - grid)) <= tol else 0.0
