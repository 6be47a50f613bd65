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
from numba import njit, prange

from .expm import expm as _expm_py
from .system import fill_system as _fill_system_py

expm = njit(cache=True)(_expm_py)
_fill_system = njit(cache=True)(_fill_system_py)

STATUS_OK = 0
#: A record the kernel leaves to the single-subject walker (it raises the error, or handles the
#: case).
STATUS_RECORD = 1
#: More simultaneous infusions or pending doses than the scratch holds: run again with more.
STATUS_CAPACITY = 2

#: Subjects per parallel task: scratch is allocated once per block.
BLOCK = 16

#: Largest condition number of the eigenvector matrix for which the eigen step is used (error
#: about eps x cond(V) relative to the largest state: below 1e-10).
MAX_EIGVEC_COND = 1e5


@njit(cache=True)
def _decompose(a, lam, v, vinv):
    """Eigendecomposition of ``a`` into ``lam``, ``v``, ``vinv``; False when it is unusable
    (complex or ill-conditioned), then the caller steps with the matrix exponential."""
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


@njit(cache=True, inline="always")
def _step(x, b, dt, eigen, a, lam, v, vinv, z, u):
    """Advance ``x`` (in place) by ``dt`` min of x' = A x + b, b constant. ``z``, ``u``
    (n) are scratch."""
    if dt <= 0.0:
        return
    n = x.size
    if eigen:
        has_b = False
        for k in range(n):
            if b[k] != 0.0:
                has_b = True
                break
        for k in range(n):
            s = 0.0
            for j in range(n):
                s += vinv[k, j] * x[j]
            e = math.exp(lam[k] * dt)
            s *= e
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
        return
    aug = np.zeros((n + 1, n + 1))
    for i in range(n):
        for j in range(n):
            aug[i, j] = a[i, j] * dt
        aug[i, n] = b[i] * dt
    m = expm(aug)
    for i in range(n):
        s = m[i, n]
        for j in range(n):
            s += m[i, j] * x[j]
        u[i] = s
    for i in range(n):
        x[i] = u[i]


@njit(cache=True, inline="always")
def _dose(src, s, amt, rate, f, lag, mrate, mdur, out):
    """Dose of ``amt`` mg, data rate ``rate``, into state ``s`` with the F, lag and modelled
    rate/duration of record ``src``: writes (amount, rate, duration, lag) into ``out``; False
    when the record has no defined answer."""
    fj = f[src, s]
    lj = lag[src, s]
    if not (math.isfinite(fj) and fj >= 0.0):
        return False
    if not (math.isfinite(lj) and lj >= 0.0):
        return False
    amount = fj * amt
    out[0] = amount
    out[3] = lj
    if rate == 0.0:
        out[1] = 0.0
        out[2] = 0.0
    elif rate > 0.0:
        out[1] = rate
        out[2] = amount / rate
    elif rate == -1.0:
        r = mrate[src, s]
        if not (math.isfinite(r) and r > 0.0):
            return False
        out[1] = r
        out[2] = amount / r
    elif rate == -2.0:
        d = mdur[src, s]
        if not (math.isfinite(d) and d > 0.0):
            return False
        out[1] = amount / d
        out[2] = d
    else:
        return False
    return True


@njit(cache=True)
def _walk(a, eigen, lam, v, vinv, z, u, b, x, t, t_to, cur, time, target, amt, rate, addl, f,
          lag, mrate, mdur, inf_s, inf_r, inf_e, n_inf, ld_t, ld_s, ld_a, ld_r, ld_d, n_ld, tr_t, tr_left,
          tr_ii, tr_rec, n_tr, dose, cap):
    """Advance the schedule from ``t`` to ``t_to``, giving every scheduled event due at or
    before it; returns (t, n_inf, n_ld, n_tr, status). ``cur`` is the latest record processed
    (its F and lag build the additional doses)."""
    while True:
        t_next = math.inf
        for k in range(n_ld):
            t_next = min(t_next, ld_t[k])
        for k in range(n_tr):
            t_next = min(t_next, tr_t[k])
        for k in range(n_inf):
            t_next = min(t_next, inf_e[k])
        if t_next > t_to:
            break
        t_next = max(t_next, t)
        for k in range(b.size):
            b[k] = 0.0
        for k in range(n_inf):
            b[inf_s[k]] += inf_r[k]
        _step(x, b, t_next - t, eigen, a, lam, v, vinv, z, u)
        t = t_next
        # Infusions ending now stop.
        k = 0
        while k < n_inf:
            if inf_e[k] <= t_next:
                n_inf -= 1
                inf_s[k] = inf_s[n_inf]
                inf_r[k] = inf_r[n_inf]
                inf_e[k] = inf_e[n_inf]
            else:
                k += 1
        # Lagged doses due now.
        k = 0
        while k < n_ld:
            if ld_t[k] <= t_next:
                if ld_r[k] > 0.0:
                    if ld_d[k] > 0.0:
                        if n_inf == cap:
                            return t, n_inf, n_ld, n_tr, STATUS_CAPACITY
                        inf_s[n_inf] = ld_s[k]
                        inf_r[n_inf] = ld_r[k]
                        inf_e[n_inf] = t_next + ld_d[k]
                        n_inf += 1
                else:
                    x[ld_s[k]] += ld_a[k]
                n_ld -= 1
                ld_t[k] = ld_t[n_ld]
                ld_s[k] = ld_s[n_ld]
                ld_a[k] = ld_a[n_ld]
                ld_r[k] = ld_r[n_ld]
                ld_d[k] = ld_d[n_ld]
            else:
                k += 1
        # Additional doses due now, built with the latest record's values.
        k = 0
        while k < n_tr:
            if tr_t[k] <= t_next:
                i = tr_rec[k]
                s = target[i]
                if not _dose(cur, s, amt[i], rate[i], f, lag, mrate, mdur, dose):
                    return t, n_inf, n_ld, n_tr, STATUS_RECORD
                st = _give(t_next, s, dose, x, inf_s, inf_r, inf_e, n_inf, ld_t, ld_s, ld_a,
                           ld_r, ld_d, n_ld, cap)
                if st < 0:
                    return t, n_inf, n_ld, n_tr, STATUS_CAPACITY
                if dose[3] > 0.0:
                    n_ld += 1
                elif dose[1] > 0.0 and dose[2] > 0.0:
                    n_inf += 1
                tr_left[k] -= 1
                tr_t[k] = time[i] + (addl[i] - tr_left[k] + 1) * tr_ii[k]
                if tr_left[k] == 0:
                    n_tr -= 1
                    tr_t[k] = tr_t[n_tr]
                    tr_left[k] = tr_left[n_tr]
                    tr_ii[k] = tr_ii[n_tr]
                    tr_rec[k] = tr_rec[n_tr]
                    continue
            k += 1
    if t_to > t:
        for k in range(b.size):
            b[k] = 0.0
        for k in range(n_inf):
            b[inf_s[k]] += inf_r[k]
        _step(x, b, t_to - t, eigen, a, lam, v, vinv, z, u)
        t = t_to
    return t, n_inf, n_ld, n_tr, STATUS_OK


@njit(cache=True, inline="always")
def _give(t, s, dose, x, inf_s, inf_r, inf_e, n_inf, ld_t, ld_s, ld_a, ld_r, ld_d, n_ld, cap):
    """Give ``dose`` (amount, rate, duration, lag) into state ``s`` at ``t``: schedule it after
    its lag, start an infusion, or add a bolus. The caller increments the count that grew
    (a lagged dose when lag > 0, else an infusion when rate and duration are > 0). Returns -1
    when the scratch is full."""
    if dose[3] > 0.0:
        if n_ld == cap:
            return -1
        ld_t[n_ld] = t + dose[3]
        ld_s[n_ld] = s
        ld_a[n_ld] = dose[0]
        ld_r[n_ld] = dose[1]
        ld_d[n_ld] = dose[2]
        return 0
    if dose[1] > 0.0:
        if dose[2] > 0.0:
            if n_inf == cap:
                return -1
            inf_s[n_inf] = s
            inf_r[n_inf] = dose[1]
            inf_e[n_inf] = t + dose[2]
    else:
        x[s] += dose[0]
    return 0


@njit(cache=True)
def _single_dose_states(m, ii, s, dose, a, eigen, lam, v, vinv, z, u, b, phi):
    """States ``phi[k - 1]`` at k*II (k = 1..m) after one dose of a steady-state train given
    at 0 (its lag and infusion duration applied), from an empty system."""
    n = b.size
    x = np.zeros(n)
    t = 0.0
    lg = dose[3]
    r = dose[1]
    d = dose[2]
    t_on = lg
    t_off = lg + d if r > 0.0 else lg
    given = False
    for k in range(1, m + 1):
        t_to = k * ii
        # Break points inside (t, t_to]: dose start, infusion end.
        while True:
            nxt = math.inf
            if not given:
                nxt = t_on
            elif r > 0.0 and t < t_off:
                nxt = t_off
            if nxt > t_to:
                break
            for j in range(n):
                b[j] = 0.0
            if given and r > 0.0 and t < t_off:
                b[s] = r
            _step(x, b, nxt - t, eigen, a, lam, v, vinv, z, u)
            t = max(t, nxt)
            if not given:
                given = True
                if r == 0.0:
                    x[s] += dose[0]
                elif d <= 0.0:
                    t_off = t
        for j in range(n):
            b[j] = 0.0
        if given and r > 0.0 and t < t_off:
            b[s] = r
        _step(x, b, t_to - t, eigen, a, lam, v, vinv, z, u)
        t = t_to
        for j in range(n):
            phi[k - 1, j] = x[j]


@njit(cache=True)
def _steady_state(ii, s, dose, a, dyn, eigen, lam, v, vinv, z, u, b, out):
    """Pre-dose steady state of the train (dynamic states, written into ``out`` at their state
    positions): S = sum_{k<m} Phi(k II) + (I - E)^-1 Phi(m II); False without a steady
    state."""
    lg = dose[3]
    d = dose[2] if dose[1] > 0.0 else 0.0
    m = max(1, math.ceil((lg + d) / ii - 1e-12))
    if m * ii < lg + d:
        m += 1
    n = b.size
    phi = np.zeros((m, n))
    _single_dose_states(m, ii, s, dose, a, eigen, lam, v, vinv, z, u, b, phi)
    nd = dyn.size
    add = np.zeros((nd, nd))
    for p in range(nd):
        for q in range(nd):
            add[p, q] = a[dyn[p], dyn[q]] * ii
    e = expm(add)
    lhs = np.eye(nd) - e
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


@njit(cache=True)
def walk_subject(theta_rec, layout, mass_ratio, r0, r1, time, evid, amt, rate, target, ss, ii,
                 addl, f, lag, mrate, mdur, dyn, x0, out, fs, is_, mat, vec):
    """Walk the records ``r0:r1`` of one subject (linear model), writing the state after each
    into ``out[r0:r1]``, from the amounts ``x0`` at the first record's time.

    ``fs`` (8, cap), ``is_`` (4, cap), ``mat`` (3, n, n) and ``vec`` (8, n) are scratch
    (see :func:`scratch`), ``cap`` the number of simultaneous infusions, lagged doses and
    additional-dose trains it holds.

    Returns
    -------
    (status, record)
        :data:`STATUS_OK`, or a status and the record (absolute row) it concerns.
    """
    n = out.shape[1]
    cap = fs.shape[1]
    a = mat[0]
    v = mat[1]
    vinv = mat[2]
    lam = vec[0, :n]
    z = vec[1, :n]
    u = vec[2, :n]
    b = vec[3, :n]
    x = vec[4, :n]
    ssx = vec[5, :n]
    dose = vec[6, :4]
    for k in range(n):
        x[k] = x0[k]
    kas = np.zeros(0)
    inf_r = fs[0]
    inf_e = fs[1]
    ld_t = fs[2]
    ld_a = fs[3]
    ld_r = fs[4]
    ld_d = fs[5]
    tr_t = fs[6]
    tr_ii = fs[7]
    inf_s = is_[0]
    ld_s = is_[1]
    tr_left = is_[2]
    tr_rec = is_[3]
    n_inf = 0
    n_ld = 0
    n_tr = 0
    built = -1
    eigen = False
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
            eigen = _decompose(a, lam, v, vinv)
            built = i
        ti = time[i]
        ev = evid[i]
        if ti < t:
            if ev != 3 and ev != 4:
                return STATUS_RECORD, i
            for k in range(n):
                x[k] = 0.0
            n_inf = 0
            n_ld = 0
            n_tr = 0
            t = ti
        elif n_inf == 0 and n_ld == 0 and n_tr == 0:
            # Nothing scheduled: one free step (the common case, and much cheaper than the
            # general advance).
            if ti > t:
                for k in range(n):
                    b[k] = 0.0
                _step(x, b, ti - t, eigen, a, lam, v, vinv, z, u)
                t = ti
        else:
            t, n_inf, n_ld, n_tr, st = _walk(a, eigen, lam, v, vinv, z, u, b, x, t, ti, cur,
                                             time, target, amt, rate, addl, f, lag, mrate,
                                             mdur, inf_s,
                                             inf_r, inf_e, n_inf, ld_t, ld_s, ld_a, ld_r, ld_d,
                                             n_ld, tr_t, tr_left, tr_ii, tr_rec, n_tr, dose,
                                             cap)
            if st != STATUS_OK:
                return st, i
        cur = i
        if ev == 3 or ev == 4:
            for k in range(n):
                x[k] = 0.0
            n_inf = 0
            n_ld = 0
            n_tr = 0
        if ev == 1 or ev == 4:
            s = target[i]
            ssi = ss[i]
            iii = ii[i]
            if ssi == 1 or ssi == 2:
                if iii == 0.0 and amt[i] == 0.0 and rate[i] > 0.0:
                    # Steady state of a constant infusion.
                    if f[i, s] != 1.0 or addl[i] != 0:
                        return STATUS_RECORD, i
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
                        return STATUS_RECORD, i
                    bd[sd] = rate[i]
                    det = np.linalg.det(add)
                    if not (abs(det) > 0.0) or not math.isfinite(det):
                        return STATUS_RECORD, i
                    y = np.linalg.solve(add, bd)
                    if ssi == 1:
                        for k in range(n):
                            x[k] = 0.0
                        n_inf = 0
                        n_ld = 0
                        n_tr = 0
                    for p in range(nd):
                        x[dyn[p]] -= y[p]
                    out[i] = x
                    continue
                if not iii > 0.0:
                    return STATUS_RECORD, i
                if not _dose(i, s, amt[i], rate[i], f, lag, mrate, mdur, dose):
                    return STATUS_RECORD, i
                lg = dose[3]
                if lg >= iii:
                    return STATUS_RECORD, i
                in_dyn = False
                for p in range(dyn.size):
                    if dyn[p] == s:
                        in_dyn = True
                if not in_dyn:
                    return STATUS_RECORD, i
                for k in range(n):
                    ssx[k] = 0.0
                if not _steady_state(iii, s, dose, a, dyn, eigen, lam, v, vinv, z, u, b, ssx):
                    return STATUS_RECORD, i
                if ssi == 1:
                    for k in range(n):
                        x[k] = 0.0
                    n_inf = 0
                    n_ld = 0
                    n_tr = 0
                for p in range(dyn.size):
                    x[dyn[p]] += ssx[dyn[p]]
                # Infusions of the train still running at the record time.
                if dose[1] > 0.0:
                    k = 1
                    while -k * iii + lg + dose[2] > 0.0:
                        if n_inf == cap:
                            return STATUS_CAPACITY, i
                        inf_s[n_inf] = s
                        inf_r[n_inf] = dose[1]
                        inf_e[n_inf] = ti + (-k * iii + lg + dose[2])
                        n_inf += 1
                        k += 1
            if not _dose(i, s, amt[i], rate[i], f, lag, mrate, mdur, dose):
                return STATUS_RECORD, i
            if _give(ti, s, dose, x, inf_s, inf_r, inf_e, n_inf, ld_t, ld_s, ld_a, ld_r, ld_d,
                     n_ld, cap) < 0:
                return STATUS_CAPACITY, i
            if dose[3] > 0.0:
                n_ld += 1
            elif dose[1] > 0.0 and dose[2] > 0.0:
                n_inf += 1
            if addl[i] > 0:
                if not iii > 0.0:
                    return STATUS_RECORD, i
                if n_tr == cap:
                    return STATUS_CAPACITY, i
                tr_t[n_tr] = ti + iii
                tr_left[n_tr] = addl[i]
                tr_ii[n_tr] = iii
                tr_rec[n_tr] = i
                n_tr += 1
        for k in range(n):
            out[i, k] = x[k]
    return STATUS_OK, -1


@njit(parallel=True, cache=True)
def walk_batch(theta_rec, layout, mass_ratio, start, time, evid, amt, rate, target, ss, ii,
               addl, f, lag, mrate, mdur, dyn, x0, out, status, status_record, cap):
    """Every subject of a batch, in parallel (linear models).

    Parameters
    ----------
    theta_rec : float64[:, :]
        Parameters in force at each record (canonical units), shape (n_records, n_params).
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

    Each subject writes only its own rows, so results do not depend on the number of threads or
    on how subjects are batched.
    """
    n_sub = start.size - 1
    n = out.shape[1]
    n_blocks = (n_sub + BLOCK - 1) // BLOCK
    for blk in prange(n_blocks):
        fs, is_, mat, vec = scratch(n, cap)
        for i in range(blk * BLOCK, min(n_sub, (blk + 1) * BLOCK)):
            st, rec = walk_subject(theta_rec, layout, mass_ratio, start[i], start[i + 1], time,
                                   evid, amt, rate, target, ss, ii, addl, f, lag, mrate, mdur,
                                   dyn, x0[i], out, fs, is_, mat, vec)
            status[i] = st
            status_record[i] = rec


@njit(cache=True)
def scratch(n, cap):
    """Scratch of :func:`walk_subject` for ``n`` states and ``cap`` scheduled items."""
    return (np.zeros((8, cap)), np.zeros((4, cap), dtype=np.int64), np.zeros((3, n, n)),
            np.zeros((8, max(n, 4))))
