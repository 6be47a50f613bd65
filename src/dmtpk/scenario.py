"""Scenario files: a simulation study as one reproducible TOML file.

A scenario names a model, the regimens to compare, the time grid, optionally a virtual population
(size, seed, backend) and the files to write. ``dmtpk run SCENARIO.toml`` runs it; from Python,
:func:`load_scenario` then :func:`run_scenario`. The same seed gives the same subjects, so the
file is the whole record of a Monte Carlo study.

Format::

    [scenario]
    name = "routes"                       # optional; used in titles
    description = "IV bolus vs bolus + infusion"
    model = "eckernas2022"                # library name, or a .toml path relative to this file
    until = "60 min"                      # end of the time grid (default 60 min)
    step = "0.25 min"                     # grid step (default 0.25 min)
    thresholds = { intensity = 5 }        # optional: per endpoint, for the effect metrics
    weight = "70 kg"                      # optional: the typical subject's weight (per-kg doses)

    [population]                          # optional; without it the typical subject is simulated
    n = 10000
    seed = 1
    backend = "numba"                     # numba | dask
    scheduler = "tcp://host:8786"         # optional, dask only (default: a local cluster)
    keep = "summary"                      # summary (default, bounded memory) | all
    percentiles = [5, 50, 95]             # outer pair = the interval reported (default 5, 50, 95)
    covariates = { WT = 70 }              # optional, as simulate_population's covariates

    [[regimens]]
    label = "IV bolus 20 mg fumarate"
    events = [{ type = "bolus", dose = "20 mg", salt = "fumarate" }]

    [[regimens]]
    label = "16 mg + 1.4 mg/min for 30 min"
    events = [
      { type = "bolus", dose = "16 mg", salt = "fumarate" },
      { type = "infusion", rate = "1.4 mg/min", duration = "30 min", salt = "fumarate" },
    ]

    [outputs]                             # optional; paths relative to this file
    metrics = "routes-metrics.csv"        # metric table (population: median and interval)
    curves = "routes-curves.csv"          # time courses (population: percentile bands)
    plot = "routes.png"                   # comparison figure

Event keys: ``type`` (``bolus``, ``infusion``, ``inhalation``), and the arguments of
:class:`~dmtpk.Bolus`, :class:`~dmtpk.Infusion` or :class:`~dmtpk.Inhalation` (``dose``,
``rate``, ``duration``, ``at``, ``salt``; ``f``, ``ka``, ``lag`` for inhalations), plus
``every`` and ``times`` to repeat the event (:mod:`dmtpk.regimen.mapping`). Every mistake is
reported with the file and the key. A ``[fit]`` step and a ``[design]`` problem are described in
:mod:`dmtpk.scenario_sections`.
"""

from __future__ import annotations

import math
import signal
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .catalogue import EFFECT_METRICS, metric_unit
from .errors import DmtpkError, ValidationError
# tests/cli/test_cli_errors.py still imports write_atomic from this module, its former home:
# keep it importable from here.
from .io.files import csv_writer, write_atomic, write_outputs  # noqa: F401
from .io.text import FileReadError, read_toml
from .library import load_model
from .regimen import Regimen, as_regimen, regimen_from_mappings
from .scenario_sections import (SECTION_OUTPUTS, check_section_outputs, parse_sections,
                                run_sections, section_lines, section_writers)
from .units import to_canonical

__all__ = ["Scenario", "Arm", "ScenarioError", "ScenarioResult", "load_scenario",
           "scenario_from_dict", "run_scenario", "time_grid", "result_metrics",
           "population_metrics", "curve_columns", "scenario_model", "doses_needed",
           "check_size", "keep_all_bytes", "MAX_DOSES", "MAX_KEEP_ALL_BYTES", "MAX_SUMMARY_SUBJECTS"]

_SCENARIO_KEYS = {"name", "description", "model", "until", "step", "thresholds", "weight"}
_POPULATION_KEYS = {"n", "seed", "backend", "scheduler", "keep", "percentiles", "covariates",
                    "chunk_size"}
_OUTPUT_KEYS = {"metrics", "curves", "plot", *SECTION_OUTPUTS}
_TABLES = {"scenario", "population", "regimens", "outputs", "fit", "design"}


class ScenarioError(DmtpkError, ValueError):
    """A scenario file (or the equivalent mapping) is malformed.

    Parameters
    ----------
    path : str
        The file, or ``"<dict>"``.
    key : str
        The key at fault, e.g. ``"regimens[2].events[1].dose"``.
    message : str
        What is wrong and what is allowed.
    """

    def __init__(self, path: str, key: str, message: str):
        self.path = str(path)
        self.key = key
        super().__init__(f"{self.path}: [{key}] {message}" if key else f"{self.path}: {message}")


# -- building blocks shared with the command line ------------------------------------------------

def time_grid(until="60 min", step="0.25 min") -> np.ndarray:
    """Uniform output times from 0 to ``until`` every ``step`` (min), ``until`` included.

    Parameters
    ----------
    until, step : Quantity, str or float
        End of the grid and its step; a bare number is in min.

    Returns
    -------
    ndarray, shape (n_times,)
        Times (min).

    Raises
    ------
    ValidationError
        Non-positive values, or ``until`` not a whole number of steps.
    """
    end = to_canonical(until, "time", "until")
    dt = to_canonical(step, "time", "step")
    if not (math.isfinite(end) and end > 0):
        raise ValidationError("until", f"must be a positive time, got {until!r}")
    if not (math.isfinite(dt) and dt > 0):
        raise ValidationError("step", f"must be a positive time, got {step!r}")
    ratio = end / dt
    if not ratio <= 1_000_000.5:  # also an overflow to inf
        raise ValidationError("step", f"{ratio + 1:.3g} output times is too many (at most "
                                      "1,000,001); use a larger step")
    k = int(round(ratio))
    if k < 1 or abs(k * dt - end) > 1e-9 * max(end, 1.0):
        raise ValidationError("until", f"{until!r} is not a whole number of steps of {step!r}")
    return np.linspace(0.0, end, k + 1)


#: Most doses a regimen may give before the end of the simulated time (each dose is an event
#: the engines step through; 10,000 doses take about 2 s for one subject). Doses given after
#: the end are never simulated: they cannot change an output up to the end.
MAX_DOSES = 10_000

#: Most memory the per-subject arrays of a ``keep = "all"`` population may take, estimated as
#: subjects x output times x outputs x 8 bytes before anything is allocated.
MAX_KEEP_ALL_BYTES = 2 * 2**30

#: Most subjects of a streamed (``keep = "summary"``) population: summaries take memory
#: independent of the number of subjects, but the run keeps a few bytes per subject and takes
#: about 5 microseconds per subject and output time on two cores.
MAX_SUMMARY_SUBJECTS = 100_000_000


def doses_needed(first: float, interval: float, times: int, end: float) -> int:
    """How many of ``times`` doses, the first at ``first`` and then every ``interval`` (min),
    can change an output up to ``end`` (min): those that start at or before ``end``, plus
    one against rounding. Later doses, whatever their lag, add nothing before ``end``.

    Parameters
    ----------
    first, interval, end : float
        Time of the first dose, interval (positive) and end of the simulation, in min.
    times : int
        Doses asked for (at least 1).

    Returns
    -------
    int
        Between 1 and ``times``.

    Examples
    --------
    >>> doses_needed(0.0, 10.0, 1_000_000, 60.0)
    8
    >>> doses_needed(0.0, 10.0, 3, 60.0)
    3
    """
    if not (first <= end):
        return 1
    return int(min(times, math.floor((end - first) / interval) + 2))


def _repeat_within(regimen_events: list, end: float, key: str, path: str) -> list:
    """The event mappings of a scenario regimen with each ``times`` cut to the doses that
    start by ``end`` (:func:`doses_needed`); mappings whose values do not read are left as
    they are, for :func:`~dmtpk.regimen.regimen_from_mappings` to report. More than
    :data:`MAX_DOSES` doses before the end are refused here, before they are built."""
    if not isinstance(regimen_events, list):
        return regimen_events
    out = []
    for j, spec in enumerate(regimen_events, start=1):
        if isinstance(spec, dict) and isinstance(spec.get("times"), int) \
                and not isinstance(spec.get("times"), bool) and spec["times"] > 1 \
                and spec.get("every") is not None:
            try:
                ii = to_canonical(spec["every"], "time", "every")
                at = to_canonical(spec.get("at", 0.0), "time", "at")
            except DmtpkError:
                ii = at = None
            if ii is not None and math.isfinite(ii) and ii > 0 and math.isfinite(at):
                needed = doses_needed(at, ii, spec["times"], end)
                if needed > MAX_DOSES:
                    raise ScenarioError(path, f"{key}.events[{j}].times", f"{needed - 1:,} "
                                        f"doses start before the end of the simulation "
                                        f"({end:g} min); at most {MAX_DOSES:,} can be "
                                        "simulated: give fewer doses, a longer interval or an "
                                        "earlier end")
                spec = {**spec, "times": needed}
        out.append(spec)
    return out


def keep_all_bytes(n: int, n_times: int, model) -> tuple[int, int]:
    """Estimated bytes of a ``keep = "all"`` population's per-subject arrays, and the number
    of outputs counted: the concentration, the metabolite's, and per endpoint its effect
    site and its effect, each ``n x n_times`` float64 values."""
    n_out = 1 + (model.metabolite is not None) + 2 * len(model.effects)
    return 8 * n * n_times * n_out, n_out


def check_size(scenario: "Scenario", model) -> None:
    """Refuse, before anything is allocated, a scenario whose run cannot fit: more than
    :data:`MAX_DOSES` doses before the end of a regimen, a ``keep = "all"`` population
    whose arrays would exceed :data:`MAX_KEEP_ALL_BYTES`, or a streamed one of more than
    :data:`MAX_SUMMARY_SUBJECTS` subjects.

    Parameters
    ----------
    scenario : Scenario
    model : Model

    Raises
    ------
    ValidationError
        Field ``regimens[i]``, ``population.n`` or ``population.keep`` (the scenario's keys).
    """
    end = float(scenario.times[-1])
    for i, arm in enumerate(scenario.arms, start=1):
        given = sum(1 for ev in as_regimen(arm.regimen).events if ev.at <= end)
        if given > MAX_DOSES:
            raise ValidationError(f"regimens[{i}]", f"{given} doses start before the end of "
                                  f"the simulation ({end:g} min); at most {MAX_DOSES:,} can be "
                                  "simulated: give fewer doses, a longer interval or an "
                                  "earlier end")
    if scenario.n is None:
        return
    n, m = scenario.n, scenario.times.size
    if scenario.keep == "all":
        size, n_out = keep_all_bytes(n, m, model)
        if size > MAX_KEEP_ALL_BYTES:
            raise ValidationError("population.keep", f"'all' would keep {n:,} subjects x {m:,} "
                                  f"times x {n_out} outputs = {size / 2**30:.3g} GiB; at most "
                                  f"{MAX_KEEP_ALL_BYTES / 2**30:g} GiB: stream summaries "
                                  "(keep 'summary'), or use fewer subjects or a coarser step")
    elif n > MAX_SUMMARY_SUBJECTS:
        raise ValidationError("population.n", f"{n:,} subjects; at most "
                              f"{MAX_SUMMARY_SUBJECTS:,} per regimen")


def result_metrics(result, thresholds: dict | None = None) -> dict:
    """Metrics of one subject as a flat mapping: ``cmax``, ``tmax``, ``auc``, ``half_life`` and
    ``<endpoint>.onset``, ``.peak``, ``.time_to_peak``, ``.offset``, ``.duration`` (the
    catalogue's keys, :mod:`dmtpk.catalogue`)."""
    m = result.metrics(thresholds)
    out = dict(m.exposure.as_dict())
    for name, e in m.effects.items():
        for k in EFFECT_METRICS:
            out[f"{name}.{k}"] = float(getattr(e, k))
    return out


def population_metrics(result, q=(5, 50, 95)) -> dict:
    """Per metric: (values at the percentiles ``q``, share of subjects without the metric
    because the effect never reached the threshold, share without it because the effect is
    still beyond the threshold at the end of the grid: a censored offset, and the percentiles'
    accuracy: 0 where exact, else the streamed histogram's bin width)."""
    pct = result.metric_percentiles(q)
    nan = result.metric_nan_fraction()
    cens = result.censored_fraction()
    acc = result.metric_accuracy()
    return {k: (np.asarray(v, dtype=float), float(nan.get(k, 0.0)) - cens.get(k, 0.0),
                float(cens.get(k, 0.0)), float(acc.get(k, 0.0))) for k, v in pct.items()}


# -- scenario files ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Arm:
    """One regimen of a scenario."""

    label: str
    regimen: Regimen


@dataclass(frozen=True)
class Scenario:
    """A validated scenario; build it with :func:`load_scenario` or :func:`scenario_from_dict`.

    Attributes
    ----------
    model : str
        Library name or path of the model file.
    arms : tuple of Arm
    times : ndarray
        Output times (min).
    n : int or None
        Population size, or None for the typical subject only.
    outputs : mapping
        ``metrics``, ``curves``, ``plot`` -> Path (absent keys are not written).
    path : str or None
        The scenario file (``"<dict>"`` for a mapping), named with the key in the errors of
        :func:`run_scenario`; None for a scenario built from other input (the command line),
        whose errors keep the fields of the API.
    """

    name: str
    description: str
    model: str
    arms: tuple
    times: np.ndarray
    thresholds: MappingProxyType
    n: int | None = None
    seed: int = 0
    backend: str = "numba"
    scheduler: str | None = None
    keep: str = "summary"
    percentiles: tuple = (5.0, 50.0, 95.0)
    covariates: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    chunk_size: int | None = None
    outputs: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    path: str | None = "<dict>"
    sections: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))


def load_scenario(path) -> Scenario:
    """Read and validate a scenario file (TOML); relative paths are taken from its folder.

    Raises
    ------
    ScenarioError
        A missing file, a folder, a file that is not UTF-8 or valid TOML, nested too deeply,
        or any mistake in it; the message names the file and the key (or the line).
    """
    p = Path(path)
    try:
        raw = read_toml(p)
    except FileReadError as exc:
        message = "is a folder, not a scenario file" if p.is_dir() else exc.message
        raise ScenarioError(str(p), exc.where, message) from None
    return scenario_from_dict(raw, str(p), base_dir=p.parent)


def _table(raw, name, path, required=False):
    value = raw.get(name)
    if value is None:
        if required:
            raise ScenarioError(path, name, "missing")
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(path, name, f"must be a table, got {value!r}")
    return value


def _unknown(table, allowed, key, path):
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise ScenarioError(path, key, f"unknown key(s) {extra}; allowed: {sorted(allowed)}")


def _int(value, key, path, low):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ScenarioError(path, key, f"must be a whole number >= {low}, got {value!r}")
    return value


def scenario_from_dict(raw: dict, path: str = "<dict>", base_dir=None) -> Scenario:
    """Validate a scenario given as a mapping (the parsed TOML); see the module docstring."""
    if not isinstance(raw, dict):
        raise ScenarioError(path, "", f"a scenario is a mapping, got {type(raw).__name__}")
    _unknown(raw, _TABLES, "", path)
    base = Path(base_dir) if base_dir is not None else Path(".")
    sc = _table(raw, "scenario", path, required=True)
    _unknown(sc, _SCENARIO_KEYS, "scenario", path)
    model = sc.get("model")
    if not isinstance(model, str) or not model:
        raise ScenarioError(path, "scenario.model", f"a model name or .toml path is required, "
                                                    f"got {model!r}")
    if model.endswith(".toml") and not Path(model).is_absolute():
        model = str(base / model)
    try:
        times = time_grid(sc.get("until", "60 min"), sc.get("step", "0.25 min"))
    except DmtpkError as exc:
        raise ScenarioError(path, "scenario", str(exc)) from None
    thresholds = sc.get("thresholds", {})
    if not isinstance(thresholds, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in thresholds.values()):
        raise ScenarioError(path, "scenario.thresholds", "must map endpoint names to numbers, "
                                                         f"got {thresholds!r}")

    sections = parse_sections(raw, path, base)
    regimens = raw.get("regimens", [] if sections else None)
    if not isinstance(regimens, list) or not (regimens or sections):
        raise ScenarioError(path, "regimens", "at least one [[regimens]] table is required")
    arms, labels = [], set()
    for i, arm in enumerate(regimens, start=1):
        key = f"regimens[{i}]"
        if not isinstance(arm, dict):
            raise ScenarioError(path, key, f"must be a table, got {arm!r}")
        _unknown(arm, {"label", "events"}, key, path)
        try:
            regimen = regimen_from_mappings(_repeat_within(arm.get("events"), times[-1], key, path),
                                            f"{key}.events")
        except ValidationError as exc:
            raise ScenarioError(path, exc.field, str(exc)[len(exc.field) + 2:]) from None
        label = arm.get("label", regimen.describe() + " (base)")
        if not isinstance(label, str) or not label:
            raise ScenarioError(path, f"{key}.label", f"must be a text, got {label!r}")
        if label in labels:
            raise ScenarioError(path, f"{key}.label", f"{label!r} is used twice")
        labels.add(label)
        arms.append(Arm(label, regimen))

    pop = _table(raw, "population", path)
    _unknown(pop, _POPULATION_KEYS, "population", path)
    n = seed = None
    extra = {}
    if pop:
        if "n" not in pop or "seed" not in pop:
            raise ScenarioError(path, "population", "a population needs n and seed")
        n = _int(pop["n"], "population.n", path, 1)
        seed = _int(pop["seed"], "population.seed", path, 0)
        backend = pop.get("backend", "numba")
        if backend not in ("numba", "dask"):
            raise ScenarioError(path, "population.backend", f"expected 'numba' or 'dask', got "
                                                            f"{backend!r}")
        scheduler = pop.get("scheduler")
        if scheduler is not None and (backend != "dask" or not isinstance(scheduler, str)):
            raise ScenarioError(path, "population.scheduler", "an address (text), with "
                                                              "backend = 'dask' only")
        keep = pop.get("keep", "summary")
        if keep not in ("summary", "all"):
            raise ScenarioError(path, "population.keep", f"expected 'summary' or 'all', got "
                                                         f"{keep!r}")
        q = pop.get("percentiles", [5, 50, 95])
        if not isinstance(q, list) or len(q) != 3 or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in q) \
                or not 0 <= q[0] < q[1] < q[2] <= 100:
            raise ScenarioError(path, "population.percentiles", "three increasing percentiles "
                                                                f"in 0-100, got {q!r}")
        covs = pop.get("covariates", {})
        if not isinstance(covs, dict):
            raise ScenarioError(path, "population.covariates", f"must be a table, got {covs!r}")
        chunk = pop.get("chunk_size")
        if chunk is not None:
            chunk = _int(chunk, "population.chunk_size", path, 1)
        extra = dict(backend=backend, scheduler=scheduler, keep=keep,
                     percentiles=tuple(float(v) for v in q),
                     covariates=MappingProxyType(dict(covs)), chunk_size=chunk)

    if "weight" in sc:
        if pop:
            raise ScenarioError(path, "scenario.weight", "give weights of a population under "
                                                         "[population] covariates = { WT = ... }")
        if not isinstance(sc["weight"], (int, float, str)) or isinstance(sc["weight"], bool):
            raise ScenarioError(path, "scenario.weight", f"a body weight such as '70 kg', got "
                                                         f"{sc['weight']!r}")
        extra["covariates"] = MappingProxyType({"WT": sc["weight"]})

    out = _table(raw, "outputs", path)
    _unknown(out, _OUTPUT_KEYS, "outputs", path)
    outputs = {}
    for k, v in out.items():
        if not isinstance(v, str) or not v:
            raise ScenarioError(path, f"outputs.{k}", f"must be a file name, got {v!r}")
        outputs[k] = Path(v) if Path(v).is_absolute() else base / v
    if "plot" in outputs and outputs["plot"].suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ScenarioError(path, "outputs.plot", "must end in .png, .pdf or .svg")
    for k in ("metrics", "curves"):
        if k in outputs and outputs[k].suffix.lower() != ".csv":
            raise ScenarioError(path, f"outputs.{k}", "must end in .csv")
    check_section_outputs(outputs, sections, path)
    return Scenario(name=str(sc.get("name", Path(path).stem)), description=str(sc.get(
        "description", "")), model=model, arms=tuple(arms), times=times,
        thresholds=MappingProxyType(dict(thresholds)), n=n,
        seed=seed if seed is not None else 0, outputs=MappingProxyType(outputs), path=str(path),
        sections=sections, **extra)


# -- running ---------------------------------------------------------------------------------

@dataclass(eq=False)
class ScenarioResult:
    """What a scenario produced: one :class:`~dmtpk.Result` (typical subject) or
    :class:`~dmtpk.PopulationResult` per regimen, keyed by label."""

    scenario: Scenario
    model: object
    runs: dict
    sections: dict = field(default_factory=dict)  # "fit": FitResult, "design": DesignResult

    def section_lines(self) -> list:
        """What the fit and design sections found, as lines to print."""
        return section_lines(self)

    @property
    def is_population(self) -> bool:
        return self.scenario.n is not None

    def metrics(self) -> dict:
        """label -> metric key -> value (typical subject) or (percentile values, share
        without the metric) (population)."""
        if self.is_population:
            return {lb: population_metrics(r, self.scenario.percentiles)
                    for lb, r in self.runs.items()}
        return {lb: result_metrics(r, dict(self.scenario.thresholds))
                for lb, r in self.runs.items()}

    def metric_rows(self) -> list[tuple]:
        """Rows of the metric table: (regimen, metric, unit, value) for a typical subject, or
        (regimen, metric, unit, low, median, high, share never reached, share still beyond at
        the end, percentile accuracy) for a population."""
        rows = []
        for label, ms in self.metrics().items():
            for key, v in ms.items():
                unit = metric_unit(key, self.model)
                if self.is_population:
                    q, never, censored, accuracy = v
                    rows.append((label, key, unit, float(q[0]), float(q[1]), float(q[2]), never,
                                 censored, accuracy))
                else:
                    rows.append((label, key, unit, float(v)))
        return rows

    def metric_header(self) -> tuple:
        if self.is_population:
            lo, mid, hi = self.scenario.percentiles
            return ("regimen", "metric", "unit", f"p{lo:g}", f"p{mid:g}", f"p{hi:g}",
                    "share never reached", "share still beyond at end", "accuracy")
        return ("regimen", "metric", "unit", "value")

    def curve_rows(self):
        """Header and rows of the time courses (typical subject: every output; population: the
        percentiles of each output at each time)."""
        model = self.model
        if self.is_population:
            outputs = ["concentration"] + [ep.name for ep in model.effects]
            qs = self.scenario.percentiles
            header = ("regimen", "output", "unit", "time [min]") + tuple(f"p{q:g}" for q in qs)
            rows = []
            for label, r in self.runs.items():
                for out in outputs:
                    unit = "ng/mL" if out == "concentration" else model.endpoint(out).unit
                    pct = r.percentiles(qs, out)
                    for k, t in enumerate(r.time):
                        rows.append((label, out, unit, float(t)) + tuple(float(p) for p in
                                                                         pct[:, k]))
            return header, rows
        header, rows = None, []
        for label, r in self.runs.items():
            cols = curve_columns(r)
            if header is None:
                header = ("regimen",) + tuple(cols)
            arrays = list(cols.values())
            for k in range(r.time.size):
                rows.append((label,) + tuple(float(a[k]) for a in arrays))
        return header, rows

    def figure(self, individuals: int = 0):
        """The comparison figure: time courses (typical subject) or percentile bands."""
        from . import plot
        labels = list(self.runs)
        results = list(self.runs.values())
        if self.is_population:
            fig = plot.compare_bands(results, labels, q=self.scenario.percentiles)
        else:
            fig = plot.compare(results, labels)
        if self.scenario.description:
            fig.suptitle(f"{self.model.name}: {self.scenario.description}", fontsize="medium")
        return fig

    def output_writers(self) -> list[tuple]:
        """The scenario's outputs as ``(name, path, write)`` for
        :func:`dmtpk.io.files.write_outputs`; ``name`` is the file and key (``outputs.plot``)."""
        outs = self.scenario.outputs
        where = f"{self.scenario.path}: " if self.scenario.path else ""
        items = []
        if "metrics" in outs:
            items.append((f"{where}[outputs.metrics]", outs["metrics"],
                          csv_writer(self.metric_header(), self.metric_rows())))
        if "curves" in outs:
            items.append((f"{where}[outputs.curves]", outs["curves"],
                          csv_writer(*self.curve_rows())))
        if "plot" in outs:
            fig = self.figure()
            fmt = outs["plot"].suffix[1:].lower()
            items.append((f"{where}[outputs.plot]", outs["plot"],
                          lambda p: fig.savefig(p, dpi=120, format=fmt)))
        return items + section_writers(self)

    def write(self, force: bool = False) -> list[Path]:
        """Write the scenario's outputs, all or none (:func:`dmtpk.io.files.write_outputs`);
        returns the paths written."""
        return write_outputs(self.output_writers(), force)


def curve_columns(result) -> dict:
    """A single subject's outputs as columns named with units (as ``Result.to_dataframe``)."""
    cols = {"time [min]": result.time, "Cp [ng/mL]": result.concentration}
    if result.metabolite_concentration is not None:
        cols[f"C_{result.model.metabolite.name} [ng/mL]"] = result.metabolite_concentration
    for ep in result.model.effects:
        cols[f"Ce_{ep.name} [ng/mL]"] = result.effect_sites[ep.name]
        cols[f"{ep.name} [{ep.unit}]" if ep.unit else ep.name] = result.effects[ep.name]
    return cols


def run_scenario(scenario, progress: bool | None = None) -> ScenarioResult:
    """Run every regimen of a scenario (a :class:`Scenario` or a file path).

    Returns
    -------
    ScenarioResult
        Outputs are not written; call :meth:`ScenarioResult.write`.

    Raises
    ------
    ScenarioError
        A mistake found only when the scenario meets its model (an unknown model, threshold
        endpoint, route or covariate, a per-kg dose without weight, a run too large to fit:
        :func:`check_size`), naming the scenario file and the key. A scenario built with
        ``path=None`` (the command line's) raises the underlying :class:`ValidationError`.
    """
    if not isinstance(scenario, Scenario):
        scenario = load_scenario(scenario)
    if scenario.path is None:
        return _run(scenario, progress)
    try:
        return _run(scenario, progress)
    except ScenarioError:
        raise
    except ValidationError as exc:
        key, message = _scenario_key(scenario, exc)
        raise ScenarioError(scenario.path, key, message) from None


def scenario_model(scenario: Scenario):
    """The scenario's model (:func:`~dmtpk.load_model`); an unknown name or unusable path is
    a :class:`ScenarioError` at ``scenario.model`` (a model file's own mistakes keep naming
    that file)."""
    try:
        return load_model(scenario.model)
    except ValidationError as exc:
        if scenario.path is None:
            raise
        raise ScenarioError(scenario.path, "scenario.model",
                            str(exc)[len(exc.field) + 2:]) from None


def _scenario_key(scenario: Scenario, exc: ValidationError) -> tuple[str, str]:
    """The scenario key a run-time error belongs to, and its message (keeping the inner
    field when it says more than the key)."""
    field = exc.field
    message = str(exc)[len(field) + 2:]
    stage = getattr(exc, "_scenario_stage", None)
    if stage == "threshold":
        return field, message
    if field.startswith("covariates"):
        table = "population.covariates" if scenario.n is not None else "scenario.weight"
        rest = field[len("covariates"):].lstrip(".")
        if scenario.n is None:
            return table, message
        return f"{table}.{rest}" if rest else table, message
    if field == "weight":
        return ("scenario.weight" if scenario.n is None else "population.covariates.WT"), \
            message
    if field.startswith(("population.", "regimens[")):
        return field, message
    arm = getattr(exc, "_scenario_arm", None)
    if arm is not None:
        return f"regimens[{arm}]", f"{field}: {message}"
    return "", str(exc)


def _tagged(exc: ValidationError, **tags) -> ValidationError:
    for k, v in tags.items():
        setattr(exc, f"_scenario_{k}", v)
    return exc


def _run(scenario: Scenario, progress) -> ScenarioResult:
    from .population import simulate_population
    from .population.runner import connect_scheduler
    from .simulate import simulate
    model, scenario, sections = run_sections(scenario, scenario_model(scenario), progress)
    try:  # known endpoints, finite values (TOML has nan and inf)
        thresholds = model.check_thresholds(dict(scenario.thresholds), "scenario.thresholds")
    except ValidationError as exc:
        raise _tagged(exc, stage="threshold")
    for i, arm in enumerate(scenario.arms, start=1):
        missing = as_regimen(arm.regimen).routes - set(model.routes)
        if missing:
            raise _tagged(ValidationError("route", f"regimen {arm.label!r} uses route(s) "
                                                   f"{sorted(missing)}; model {model.name!r} "
                                                   f"has {list(model.routes)}"), arm=i)
    check_size(scenario, model)
    runs = {}
    if scenario.n is None:
        weight = scenario.covariates.get("WT")  # the typical subject's weight, if one is given
        if weight is not None and not isinstance(weight, (int, float, str)):
            raise ValidationError("covariates.WT", "the typical subject needs one body weight")
        for i, arm in enumerate(scenario.arms, start=1):
            try:
                runs[arm.label] = simulate(model, arm.regimen, scenario.times, weight=weight)
            except ValidationError as exc:
                raise _tagged(exc, arm=i)
        return ScenarioResult(scenario, model, runs, sections)
    client = cluster = None
    if scenario.backend == "dask":
        if scenario.scheduler is not None:
            try:
                client = connect_scheduler(scenario.scheduler)
            except (ValueError, TypeError) as exc:  # distributed's reading of the address
                raise ValidationError("population.scheduler", f"not a Dask scheduler address "
                                      f"({scenario.scheduler!r}: {exc})") from None
        else:
            client, cluster = _local_cluster()
    try:
        for i, arm in enumerate(scenario.arms, start=1):
            try:
                runs[arm.label] = simulate_population(
                    model, arm.regimen, scenario.times, n=scenario.n, seed=scenario.seed,
                    backend=scenario.backend, keep=scenario.keep,
                    chunk_size=scenario.chunk_size,
                    covariates=dict(scenario.covariates) or None,
                    thresholds=thresholds or None, client=client, progress=progress)
            except ValidationError as exc:
                raise _tagged(exc, arm=i)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return ScenarioResult(scenario, model, runs, sections)


def _local_cluster():
    """A local Dask cluster (the population runner's) whose worker processes ignore SIGINT.

    Ctrl-C reaches every process of the terminal's group; workers that took it would die
    mid-task and print their tracebacks and the nanny's warnings. The cluster is started
    while SIGINT is ignored (an ignored signal stays ignored in the processes started then;
    a blocked one does not, as multiprocessing clears the mask), so only this process takes
    the interrupt and it shuts the cluster down. A Ctrl-C in the second or two the cluster
    takes to start is not seen.
    """
    from .population.runner import _dask_client

    def start():
        try:
            return _dask_client(None, 2)
        except ImportError:
            raise DmtpkError("the dask backend needs dask.distributed: pip install "
                             "'dmtpk[dask]'") from None
        except (OSError, RuntimeError, TimeoutError) as exc:  # e.g. "Nanny failed to start"
            raise DmtpkError(f"cannot start a local Dask cluster: {exc}") from None
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: leave the signals alone
        return start()
    try:
        return start()
    finally:
        signal.signal(signal.SIGINT, previous)
