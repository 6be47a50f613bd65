"""Optional sections of a model file: sources, dose form, validity, variability, residual
error and covariates, each validated with the file and key named in every error; and the
warnings issued when a simulation leaves what a model was fitted to."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..errors import ModelFileError, UnitError, ValidationError
from ..routes import ADMINISTRATIONS, ROUTES
from ..units import DMT_MOLAR_MASS, to_canonical, ureg

#: IIV distributions a model file may name (the population engine implements each).
DISTRIBUTIONS = ("lognormal", "normal", "logit", "boxcox")
#: Provenance keys allowed beside the numbers of [variability], [residual] and their tables.
_PROVENANCE_KEYS = {"source", "where", "note", "second_hand", "assumption"}


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



_SOURCE_KEYS = {"key", "citation", "doi", "parameters", "where", "note", "second_hand", "authors",
                "title", "journal", "year", "volume", "number", "pages", "type", "url",
                "publisher"}


def _sources(sources, parameters, path, section="sources", seen=None) -> list:
    """``[[sources]]`` (or ``[[comparisons]]``, studies a model is compared against but takes
    no number from), validated; keys unique across both (``seen``)."""
    if not isinstance(sources, list):
        raise ModelFileError(path, section, f"must be an array of tables ([[{section}]])")
    seen = set() if seen is None else seen
    for i, s in enumerate(sources):
        if not isinstance(s, dict) or not isinstance(s.get("citation"), str) \
                or not s["citation"].strip():
            raise ModelFileError(path, f"{section}[{i}].citation", "every source needs a citation")
        bad = set(s) - _SOURCE_KEYS
        if bad:
            raise ModelFileError(path, f"{section}[{i}].{sorted(bad)[0]}",
                                 f"unknown key; expected some of {sorted(_SOURCE_KEYS)}")
        key = s.get("key")
        if key is not None:
            if not isinstance(key, str) or not key.strip() or key in seen:
                raise ModelFileError(path, f"{section}[{i}].key", f"must be a unique non-empty "
                                                                f"name, got {key!r}")
            seen.add(key)
        for fld in ("doi", "where", "note", "second_hand", "title", "journal", "volume",
                    "number", "pages", "type", "url", "publisher"):
            if fld in s and not isinstance(s[fld], str):
                raise ModelFileError(path, f"{section}[{i}].{fld}", "must be a string")
        if "year" in s and (isinstance(s["year"], bool) or not isinstance(s["year"], int)):
            raise ModelFileError(path, f"{section}[{i}].year", "must be a whole number")
        if "authors" in s and (not isinstance(s["authors"], list)
                               or not all(isinstance(a, str) for a in s["authors"])):
            raise ModelFileError(path, f"{section}[{i}].authors", "must be a list of names")
        plist = s.get("parameters", [])
        if not isinstance(plist, list):
            raise ModelFileError(path, f"{section}[{i}].parameters", "must be a list of names")
        for pname in plist:
            if pname not in parameters:
                raise ModelFileError(path, f"{section}[{i}].parameters", f"names unknown parameter "
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


_RESIDUAL_KEYS = {"proportional", "additive", "exponential", "logit_additive", "lower", "upper"}
#: The standard deviations among them (the rest are the bounds of a logit scale).
_RESIDUAL_SDS = ("proportional", "additive", "exponential", "logit_additive")


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
        elif key == "exponential":
            out[key] = _number(value, path, "residual.exponential", low=0.0)
        elif key in _PROVENANCE_KEYS:
            continue
        elif isinstance(value, dict):
            out[key] = _residual_table(key, value, path, names, metabolite)
        else:
            raise ModelFileError(path, f"residual.{key}", "unknown key; expected proportional, "
                                                          "additive, exponential or an endpoint "
                                                          "table")
    top = [k for k in ("proportional", "additive", "exponential") if k in out]
    if "exponential" in out and len(top) > 1:
        raise ModelFileError(path, "residual.exponential", "cannot be combined with "
                                                           "proportional or additive")
    if top and not any(out[k] > 0 for k in top):
        raise ModelFileError(path, f"residual.{top[0]}", "no error to model: every standard "
                                                         "deviation is zero")
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
            low = 0.0 if k in _RESIDUAL_SDS else -math.inf
            entry[k] = _number(value[k], path, f"{sec}.{k}", low=low)
    if "logit_additive" in entry:
        if "lower" not in entry or "upper" not in entry:
            raise ModelFileError(path, f"{sec}.{'lower' if 'lower' not in entry else 'upper'}",
                                 "is missing: an error on the logit scale needs the bounds of "
                                 "the scale")
        if not entry["lower"] < entry["upper"]:
            raise ModelFileError(path, f"{sec}.upper", "must be above lower")
        if "proportional" in entry or "additive" in entry or "exponential" in entry:
            raise ModelFileError(path, f"{sec}.logit_additive", "cannot be combined with "
                                                                "proportional, additive or "
                                                                "exponential")
    elif "lower" in entry or "upper" in entry:
        raise ModelFileError(path, f"{sec}.{'lower' if 'lower' in entry else 'upper'}",
                             "bounds belong to a logit_additive error")
    if "exponential" in entry and ("proportional" in entry or "additive" in entry):
        raise ModelFileError(path, f"{sec}.exponential", "cannot be combined with proportional "
                                                         "or additive")
    if not any(entry.get(k, 0.0) > 0 for k in _RESIDUAL_SDS):
        given = [k for k in _RESIDUAL_SDS if k in entry]
        raise ModelFileError(path, f"{sec}.{given[0]}" if given else sec,
                             "no error to model: give a positive proportional, additive, "
                             "exponential or logit_additive standard deviation")
    for k in _PROVENANCE_KEYS:
        if k in value:
            entry[k] = value[k]
    return entry


def _covariates(tab, parameters, path) -> dict:
    """``[covariates]``: per covariate a continuous table (``reference`` with ``exponents``,
    power laws, and/or ``linear`` coefficients per unit of the covariate) or a ``categorical``
    table (``{ CL = { 2 = 0.8 } }``: the factor of each level, level 1 the reference); see
    :mod:`dmtpk.model.covariates`."""
    out = {}
    for cname, spec in tab.items():
        key = f"covariates.{cname}"
        if not isinstance(spec, dict):
            raise ModelFileError(path, key, "must be a table (reference and exponents or "
                                            "linear, or categorical)")
        unknown = [k for k in spec if k not in ("reference", "exponents", "linear",
                                                "categorical")]
        if unknown:
            raise ModelFileError(path, f"{key}.{unknown[0]}", "is not a key of a covariate "
                                                              "(reference, exponents, linear, "
                                                              "categorical)")
        for form in ("exponents", "linear", "categorical"):
            if form in spec and not isinstance(spec[form], dict):
                raise ModelFileError(path, f"{key}.{form}", "must be a table by parameter")
        if "categorical" in spec:
            for other in ("reference", "exponents", "linear"):
                if other in spec:
                    raise ModelFileError(path, f"{key}.{other}", "a categorical covariate has "
                                         "levels (level 1 the reference), not a reference "
                                         "value or continuous effects")
            out[cname] = {"reference": 1.0, "exponents": {}, "linear": {},
                          "categorical": _levels(spec["categorical"], parameters, path, key)}
            continue
        if "reference" not in spec:
            raise ModelFileError(path, key, "needs a reference value")
        kind = "weight" if cname in ("WT", "BW") else "dimensionless"
        try:
            ref = to_canonical(spec["reference"], kind, cname)
        except (UnitError, ValidationError) as exc:
            raise ModelFileError(path, f"{key}.reference", str(exc).split(": ", 1)[-1])
        exps = spec.get("exponents", {})
        linear = spec.get("linear", {})
        if exps and not ref > 0:
            raise ModelFileError(path, f"{key}.reference", "must be positive")
        for pname, e in exps.items():
            if pname not in parameters:
                raise ModelFileError(path, f"{key}.exponents.{pname}", "names a parameter the "
                                                                       "model does not have")
            _number(e, path, f"{key}.exponents.{pname}")
        lin = {}
        for pname, e in linear.items():
            if pname not in parameters:
                raise ModelFileError(path, f"{key}.linear.{pname}", "names a parameter the "
                                                                    "model does not have")
            if pname in exps:
                raise ModelFileError(path, f"{key}.linear.{pname}", f"{pname} already has a "
                                     f"power law of {cname}; one form per parameter")
            lin[pname] = _slope(e, kind, path, f"{key}.linear.{pname}")
        out[cname] = {"reference": ref, "exponents": {k: float(v) for k, v in exps.items()},
                      "linear": lin, "categorical": {}}
    return out


def _slope(value, kind, path, key) -> float:
    """A linear covariate coefficient: a number per canonical unit of the covariate (per kg
    for a body weight), or a string with its unit (``"0.01 1/kg"``)."""
    if isinstance(value, str) and kind == "weight":
        try:
            q = ureg.Quantity(value)
            value = float(q.to("1/kg").magnitude)
        except Exception as exc:  # pint raises several types for a bad string or unit
            raise ModelFileError(path, key, f"expected a number per kg or a string such as "
                                            f"'0.01 1/kg', got {value!r} ({exc})") from None
    return _number(value, path, key)


def _levels(tab, parameters, path, key) -> dict:
    """Levels of a categorical covariate per parameter: integer codes 2, 3, ... (1 is the
    reference) with positive factors."""
    out = {}
    for pname, levels in tab.items():
        where = f"{key}.categorical.{pname}"
        if pname not in parameters:
            raise ModelFileError(path, where, "names a parameter the model does not have")
        if not isinstance(levels, dict) or not levels:
            raise ModelFileError(path, where, "must be a table of levels and their factors, "
                                              "e.g. { 2 = 0.8 }")
        got = {}
        for level, e in levels.items():
            try:
                k = int(str(level))
            except ValueError:
                k = None
            if k is None or str(k) != str(level).strip() or k < 2:
                raise ModelFileError(path, f"{where}.{level}", "levels are integer codes of "
                                     "the dataset column, 2 or above (level 1 is the "
                                     "reference, factor 1)")
            got[str(k)] = _number(e, path, f"{where}.{level}", low=0.0)
            if not got[str(k)] > 0:
                raise ModelFileError(path, f"{where}.{level}", "a factor must be positive")
        out[pname] = got
    return out


# --------------------------------------------------------------------------------------------
# describe()
# --------------------------------------------------------------------------------------------
