"""A regimen as NONMEM records: the record walker's contract (:mod:`dmtpk.engines.records`).

One record per dose: time (min), EVID 1, amount (mg), rate (mg/min, 0 for a bolus), the state
it doses, SS and II (a :class:`~dmtpk.regimen.events.SteadyState` event), and the F and lag of
every state. Per-kg amounts and rates are multiplied by the body weight here, and the inhaled
route's bioavailability and lag are the event's own or the model's (passed in): the records are
what a solver needs, with nothing left to resolve.
"""

from __future__ import annotations

import numpy as np

from ..errors import ValidationError
from .events import Bolus, Infusion, Inhalation, SteadyState, as_regimen

__all__ = ["regimen_records", "RECORD_FIELDS"]

#: The per-record columns of :func:`regimen_records`, in the order of
#: :func:`dmtpk.engines.records.solve_records`.
RECORD_FIELDS = ("time", "evid", "amt", "rate", "target", "ss", "ii", "addl", "f", "lag")


def regimen_records(regimen, *, central: int, depot: int, n_states: int, times=(),
                    f_inhaled: float = 1.0, lag_inhaled: float = 0.0, weight=None,
                    linear: bool = True) -> dict:
    """The records of one subject: the regimen's doses and an output record (EVID 2) at each
    of ``times``.

    Parameters
    ----------
    regimen : Regimen or event
    central, depot : int
        States the IV and inhaled routes dose (``depot`` -1 when the model has none).
    n_states : int
    times : array-like
        Output times (min); an output at a dose time comes after the dose.
    f_inhaled, lag_inhaled : float
        The model's inhaled-route bioavailability and lag (min), for events without their own.
    weight : float, optional
        Body weight (kg) for per-kg doses.
    linear : bool
        A steady-state event adds its train's steady state to what the other events left
        (SS = 2, superposition); a nonlinear model takes a steady state only as its first
        event, which then starts from an empty body (SS = 1).

    Returns
    -------
    dict of ndarray
        :data:`RECORD_FIELDS`, sorted by time (doses before outputs at the same time); ``f``
        and ``lag`` have shape (n_records, n_states).

    Raises
    ------
    ValidationError
        An event the records cannot state: a per-event absorption rate constant, a per-kg
        dose without a weight, a steady-state event after other doses of a nonlinear model.
    """
    regimen = as_regimen(regimen)
    rows = []
    first_time = min((ev.at for ev in regimen), default=0.0)
    for i, ev in enumerate(regimen):
        ss, ii = 0, 0.0
        if isinstance(ev, SteadyState):
            ss, ii = 2, ev.interval
            if not linear:
                if ev.at > first_time or sum(1 for e in regimen if e.at <= ev.at) > 1:
                    raise ValidationError(f"regimen[{i}]", "a nonlinear model takes a steady "
                                                           "state only as the first dose (its "
                                                           "superposition with other doses is "
                                                           "undefined)")
                ss = 1
            ev = ev.event
        scale = 1.0
        if ev.per_kg:
            if weight is None:
                raise ValidationError("weight", f"regimen[{i}] is dosed per kg: give the body "
                                                "weight")
            scale = float(weight)
        f, lag = 1.0, 0.0
        target = central
        rate = 0.0
        if isinstance(ev, Inhalation):
            if depot < 0:
                raise ValidationError(f"regimen[{i}]", "the model has no inhaled route")
            if ev.ka is not None:
                raise ValidationError(f"regimen[{i}].ka", "a per-event absorption rate constant "
                                                          "has no record form (the depot's KA "
                                                          "is the model's)")
            target = depot
            f = f_inhaled if ev.f is None else ev.f
            lag = lag_inhaled if ev.lag is None else ev.lag
        elif isinstance(ev, Infusion):
            rate = ev.rate * scale
        elif not isinstance(ev, Bolus):
            raise ValidationError(f"regimen[{i}]", f"unknown event {type(ev).__name__}")
        rows.append((ev.at, 1, ev.dose * scale, rate, target, ss, ii, target, f, lag))
    for t in np.asarray(times, dtype=float).ravel():
        rows.append((float(t), 2, 0.0, 0.0, central, 0, 0.0, -1, 1.0, 0.0))
    rows.sort(key=lambda r: (r[0], r[1]))  # stable: doses (EVID 1) before outputs (EVID 2)
    n = len(rows)
    out = {name: np.array([r[k] for r in rows], dtype=dt) for k, (name, dt) in
           enumerate(zip(RECORD_FIELDS[:7], (float, np.int64, float, float, np.int64, np.int64,
                                              float)))}
    out["addl"] = np.zeros(n, dtype=np.int64)
    out["f"] = np.ones((n, n_states))
    out["lag"] = np.zeros((n, n_states))
    for k, r in enumerate(rows):
        if r[7] >= 0:
            out["f"][k, r[7]] = r[8]
            out["lag"][k, r[7]] = r[9]
    return out
