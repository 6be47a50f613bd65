"""The record walker's schedule: what is due after the present time, in packed scratch.

Running infusions (rate, end), lagged doses (time, amount, rate, duration) and additional-dose
trains (next time, interval) are columns of a float scratch ``fs`` (rows ``F_*``) with an
integer twin ``is_`` (rows ``I_*``: the state an infusion or a lagged dose goes into, the doses
left in a train and its record) and the counts ``cnt`` (``C_*``). The compiled record walker
(:mod:`dmtpk._kernels.records`) and the sensitivity integrator share these helpers: giving a
resolved dose (:func:`_give`), the summed infusion rates (:func:`_input`), a reset
(:func:`_reset`) and a record's dose resolved through :mod:`dmtpk._kernels.dosing`
(:func:`_dose`).
"""

from __future__ import annotations

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
