"""Model specification: what a model is, read and validated from a mapping (a parsed TOML file).

A :class:`Model` holds the PK structure, routes, typical parameter values in canonical units (with
what the file said and where each number came from), the PD endpoints, the metabolite, and the
variability, residual error and covariate sections. It is a frozen value; use
:meth:`Model.with_parameters` for a copy with other values. Nothing in a model file is executed.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import numpy as np

from ..errors import ModelFileError, UnitError, ValidationError
from ..regimen.events import ROUTES
from ..units import DMT_MOLAR_MASS, to_canonical, ureg

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
#: IIV distributions a model file may name (the population engine implements each).
DISTRIBUTIONS = ("lognormal", "normal", "logit", "boxcox")
#: Kinds of administration a route's validity may list.
ADMINISTRATIONS = {"iv": ("bolus", "infusion"), "inhaled": ("inhalation",)}
#: Provenance keys allowed beside the numbers of [variability], [residual] and their tables.
_PROVENANCE_KEYS = {"source", "where", "note", "second_hand", "assumption"}
_ROUTE_LABEL = {"iv": "IV", "inhaled": "inhaled"}

# Kind of quantity of each PK parameter (by its NONMEM-style name).
_PK_KIND = {"CL": "clearance", "V1": "volume", "Q": "clearance", "V2": "volume",
            "Q3": "clearance", "V3": "volume", "VMAX": "rate", "KM": "concentration",
            "KA": "rate_constant", "F_INH": "dimensionless", "TLAG_INH": "time"}
_METAB_KIND = {"CL": "clearance", "V": "volume", "FM": "dimensionless"}
_PD_KIND = {"KE0": "rate_constant", "E0": "dimensionless", "EMAX": "dimensionless",
            "EC50": "concentration", "GAMMA": "dimensionless", "SLOPE": "inverse_concentration"}
_ROLE_ALIASES = {"IMAX": "EMAX", "IC50": "EC50", "R0": "E0", "HILL": "GAMMA"}
_KNOWN_TABLES = {"model", "parameters", "metabolite", "effects", "variability", "residual",
                 "covariates", "sources", "validity", "dose_form"}
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
    """

    name: str
    value: float
    kind: str
    given: str
    info: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))


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


class ModelValidityWarning(UserWarning):
    """Base class of the warnings about where a model holds: its fitted routes, doses and data."""


class OutOfRangeWarning(ModelValidityWarning):
    """A simulation goes outside what the model was fitted to: a route or kind of administration
    absent from its data, or a dose outside its dose range. Issued once per model and range."""


class NotFittedWarning(ModelValidityWarning):
    """A model route whose parameters are assumptions, not fitted to data. Issued once per model
    and route, when the model is loaded."""


_WARNED: set = set()


def reset_validity_warnings() -> None:
    """Forget which validity warnings were issued, so each is issued again (once)."""
    _WARNED.clear()


def _warn_once(key, message, category, stacklevel=4) -> None:
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(message, category, stacklevel=stacklevel)


@dataclass(frozen=True)
class DoseForm:
    """The dose form a model's data were stated in, and the conversion the authors used.

    Attributes
    ----------
    salt : str
        ``"base"``, ``"fumarate"`` or ``"hemifumarate"``.
    nmol_per_mg : float
        nmol of DMT base per mg of the dose form, as the model file states it.
    base_fraction : float
        mg of base per mg of the dose form (``nmol_per_mg`` x molar mass / 1e6).
    info : mapping
        Provenance (``source``, ``where``, ``note``, ``assumption``...).
    """

    salt: str
    nmol_per_mg: float
    base_fraction: float
    info: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    @property
    def label(self) -> str:
        return "DMT base" if self.salt == "base" else f"DMT {self.salt}"


@dataclass(frozen=True)
class RouteValidity:
    """What a model was fitted to on one route.

    Attributes
    ----------
    route : str
    fitted : bool
        False when the route's parameters are assumptions (loading the model warns).
    administration : tuple of str
        Kinds of administration in the data (``"bolus"``, ``"infusion"``, ``"inhalation"``).
    dose : tuple of float or None
        Lowest and highest dose per event, mg of DMT base (converted with the model's
        :class:`DoseForm`).
    dose_given : str
        The range as the file states it.
    data, why : str
        What the data were; why the route is not fitted (for ``fitted = false``).
    dose_form : DoseForm
        The form the route's doses are stated in (the model's, unless the route says ``salt``).
    """

    route: str
    fitted: bool
    administration: tuple
    dose: tuple | None
    dose_given: str
    data: str = ""
    why: str = ""
    dose_form: DoseForm | None = None


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
        The file's sections, validated; used by the population engine.
    validity : mapping of str to RouteValidity
        Per route, what the model was fitted to (empty when the file has no ``[validity]``).
    dose_form : DoseForm
        The dose form of the model's data and the authors' conversion to DMT base.
    population : str
        Who the model was fitted to, as the file states it.
    sources : tuple of mapping
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

    def with_parameters(self, **values) -> "Model":
        """A copy with some typical values replaced (Quantity, string, or canonical number).

        Examples
        --------
        >>> import dmtpk
        >>> m = dmtpk.load_model("eckernas2022")
        >>> m.with_parameters(CL="20 L/min").value("CL")
        20.0
        """
        raw = _thaw(self.raw)
        for name, v in values.items():
            if name not in raw.get("parameters", {}):
                raise ValidationError(name, f"model {self.name!r} has no parameter {name!r}")
            old = raw["parameters"][name]
            if hasattr(v, "units") and hasattr(v, "magnitude"):  # a pint Quantity
                v = f"{float(v.magnitude)!r} {v.units}"
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                kind = self.parameters[name].kind
                unit = ureg.Unit(_canonical_unit(kind))
                v = f"{v!r} {unit:~}" if kind != "dimensionless" else v
            if isinstance(old, dict):
                old = dict(old)
                old["value"] = v
                raw["parameters"][name] = old
            else:
                raw["parameters"][name] = v
        return model_from_dict(raw, self.path)

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
            label = _ROUTE_LABEL[route]
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
    return Parameter(name, value, kind, str(entry), MappingProxyType(info))


def _check_range(p: Parameter, role: str, path: str):
    """Reject values a role cannot take (the role is the PK name, or the PD/metabolite role)."""
    key = f"parameters.{p.name}"
    positive = {"CL", "V1", "Q", "V2", "Q3", "V3", "VMAX", "KM", "KA", "M_CL", "M_V", "KE0",
                "EC50", "GAMMA"}
    if role in positive and not p.value > 0:
        raise ModelFileError(path, key, f"must be positive, got {p.given}")
    if role in ("F_INH", "FM") and not 0.0 <= p.value <= 1.0:
        raise ModelFileError(path, key, f"is a fraction and must lie in [0, 1], got {p.given}")
    if role == "TLAG_INH" and p.value < 0:
        raise ModelFileError(path, key, f"must not be negative, got {p.given}")


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
    )


_SOURCE_KEYS = {"key", "citation", "doi", "parameters", "where", "note", "second_hand", "authors",
                "title", "journal", "year", "volume", "number", "pages", "type", "url",
                "publisher"}


def _sources(sources, parameters, path) -> list:
    if not isinstance(sources, list):
        raise ModelFileError(path, "sources", "must be an array of tables ([[sources]])")
    seen = set()
    for i, s in enumerate(sources):
        if not isinstance(s, dict) or not isinstance(s.get("citation"), str) \
                or not s["citation"].strip():
            raise ModelFileError(path, f"sources[{i}].citation", "every source needs a citation")
        bad = set(s) - _SOURCE_KEYS
        if bad:
            raise ModelFileError(path, f"sources[{i}].{sorted(bad)[0]}",
                                 f"unknown key; expected some of {sorted(_SOURCE_KEYS)}")
        key = s.get("key")
        if key is not None:
            if not isinstance(key, str) or not key.strip() or key in seen:
                raise ModelFileError(path, f"sources[{i}].key", f"must be a unique non-empty "
                                                                f"name, got {key!r}")
            seen.add(key)
        for fld in ("doi", "where", "note", "second_hand", "title", "journal", "volume",
                    "number", "pages", "type", "url", "publisher"):
            if fld in s and not isinstance(s[fld], str):
                raise ModelFileError(path, f"sources[{i}].{fld}", "must be a string")
        if "year" in s and (isinstance(s["year"], bool) or not isinstance(s["year"], int)):
            raise ModelFileError(path, f"sources[{i}].year", "must be a whole number")
        if "authors" in s and (not isinstance(s["authors"], list)
                               or not all(isinstance(a, str) for a in s["authors"])):
            raise ModelFileError(path, f"sources[{i}].authors", "must be a list of names")
        plist = s.get("parameters", [])
        if not isinstance(plist, list):
            raise ModelFileError(path, f"sources[{i}].parameters", "must be a list of names")
        for pname in plist:
            if pname not in parameters:
                raise ModelFileError(path, f"sources[{i}].parameters", f"names unknown parameter "
                                                                       f"{pname!r}")
    return sources


def _check_provenance(params_raw, keys, path):
    """In a file with [[sources]] every parameter says where it comes from: a source key and a
    location (``where``), or an ``assumption`` saying why the value was chosen."""
    for pname, entry in params_raw.items():
        key = f"parameters.{pname}"
        if not isinstance(entry, dict):
            raise ModelFileError(path, f"{key}.source", "is missing: in a model with [[sources]] "
                                                        "every parameter needs source and where, "
                                                        "or an assumption")
        if "assumption" in entry:
            if not isinstance(entry["assumption"], str) or not entry["assumption"].strip():
                raise ModelFileError(path, f"{key}.assumption", "must say why the value was "
                                                                "chosen")
            if "source" in entry:
                _source_key(entry["source"], keys, path, f"{key}.source")
            continue
        if "source" not in entry:
            raise ModelFileError(path, f"{key}.source", "is missing: give the key of a "
                                                        "[[sources]] entry (and where), or an "
                                                        "assumption")
        _source_key(entry["source"], keys, path, f"{key}.source")
        if not isinstance(entry.get("where"), str) or not entry["where"].strip():
            raise ModelFileError(path, f"{key}.where", "is missing: say where in the source the "
                                                       "value is (table, figure, section)")


def _source_key(value, keys, path, key):
    if not isinstance(value, str) or value not in keys:
        raise ModelFileError(path, key, f"names {value!r}, which is not the key of a [[sources]] "
                                        f"entry (keys: {sorted(keys)})")


def _check_source_keys(tab, keys, path, section):
    """A ``source`` beside the numbers of [variability] / [residual] (or their tables) must name
    a [[sources]] key."""
    if not isinstance(tab, dict):
        return
    if "source" in tab:
        _source_key(tab["source"], keys, path, f"{section}.source")
    for k, v in tab.items():
        if isinstance(v, dict) and k not in ("omega", "correlation", "distribution", "cv",
                                             "boxcox"):
            _check_source_keys(v, keys, path, f"{section}.{k}")


def _dose_form(tab, molar_mass, keys, path) -> DoseForm:
    from ..units import SALT_BASE_FRACTION
    if not tab:
        return DoseForm("base", 1e6 / molar_mass, 1.0)
    bad = set(tab) - ({"salt", "nmol_per_mg"} | _PROVENANCE_KEYS)
    if bad:
        raise ModelFileError(path, f"dose_form.{sorted(bad)[0]}", "unknown key; expected salt, "
                                                                  "nmol_per_mg and provenance")
    salt = tab.get("salt")
    if salt not in SALT_BASE_FRACTION:
        raise ModelFileError(path, "dose_form.salt", f"unknown dose form {salt!r}; expected one "
                                                     f"of {sorted(SALT_BASE_FRACTION)}")
    if "nmol_per_mg" in tab:
        given = tab["nmol_per_mg"]
        try:
            q = ureg.Quantity(given) if isinstance(given, str) else None
            factor = float(q.to("nmol/mg").magnitude) if q is not None else float("nan")
        except Exception:
            factor = float("nan")
        if not (math.isfinite(factor) and factor > 0):
            raise ModelFileError(path, "dose_form.nmol_per_mg", f"expected an amount of base per "
                                                                f"mass of the dose form such as "
                                                                f"\"3286 nmol/mg\", got {given!r}")
        if "source" not in tab and "assumption" not in tab:
            raise ModelFileError(path, "dose_form.source", "is missing: say where the conversion "
                                                           "factor comes from (source and where, "
                                                           "or assumption)")
    else:
        factor = SALT_BASE_FRACTION[salt] * 1e6 / molar_mass
    if "source" in tab:
        _source_key(tab["source"], keys, path, "dose_form.source")
    fraction = factor * molar_mass / 1e6
    if fraction > 1.0 + 1e-9:
        raise ModelFileError(path, "dose_form.nmol_per_mg", f"{factor:g} nmol/mg would be more "
                                                            f"than 1 mg of base per mg")
    info = {k: v for k, v in tab.items() if k not in ("salt", "nmol_per_mg")}
    return DoseForm(salt, factor, fraction, MappingProxyType(info))


def _validity(tab, routes, dose_form, keys, path):
    if not tab:
        return "", {}
    bad = set(tab) - ({"population"} | set(ROUTES) | _PROVENANCE_KEYS)
    if bad:
        raise ModelFileError(path, f"validity.{sorted(bad)[0]}", f"unknown key; expected "
                                                                 f"population and a table per "
                                                                 f"route {list(routes)}")
    population = tab.get("population")
    if not isinstance(population, str) or not population.strip():
        raise ModelFileError(path, "validity.population", "is missing: say who the model was "
                                                          "fitted to")
    if "source" in tab:
        _source_key(tab["source"], keys, path, "validity.source")
    for route in ROUTES:
        if route in tab and route not in routes:
            raise ModelFileError(path, f"validity.{route}", f"the model does not declare the "
                                                            f"{route} route (model.routes)")
    out = {}
    for route in routes:
        sec = f"validity.{route}"
        v = tab.get(route)
        if not isinstance(v, dict):
            raise ModelFileError(path, sec, f"is missing: the model declares the {route} route, "
                                            "so say what it was fitted to on it")
        bad = set(v) - ({"fitted", "administration", "dose", "salt", "data", "why"}
                        | _PROVENANCE_KEYS)
        if bad:
            raise ModelFileError(path, f"{sec}.{sorted(bad)[0]}", "unknown key; expected fitted, "
                                                                  "administration, dose, salt, "
                                                                  "data, why")
        form = dose_form
        if "salt" in v:
            from ..units import SALT_BASE_FRACTION
            if v["salt"] not in SALT_BASE_FRACTION:
                raise ModelFileError(path, f"{sec}.salt", f"unknown dose form {v['salt']!r}; "
                                                          f"expected one of "
                                                          f"{sorted(SALT_BASE_FRACTION)}")
            if v["salt"] != dose_form.salt:
                frac = SALT_BASE_FRACTION[v["salt"]]
                form = DoseForm(v["salt"], frac * 1e6 / DMT_MOLAR_MASS, frac)
        fitted = v.get("fitted", True)
        if not isinstance(fitted, bool):
            raise ModelFileError(path, f"{sec}.fitted", "must be true or false")
        why = v.get("why", "")
        if not fitted and (not isinstance(why, str) or not why.strip()):
            raise ModelFileError(path, f"{sec}.why", "is missing: say why the route is not "
                                                     "fitted and what its values were chosen "
                                                     "to match")
        admin = v.get("administration", list(ADMINISTRATIONS[route]))
        if not isinstance(admin, list) or not admin or \
                any(a not in ADMINISTRATIONS[route] for a in admin):
            raise ModelFileError(path, f"{sec}.administration", f"must be a non-empty list from "
                                                                f"{list(ADMINISTRATIONS[route])}")
        dose, given = None, ""
        if "dose" in v:
            rng = v["dose"]
            if not isinstance(rng, list) or len(rng) != 2:
                raise ModelFileError(path, f"{sec}.dose", "must be [lowest, highest], e.g. "
                                                          "[\"7 mg\", \"20 mg\"]")
            vals = []
            for j, d in enumerate(rng):
                try:
                    mg = to_canonical(d, "amount", f"{sec}.dose")
                except (UnitError, ValidationError) as exc:
                    raise ModelFileError(path, f"{sec}.dose", str(exc).split(": ", 1)[-1]) \
                        from None
                if not isinstance(d, str) or mg < 0:
                    raise ModelFileError(path, f"{sec}.dose", f"expected amounts with a unit, "
                                                              f"got {d!r}")
                vals.append(mg * form.base_fraction)
            if not vals[0] <= vals[1]:
                raise ModelFileError(path, f"{sec}.dose", "lowest must not exceed highest")
            dose = (vals[0], vals[1])
            given = f"{rng[0]} to {rng[1]} {form.label} ({'/'.join(admin)})"
        if "source" in v:
            _source_key(v["source"], keys, path, f"{sec}.source")
        data = v.get("data", "")
        if not isinstance(data, str):
            raise ModelFileError(path, f"{sec}.data", "must be a string")
        out[route] = RouteValidity(route, fitted, tuple(admin), dose, given, data, str(why),
                                   form)
    return population, out


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


def _molar_mass(value, path, key) -> float:
    try:
        q = ureg.Quantity(value) if isinstance(value, str) else None
        mm = q.to("g/mol").magnitude if q is not None else float("nan")
    except Exception:
        mm = float("nan")
    if not (math.isfinite(mm) and mm > 0):
        raise ModelFileError(path, key, f"expected a molar mass such as \"188.27 g/mol\", got "
                                        f"{value!r}")
    return float(mm)


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


def _number(value, path, key, low=-math.inf, high=math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ModelFileError(path, key, f"must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ModelFileError(path, key, f"must lie in [{low}, {high}], got {value}")
    return float(value)


def _omega_block(tab, parameters, path, sec) -> tuple[dict, dict]:
    """Variances and correlations of one random-effect level, validated."""
    omega = tab.get("omega", {})
    if not isinstance(omega, dict):
        raise ModelFileError(path, f"{sec}.omega", "must be a table of variances")
    for pname, var in omega.items():
        if pname not in parameters:
            raise ModelFileError(path, f"{sec}.omega.{pname}", "names a parameter the model "
                                                               "does not have")
        _number(var, path, f"{sec}.omega.{pname}", low=0.0)
    omega = {k: float(v) for k, v in omega.items()}
    corr = tab.get("correlation", {})
    if not isinstance(corr, dict):
        raise ModelFileError(path, f"{sec}.correlation", "must be a table")
    out_corr = {}
    for pair, rho in corr.items():
        names = [n.strip() for n in pair.split(",")]
        if len(names) != 2 or any(n not in omega for n in names) or names[0] == names[1]:
            raise ModelFileError(path, f"{sec}.correlation.{pair}",
                                 "must name two different parameters that have an omega")
        out_corr[pair] = _number(rho, path, f"{sec}.correlation.{pair}", -1.0, 1.0)
    if omega:
        names = list(omega)
        cov = np.diag([omega[n] for n in names])
        for pair, rho in out_corr.items():
            i, j = (names.index(n.strip()) for n in pair.split(","))
            cov[i, j] = cov[j, i] = rho * math.sqrt(cov[i, i] * cov[j, j])
        if np.linalg.eigvalsh(cov).min() < -1e-12 * max(1.0, cov.max()):
            raise ModelFileError(path, f"{sec}.correlation", "the omega matrix built from these "
                                                             "correlations is not positive "
                                                             "semi-definite")
    return omega, out_corr


def _variability(tab, parameters, path) -> dict:
    out = {}
    bad = set(tab) - ({"omega", "correlation", "distribution", "cv", "boxcox", "occasion"}
                      | _PROVENANCE_KEYS)
    if bad:
        raise ModelFileError(path, f"variability.{sorted(bad)[0]}", "unknown key")
    out["omega"], out["correlation"] = _omega_block(tab, parameters, path, "variability")
    cv = tab.get("cv", {})
    if not isinstance(cv, dict):
        raise ModelFileError(path, "variability.cv", "must be a table of CVs")
    for pname, c in cv.items():
        if pname not in parameters:
            raise ModelFileError(path, f"variability.cv.{pname}", "names a parameter the model "
                                                                  "does not have")
        if pname in out["omega"]:
            raise ModelFileError(path, f"variability.cv.{pname}", "give omega or cv, not both")
        _number(c, path, f"variability.cv.{pname}", low=0.0)
    if cv:
        out["cv"] = {k: float(v) for k, v in cv.items()}
    with_iiv = set(out["omega"]) | set(cv)
    dist = tab.get("distribution", {})
    if not isinstance(dist, dict):
        raise ModelFileError(path, "variability.distribution", "must be a table")
    for pname, d in dist.items():
        key = f"variability.distribution.{pname}"
        if pname not in with_iiv:
            raise ModelFileError(path, key, "names a parameter without omega or cv")
        if d not in DISTRIBUTIONS:
            raise ModelFileError(path, key, f"unknown distribution {d!r}; expected one of "
                                            f"{list(DISTRIBUTIONS)}")
        if d == "logit" and not 0.0 < parameters[pname].value < 1.0:
            raise ModelFileError(path, key, "logit-normal needs a typical value strictly "
                                            "between 0 and 1")
    boxcox = tab.get("boxcox", {})
    if not isinstance(boxcox, dict):
        raise ModelFileError(path, "variability.boxcox", "must be a table of shape parameters")
    for pname, lam in boxcox.items():
        if dist.get(pname) != "boxcox":
            raise ModelFileError(path, f"variability.boxcox.{pname}", "needs distribution = "
                                                                      "\"boxcox\" for this "
                                                                      "parameter")
        _number(lam, path, f"variability.boxcox.{pname}")
    for pname, d in dist.items():
        if d == "boxcox" and pname not in boxcox:
            raise ModelFileError(path, f"variability.boxcox.{pname}", "is missing: a Box-Cox "
                                                                      "distribution needs its "
                                                                      "shape parameter")
    if dist:
        out["distribution"] = dict(dist)
    if boxcox:
        out["boxcox"] = {k: float(v) for k, v in boxcox.items()}
    occ = tab.get("occasion")
    if occ is not None:
        if not isinstance(occ, dict):
            raise ModelFileError(path, "variability.occasion", "must be a table")
        bad = set(occ) - ({"omega", "correlation"} | _PROVENANCE_KEYS)
        if bad:
            raise ModelFileError(path, f"variability.occasion.{sorted(bad)[0]}", "unknown key; "
                                                                                 "expected omega, "
                                                                                 "correlation")
        o, c = _omega_block(occ, parameters, path, "variability.occasion")
        for pname in o:
            if dist.get(pname, "lognormal") not in ("lognormal", "boxcox"):
                raise ModelFileError(path, f"variability.occasion.omega.{pname}", "occasion "
                                                                                  "variability "
                                                                                  "is defined for "
                                                                                  "log-normal and "
                                                                                  "Box-Cox "
                                                                                  "parameters")
        out["occasion"] = {"omega": o, "correlation": c}
    return out


_RESIDUAL_KEYS = {"proportional", "additive", "logit_additive", "lower", "upper"}


def _residual(tab, path, molar_mass, effects, metabolite) -> dict:
    out = {}
    names = {e.name for e in effects}
    for key, value in tab.items():
        if key == "proportional":
            out[key] = _number(value, path, "residual.proportional", low=0.0)
        elif key == "additive":
            try:
                out[key] = to_canonical(value, "concentration", "additive", molar_mass=molar_mass)
            except (UnitError, ValidationError) as exc:
                raise ModelFileError(path, "residual.additive", str(exc).split(": ", 1)[-1])
            if out[key] < 0:
                raise ModelFileError(path, "residual.additive", "must not be negative")
        elif key in _PROVENANCE_KEYS:
            continue
        elif isinstance(value, dict):
            out[key] = _residual_table(key, value, path, names, metabolite)
        else:
            raise ModelFileError(path, f"residual.{key}", "unknown key; expected proportional, "
                                                          "additive or an endpoint table")
    return out


def _residual_table(key, value, path, names, metabolite) -> dict:
    """One output's residual table: the metabolite or an endpoint (read by the population
    engine). Additive errors are bare numbers in the output's unit: the endpoint's, or mg/L (the
    canonical concentration) for the metabolite."""
    sec = f"residual.{key}"
    if key == "metabolite":
        if metabolite is None:
            raise ModelFileError(path, sec, "the model has no [metabolite]")
    elif key not in names:
        raise ModelFileError(path, sec, f"names no endpoint of the model; endpoints are "
                                        f"{sorted(names)}, or 'metabolite'")
    bad = set(value) - (_RESIDUAL_KEYS | _PROVENANCE_KEYS)
    if bad:
        raise ModelFileError(path, f"{sec}.{sorted(bad)[0]}", f"unknown key; expected some of "
                                                              f"{sorted(_RESIDUAL_KEYS)}")
    entry = {}
    for k in _RESIDUAL_KEYS:
        if k in value:
            low = 0.0 if k in ("proportional", "additive", "logit_additive") else -math.inf
            entry[k] = _number(value[k], path, f"{sec}.{k}", low=low)
    if "logit_additive" in entry:
        if "lower" not in entry or "upper" not in entry:
            raise ModelFileError(path, f"{sec}.{'lower' if 'lower' not in entry else 'upper'}",
                                 "is missing: an error on the logit scale needs the bounds of "
                                 "the scale")
        if not entry["lower"] < entry["upper"]:
            raise ModelFileError(path, f"{sec}.upper", "must be above lower")
        if "proportional" in entry or "additive" in entry:
            raise ModelFileError(path, f"{sec}.logit_additive", "cannot be combined with "
                                                                "proportional or additive")
    elif "lower" in entry or "upper" in entry:
        raise ModelFileError(path, f"{sec}.{'lower' if 'lower' in entry else 'upper'}",
                             "bounds belong to a logit_additive error")
    for k in _PROVENANCE_KEYS:
        if k in value:
            entry[k] = value[k]
    return entry


def _covariates(tab, parameters, path) -> dict:
    out = {}
    for cname, spec in tab.items():
        key = f"covariates.{cname}"
        if not isinstance(spec, dict) or "reference" not in spec:
            raise ModelFileError(path, key, "needs a reference value")
        try:
            kind = "weight" if cname in ("WT", "BW") else "dimensionless"
            ref = to_canonical(spec["reference"], kind, cname)
        except (UnitError, ValidationError) as exc:
            raise ModelFileError(path, f"{key}.reference", str(exc).split(": ", 1)[-1])
        if not ref > 0:
            raise ModelFileError(path, f"{key}.reference", "must be positive")
        exps = spec.get("exponents", {})
        for pname, e in exps.items():
            if pname not in parameters:
                raise ModelFileError(path, f"{key}.exponents.{pname}", "names a parameter the "
                                                                       "model does not have")
            _number(e, path, f"{key}.exponents.{pname}")
        out[cname] = {"reference": ref, "exponents": {k: float(v) for k, v in exps.items()}}
    return out


# --------------------------------------------------------------------------------------------
# describe()
# --------------------------------------------------------------------------------------------
