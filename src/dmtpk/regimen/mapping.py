"""Regimens from mappings: the event tables of a scenario file (or any dict) to a :class:`Regimen`.

An event is a mapping with a ``type`` (``"bolus"``, ``"infusion"``, ``"inhalation"``), the
arguments of :class:`~dmtpk.Bolus`, :class:`~dmtpk.Infusion` or :class:`~dmtpk.Inhalation`
(``dose``, ``rate``, ``duration``, ``at``, ``salt``; ``f``, ``ka``, ``lag`` for inhalations), and
optionally ``every`` and ``times`` to repeat it::

    {"type": "infusion", "rate": "1.4 mg/min", "duration": "30 min", "salt": "fumarate"}

Mistakes raise :class:`~dmtpk.ValidationError` whose field names the entry (for example
``"regimens[1].events[2].dose"``), so a caller can point at the file and key.
"""

from __future__ import annotations

from ..errors import DmtpkError, ValidationError
from .events import Bolus, Infusion, Inhalation, Regimen

__all__ = ["EVENT_TYPES", "event_from_mapping", "regimen_from_mappings", "regimen_to_mappings"]

#: Event types and the keys each accepts (besides ``type``, ``every``, ``times``).
EVENT_TYPES = {
    "bolus": (Bolus, ("dose", "at", "salt")),
    "infusion": (Infusion, ("dose", "rate", "duration", "at", "salt")),
    "inhalation": (Inhalation, ("dose", "at", "salt", "f", "ka", "lag")),
}

#: What each event type needs at least, for the message when an argument is missing.
_REQUIRED = {"bolus": "a dose", "inhalation": "a dose",
             "infusion": "two of dose, rate and duration"}


def event_from_mapping(spec: dict, key: str = "event") -> Regimen:
    """One dose event, repeated when ``every`` and ``times`` are given, from a mapping.

    Parameters
    ----------
    spec : dict
        ``type`` (``"bolus"``, ``"infusion"``, ``"inhalation"``) and the event's arguments,
        optionally with ``every`` (interval) and ``times`` (number of doses in all).
    key : str
        Name of the entry, used as the field of errors.

    Returns
    -------
    Regimen
        The event, or its repetitions.

    Raises
    ------
    ValidationError
        ``spec`` is not a mapping, has an unknown type or key, lacks a required argument, has
        an invalid value, or gives only one of ``every`` and ``times``.
    """
    if not isinstance(spec, dict):
        raise ValidationError(key, f"an event is a table with a 'type', got {spec!r}")
    spec = dict(spec)
    kind = spec.pop("type", None)
    if kind not in EVENT_TYPES:
        raise ValidationError(f"{key}.type", f"expected one of {sorted(EVENT_TYPES)}, "
                                             f"got {kind!r}")
    cls, allowed = EVENT_TYPES[kind]
    every, times = spec.pop("every", None), spec.pop("times", None)
    unknown = sorted(set(spec) - set(allowed))
    if unknown:
        raise ValidationError(key, f"unknown key(s) {unknown} for a {kind}; allowed: "
                                   f"{sorted(allowed) + ['every', 'times']}")
    try:
        event = cls(**spec)
    except TypeError as exc:  # e.g. a bolus without its dose
        raise ValidationError(key, f"a {kind} needs {_REQUIRED[kind]} ({exc})") from None
    except DmtpkError as exc:
        raise ValidationError(key, str(exc)) from None
    if (every is None) != (times is None):
        raise ValidationError(key, "give both 'every' (interval) and 'times' (number of doses) "
                                   "to repeat an event, or neither")
    if every is None:
        return Regimen((event,))
    try:
        return event.every(every, times=times)
    except DmtpkError as exc:
        raise ValidationError(key, str(exc)) from None


def regimen_from_mappings(events: list, key: str = "events") -> Regimen:
    """A regimen from a list of event mappings (see :func:`event_from_mapping`), in order.

    Parameters
    ----------
    events : list of dict
        At least one event.
    key : str
        Name of the list; event ``j`` (from 1) is reported as ``f"{key}[{j}]"``.

    Returns
    -------
    Regimen

    Raises
    ------
    ValidationError
        ``events`` is not a non-empty list, or an event is invalid.
    """
    if not isinstance(events, list) or not events:
        raise ValidationError(key, "a list of at least one event is required")
    regimen = Regimen(())
    for j, spec in enumerate(events, start=1):
        regimen = regimen + event_from_mapping(spec, f"{key}[{j}]")
    return regimen


def regimen_to_mappings(regimen) -> list:
    """The event mappings of a regimen, as :func:`regimen_from_mappings` reads them back:
    canonical values written with every digit (``repr``), so the regimen reads back to the
    same floats. Doses in DMT base (``salt`` is left out: the values are already base).

    Parameters
    ----------
    regimen : Regimen or event
        Boluses, infusions and inhalations (with their ``f``, ``ka``, ``lag`` overrides);
        per-kg doses keep their per-kg unit.

    Returns
    -------
    list of dict

    Raises
    ------
    ValidationError
        An event without a mapping form (a steady-state dose).
    """
    from .events import as_regimen
    out = []
    for j, ev in enumerate(as_regimen(regimen).events, start=1):
        kg = "/kg" if ev.per_kg else ""
        if isinstance(ev, Infusion):
            spec = {"type": "infusion", "rate": f"{ev.rate!r} mg{kg}/min",
                    "duration": f"{ev.duration!r} min"}
        elif isinstance(ev, (Bolus, Inhalation)):
            spec = {"type": type(ev).__name__.lower(), "dose": f"{ev.dose!r} mg{kg}"}
            for k, unit in (("f", ""), ("ka", " 1/min"), ("lag", " min")):
                value = getattr(ev, k, None)
                if value is not None:
                    spec[k] = value if not unit else f"{value!r}{unit}"
        else:
            raise ValidationError(f"regimen[{j}]", f"a {type(ev).__name__} has no event-table "
                                                   "form")
        if ev.at:
            spec["at"] = f"{ev.at!r} min"
        out.append(spec)
    return out
