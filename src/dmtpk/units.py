"""Units at the edge of the package.

One pint registry serves dmtpk: the application registry (``pint.get_application_registry()``),
exposed as ``dmtpk.ureg``, so quantities made by the user's own code work with ours. Everything
inside the package is plain float64 in canonical units:

============================  =========
quantity                      canonical
============================  =========
time                          min
amount (dose)                 mg
volume                        L
clearance, flow               L/min
rate (infusion)               mg/min
concentration                 mg/L
first-order rate constant     1/min
body weight                   kg
============================  =========

Results report concentrations in ng/mL (= µg/L). Molar amounts and concentrations (nmol, nM) are
converted with the molar mass of the species concerned: DMT base for doses and DMT
concentrations, the metabolite's own for metabolite concentrations.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pint

from .errors import UnitError, ValidationError

__all__ = [
    "ureg",
    "CANONICAL",
    "DMT_MOLAR_MASS",
    "FUMARIC_ACID_MOLAR_MASS",
    "SALT_BASE_FRACTION",
    "to_canonical",
    "times_to_canonical",
    "query_times",
    "salt_to_base",
    "MG_PER_L_TO_NG_PER_ML",
]

ureg = pint.get_application_registry()

#: Canonical unit of each kind of quantity used inside the package.
CANONICAL: dict[str, str] = {
    "time": "min",
    "amount": "mg",
    "volume": "L",
    "clearance": "L/min",
    "rate": "mg/min",
    "concentration": "mg/L",
    "rate_constant": "1/min",
    "weight": "kg",
    "dose_per_weight": "mg/kg",
    "rate_per_weight": "mg/kg/min",
    "inverse_concentration": "L/mg",
    "dimensionless": "dimensionless",
}

#: Molar mass of DMT base, C12H16N2, g/mol (literature file section 5: 188.27, infobox range
#: 188.269-188.274).
DMT_MOLAR_MASS = 188.27
#: Molar mass of fumaric acid, C4H4O4, g/mol (literature file section 5).
FUMARIC_ACID_MOLAR_MASS = 116.07

#: Mass fraction of DMT base in each dose form. Fumarate is the 1:1 salt (one DMT per fumaric
#: acid, 304.34 g/mol); hemifumarate the 2:1 salt (246.31 g per mol of DMT).
SALT_BASE_FRACTION: dict[str, float] = {
    "base": 1.0,
    "fumarate": DMT_MOLAR_MASS / (DMT_MOLAR_MASS + FUMARIC_ACID_MOLAR_MASS),
    "hemifumarate": DMT_MOLAR_MASS / (DMT_MOLAR_MASS + FUMARIC_ACID_MOLAR_MASS / 2.0),
}

#: Factor from mg/L (canonical) to ng/mL (reporting unit): 1 mg/L = 1000 ng/mL.
MG_PER_L_TO_NG_PER_ML = 1000.0

_UNIT_CACHE: dict[str, pint.Unit] = {}


def _unit(name: str) -> pint.Unit:
    unit = _UNIT_CACHE.get(name)
    if unit is None:
        unit = _UNIT_CACHE[name] = ureg.Unit(name)
    return unit


def _as_quantity(value, field: str):
    """Turn a Quantity (any registry) or a string into a Quantity of ``ureg``; None for numbers."""
    if isinstance(value, str):
        try:
            q = ureg.Quantity(value)
        except Exception as exc:  # pint raises several types for unparsable strings
            raise UnitError(field, f"cannot read {value!r} as a quantity ({exc})") from None
        if not isinstance(q, ureg.Quantity):  # "3" parses to a plain number
            return ureg.Quantity(float(q), "dimensionless")
        return q
    if isinstance(value, pint.Quantity):
        if value._REGISTRY is not ureg.get():
            # Quantity from a foreign registry: rebuild it in ours from magnitude and unit text.
            return ureg.Quantity(value.magnitude, str(value.units))
        return value
    return None


def _convert(q, kind: str, field: str, molar_mass: float | None):
    target = _unit(CANONICAL[kind])
    if q.dimensionality == target.dimensionality:
        return q.to(target).magnitude
    if molar_mass is not None:
        mm = ureg.Quantity(molar_mass, "g/mol")
        for candidate in (q * mm, q / mm):
            if candidate.dimensionality == target.dimensionality:
                return candidate.to(target).magnitude
    expected = f"{CANONICAL[kind]} ({kind})"
    if molar_mass is not None and kind in ("amount", "concentration", "rate", "inverse_concentration"):
        expected += " or its molar equivalent"
    raise UnitError(field, f"got {q:~P} with dimension {q.dimensionality}; expected {expected}")


def to_canonical(value, kind: str, field: str, molar_mass: float | None = None) -> float:
    """Convert one scalar quantity to a float in the canonical unit of ``kind``.

    Parameters
    ----------
    value : pint.Quantity, str or real number
        A Quantity (from any registry), a string such as ``"20 mg"`` or ``"2 h"``, or a bare
        number, which is taken to be in the canonical unit already.
    kind : str
        A key of :data:`CANONICAL` (``"time"``, ``"amount"``, ...).
    field : str
        Name of the argument, used in error messages.
    molar_mass : float, optional
        g/mol of the species, to accept molar amounts or concentrations (nmol, nM).

    Returns
    -------
    float
        The value in the canonical unit. NaN and infinite values are rejected.

    Raises
    ------
    UnitError
        Unreadable string or wrong dimension; the message names ``field``.
    ValidationError
        NaN, infinite or non-numeric value.
    """
    if kind not in CANONICAL:
        raise ValueError(f"unknown quantity kind {kind!r}")
    q = _as_quantity(value, field)
    if q is None:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValidationError(field, f"expected a number or a quantity, got {value!r}")
        out = float(value)
    else:
        if not np.isscalar(q.magnitude) and np.ndim(q.magnitude) != 0:
            raise ValidationError(field, f"expected a single value, got an array {value!r}")
        out = float(_convert(q, kind, field, molar_mass))
    if not math.isfinite(out):
        raise ValidationError(field, f"must be finite, got {value!r}")
    return out


def query_times(times, field: str = "t") -> np.ndarray:
    """Times at which to look up a solution, in minutes, float64 shape (m,), in any order.

    Accepts a bare number (min), a string (``"5 min"``), a Quantity (scalar or array, any
    registry) or a sequence of these. Rejects NaN and infinite values, naming the position.
    """
    scalar_quantity = isinstance(times, pint.Quantity) and np.ndim(times.magnitude) == 0
    if isinstance(times, str) or scalar_quantity:
        arr = np.array([to_canonical(times, "time", field)])
    elif isinstance(times, pint.Quantity):
        arr = np.atleast_1d(np.asarray(_convert(_as_quantity(times, field), "time", field, None),
                                       dtype=float))
    elif isinstance(times, np.ndarray) and times.dtype.kind in "fiu":
        arr = np.atleast_1d(times.astype(float))
    elif isinstance(times, (int, float, np.integer, np.floating)) and not isinstance(times, bool):
        arr = np.array([float(times)])
    else:
        try:
            seq = list(times)
        except TypeError:
            raise ValidationError(field, f"expected a time or a sequence of times, got "
                                         f"{type(times).__name__}") from None
        arr = np.array([to_canonical(t, "time", f"{field}[{i}]") for i, t in enumerate(seq)],
                       dtype=float)
    if arr.ndim != 1:
        raise ValidationError(field, f"expected a time or a one-dimensional sequence, got shape "
                                     f"{arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValidationError(f"{field}[{bad[0]}]", f"must be finite, got {arr[bad[0]]}")
    return arr


def times_to_canonical(times, field: str = "times") -> np.ndarray:
    """Convert a sequence of times to a float64 array in minutes.

    Accepts a Quantity array, a sequence of strings or quantities, or bare numbers (minutes).
    Rejects NaN, infinite and negative values and any decrease, naming the first bad position.
    """
    q = _as_quantity(times, field) if not isinstance(times, str) else None
    if isinstance(times, str):
        raise ValidationError(field, f"expected a sequence of times, got the string {times!r}")
    if q is not None:
        arr = np.atleast_1d(np.asarray(_convert(q, "time", field, None), dtype=float))
    else:
        try:
            seq = list(times) if not isinstance(times, np.ndarray) else times
        except TypeError:
            seq = [times]
        if isinstance(seq, np.ndarray) and seq.dtype.kind in "fiu":
            arr = np.atleast_1d(seq.astype(float))
        else:
            arr = np.array([to_canonical(t, "time", f"{field}[{i}]") for i, t in enumerate(seq)],
                           dtype=float)
    if arr.ndim != 1:
        raise ValidationError(field, f"expected a one-dimensional sequence, got shape {arr.shape}")
    if arr.size == 0:
        raise ValidationError(field, "is empty")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValidationError(f"{field}[{bad[0]}]", f"must be finite, got {arr[bad[0]]}")
    neg = np.flatnonzero(arr < 0)
    if neg.size:
        raise ValidationError(f"{field}[{neg[0]}]", f"must not be negative, got {arr[neg[0]]} min")
    dec = np.flatnonzero(np.diff(arr) < 0)
    if dec.size:
        i = dec[0] + 1
        raise ValidationError(f"{field}[{i}]",
                              f"times must be sorted: {arr[i]} min follows {arr[i - 1]} min")
    return arr


def salt_to_base(amount_mg: float, salt: str, field: str = "salt") -> float:
    """Convert an amount of a DMT dose form to mg of DMT base.

    Parameters
    ----------
    amount_mg : float
        Amount of the dose form, mg.
    salt : {"base", "fumarate", "hemifumarate"}
        Dose form. Fumarate is the 1:1 salt, hemifumarate the 2:1 salt.

    Returns
    -------
    float
        mg of DMT base.
    """
    try:
        fraction = SALT_BASE_FRACTION[salt]
    except (KeyError, TypeError):
        raise ValidationError(field, f"unknown dose form {salt!r}; expected one of "
                                     f"{sorted(SALT_BASE_FRACTION)}") from None
    return amount_mg * fraction
