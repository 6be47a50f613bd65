"""The record walker's schedule: what is due after the present time, in packed scratch.

Running infusions (rate, end), lagged doses (time, amount, rate, duration) and additional-dose
trains (next time, interval) are columns of a float scratch ``fs`` (rows ``F_*``) with an
integer twin ``is_`` (rows ``I_*``: the state an infusion or a lagged dose goes into, the doses
left in a train and its record) and the counts ``cnt`` (``C_*``). The compiled record walker
(:mod:`dmtpk._kernels.records`) and the sensitivity integrator share these helpers: giving a
resolved dose (:func:`_give`), the summed infusion rates (:func:`_input`), a reset
(:func:`_reset`) and a record's dose resolved through :mod:`dmtpk._kernels.dosing`
(:func:`_dose`), and the same dose once more (:func:`_give_again`, for steady states).
"""

from __future__ import annotations

import math

from .config import jit_inline
from .dosing import DOSE_OK
from .jitted import resolve_dose


@jit_inline
def _dose(src, s, amt, rate, f, lag, mrate, mdur, out):
    """:func:`dmtpk._kernels.dosing.resolve_dose` of a dose of ``amt`` mg, data rate ``rate``,
    into state ``s`` with the F, lag and modelled rate/duration of record ``src``, packed into
    ``out`` (amount, rate, duration, lag); False when the record has no defined answer."""
    st, out[0], out[1], out[2], out[3] = resolve_dose(amt, rate, f[src, s], lag[src, s],
                                                      mrate[src, s], mdur[src, s], 1.0)
    return st == DOSE_OK


# Rows of the schedule scratch: running infusions (rate, end), lagged doses (time, amount,
# rate, duration), additional-dose trains (next time, interval); and of its integer twin:
# infusion state, lagged-dose state, doses left in a train, the train's record.
F_INF_R, F_INF_E, F_LD_T, F_LD_A, F_LD_R, F_LD_D, F_TR_T, F_TR_II = range(8)
I_INF_S, I_LD_S, I_TR_LEFT, I_TR_REC = range(4)
# Counts: running infusions, lagged doses, trains.
C_INF, C_LD, C_TR = range(3)


@jit_inline
def _give(t, s, dose, x, fs, is_, cnt):
    """Give ``dose`` (amount, rate, duration, lag) into state ``s`` at ``t``: schedule it after
    its lag, start an infusion, or add a bolus. False when the scratch is full."""
    cap = fs.shape[1]
    if dose[3] > 0.0:
        k = cnt[C_LD]
        if k == cap:
            return False
        fs[F_LD_T, k] = t + dose[3]
        fs[F_LD_A, k] = dose[0]
        fs[F_LD_R, k] = dose[1]
        fs[F_LD_D, k] = dose[2]
        is_[I_LD_S, k] = s
        cnt[C_LD] = k + 1
    elif dose[1] > 0.0:
        if dose[2] > 0.0:
            k = cnt[C_INF]
            if k == cap:
                return False
            fs[F_INF_R, k] = dose[1]
            fs[F_INF_E, k] = t + dose[2]
            is_[I_INF_S, k] = s
            cnt[C_INF] = k + 1
    else:
        x[s] += dose[0]
    return True


@jit_inline
def _give_again(t, s, dose, d_amt, d_rate, d_dur, d_lag, x, fs, is_, cnt):
    """:func:`_give` of the resolved dose (amount, rate, duration, lag) once more, as the
    iterations of a steady state give their train (``dose`` is scratch that giving a lagged
    dose overwrites); False when the scratch is full."""
    dose[0] = d_amt
    dose[1] = d_rate
    dose[2] = d_dur
    dose[3] = d_lag
    return _give(t, s, dose, x, fs, is_, cnt)


@jit_inline
def _input(fs, is_, cnt, b):
    """b = the summed rates of the running infusions."""
    for k in range(b.size):
        b[k] = 0.0
    for k in range(cnt[C_INF]):
        b[is_[I_INF_S, k]] += fs[F_INF_R, k]


@jit_inline
def _reset(x, cnt):
    for k in range(x.size):
        x[k] = 0.0
    cnt[C_INF] = 0
    cnt[C_LD] = 0
    cnt[C_TR] = 0


#: What :func:`_give_due` returns: everything due was given; a record whose dose is not
#: defined (the walkers' STATUS_RECORD); more than the scratch holds (their STATUS_CAPACITY).
DUE_OK, DUE_RECORD, DUE_CAPACITY = 0, 1, 2


@jit_inline
def _next_due(fs, cnt):
    """The earliest time something scheduled is due: a lagged dose, a train's next dose or an
    infusion's end (inf when nothing is)."""
    t_next = math.inf
    for q in range(cnt[C_LD]):
        t_next = min(t_next, fs[F_LD_T, q])
    for q in range(cnt[C_TR]):
        t_next = min(t_next, fs[F_TR_T, q])
    for q in range(cnt[C_INF]):
        t_next = min(t_next, fs[F_INF_E, q])
    return t_next


@jit_inline
def _give_due(t, x, cur, time, target, amt, rate, addl, f, lag, mrate, mdur, dose, fs, is_,
              cnt):
    """At ``t``: the infusions ending stop, the lagged doses due are given, and the additional
    doses due are given, built with the latest record ``cur``'s F and lag (into ``x``, the
    states' amounts). Returns :data:`DUE_OK`, :data:`DUE_RECORD` or :data:`DUE_CAPACITY`."""
    q = 0
    while q < cnt[C_INF]:
        if fs[F_INF_E, q] <= t:
            last = cnt[C_INF] - 1
            fs[F_INF_R, q] = fs[F_INF_R, last]
            fs[F_INF_E, q] = fs[F_INF_E, last]
            is_[I_INF_S, q] = is_[I_INF_S, last]
            cnt[C_INF] = last
        else:
            q += 1
    q = 0
    while q < cnt[C_LD]:
        if fs[F_LD_T, q] <= t:
            dose[0] = fs[F_LD_A, q]
            dose[1] = fs[F_LD_R, q]
            dose[2] = fs[F_LD_D, q]
            dose[3] = 0.0
            s = is_[I_LD_S, q]
            last = cnt[C_LD] - 1
            for row in (F_LD_T, F_LD_A, F_LD_R, F_LD_D):
                fs[row, q] = fs[row, last]
            is_[I_LD_S, q] = is_[I_LD_S, last]
            cnt[C_LD] = last
            if not _give(t, s, dose, x, fs, is_, cnt):
                return DUE_CAPACITY
        else:
            q += 1
    q = 0
    while q < cnt[C_TR]:
        if fs[F_TR_T, q] <= t:
            i = is_[I_TR_REC, q]
            s = target[i]
            if not _dose(cur, s, amt[i], rate[i], f, lag, mrate, mdur, dose):
                return DUE_RECORD
            if not _give(t, s, dose, x, fs, is_, cnt):
                return DUE_CAPACITY
            left = is_[I_TR_LEFT, q] - 1
            is_[I_TR_LEFT, q] = left
            fs[F_TR_T, q] = time[i] + (addl[i] - left + 1) * fs[F_TR_II, q]
            if left == 0:
                last = cnt[C_TR] - 1
                fs[F_TR_T, q] = fs[F_TR_T, last]
                fs[F_TR_II, q] = fs[F_TR_II, last]
                is_[I_TR_LEFT, q] = is_[I_TR_LEFT, last]
                is_[I_TR_REC, q] = is_[I_TR_REC, last]
                cnt[C_TR] = last
                continue
        q += 1
    return DUE_OK
