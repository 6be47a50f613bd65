"""What the dosing explorer shows, computed from its control values, without any web library.

The page (:mod:`dmtpk.explorer.app`) and the notebook widget call :func:`explore_view` with a
:class:`Controls` value each time a control moves, and :func:`scenario_text` /
:func:`figure_png` for "Export". The controls become the event tables of a scenario file
(:func:`regimen_events`, the format of :mod:`dmtpk.regimen.mapping`), each event is built by
the class that validates it, and the exported scenario holds the same tables: what the page
shows is what ``dmtpk run`` reproduces.

Errors are :class:`~dmtpk.ValidationError` whose ``field`` is the name of the control
(``"dose"``, ``"rate"``, ``"duration"``, ``"infusion_dose"``, ``"count"``, ``"interval"``,
``"weight"``, ``"threshold"``, ``"until"``, ``"n"``, ``"seed"``, ``"for_at_least"``), so that the
page shows dmtpk's message next to that control.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from ..errors import DmtpkError, ValidationError
from ..io.toml import dumps
from ..library import load_model
from ..model.spec import Model
from ..population import simulate_population
from ..regimen import Regimen
from ..regimen.mapping import EVENT_TYPES
from ..simulate import simulate

__all__ = ["ROUTES", "DOSE_UNITS", "Controls", "View", "regimen_events", "build_regimen",
           "explore_view", "scenario_text", "figure_png", "OUTPUT_POINTS", "MAX_SUBJECTS"]

#: The explorer's routes: key -> (label, the model route it needs).
ROUTES = MappingProxyType({
    "iv": ("IV bolus", "iv"),
    "infusion": ("bolus + infusion", "iv"),
    "inhaled": ("inhaled", "inhaled"),
    "inhalations": ("repeated inhalations", "inhaled"),
})

#: Units the dose control offers ("mg/kg" doses follow the body weight).
DOSE_UNITS = ("mg", "ug", "mg/kg", "ug/kg")

#: Output times from 0 to ``until``: a grid this fine keeps the population's grid metrics
#: within a few seconds of the root-found ones at 60 min.
OUTPUT_POINTS = 481

#: The largest population the page simulates (1,000 subjects take a few tens of ms).
MAX_SUBJECTS = 20_000


@dataclass(frozen=True)
class Controls:
    """The explorer's control values.

    ``model`` is a library name, a model file's path or a :class:`~dmtpk.Model`. Numbers are in the unit each control shows: dose in ``dose_unit``, rate mg/min (or
    ``dose_unit``/min for a per-kg dose), times min, weight kg; ``salt`` is the form the dose
    and rate are stated in. ``infusion_dose`` (optional) is the infusion's own amount: given
    with ``rate`` and ``duration`` it must agree with them, as in :class:`~dmtpk.Infusion`.
    ``thresholds`` maps an endpoint to its effect threshold (the model's when absent).
    """

    model: str | Model = "eckernas2022"
    route: str = "iv"
    dose: float = 20.0
    dose_unit: str = "mg"
    salt: str = "fumarate"
    rate: float = 1.4
    duration: float = 30.0
    infusion_dose: float | None = None
    count: int = 3
    interval: float = 10.0
    weight: float = 70.0
    thresholds: dict = field(default_factory=dict)
    until: float = 60.0
    population: bool = False
    n: int = 1000
    seed: int = 1
    for_at_least: float = 5.0

    def with_values(self, **changes) -> "Controls":
        """A copy with some controls changed."""
        return replace(self, **changes)


@dataclass(frozen=True)
class View:
    """What the page shows for one set of controls.

    Attributes
    ----------
    result : Result
        The typical subject.
    metrics : dict
        ``cmax`` (ng/mL), ``tmax`` (min), ``auc`` (ng·min/mL), and per endpoint ``onset``,
        ``peak``, ``duration`` (min; peak in the endpoint's unit), ``censored``.
    warnings : tuple of str
        The model's validity warnings for this regimen (a route not fitted to data, a dose
        outside the data), and the population's grid note.
    population : PopulationResult or None
    bands : dict or None
        Per output (``"concentration"`` and each endpoint): percentiles 5, 50, 95 over time,
        shape (3, n_times).
    durations : dict or None
        Per endpoint with a threshold, the subjects' effect durations (min), shape (n,).
    shares : dict or None
        Per endpoint, the share of subjects beyond the threshold for at least
        ``for_at_least`` minutes.
    """

    controls: Controls
    result: object
    metrics: dict
    warnings: tuple
    population: object = None
    bands: dict | None = None
    durations: dict | None = None
    shares: dict | None = None


def _number(value, name: str, *, low: float = 0.0, strict: bool = False,
            integer: bool = False) -> float:
    """A control's number: finite and at least ``low`` (greater with ``strict``)."""
    if isinstance(value, bool) or value is None:
        raise ValidationError(name, f"a number is required, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(name, f"a number is required, got {value!r}") from None
    if not math.isfinite(v):
        raise ValidationError(name, f"must be finite, got {value!r}")
    if integer and v != int(v):
        raise ValidationError(name, f"must be a whole number, got {value!r}")
    if v < low or (strict and v == low):
        raise ValidationError(name, f"must be {'greater than' if strict else 'at least'} "
                                    f"{low:g}, got {v:g}")
    return v


def _route(c: Controls) -> tuple:
    """(label, the model route it needs) of the controls' route."""
    if c.route not in ROUTES:
        raise ValidationError("route", f"expected one of {sorted(ROUTES)}, got {c.route!r}")
    return ROUTES[c.route]


def regimen_events(c: Controls) -> list:
    """The controls as the event tables of a scenario file (``type``, ``dose``, ``salt``, ...),
    with quantities as strings in the units the controls show."""
    _route(c)
    if c.dose_unit not in DOSE_UNITS:
        raise ValidationError("dose_unit", f"expected one of {list(DOSE_UNITS)}, got "
                                           f"{c.dose_unit!r}")
    dose = _quantity(c.dose, c.dose_unit)
    if c.route == "iv":
        return [{"type": "bolus", "dose": dose, "salt": c.salt}]
    if c.route == "inhaled":
        return [{"type": "inhalation", "dose": dose, "salt": c.salt}]
    if c.route == "inhalations":
        count = _number(c.count, "count", low=1, integer=True)
        event = {"type": "inhalation", "dose": dose, "salt": c.salt}
        if count > 1:
            interval = _number(c.interval, "interval", strict=True)
            event.update(every=_quantity(interval, "min"), times=int(count))
        return [event]
    per = c.dose_unit + "/min"
    infusion = {"type": "infusion", "rate": _quantity(c.rate, per),
                "duration": _quantity(c.duration, "min"), "salt": c.salt}
    if c.infusion_dose is not None:
        infusion["dose"] = _quantity(c.infusion_dose, c.dose_unit)
    events = [infusion]
    if not (isinstance(c.dose, (int, float)) and c.dose == 0):
        events.insert(0, {"type": "bolus", "dose": dose, "salt": c.salt})
    return events


def _quantity(value, unit: str):
    """A control's number as a quantity string (all its digits); anything else is passed on,
    for the event class to refuse with its own message."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"{float(value):.15g} {unit}"
    return value


#: The control that states each event argument: (event type, argument) -> control.
_CONTROL = {("bolus", "dose"): "dose", ("inhalation", "dose"): "dose",
            ("infusion", "dose"): "infusion_dose", ("infusion", "rate"): "rate",
            ("infusion", "duration"): "duration", ("inhalation", "every"): "interval",
            ("inhalation", "times"): "count"}


def build_regimen(c: Controls) -> Regimen:
    """The regimen of the controls, each event built by the class that validates it
    (:data:`dmtpk.regimen.mapping.EVENT_TYPES`); errors name the control."""
    regimen = Regimen(())
    for spec in regimen_events(c):
        spec = dict(spec)
        kind = spec.pop("type")
        every, times = spec.pop("every", None), spec.pop("times", None)
        cls = EVENT_TYPES[kind][0]
        try:
            event = cls(**spec)
        except ValidationError as exc:
            arg = exc.field.rsplit(".", 1)[-1]
            # the event as a whole (an infusion's dose, rate and duration disagree)
            name = _CONTROL.get((kind, arg), "infusion_dose" if kind == "infusion" else "dose")
            raise ValidationError(name, _message(exc)) from None
        if every is None:
            regimen = regimen + Regimen((event,))
        else:
            try:
                regimen = regimen + event.every(every, times=times)
            except ValidationError as exc:
                name = "count" if exc.field in ("times", "addl") else "interval"
                raise ValidationError(name, _message(exc)) from None
    return regimen


def _message(exc: ValidationError) -> str:
    """The message of ``exc`` without its field prefix."""
    text = str(exc)
    prefix = f"{exc.field}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _setup(c: Controls):
    """Model, regimen, output times, weight and thresholds of the controls, checked."""
    model = load_model(c.model)  # a Model is returned as it is
    needs = _route(c)[1]
    if needs not in model.routes:
        raise ValidationError("route", f"model {model.name!r} has no {needs} route "
                                       f"(its routes: {', '.join(model.routes)})")
    regimen = build_regimen(c)
    until = _number(c.until, "until", strict=True)
    if until > 24 * 60:
        raise ValidationError("until", f"at most 1440 min (a day), got {until:g}")
    weight = _number(c.weight, "weight", strict=True)
    times = np.linspace(0.0, until, OUTPUT_POINTS)
    try:
        thresholds = model.check_thresholds(dict(c.thresholds), "threshold")
    except ValidationError as exc:
        raise ValidationError("threshold", _message(exc)) from None
    return model, regimen, times, weight, thresholds


def explore_view(c: Controls) -> View:
    """Simulate the controls: the typical subject, and the population when switched on.

    Raises
    ------
    ValidationError
        A control's value is not valid; ``field`` names the control.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, regimen, times, weight, thresholds = _setup(c)
        result = simulate(model, regimen, times, weight=weight)
        m = result.metrics(thresholds)
        metrics = {"cmax": m.exposure.cmax, "tmax": m.exposure.tmax, "auc": m.exposure.auc}
        for name, e in m.effects.items():
            metrics[name] = {"onset": e.onset, "peak": e.peak, "time_to_peak": e.time_to_peak,
                             "duration": e.duration, "censored": e.censored,
                             "threshold": e.threshold}
        view = dict(controls=c, result=result, metrics=metrics)
        if c.population:
            view.update(_population(c, model, regimen, times, weight, thresholds))
    # every finding of the model's validity check (warnings are issued once per model and
    # range; the page shows them for as long as they apply), then what else was warned about
    notes = list(model.check_regimen(regimen, weight))
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, UserWarning) and text not in notes:
            notes.append(text)
    return View(warnings=tuple(notes), **view)


def _population(c, model, regimen, times, weight, thresholds) -> dict:
    n = int(_number(c.n, "n", low=1, integer=True))
    if n > MAX_SUBJECTS:
        raise ValidationError("n", f"at most {MAX_SUBJECTS:,} subjects on this page, got {n:,} "
                                   "(dmtpk population streams larger ones)")
    seed = int(_number(c.seed, "seed", low=0, integer=True))
    span = _number(c.for_at_least, "for_at_least")
    pop = simulate_population(model, regimen, times, n=n, seed=seed,
                              covariates={"WT": weight}, thresholds=thresholds,
                              progress=False)
    q = (5, 50, 95)
    bands = {"concentration": pop.percentiles(q, "concentration")}
    durations, shares = {}, {}
    for ep in model.effects:
        bands[ep.name] = pop.percentiles(q, ep.name)
        thr = thresholds.get(ep.name, ep.threshold)
        if thr is None:
            continue
        durations[ep.name] = np.asarray(pop.metric("duration", ep.name))
        cond = {"above" if ep.sign > 0 else "below": float(thr)}
        shares[ep.name] = pop.attainment(endpoint=ep.name, for_at_least=span, **cond)
    return dict(population=pop, bands=bands, durations=durations, shares=shares)


def scenario_text(c: Controls) -> str:
    """The controls as a scenario file (TOML): ``dmtpk run`` on it simulates what the page
    shows (the typical subject, and the population when switched on)."""
    model, regimen, times, weight, thresholds = _setup(c)
    label = _route(c)[0]
    scenario = {"name": "explorer", "description": f"{label}: {regimen.describe()} of DMT "
                                                   f"base", "model": _model_reference(c.model),
                "until": f"{float(c.until):.15g} min",
                "step": f"{float(c.until) / (OUTPUT_POINTS - 1):.12g} min",
                "weight": f"{weight:.15g} kg"}
    if thresholds:
        scenario["thresholds"] = {k: float(v) for k, v in thresholds.items()}
    raw = {"scenario": scenario}
    if c.population:  # a population's weight is a covariate, not the typical subject's
        del scenario["weight"]
        raw["population"] = {"n": int(c.n), "seed": int(c.seed), "keep": "all",
                             "covariates": {"WT": weight}}
    raw["regimens"] = [{"label": label, "events": regimen_events(c)}]
    return dumps(raw, first="scenario")


def _model_reference(model) -> str:
    """A library name, or the absolute path of a model file."""
    if isinstance(model, Model):
        if model.path is None:
            raise ValidationError("model", "a model built in Python has no file to name in a "
                                           "scenario: write it with write_model first")
        return str(model.path)
    return str(model)


def figure_png(c: Controls) -> bytes:
    """The figure of the controls (dmtpk's own plots) as PNG bytes: the typical subject's
    concentration and response, or the population's percentile bands."""
    from .. import plot
    view = explore_view(c)
    if view.population is not None:
        fig = plot.population_overview(view.population)
    else:
        fig = plot.result_overview(view.result)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)  # a plain Figure (no pyplot): nothing to close
    return buf.getvalue()


def error_field(exc: DmtpkError) -> str:
    """The control an error belongs to (``"model"`` for errors without a control)."""
    return getattr(exc, "field", None) or "model"
