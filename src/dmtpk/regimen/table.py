"""The event table: the one dosing input every engine reads.

A regimen compiles to an :class:`EventTable`, a sorted struct of plain float64/int64 arrays with
one row per record. An infusion's end is its own row (``evid = 9``, as mrgsolve's internal
infusion-off record). Bioavailability, lag time and absorption rate constant are columns; NaN in
``f``, ``lag`` or ``ka`` means "the model's value for this route" (``F_INH``, ``TLAG_INH``,
``KA``), so one table serves every subject of a population.

:func:`dmtpk.engines.resolve.resolve_events` applies a subject's route parameters and body weight
(each dose through the one dose resolution, :mod:`dmtpk._kernels.dosing`) and returns a
:class:`ResolvedEvents`, the piecewise-constant description that engines integrate: the times at
which something happens (``breaks``), the amounts added at each of them and the zero-order input
rates that hold until the next one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ValidationError
from ..routes import ROUTES
from .events import Bolus, Infusion, Inhalation, SteadyState, as_regimen

__all__ = ["EventTable", "ResolvedEvents", "EVID_DOSE", "EVID_INFUSION_END", "ROUTE_CODES"]

EVID_DOSE = 1
EVID_INFUSION_END = 9
#: Integer code of each route in the ``route`` column.
ROUTE_CODES = {route: code for code, route in enumerate(ROUTES)}  # iv 0, inhaled 1
#: Input index of the central compartment in :class:`ResolvedEvents`; depots follow.
INPUT_CENTRAL = 0

_COLUMNS = ("time", "amt", "rate", "dur", "route", "f", "lag", "ka", "evid", "per_kg", "event")


@dataclass(frozen=True, eq=False)
class EventTable:
    """Sorted dosing records as plain arrays, each of shape ``(n_records,)``.

    Attributes
    ----------
    time : float64
        Nominal record time (min), before any lag.
    amt : float64
        Amount of DMT base (mg, or mg/kg where ``per_kg``); for an infusion end, the infusion's
        amount.
    rate : float64
        Infusion rate (mg/min or mg/kg/min); 0 for instantaneous doses.
    dur : float64
        Infusion duration (min); 0 for instantaneous doses.
    route : int64
        Route code (:data:`ROUTE_CODES`): 0 intravenous into the central compartment,
        1 inhaled into the absorption depot.
    f, lag, ka : float64
        Bioavailability, lag time (min) and absorption rate constant (1/min); NaN means the
        model's value for the route.
    evid : int64
        1 dose or infusion start, 9 infusion end.
    per_kg : bool
        Amount and rate are per kg of body weight.
    event : int64
        Position of the source event in the regimen, for messages.
    """

    time: np.ndarray
    amt: np.ndarray
    rate: np.ndarray
    dur: np.ndarray
    route: np.ndarray
    f: np.ndarray
    lag: np.ndarray
    ka: np.ndarray
    evid: np.ndarray
    per_kg: np.ndarray
    event: np.ndarray

    def __post_init__(self):
        for name in _COLUMNS:
            getattr(self, name).setflags(write=False)

    def __len__(self) -> int:
        return self.time.size

    @classmethod
    def from_regimen(cls, regimen, routes=ROUTES) -> "EventTable":
        """Compile a regimen (or a single event) into an event table.

        Parameters
        ----------
        regimen : Regimen, Bolus, Infusion, Inhalation or sequence of events
        routes : sequence of str
            Routes the model supports; an event on any other route is rejected.
        """
        regimen = as_regimen(regimen)
        if len(regimen) == 0:
            raise ValidationError("regimen", "has no dose events")
        rows = []
        nan = np.nan
        for i, ev in enumerate(regimen.events):
            if isinstance(ev, SteadyState):
                raise ValidationError(f"regimen[{i}]", "a steady-state dose has no event-table "
                                                       "form; it needs the record walker "
                                                       "(dmtpk.simulate, simulate_dataset and "
                                                       "simulate_population use it)")
            if ev.route not in routes:
                raise ValidationError(f"regimen[{i}]", f"{type(ev).__name__} uses the "
                                                       f"{ev.route!r} route, which this model "
                                                       f"does not have (routes: {list(routes)})")
            code = ROUTE_CODES[ev.route]
            if isinstance(ev, Bolus):
                rows.append((ev.at, ev.dose, 0.0, 0.0, code, 1.0, 0.0, nan, EVID_DOSE,
                             ev.per_kg, i))
            elif isinstance(ev, Infusion):
                rows.append((ev.at, ev.dose, ev.rate, ev.duration, code, 1.0, 0.0, nan,
                             EVID_DOSE, ev.per_kg, i))
                rows.append((ev.at + ev.duration, ev.dose, ev.rate, ev.duration, code, 1.0, 0.0,
                             nan, EVID_INFUSION_END, ev.per_kg, i))
            elif isinstance(ev, Inhalation):
                rows.append((ev.at, ev.dose, 0.0, 0.0, code,
                             nan if ev.f is None else ev.f,
                             nan if ev.lag is None else ev.lag,
                             nan if ev.ka is None else ev.ka, EVID_DOSE, ev.per_kg, i))
        cols = list(zip(*rows))
        order = np.lexsort((np.asarray(cols[10]), np.asarray(cols[0], dtype=float)))
        dtypes = (float, float, float, float, np.int64, float, float, float, np.int64, bool,
                  np.int64)
        arrays = {name: np.asarray(col, dtype=dt)[order]
                  for name, col, dt in zip(_COLUMNS, cols, dtypes)}
        return cls(**arrays)

    def to_dict(self) -> dict[str, np.ndarray]:
        """The columns as a dict of arrays (copies)."""
        return {name: getattr(self, name).copy() for name in _COLUMNS}


@dataclass(frozen=True, eq=False)
class ResolvedEvents:
    """Dosing input of one subject, piecewise constant between event times.

    Attributes
    ----------
    breaks : ndarray, shape (n_breaks,)
        Sorted distinct times (min, after lag) at which a dose is given or an input rate changes.
    jumps : ndarray, shape (n_breaks, n_inputs)
        Amount (mg) added to each input at each break.
    rates : ndarray, shape (n_breaks, n_inputs)
        Zero-order input rate (mg/min) into each input from ``breaks[k]`` until ``breaks[k + 1]``
        (the last row holds after the last break, and is zero once every infusion has ended).
    depot_kas : ndarray, shape (n_inputs - 1,)
        Absorption rate constant (1/min) of each depot; input ``1 + j`` is depot ``j``.
    """

    breaks: np.ndarray
    jumps: np.ndarray
    rates: np.ndarray
    depot_kas: np.ndarray

    @property
    def total_input(self) -> float:
        """Total amount (mg) that enters the body over the whole regimen."""
        widths = np.diff(self.breaks)  # the last row's rate is 0: every infusion has an end
        return float(self.jumps.sum() + (self.rates[:-1].sum(axis=1) * widths).sum())

    def input_until(self, t: np.ndarray) -> np.ndarray:
        """Cumulative amount (mg) delivered to the body (into any input) by each time in ``t``."""
        t = np.asarray(t, dtype=float)
        out = np.zeros(t.shape)
        total_rate = self.rates.sum(axis=1)
        bolus = self.jumps.sum(axis=1)
        for k, b in enumerate(self.breaks):
            after = t >= b
            out += np.where(after, bolus[k], 0.0)
            end = self.breaks[k + 1] if k + 1 < self.breaks.size else np.inf
            out += total_rate[k] * np.clip(t - b, 0.0, end - b)
        return out

