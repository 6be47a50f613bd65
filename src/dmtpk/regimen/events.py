"""Dose events: immutable values that compose with ``+`` and repeat with :meth:`every`.

Bare numbers are canonical: doses in mg of DMT base, rates in mg/min, times in min. Strings and
pint Quantities carry their unit (``"20 mg"``, ``"0.3 mg/kg"``, ``"1.4 mg/min"``, ``"2 h"``).
A dose given as a salt (``salt="fumarate"`` or ``"hemifumarate"``) is converted to base once,
here, with the molar masses in :mod:`dmtpk.units`. Molar doses (``"100 umol"``) use the molar
mass of DMT base.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields

from ..errors import UnitError, ValidationError
from ..routes import ROUTES  # re-exported: dmtpk.regimen.ROUTES
from ..units import DMT_MOLAR_MASS, salt_to_base, to_canonical, ureg

__all__ = ["Bolus", "Infusion", "Inhalation", "SteadyState", "Regimen", "ROUTES"]


def _per_mass(value) -> bool:
    """True when a quantity's unit divides by a mass (mg/kg, mg/kg/min): only such a unit makes a
    dose per body weight. A unitless string such as "10" is dimensionless too, but not per kg."""
    from ..units import _as_quantity
    q = _as_quantity(value, "dose") if isinstance(value, str) or hasattr(value, "units") else None
    if q is None:
        return False
    return any(exp < 0 and "[mass]" in str(ureg.get_dimensionality(unit))
               for unit, exp in q._units.items())


def _is_molar(value) -> bool:
    """True for a quantity in amount of substance (nmol, umol, ...), given as text or Quantity."""
    from ..units import _as_quantity
    q = _as_quantity(value, "dose") if isinstance(value, str) or hasattr(value, "units") else None
    return q is not None and "[substance]" in str(q.dimensionality)


def _amount(value, field_name: str, salt: str, per_kg_allowed: bool = True) -> tuple[float, bool]:
    """Return (mg of base, per_kg) for a dose given as amount or amount per body weight.

    A molar dose counts moles of DMT, whatever the salt (one DMT per formula unit of the 1:1
    fumarate; the hemifumarate's moles are stated per DMT too), so it converts with the molar
    mass of the base and no salt factor.
    """
    try:
        mg = to_canonical(value, "amount", field_name, molar_mass=DMT_MOLAR_MASS)
        per_kg = False
    except UnitError:
        if not per_kg_allowed:
            raise
        try:
            if not _per_mass(value):
                raise UnitError(field_name, "not per mass")
            mg = to_canonical(value, "dose_per_weight", field_name, molar_mass=DMT_MOLAR_MASS)
        except UnitError:
            raise UnitError(field_name, f"got {value!r}; expected an amount (mg, or nmol) or an "
                                        "amount per body weight (mg/kg); a bare number is mg")\
                from None
        per_kg = True
    if mg < 0:
        raise ValidationError(field_name, f"must not be negative, got {value!r}")
    if _is_molar(value):
        salt_to_base(mg, salt, f"{field_name.split('.')[0]}.salt")  # still rejects unknown forms
        return mg, per_kg
    return salt_to_base(mg, salt, f"{field_name.split('.')[0]}.salt"), per_kg


def _rate(value, field_name: str, salt: str) -> tuple[float, bool]:
    try:
        r = to_canonical(value, "rate", field_name, molar_mass=DMT_MOLAR_MASS)
        per_kg = False
    except UnitError:
        try:
            if not _per_mass(value):
                raise UnitError(field_name, "not per mass")
            r = to_canonical(value, "rate_per_weight", field_name, molar_mass=DMT_MOLAR_MASS)
        except UnitError:
            raise UnitError(field_name, f"got {value!r}; expected a rate (mg/min) or a rate per "
                                        "body weight (mg/kg/min)") from None
        per_kg = True
    if r <= 0:
        raise ValidationError(field_name, f"must be positive, got {value!r}")
    if _is_molar(value):
        salt_to_base(r, salt, f"{field_name.split('.')[0]}.salt")
        return r, per_kg
    return salt_to_base(r, salt, f"{field_name.split('.')[0]}.salt"), per_kg


def _time(value, field_name: str) -> float:
    t = to_canonical(value, "time", field_name)
    if t < 0:
        raise ValidationError(field_name, f"must not be negative, got {value!r}")
    return t


#: The most events one regimen holds: :meth:`Regimen.every` refuses more before building any
#: (100,000 daily doses are 270 years; memory and simulation time grow with the count).
MAX_EVENTS = 100_000


class _Event:
    """Shared composition behaviour of the dose events."""

    def __add__(self, other):
        return Regimen((self,)) + other

    def __radd__(self, other):
        if other == 0:  # lets sum([...]) work
            return Regimen((self,))
        return NotImplemented

    def every(self, interval, times: int | None = None, addl: int | None = None,
              steady_state: bool = False) -> "Regimen":
        """Repeat this event: ``times`` doses in all (or ``addl`` additional ones, as NONMEM's
        ADDL), ``interval`` apart (NONMEM's II); ``steady_state=True`` gives the first at
        steady state of the train (NONMEM's SS)."""
        return Regimen((self,)).every(interval, times=times, addl=addl,
                                      steady_state=steady_state)

    def shifted(self, delay: float):
        """The same event ``delay`` minutes later (``delay`` in min, already validated)."""
        new = object.__new__(type(self))
        for f in fields(self):
            object.__setattr__(new, f.name, getattr(self, f.name))
        object.__setattr__(new, "at", self.at + delay)
        return new


@dataclass(frozen=True, init=False)
class Bolus(_Event):
    """An instantaneous intravenous dose into the central compartment.

    Parameters
    ----------
    dose : Quantity, str or float
        Amount (mg; bare number means mg of base), molar amount (nmol), or amount per body weight
        (``"0.3 mg/kg"``, scaled by the subject's weight at simulation).
    at : Quantity, str or float, default 0
        Time of the dose (min).
    salt : {"base", "fumarate", "hemifumarate"}, default "base"
        Dose form in which ``dose`` is stated; converted to DMT base.

    Examples
    --------
    >>> import dmtpk
    >>> dmtpk.Bolus("20 mg").dose
    20.0
    >>> round(dmtpk.Bolus("20 mg", salt="fumarate").dose, 4)
    12.3723
    """

    dose: float
    at: float = 0.0
    per_kg: bool = False
    salt: str = "base"
    route = "iv"

    def __init__(self, dose, at=0.0, salt: str = "base"):
        d, per_kg = _amount(dose, "Bolus.dose", salt)
        object.__setattr__(self, "dose", d)
        object.__setattr__(self, "at", _time(at, "Bolus.at"))
        object.__setattr__(self, "per_kg", per_kg)
        object.__setattr__(self, "salt", salt)


@dataclass(frozen=True, init=False)
class Infusion(_Event):
    """A zero-order intravenous infusion into the central compartment.

    Give any two of ``dose``, ``rate`` and ``duration``; all three are accepted when they agree
    (dose = rate x duration within 1e-9 relative). Overlapping infusions add.

    Parameters
    ----------
    dose : Quantity, str or float, optional
        Total amount (mg, nmol or mg/kg).
    rate : Quantity, str or float, optional
        mg/min (or mg/kg/min; must match a per-weight dose).
    duration : Quantity, str or float, optional
        min; must be positive.
    at : Quantity, str or float, default 0
        Start time (min).
    salt : {"base", "fumarate", "hemifumarate"}, default "base"
        Dose form of ``dose`` and ``rate``.
    """

    dose: float
    rate: float
    duration: float
    at: float = 0.0
    per_kg: bool = False
    salt: str = "base"
    route = "iv"

    def __init__(self, dose=None, rate=None, duration=None, at=0.0, salt: str = "base"):
        given = [name for name, v in (("dose", dose), ("rate", rate), ("duration", duration))
                 if v is not None]
        if len(given) < 2:
            raise ValidationError("Infusion", f"give two of dose, rate and duration; got only "
                                              f"{given or 'none'}")
        per_kg = None
        d = r = dur = None
        if dose is not None:
            d, per_kg = _amount(dose, "Infusion.dose", salt)
            if d == 0:
                raise ValidationError("Infusion.dose", "must be positive for an infusion, got 0")
        if rate is not None:
            r, rate_per_kg = _rate(rate, "Infusion.rate", salt)
            if per_kg is not None and rate_per_kg != per_kg:
                raise ValidationError("Infusion.rate", "dose and rate must both be per body "
                                                       "weight or both absolute")
            per_kg = rate_per_kg
        if duration is not None:
            dur = to_canonical(duration, "time", "Infusion.duration")
            if dur <= 0:
                raise ValidationError("Infusion.duration", f"must be positive, got {duration!r}")
        if d is None:
            d = r * dur
        elif r is None:
            r = d / dur
        elif dur is None:
            dur = d / r
        elif not math.isclose(d, r * dur, rel_tol=1e-9):
            raise ValidationError("Infusion", f"dose {d:g} mg is not rate x duration = {r:g} mg/min "
                                              f"x {dur:g} min = {r * dur:g} mg; give only two")
        # A derived value is checked like a given one: finite, and positive (no overflow to
        # infinity, no underflow to zero).
        for name, value, unit in (("dose", d, "mg"), ("rate", r, "mg/min"),
                                  ("duration", dur, "min")):
            if not (math.isfinite(value) and value > 0):
                raise ValidationError(f"Infusion.{name}", f"{' and '.join(given)} give a {name} "
                                                          f"of {value:g} {unit}, which is not a "
                                                          "positive finite number")
        object.__setattr__(self, "dose", d)
        object.__setattr__(self, "rate", r)
        object.__setattr__(self, "duration", dur)
        object.__setattr__(self, "at", _time(at, "Infusion.at"))
        object.__setattr__(self, "per_kg", bool(per_kg))
        object.__setattr__(self, "salt", salt)


@dataclass(frozen=True, init=False)
class Inhalation(_Event):
    """An inhaled (vaporised) dose into the absorption depot.

    Bioavailability, absorption rate constant and lag come from the model's inhaled-route
    parameters (``F_INH``, ``KA``, ``TLAG_INH``) unless given here for this event.

    Parameters
    ----------
    dose : Quantity, str or float
        Amount loaded (mg, nmol or mg/kg); the amount reaching the depot is ``F x dose``.
    at : Quantity, str or float, default 0
        Time of the inhalation (min).
    f : float, optional
        Bioavailability in [0, 1] for this event.
    ka : Quantity, str or float, optional
        Absorption rate constant (1/min) for this event.
    lag : Quantity, str or float, optional
        Absorption lag time (min) for this event.
    salt : {"base", "fumarate", "hemifumarate"}, default "base"
    """

    dose: float
    at: float = 0.0
    f: float | None = None
    ka: float | None = None
    lag: float | None = None
    per_kg: bool = False
    salt: str = "base"
    route = "inhaled"

    def __init__(self, dose, at=0.0, f=None, ka=None, lag=None, salt: str = "base"):
        d, per_kg = _amount(dose, "Inhalation.dose", salt)
        object.__setattr__(self, "dose", d)
        object.__setattr__(self, "at", _time(at, "Inhalation.at"))
        if f is not None:
            f = to_canonical(f, "dimensionless", "Inhalation.f")
            if not 0.0 <= f <= 1.0:
                raise ValidationError("Inhalation.f", f"must lie in [0, 1], got {f}")
        if ka is not None:
            ka = to_canonical(ka, "rate_constant", "Inhalation.ka")
            if ka <= 0:
                raise ValidationError("Inhalation.ka", f"must be positive, got {ka}")
        if lag is not None:
            lag = _time(lag, "Inhalation.lag")
        object.__setattr__(self, "f", f)
        object.__setattr__(self, "ka", ka)
        object.__setattr__(self, "lag", lag)
        object.__setattr__(self, "per_kg", per_kg)
        object.__setattr__(self, "salt", salt)


@dataclass(frozen=True, init=False)
class SteadyState(_Event):
    """A dose repeated every ``interval`` since long before, at steady state when it is given
    (NONMEM's SS with II): the body holds what the endless train of earlier doses left, then
    this dose is given.

    For a linear model the train's steady state adds to what the regimen's other events leave
    (superposition, NONMEM's SS = 2); a nonlinear model takes a steady state only as its first
    event (SS = 1). Simulated by the record walker (:func:`dmtpk.simulate`,
    :func:`dmtpk.simulate_dataset`).

    Parameters
    ----------
    event : Bolus, Infusion or Inhalation
        The repeated dose, at the time the steady state is reached.
    interval : Quantity, str or float
        Dosing interval (min; NONMEM II), positive.

    Examples
    --------
    >>> import dmtpk
    >>> ss = dmtpk.SteadyState(dmtpk.Bolus("10 mg"), interval="6 h")
    >>> ss.interval, ss.at, ss.route
    (360.0, 0.0, 'iv')
    """

    event: object
    interval: float

    def __init__(self, event, interval):
        if not isinstance(event, (Bolus, Infusion, Inhalation)):
            raise ValidationError("SteadyState.event", f"expected a Bolus, Infusion or "
                                                       f"Inhalation, got {type(event).__name__}")
        ii = to_canonical(interval, "time", "SteadyState.interval")
        if not ii > 0:
            raise ValidationError("SteadyState.interval", f"must be positive, got {interval!r}")
        object.__setattr__(self, "event", event)
        object.__setattr__(self, "interval", ii)

    @property
    def at(self) -> float:
        return self.event.at

    @property
    def route(self) -> str:
        return self.event.route

    @property
    def per_kg(self) -> bool:
        return self.event.per_kg

    @property
    def dose(self) -> float:
        return self.event.dose

    def shifted(self, delay: float):
        return SteadyState(self.event.shifted(delay), self.interval)


@dataclass(frozen=True)
class Regimen:
    """An ordered collection of dose events.

    Build it with ``+`` from events (``Bolus(16) + Infusion(rate=1.4, duration=60)``) and repeat
    it with :meth:`every`. A regimen is a value: operations return new regimens.
    """

    events: tuple = field(default_factory=tuple)

    def __post_init__(self):
        for i, ev in enumerate(self.events):
            if not isinstance(ev, (Bolus, Infusion, Inhalation, SteadyState)):
                raise ValidationError(f"regimen[{i}]", f"expected Bolus, Infusion, Inhalation or "
                                                       f"SteadyState, got {type(ev).__name__}")

    def __add__(self, other) -> "Regimen":
        if isinstance(other, Regimen):
            return Regimen(self.events + other.events)
        if isinstance(other, (Bolus, Infusion, Inhalation, SteadyState)):
            return Regimen(self.events + (other,))
        return NotImplemented

    def __radd__(self, other):
        if other == 0:
            return self
        return NotImplemented

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self):
        return iter(self.events)

    @property
    def routes(self) -> set[str]:
        """Routes used by the events."""
        return {ev.route for ev in self.events}

    def describe(self) -> str:
        """One line in words, amounts in mg of DMT base: ``"IV bolus 12.37 mg + IV infusion
        0.8661 mg/min for 30 min at 1 min"``."""
        parts = []
        for ev in self.events:
            prefix = ""
            if isinstance(ev, SteadyState):
                prefix = f"at steady state every {ev.interval:g} min: "
                ev = ev.event
            if isinstance(ev, Bolus):
                text = f"IV bolus {ev.dose:.4g} mg"
            elif isinstance(ev, Infusion):
                text = f"IV infusion {ev.rate:.4g} mg/min for {ev.duration:.4g} min"
            else:
                text = f"inhaled {ev.dose:.4g} mg"
            if ev.per_kg:
                text = text.replace(" mg", " mg/kg", 1)
            parts.append(prefix + text + (f" at {ev.at:g} min" if ev.at else ""))
        return " + ".join(parts)

    def shifted(self, delay) -> "Regimen":
        """The same regimen ``delay`` later."""
        d = to_canonical(delay, "time", "delay")
        return Regimen(tuple(ev.shifted(d) for ev in self.events))

    def every(self, interval, times: int | None = None, addl: int | None = None,
              steady_state: bool = False) -> "Regimen":
        """Repeat the whole regimen.

        Parameters
        ----------
        interval : Quantity, str or float
            Dosing interval (NONMEM II), min; must be positive.
        times : int, optional
            Number of administrations in all (at least 1).
        addl : int, optional
            Number of additional administrations (NONMEM ADDL); ``times = addl + 1``.
        steady_state : bool
            The first administration is given at steady state of the train (NONMEM SS with
            II): its events become :class:`SteadyState` events.
        """
        ii = to_canonical(interval, "time", "interval")
        if ii <= 0:
            raise ValidationError("interval", f"must be positive, got {interval!r}")
        if (times is None) == (addl is None):
            raise ValidationError("every", "give exactly one of times and addl")
        name = "times" if times is not None else "addl"
        given = times if times is not None else addl
        if isinstance(given, bool) or not isinstance(given, int):
            raise ValidationError(name, f"must be a whole number of doses, got {given!r}")
        n = times if times is not None else addl + 1
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValidationError(name, f"must be a whole number of doses (times >= 1, addl >= 0),"
                                        f" got {times if times is not None else addl!r}")
        if steady_state and any(isinstance(ev, SteadyState) for ev in self.events):
            raise ValidationError("steady_state", "the regimen is already at steady state")
        if n * len(self.events) > MAX_EVENTS:  # refused before anything is built
            raise ValidationError(name, f"{n:,} repetitions of {len(self.events)} event(s) make "
                                        f"{n * len(self.events):,} events; at most "
                                        f"{MAX_EVENTS:,} in one regimen: give a dose already at "
                                        "steady state (steady_state=True) or fewer doses")
        return Regimen(tuple(SteadyState(ev, ii) if steady_state and k == 0 else ev.shifted(k * ii)
                             for k in range(n) for ev in self.events))


def as_regimen(value) -> Regimen:
    """Accept an event, a regimen or a sequence of events and return a :class:`Regimen`."""
    if isinstance(value, Regimen):
        return value
    if isinstance(value, (Bolus, Infusion, Inhalation, SteadyState)):
        return Regimen((value,))
    if isinstance(value, (list, tuple)):
        return Regimen(tuple(value))
    raise ValidationError("regimen", f"expected a Bolus, Infusion, Inhalation or Regimen, got "
                                     f"{type(value).__name__}")
