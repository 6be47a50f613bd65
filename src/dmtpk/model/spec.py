"""Model specification: what a model is, read and validated from a mapping (a parsed TOML file).

The optional sections (sources, dose form, validity, variability, residual error, covariates)
are validated in :mod:`.sections`; :mod:`.describe` prints a model.

A :class:`Model` holds the PK structure, routes, typical parameter values in canonical units (with
what the file said and where each number came from), the PD endpoints, the metabolite, and the
variability, residual error and covariate sections. It is a frozen value; use
:meth:`Model.with_parameters` for a copy with other values. Nothing in a model file is executed.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType

import numpy as np

from ..errors import ModelFileError, UnitError, ValidationError
from ..routes import ROUTE_LABELS, ROUTES
from ..units import DMT_MOLAR_MASS, to_canonical, ureg
from .sections import (_PROVENANCE_KEYS, ADMINISTRATIONS, DISTRIBUTIONS, DoseForm,
                       ModelValidityWarning, NotFittedWarning, OutOfRangeWarning, RouteValidity,
                       _check_provenance, _check_source_keys, _covariates, _dose_form,
                       _molar_mass, _residual, _sources, _validity, _variability, _warn_once,
                       reset_validity_warnings)

__all__ = ["Model", "Parameter", "Endpoint", "Metabolite", "DoseForm", "RouteValidity",
           "model_from_dict", "ModelValidityWarning", "OutOfRangeWarning", "NotFittedWarning",
           "reset_validity_warnings", "STRUCTURES", "ELIMINATIONS", "PD_MODELS", "LINKS",
           "DISTRIBUTIONS", "ADMINISTRATIONS"]

STRUCTURES = {"one_compartment": 1, "two_compartment": 2, "three_compartment": 3}
ELIMINATIONS = ("linear", "michaelis_menten")
LINKS = ("direct", "effect_compartment")
#: PD forms: (needs GAMMA, sign of the drug effect, effect scaled by the baseline E0).
PD_MODELS = {
    "linear": (False, +1, False),
    "emax": (False, +1, False),
    "sigmoid_emax": (True, +1, False),
    "imax": (False, -1, False),
    "sigmoid_imax": (True, -1, False),
    "fractional_emax": (True, +1, True),
    "fractional_imax": (True, -1, True),
}
DRIVERS = ("parent", "metabolite")

# Kind of quantity of each PK parameter (by its NONMEM-style name).
_PK_KIND = {"CL": "clearance", "V1": "volume", "Q": "clearance", "V2": "volume",
            "Q3": "clearance", "V3": "volume", "VMAX": "rate", "KM": "concentration",
            "KA": "rate_constant", "F_INH": "dimensionless", "TLAG_INH": "time"}
_METAB_KIND = {"CL": "clearance", "V": "volume", "FM": "dimensionless"}
_PD_KIND = {"KE0": "rate_constant", "E0": "dimensionless", "EMAX": "dimensionless",
            "EC50": "concentration", "GAMMA": "dimensionless", "SLOPE": "inverse_concentration"}
_ROLE_ALIASES = {"IMAX": "EMAX", "IC50": "EC50", "R0": "E0", "HILL": "GAMMA"}
_KNOWN_TABLES = {"model", "parameters", "metabolite", "effects", "variability", "residual",
                 "covariates", "sources", "comparisons", "validity", "dose_form"}
_MODEL_KEYS = {"name", "description", "structure", "elimination", "routes", "molar_mass", "drug"}
_EFFECT_KEYS = {"link", "model", "parameters", "unit", "threshold", "driver", "description"}


@dataclass(frozen=True)
class Parameter:
    """One typical value.

    Attributes
    ----------
    name : str
    value : float
        In the canonical unit of ``kind``.
    kind : str
        Key of :data:`dmtpk.units.CANONICAL`.
    given : str
        The value as written in the file.
    info : mapping
        Provenance fields from the file (``source``, ``where``, ``note``, ``assumption``...).
    molar_mass : float or None
        g/mol of the species a molar value of this parameter converts with (the parent's, or
        the metabolite's for an EC50 driven by it); None when molar units do not apply.
    """

    name: str
    value: float
    kind: str
    given: str
    info: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    molar_mass: float | None = None


@dataclass(frozen=True)
class Endpoint:
    """A PD endpoint: link, PD form and the parameters filling its roles."""

    name: str
    link: str
    model: str
    roles: MappingProxyType  # role -> parameter name
    unit: str
    threshold: float | None
    driver: str
    description: str = ""

    @property
    def sign(self) -> int:
        """+1 when the drug raises the response, -1 when it lowers it."""
        if self.model == "linear":
            return +1
        return PD_MODELS[self.model][1]


@dataclass(frozen=True)
class Metabolite:
    """A metabolite formed from the parent's elimination (mole for mole times ``FM``)."""

    name: str
    molar_mass: float  # g/mol
    roles: MappingProxyType  # CL, V, FM -> parameter name


@dataclass(frozen=True, eq=False)
class Model:
    """A validated PK/PD model. Build it with :func:`dmtpk.load_model` or :func:`model_from_dict`.

    Attributes
    ----------
    name, description : str
    structure : {"one_compartment", "two_compartment", "three_compartment"}
    elimination : {"linear", "michaelis_menten"}
    routes : tuple of str
        ``"iv"`` and/or ``"inhaled"``.
    parameters : mapping of str to Parameter
        Typical values in canonical units, in file order.
    effects : tuple of Endpoint
    metabolite : Metabolite or None
    molar_mass : float
        g/mol of the parent drug (DMT base unless the file says otherwise).
    variability, residual, covariates : mapping
        The file's sections, validated; used by the population engine. Each covariate maps
        ``reference`` (canonical units; 1 for a categorical one), ``exponents`` (power laws),
        ``linear`` (slopes per canonical unit) and ``categorical`` (per parameter, a factor per
        level ``"2"``, ``"3"``, ...) to its values (:mod:`dmtpk.model.covariates`).
    validity : mapping of str to RouteValidity
        Per route, what the model was fitted to (empty when the file has no ``[validity]``).
    dose_form : DoseForm
        The dose form of the model's data and the authors' conversion to DMT base.
    population : str
        Who the model was fitted to, as the file states it.
    sources : tuple of mapping
        The sources of the model's numbers (registered for :func:`dmtpk.cite`).
    comparisons : tuple of mapping
        Studies the model is compared against but takes no number from (``[[comparisons]]``),
        with what each reports; shown by ``print(model)``, not cited as a source.
    path : str
        Where the model came from, for messages.
    """

    name: str
    description: str
    structure: str
    elimination: str
    routes: tuple
    parameters: MappingProxyType
    effects: tuple
    metabolite: Metabolite | None
    molar_mass: float
    variability: MappingProxyType
    residual: MappingProxyType
    covariates: MappingProxyType
    validity: MappingProxyType
    sources: tuple
    path: str
    raw: MappingProxyType
    dose_form: DoseForm | None = None
    population: str = ""
    comparisons: tuple = ()

    @property
    def n_compartments(self) -> int:
        return STRUCTURES[self.structure]

    @property
    def is_linear(self) -> bool:
        """True when every rate in the model is first order (exact solutions apply)."""
        return self.elimination == "linear"

    @cached_property
    def compiled(self):
        """The :class:`~dmtpk.model.compiled.CompiledModel` (built once per model)."""
        from .compiled import compile_model
        return compile_model(self)

    def value(self, name: str) -> float:
        """Typical value of parameter ``name`` in canonical units."""
        return self.parameters[name].value

    def endpoint(self, name: str) -> Endpoint:
        for ep in self.effects:
            if ep.name == name:
                return ep
        raise ValidationError("endpoint", f"model {self.name!r} has no endpoint {name!r}; it has "
                                          f"{[e.name for e in self.effects]}")

    def check_thresholds(self, thresholds, field: str = "thresholds") -> dict:
        """Thresholds per endpoint, validated: ``{endpoint name: float}``.

        Parameters
        ----------
        thresholds : mapping or None
            Endpoint name to a finite number (Python or NumPy) in the endpoint's unit.
        field : str
            The argument's name, for messages.

        Raises
        ------
        ValidationError
            Naming ``field`` (not a mapping) or ``field.<name>`` (an unknown endpoint, a value
            that is not a finite number).
        """
        if thresholds is None:
            return {}
        if not isinstance(thresholds, Mapping):
            raise ValidationError(field, f"expected a mapping of endpoint names to thresholds, "
                                         f"e.g. {{'intensity': 5}}, got {thresholds!r}")
        names = [e.name for e in self.effects]
        out = {}
        for name, v in thresholds.items():
            if name not in names:
                raise ValidationError(f"{field}.{name}", f"model {self.name!r} has no endpoint "
                                                         f"{name!r}; it has {names}")
            if isinstance(v, bool) or not isinstance(v, numbers.Real) \
                    or not math.isfinite(float(v)):
                raise ValidationError(f"{field}.{name}", f"expected a finite number in the "
                                                         f"endpoint's unit, got {v!r}")
            out[name] = float(v)
        return out

    def with_parameters(self, values=None, /, **kwargs) -> "Model":
        """A copy with some typical values replaced, on the validated parameters (no file is
        read or parsed again).

        Parameters
        ----------
        values : mapping of str to value, optional
            New typical values by parameter name; errors name ``parameters.<name>`` (this is
            how ``simulate(..., parameters=...)`` passes them).
        **kwargs
            The same by keyword (``CL="20 L/min"``); errors name the keyword.

        Each value is a Quantity, a string with its unit, or a bare number (Python or NumPy)
        in the parameter's canonical unit. It is checked as a value in the file would be
        (dimension, finiteness, positive clearances, volumes, rate constants, EC50 and GAMMA;
        fractions in [0, 1]; a logit-normal parameter strictly between 0 and 1). The copy's
        compiled parameter vector is the original's with the changed entries replaced; its
        layout is shared. Provenance fields stay attached to the parameter, with
        ``info["overridden"]`` the value the file gave (``print(model)`` shows both).

        Raises
        ------
        ValidationError, UnitError
            Naming the argument (``parameters.CL`` or ``CL``) and what was expected.

        Examples
        --------
        >>> import dmtpk
        >>> m = dmtpk.load_model("eckernas2022")
        >>> m.with_parameters(CL="20 L/min").value("CL")
        20.0
        >>> m.with_parameters({"GAMMA": 2}).value("GAMMA")
        2.0
        """
        changes = []
        if values is not None:
            if not isinstance(values, Mapping):
                raise ValidationError("parameters", f"expected a mapping of parameter names to "
                                                    f"values, got {type(values).__name__}")
            changes += [(name, v, f"parameters.{name}") for name, v in values.items()]
        changes += [(name, v, name) for name, v in kwargs.items()]
        if not changes:
            return self
        parameters = dict(self.parameters)
        raw = _thaw(self.raw)
        theta = np.array(self.compiled.theta)
        positions = {n: i for i, n in enumerate(self.compiled.param_names)}
        for name, v, where in changes:
            if not isinstance(name, str) or name not in parameters:
                raise ValidationError(where, f"model {self.name!r} has no parameter {name!r}; "
                                             f"it has {list(parameters)}")
            p = self._new_value(parameters[name], v, where)
            parameters[name] = p
            theta[positions[name]] = p.value
            old = raw["parameters"][name]
            # The raw mapping is kept in step as a canonical number with its canonical unit,
            # which reads back to the same float.
            text = p.value if p.kind == "dimensionless" else f"{p.value!r} {_canonical_unit(p.kind)}"
            if isinstance(old, dict):
                raw["parameters"][name] = {**old, "value": text}
            else:
                raw["parameters"][name] = text
        theta.setflags(write=False)
        new = replace(self, parameters=MappingProxyType(parameters), raw=_freeze(raw))
        # cached_property stores into the instance dict: the copy gets the compiled model with
        # its new parameter vector without compiling again.
        new.__dict__["compiled"] = replace(self.compiled, theta=theta)
        return new

    def _new_value(self, p: Parameter, v, where: str) -> Parameter:
        """``p`` with the value ``v`` (a user's override), checked; errors name ``where``."""
        if isinstance(v, bool) or not (isinstance(v, (str, numbers.Real))
                                       or (hasattr(v, "units") and hasattr(v, "magnitude"))):
            raise ValidationError(where, f"expected a number, a string with a unit or a "
                                         f"Quantity, got {v!r}")
        if isinstance(v, numbers.Real):
            v = float(v)
        value = to_canonical(v, p.kind, where, molar_mass=p.molar_mass)
        role = p.name if p.name in _PK_KIND else _role_of(p.name, self.metabolite, self.effects)
        shown = f"{v!r}" if not isinstance(v, str) else repr(v)
        problem = _range_problem(value, role, shown)
        if problem is None and self.variability.get("distribution", {}).get(p.name) == "logit" \
                and not 0.0 < value < 1.0:
            problem = (f"has logit-normal variability and needs a typical value strictly "
                       f"between 0 and 1, got {shown}")
        if problem is not None:
            raise ValidationError(where, problem)
        unit = "" if p.kind == "dimensionless" else f" {_canonical_unit(p.kind)}"
        given = v if isinstance(v, str) else f"{value:g}{unit}"
        # The provenance stays, marked with what the file said, so that print(model) does not
        # attribute the new number to the file's source.
        info = {**p.info, "overridden": p.info.get("overridden", p.given)}
        return replace(p, value=value, given=given, info=MappingProxyType(info))

    def to_base(self, value):
        """An amount or rate stated in the model's dose form, as DMT base, converted with the
        factor the model file records (``[dose_form]``), i.e. as the authors converted it.

        Parameters
        ----------
        value : Quantity, str or float
            Amount (``"20 mg"``), rate (``"1.4 mg/min"``) or per-weight dose of the dose form;
            a bare number is mg. A molar amount already counts DMT and is returned unchanged.

        Returns
        -------
        Quantity or float
            The same dimension, of DMT base (a float in mg when ``value`` is a bare number).

        Examples
        --------
        >>> import dmtpk
        >>> m = dmtpk.load_model("eckernas2022")
        >>> round(m.to_base(20), 3)
        12.372
        >>> round(dmtpk.Bolus(m.to_base("20 mg")).dose, 3)
        12.372
        """
        fraction = self.dose_form.base_fraction if self.dose_form else 1.0
        if isinstance(value, bool):
            raise ValidationError("value", f"expected an amount or a rate, got {value!r}")
        if isinstance(value, (int, float)):
            if not math.isfinite(value) or value < 0:
                raise ValidationError("value", f"must be a non-negative amount, got {value!r}")
            return float(value) * fraction
        from ..units import _as_quantity
        q = _as_quantity(value, "value")
        if "[substance]" in str(q.dimensionality):
            return q
        if not any(q.is_compatible_with(u) for u in ("mg", "mg/min", "mg/kg", "mg/kg/min")) \
                or "gram" not in str(q.units):  # mg/kg is dimensionless to pint: keep the mass
            raise UnitError("value", f"got {value!r}; expected an amount or a rate of the dose "
                                     "form (mg, mg/min, mg/kg)")
        return ureg.Quantity(float(q.magnitude) * fraction, q.units)

    def check_regimen(self, regimen, weight=None) -> list:
        """Compare a regimen with what the model was fitted to; warn once per model and range.

        Routes without validity information are not checked. A route whose parameters are not
        fitted issues :class:`NotFittedWarning`; an administration kind absent from the data, or a
        dose outside the fitted range, issues :class:`OutOfRangeWarning` (each once per model,
        route and range, see :func:`reset_validity_warnings`).

        Parameters
        ----------
        regimen : Bolus, Infusion, Inhalation or Regimen
        weight : float, optional
            Body weight (kg), to compare per-kg doses; without it they are not compared.

        Returns
        -------
        list of str
            Every finding, including those already warned about.
        """
        events = getattr(regimen, "events", None)
        events = tuple(events) if events is not None else (regimen,)
        found = []
        for ev in events:
            kind = type(ev).__name__.lower()
            route = getattr(ev, "route", None)
            v = self.validity.get(route)
            if v is None:
                continue
            label = ROUTE_LABELS[route]
            if not v.fitted:
                msg = self._not_fitted_message(v)
                found.append(msg)
                _warn_once((self.name, route, "not_fitted"), msg, NotFittedWarning)
            elif kind not in v.administration:
                msg = (f"model {self.name!r} was fitted to {label} "
                       f"{' and '.join(v.administration)} data only; an {label} {kind} is an "
                       "extrapolation")
                found.append(msg)
                _warn_once((self.name, route, "administration", kind), msg, OutOfRangeWarning)
            if v.dose is None or kind == "infusion":
                continue
            amount = ev.dose * (weight if ev.per_kg and weight is not None else 1.0)
            if ev.per_kg and weight is None:
                continue
            low, high = v.dose
            if not low * (1 - 1e-9) <= amount <= high * (1 + 1e-9):
                form = v.dose_form or self.dose_form
                shown = amount / form.base_fraction if form else amount
                msg = (f"model {self.name!r}: an {label} dose of {shown:.4g} mg "
                       f"{form.label if form else 'DMT base'} ({amount:.4g} mg base) is outside "
                       f"the fitted dose range {v.dose_given}; results are extrapolated")
                found.append(msg)
                _warn_once((self.name, route, "dose"), msg, OutOfRangeWarning)
        return found

    def _not_fitted_message(self, v) -> str:
        return (f"model {self.name!r}: the {v.route} route is not fitted to data; its parameters "
                f"are assumptions ({v.why})")

    def warn_not_fitted(self) -> None:
        """Issue :class:`NotFittedWarning` for each route the model was not fitted to (once per
        model and route). :func:`dmtpk.load_model` calls this."""
        for v in self.validity.values():
            if not v.fitted:
                _warn_once((self.name, v.route, "not_fitted"), self._not_fitted_message(v),
                           NotFittedWarning, stacklevel=4)

    def describe(self) -> str:
        """Structure, parameters with units and sources, variability, residual error, dose form,
        validity and sources, as text (also what ``print(model)`` shows)."""
        from .describe import describe
        return describe(self)

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return (f"Model({self.name!r}, {self.structure}, {self.elimination} elimination, "
                f"routes={list(self.routes)}, endpoints={[e.name for e in self.effects]})")


def _canonical_unit(kind: str) -> str:
    from ..units import CANONICAL
    return CANONICAL[kind]


def _thaw(obj):
    if isinstance(obj, (dict, MappingProxyType)):
        return {k: _thaw(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_thaw(v) for v in obj]
    return obj


def _freeze(obj):
    if isinstance(obj, dict):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(v) for v in obj)
    return obj


def _table(raw, key, path, required=False) -> dict:
    value = raw.get(key)
    if value is None:
        if required:
            raise ModelFileError(path, key, "section is missing")
        return {}
    if not isinstance(value, dict):
        raise ModelFileError(path, key, f"must be a table, got {type(value).__name__}")
    return value


def _choice(table, key, allowed, path, section, default=None):
    value = table.get(key, default)
    if value is None:
        raise ModelFileError(path, f"{section}.{key}", f"is missing; expected one of {list(allowed)}")
    if value not in allowed:
        raise ModelFileError(path, f"{section}.{key}", f"unknown value {value!r}; expected one "
                                                       f"of {list(allowed)}")
    return value


def _parameter(name, entry, kind, path, molar_mass) -> Parameter:
    key = f"parameters.{name}"
    info = {}
    if isinstance(entry, dict):
        if "value" not in entry:
            raise ModelFileError(path, key, "an inline table needs a 'value'")
        bad = set(entry) - ({"value"} | _PROVENANCE_KEYS)
        if bad:
            raise ModelFileError(path, f"{key}.{sorted(bad)[0]}", f"unknown key; expected value "
                                                                  f"and some of "
                                                                  f"{sorted(_PROVENANCE_KEYS)}")
        info = {k: v for k, v in entry.items() if k != "value"}
        entry = entry["value"]
    if isinstance(entry, bool) or not isinstance(entry, (str, int, float)):
        raise ModelFileError(path, key, f"expected a number or a string with a unit, got {entry!r}")
    if kind != "dimensionless" and not isinstance(entry, str):
        raise ModelFileError(path, key, f"needs a unit: write it as a string such as "
                                        f"\"{entry} {_canonical_unit(kind)}\"")
    try:
        value = to_canonical(entry, kind, name, molar_mass=molar_mass)
    except (UnitError, ValidationError) as exc:
        raise ModelFileError(path, key, str(exc).split(": ", 1)[-1]) from None
    return Parameter(name, value, kind, str(entry), MappingProxyType(info), molar_mass)


_POSITIVE_ROLES = {"CL", "V1", "Q", "V2", "Q3", "V3", "VMAX", "KM", "KA", "M_CL", "M_V", "KE0",
                   "EC50", "GAMMA"}


def _range_problem(value: float, role: str, shown: str) -> str | None:
    """What is wrong with a value a role cannot take (the role is the PK name, or the
    PD/metabolite role), or None."""
    if role in _POSITIVE_ROLES and not value > 0:
        return f"must be positive, got {shown}"
    if role in ("F_INH", "FM") and not 0.0 <= value <= 1.0:
        return f"is a fraction and must lie in [0, 1], got {shown}"
    if role == "TLAG_INH" and value < 0:
        return f"must not be negative, got {shown}"
    return None


def _check_range(p: Parameter, role: str, path: str):
    """Reject values a role cannot take in a model file."""
    problem = _range_problem(p.value, role, p.given)
    if problem is not None:
        raise ModelFileError(path, f"parameters.{p.name}", problem)


def model_from_dict(raw: dict, path: str = "<dict>") -> Model:
    """Validate a parsed model file and build a :class:`Model`.

    Raises
    ------
    ModelFileError
        Naming the file and the key at fault.
    """
    path = str(path)
    if not isinstance(raw, dict):
        raise ModelFileError(path, "", "a model file must be a TOML table")
    unknown = set(raw) - _KNOWN_TABLES
    if unknown:
        raise ModelFileError(path, sorted(unknown)[0], f"unknown section; expected some of "
                                                       f"{sorted(_KNOWN_TABLES)}")
    head = _table(raw, "model", path, required=True)
    bad = set(head) - _MODEL_KEYS
    if bad:
        raise ModelFileError(path, f"model.{sorted(bad)[0]}", f"unknown key; expected some of "
                                                              f"{sorted(_MODEL_KEYS)}")
    name = head.get("name")
    if not isinstance(name, str) or not name:
        raise ModelFileError(path, "model.name", "is missing or empty")
    structure = _choice(head, "structure", STRUCTURES, path, "model")
    elimination = _choice(head, "elimination", ELIMINATIONS, path, "model", default="linear")
    routes = head.get("routes")
    if not isinstance(routes, list) or not routes:
        raise ModelFileError(path, "model.routes", f"must be a non-empty list of routes from "
                                                   f"{list(ROUTES)}")
    for r in routes:
        if r not in ROUTES:
            raise ModelFileError(path, "model.routes", f"unknown route {r!r}; expected some of "
                                                       f"{list(ROUTES)}")
    molar_mass = DMT_MOLAR_MASS
    if "molar_mass" in head:
        molar_mass = _molar_mass(head["molar_mass"], path, "model.molar_mass")

    params_raw = _table(raw, "parameters", path, required=True)
    # Which parameters the structure needs, and their kinds.
    needed = {"V1": "volume"}
    n_cmt = STRUCTURES[structure]
    if n_cmt >= 2:
        needed.update(Q="clearance", V2="volume")
    if n_cmt >= 3:
        needed.update(Q3="clearance", V3="volume")
    if elimination == "linear":
        needed["CL"] = "clearance"
    else:
        needed.update(VMAX="rate", KM="concentration")
    optional = {}
    if "inhaled" in routes:
        needed.update(KA="rate_constant", F_INH="dimensionless")
        optional["TLAG_INH"] = "time"
    used: dict[str, tuple[str, float | None]] = {}  # name -> (kind, molar mass)
    for pname, kind in {**needed, **optional}.items():
        if pname in needed and pname not in params_raw:
            why = f"structure {structure}" if pname not in ("KA", "F_INH") else "the inhaled route"
            if pname in ("VMAX", "KM"):
                why = "Michaelis-Menten elimination"
            raise ModelFileError(path, f"parameters.{pname}", f"is missing; {why} needs it")
        if pname in params_raw:
            used[pname] = (kind, molar_mass)
    for pname in ("CL", "VMAX", "KM", "Q", "V2", "Q3", "V3", "KA", "F_INH", "TLAG_INH"):
        if pname in params_raw and pname not in used and pname in _PK_KIND:
            raise ModelFileError(path, f"parameters.{pname}",
                                 f"is not used by a {structure} model with {elimination} "
                                 f"elimination and routes {routes}")

    metabolite = None
    mtab = _table(raw, "metabolite", path)
    if mtab:
        bad = set(mtab) - {"name", "molar_mass", "parameters", "description"}
        if bad:
            raise ModelFileError(path, f"metabolite.{sorted(bad)[0]}", "unknown key")
        mname = mtab.get("name")
        if not isinstance(mname, str) or not mname:
            raise ModelFileError(path, "metabolite.name", "is missing")
        if "molar_mass" not in mtab:
            raise ModelFileError(path, "metabolite.molar_mass", "is missing; it converts the "
                                                                "parent's molar elimination into "
                                                                "metabolite mass")
        m_mm = _molar_mass(mtab["molar_mass"], path, "metabolite.molar_mass")
        roles = _roles(mtab.get("parameters"), _METAB_KIND, ("CL", "V", "FM"), (), path,
                       "metabolite.parameters", params_raw)
        for role, pname in roles.items():
            _use(used, pname, _METAB_KIND[role], m_mm if role != "FM" else None, path,
                 f"metabolite.parameters.{role}")
        metabolite = Metabolite(mname, m_mm, MappingProxyType(roles))

    effects = []
    etab = _table(raw, "effects", path)
    for ename, ep in etab.items():
        sec = f"effects.{ename}"
        if not isinstance(ep, dict):
            raise ModelFileError(path, sec, "must be a table")
        bad = set(ep) - _EFFECT_KEYS
        if bad:
            raise ModelFileError(path, f"{sec}.{sorted(bad)[0]}", f"unknown key; expected some "
                                                                  f"of {sorted(_EFFECT_KEYS)}")
        link = _choice(ep, "link", LINKS, path, sec)
        form = _choice(ep, "model", PD_MODELS, path, sec)
        driver = _choice(ep, "driver", DRIVERS, path, sec, default="parent")
        if driver == "metabolite" and metabolite is None:
            raise ModelFileError(path, f"{sec}.driver", "is 'metabolite' but the model has no "
                                                        "[metabolite] section")
        if form == "linear":
            required, opt = ["SLOPE"], ["E0"]
        else:
            required = ["EMAX", "EC50"] + (["GAMMA"] if PD_MODELS[form][0] else [])
            opt = [] if PD_MODELS[form][2] else ["E0"]
            if PD_MODELS[form][2]:
                required.append("E0")
        if link == "effect_compartment":
            required.append("KE0")
        roles = _roles(ep.get("parameters"), _PD_KIND, required, opt, path, f"{sec}.parameters",
                       params_raw)
        drv_mm = molar_mass if driver == "parent" else metabolite.molar_mass
        for role, pname in roles.items():
            mm = drv_mm if role in ("EC50", "SLOPE") else None
            _use(used, pname, _PD_KIND[role], mm, path, f"{sec}.parameters.{role}")
        threshold = ep.get("threshold")
        if threshold is not None and (isinstance(threshold, bool)
                                      or not isinstance(threshold, (int, float))
                                      or not math.isfinite(threshold)):
            raise ModelFileError(path, f"{sec}.threshold", f"must be a number, got {threshold!r}")
        unit = ep.get("unit", "")
        if not isinstance(unit, str):
            raise ModelFileError(path, f"{sec}.unit", "must be a string")
        effects.append(Endpoint(ename, link, form, MappingProxyType(roles), unit,
                                None if threshold is None else float(threshold), driver,
                                str(ep.get("description", ""))))

    for pname in params_raw:
        if pname not in used:
            raise ModelFileError(path, f"parameters.{pname}",
                                 "is not used by the model (no structure, route, metabolite or "
                                 "effect refers to it)")
    parameters = {}
    for pname in params_raw:  # file order
        kind, mm = used[pname]
        p = _parameter(pname, params_raw[pname], kind, path, mm)
        role = pname if pname in _PK_KIND else _role_of(pname, metabolite, effects)
        _check_range(p, role, path)
        parameters[pname] = p

    variability = _variability(_table(raw, "variability", path), parameters, path)
    residual = _residual(_table(raw, "residual", path), path, molar_mass, effects, metabolite)
    covariates = _covariates(_table(raw, "covariates", path), parameters, path)
    sources = _sources(raw.get("sources", []), parameters, path)
    keys = {s["key"] for s in sources if "key" in s}
    comparisons = _sources(raw.get("comparisons", []), {}, path, "comparisons", set(keys))
    if sources:
        _check_provenance(params_raw, keys, path)
    for sec in ("variability", "residual"):
        _check_source_keys(_table(raw, sec, path), keys, path, sec)
    dose_form = _dose_form(_table(raw, "dose_form", path), molar_mass, keys, path)
    population, validity = _validity(_table(raw, "validity", path), tuple(routes), dose_form,
                                     keys, path)
    return Model(
        name=name, description=str(head.get("description", "")), structure=structure,
        elimination=elimination, routes=tuple(routes), parameters=MappingProxyType(parameters),
        effects=tuple(effects), metabolite=metabolite, molar_mass=molar_mass,
        variability=_freeze(variability), residual=_freeze(residual),
        covariates=_freeze(covariates), validity=MappingProxyType(validity),
        sources=tuple(_freeze(s) for s in sources), path=path, raw=_freeze(_thaw(raw)),
        dose_form=dose_form, population=population,
        comparisons=tuple(_freeze(s) for s in comparisons),
    )


def _role_of(pname, metabolite, effects):
    if metabolite is not None:
        for role, n in metabolite.roles.items():
            if n == pname:
                return "FM" if role == "FM" else f"M_{role}"
    for ep in effects:
        for role, n in ep.roles.items():
            if n == pname:
                return role
    return pname


def _roles(mapping, kinds, required, optional, path, key, params_raw) -> dict:
    if not isinstance(mapping, dict):
        raise ModelFileError(path, key, f"must be a table mapping roles {list(required)} to "
                                        "parameter names")
    roles = {}
    for role, pname in mapping.items():
        canon = _ROLE_ALIASES.get(role, role)
        if canon not in kinds or (canon not in required and canon not in optional):
            raise ModelFileError(path, f"{key}.{role}", f"is not a role of this form; expected "
                                                        f"{list(required) + list(optional)}")
        if not isinstance(pname, str) or pname not in params_raw:
            raise ModelFileError(path, f"{key}.{role}", f"names {pname!r}, which is not in "
                                                        "[parameters]")
        roles[canon] = pname
    for role in required:
        if role not in roles:
            raise ModelFileError(path, f"{key}.{role}", "is missing; this form needs it")
    return roles


def _use(used, pname, kind, molar_mass, path, key):
    if pname in used and used[pname][0] != kind:
        raise ModelFileError(path, key, f"parameter {pname!r} is used as {used[pname][0]} "
                                        f"elsewhere and as {kind} here")
    if pname in _PK_KIND:
        raise ModelFileError(path, key, f"{pname!r} is a PK parameter name; give this role its "
                                        "own parameter")
    used[pname] = (kind, molar_mass)

