"""One subject's event table resolved into the piecewise-constant input the engines integrate.

:func:`resolve_events` applies a subject's route parameters and body weight to an
:class:`~dmtpk.regimen.table.EventTable` (whose NaN F, lag and KA mean the model's inhaled-route
values) and returns :class:`~dmtpk.regimen.table.ResolvedEvents`: the times at which something
happens (``breaks``, after lag), the amounts added to each input at each of them and the
zero-order input rates that hold until the next one. Each dose is resolved by the one home of
dose resolution, :func:`dmtpk._kernels.dosing.resolve_dose` (with
:func:`~dmtpk._kernels.dosing.table_record`), as the population kernels resolve it.
"""

from __future__ import annotations

import math

import numpy as np

from .._kernels.dosing import DOSE_OK, resolve_dose, table_record
from ..errors import ValidationError
from ..regimen.table import EVID_DOSE, ROUTE_CODES, EventTable, ResolvedEvents

__all__ = ["resolve_events"]

_INHALED = ROUTE_CODES["inhaled"]


def resolve_events(table: EventTable, f_inhaled: float = 1.0, lag_inhaled: float = 0.0,
                   ka_inhaled: float = np.nan, weight: float | None = None) -> ResolvedEvents:
    """Apply one subject's route parameters and body weight to ``table``.

    Parameters
    ----------
    table : EventTable
    f_inhaled, lag_inhaled, ka_inhaled : float
        The model's ``F_INH``, ``TLAG_INH`` (min) and ``KA`` (1/min), used where the table
        holds NaN.
    weight : float, optional
        Body weight (kg); required when any record is per kg.

    Returns
    -------
    ResolvedEvents
        Inputs: the central compartment (input 0), then one depot per distinct absorption rate
        constant (the model's own first).

    Raises
    ------
    ValidationError
        A per-kg dose without a positive weight (``weight``), an inhaled dose without a positive
        absorption rate constant (``KA``), a dose with no defined answer (``regimen[i]``).
    """
    per_kg = table.per_kg
    if per_kg.any():
        if weight is None:
            ev = int(table.event[np.argmax(per_kg)])
            raise ValidationError("weight", f"regimen[{ev}] is dosed per kg of body weight; "
                                            "give the body weight")
        if not (np.isfinite(weight) and weight > 0):
            raise ValidationError("weight", f"must be a positive body weight, got {weight}")
    w = float(weight) if weight is not None else 1.0
    inhaled = table.route == _INHALED
    ka = np.where(np.isnan(table.ka), ka_inhaled, table.ka)
    if inhaled.any() and not np.all(np.isfinite(ka[inhaled]) & (ka[inhaled] > 0)):
        raise ValidationError("KA", "an inhaled dose needs a positive absorption rate constant")

    # Every record, through the one resolution: a dose's amount, rate and duration, and every
    # record's time after lag (an infusion's end row has its start's F and lag).
    n_rec = len(table)
    amount = np.zeros(n_rec)
    rate = np.zeros(n_rec)
    dur = np.zeros(n_rec)
    t_eff = np.zeros(n_rec)
    for i in range(n_rec):
        status, amount[i], rate[i], dur[i], lag = resolve_dose(*table_record(
            float(table.amt[i]), float(table.rate[i]), float(table.dur[i]),
            int(table.route[i]), float(table.f[i]), float(table.lag[i]), bool(per_kg[i]),
            float(f_inhaled), float(lag_inhaled), w))
        if status != DOSE_OK:
            raise ValidationError(f"regimen[{int(table.event[i])}]",
                                  "bioavailability must be a number >= 0 and the lag time a "
                                  f"number of minutes >= 0 (F_INH = {f_inhaled}, TLAG_INH = "
                                  f"{lag_inhaled} min)")
        t_eff[i] = table.time[i] + lag

    # Input 0 is the central compartment; each distinct absorption rate constant gets a depot,
    # the model's own KA first.
    depot_kas: list[float] = []
    if inhaled.any():
        depot_kas = [float(ka_inhaled)] if math.isfinite(ka_inhaled) else []
        for value in ka[inhaled]:
            if value not in depot_kas:
                depot_kas.append(float(value))
    target = np.zeros(n_rec, dtype=np.int64)
    for i in np.flatnonzero(inhaled):
        target[i] = 1 + depot_kas.index(ka[i])

    breaks = np.unique(t_eff)
    n_in = 1 + len(depot_kas)
    jumps = np.zeros((breaks.size, n_in))
    rates = np.zeros((breaks.size, n_in))
    k_of_row = np.searchsorted(breaks, t_eff)
    for i in np.flatnonzero(table.evid == EVID_DOSE):
        if rate[i] > 0:
            k1 = np.searchsorted(breaks, t_eff[i] + dur[i])
            rates[k_of_row[i]:k1, target[i]] += rate[i]
        else:
            jumps[k_of_row[i], target[i]] += amount[i]
    return ResolvedEvents(breaks=breaks, jumps=jumps, rates=rates,
                          depot_kas=np.asarray(depot_kas, dtype=float))
