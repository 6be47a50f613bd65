r"""Dose resolution: from a dose record to what a solver needs, written once.

A dose record carries an amount, a data rate (NONMEM's RATE) and the values in force for its
compartment: bioavailability F, lag time, and the model's rate or duration for RATE = -1 / -2.
:func:`resolve_dose` turns them into the amount delivered (mg), the infusion rate (mg/min) and
duration (min) and the lag (min):

=========  ==========================  ==============  =======================
RATE       amount                      rate            duration
=========  ==========================  ==============  =======================
0          :math:`F\,A\,s`             0               0 (a bolus)
> 0        :math:`F\,A\,s`             :math:`R\,s`    amount / rate
-1         :math:`F\,A\,s`             modelled rate   amount / rate
-2         :math:`F\,A\,s`             amount / D      modelled duration D
=========  ==========================  ==============  =======================

with :math:`s` the body weight for a per-kg record (amounts in mg/kg, rates in mg/kg/min) and
1 otherwise. F scales the amount, so an infusion at a given rate lasts F times as long (NONMEM's
rule); an event-table infusion (:class:`~dmtpk.regimen.table.EventTable`: a rate for a
duration) keeps its duration and so is resolved as RATE = -2 with D its duration, with the
F and lag of the record or, where they are NaN, the model's inhaled-route values
(:func:`table_record`).

Pure functions of floats with no Numba import: the single-subject record walker
(:mod:`dmtpk.engines.records`) runs them uncompiled and turns the status into its error
message; the kernels (the compiled record walker, the closed form, the lanes) call their
compiled, inlined twins (:mod:`dmtpk._kernels.jitted`). No kernel resolves a dose itself.
"""

from __future__ import annotations

import math

__all__ = ["DOSE_OK", "DOSE_BAD_F", "DOSE_BAD_LAG", "DOSE_NO_MODEL_RATE",
           "DOSE_NO_MODEL_DURATION", "DOSE_BAD_RATE", "RATE_MODELLED", "DURATION_MODELLED",
           "resolve_dose", "table_record"]

#: Status of :func:`resolve_dose`: a defined dose.
DOSE_OK = 0
#: F is not a finite number >= 0.
DOSE_BAD_F = 1
#: The lag is not a finite number >= 0 (min).
DOSE_BAD_LAG = 2
#: RATE = -1, but the model gives no rate > 0 for the compartment.
DOSE_NO_MODEL_RATE = 3
#: RATE = -2, but the model gives no duration > 0 for the compartment.
DOSE_NO_MODEL_DURATION = 4
#: RATE is neither 0, positive, -1 nor -2.
DOSE_BAD_RATE = 5
#: Data rate meaning "the model's infusion rate" (NONMEM's RATE = -1).
RATE_MODELLED = -1.0
#: Data rate meaning "the model's infusion duration" (NONMEM's RATE = -2).
DURATION_MODELLED = -2.0


def resolve_dose(amt, rate, f, lag, mrate, mdur, scale):
    """Amount, rate, duration and lag of one dose (see the module's table).

    Parameters
    ----------
    amt : float
        Amount (mg, or mg/kg when ``scale`` is a body weight).
    rate : float
        Data rate: 0 bolus, > 0 infusion rate (mg/min, or mg/kg/min), -1 / -2 modelled rate /
        duration.
    f, lag : float
        Bioavailability and lag time (min) in force for the dosed compartment.
    mrate, mdur : float
        The model's infusion rate (mg/min) and duration (min) for the compartment, read only
        for RATE = -1 and -2 (NaN when the model gives none).
    scale : float
        Body weight (kg) for a per-kg dose, else 1.

    Returns
    -------
    (status, amount, rate, duration, lag) : (int, float, float, float, float)
        ``status`` :data:`DOSE_OK` or the reason the dose has no defined answer (the other
        values are then meaningless); amount in mg, rate in mg/min (0 for a bolus), duration
        and lag in min.
    """
    if not (math.isfinite(f) and f >= 0.0):
        return DOSE_BAD_F, 0.0, 0.0, 0.0, 0.0
    if not (math.isfinite(lag) and lag >= 0.0):
        return DOSE_BAD_LAG, 0.0, 0.0, 0.0, 0.0
    amount = f * amt * scale
    if rate == 0.0:
        return DOSE_OK, amount, 0.0, 0.0, lag
    if rate > 0.0:
        r = rate * scale
        return DOSE_OK, amount, r, amount / r, lag
    if rate == RATE_MODELLED:
        if not (math.isfinite(mrate) and mrate > 0.0):
            return DOSE_NO_MODEL_RATE, 0.0, 0.0, 0.0, 0.0
        return DOSE_OK, amount, mrate, amount / mrate, lag
    if rate == DURATION_MODELLED:
        if not (math.isfinite(mdur) and mdur > 0.0):
            return DOSE_NO_MODEL_DURATION, 0.0, 0.0, 0.0, 0.0
        return DOSE_OK, amount, amount / mdur, mdur, lag
    return DOSE_BAD_RATE, 0.0, 0.0, 0.0, 0.0


def table_record(amt, rate, dur, route, f, lag, per_kg, f_inh, lag_inh, weight):
    """The arguments of :func:`resolve_dose` for an event-table dose record (EVID 1).

    A bolus (``rate`` 0) of ``amt``, or an infusion of ``amt`` over ``dur`` min, resolved as
    RATE = -2 with D = ``dur`` so that F scales the rate and the duration stays. NaN ``f`` or
    ``lag`` means the model's inhaled-route value (``f_inh``, ``lag_inh``) for an inhaled record
    (``route`` 1), 1 and 0 otherwise; ``per_kg`` records scale by ``weight`` (kg).

    Returns
    -------
    (amt, rate, f, lag, mrate, mdur, scale)
        For ``resolve_dose(*table_record(...))``. (One function does not call the other, so
        that each compiles on its own.)
    """
    if math.isnan(f):
        f = f_inh if route == 1 else 1.0
    if math.isnan(lag):
        lag = lag_inh if route == 1 else 0.0
    scale = weight if per_kg else 1.0
    if rate > 0.0:
        return amt, DURATION_MODELLED, f, lag, math.nan, dur, scale
    return amt, 0.0, f, lag, math.nan, math.nan, scale
