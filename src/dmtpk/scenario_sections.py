"""Scenario sections that do more than simulate: a fit step (``[fit]``) and a design problem
(``[design]``), read and run for :mod:`dmtpk.scenario`.

A scenario runs them in this order: the fit (its fitted model becomes the scenario's model),
the design on that model (its regimen joins the ``[[regimens]]``, labelled ``"designed"``
unless ``label`` says otherwise), then every regimen is simulated as usual. With either
section the ``[[regimens]]`` tables are optional. Format::

    [fit]
    data = "trial.csv"                  # NONMEM-style dataset, relative to this file
    time_unit = "min"                   # unit of TIME (required)
    amount_unit = "mg"                  # unit of AMT (default mg)
    concentration_unit = "ng/mL"        # unit of DV (default ng/mL)
    estimate = ["CL", "V1"]             # typical values (default: those with a random effect)
    omega = ["CL", "V1"]                # or { CL = 0.1 }: random effects and initial variances
    method = "focei"                    # focei | saem | ml | map
    seed = 1                            # saem
    iterations = "auto"                 # saem: "auto" (default) or [exploration, smoothing]
    max_iter = 200                      # focei outer iterations (0: evaluate only)
    drop = ["SS"]                       # dataset columns left out
    ignore = "SD == 0"                  # records left out

    [design]
    template = "bolus+infusion"         # bolus+infusion | bolus+steps | inhalations
    count = 1                           # infusion steps or inhalations
    window = [6, 8]                     # endpoint window (the endpoint's unit)
    for = "20 min"                      # how long the effect stays in the window,
    start = "5 min"                     # from here (default 5 min)
    endpoint = "intensity"              # default the model's first
    fixed = { duration = "25 min" }
    bounds = { bolus = ["0 mg", "30 mg"], rate = ["0 mg/min", "3 mg/min"] }
    max_total_dose = "40 mg"            # limits (all optional)
    max_rate = "2 mg/min"
    cmax = "60 ng/mL"
    cmax_quantile = 0.95                # population: the ceiling for this quantile of Cmax
    above = [9.5, 0.1]                  # at most 10 % of subjects above intensity 9.5
    population = 2000                   # design for a population (optional) of this size,
    seed = 1                            # drawn with this seed,
    share = 0.8                         # the smallest dose putting 80 % inside (optional)
    validation = 8000                   # fresh subjects for the reported share
    label = "designed"

    [outputs]
    design = "design.csv"               # the designed parameters and attainment
    fitted_model = "fitted.toml"        # the fitted model
    report = "fit-report"               # the fit's report folder (tables, figures)

Mistakes name the file and the key (``[design.bounds.bolus]``, ``[fit.data]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from .errors import DmtpkError, ValidationError
from .units import to_canonical

__all__ = ["SECTIONS", "SECTION_OUTPUTS", "parse_sections", "check_section_outputs",
           "output_targets", "run_sections", "section_writers", "section_lines"]

SECTIONS = ("fit", "design")
#: Output keys of the sections, and the suffix each needs (None: a folder).
SECTION_OUTPUTS = {"design": ".csv", "fitted_model": ".toml", "report": None}
_FIT_KEYS = {"data", "time_unit", "amount_unit", "concentration_unit", "estimate", "omega",
             "method", "seed", "drop", "ignore", "covariance", "iterations", "max_iter"}
_DESIGN_KEYS = {"template", "count", "window", "for", "start", "endpoint", "fixed", "bounds",
                "max_total_dose", "max_rate", "cmax", "cmax_quantile", "above", "population",
                "seed", "share", "validation", "label", "maxiter"}
#: design() arguments that are not the [design] key of the same name.
_DESIGN_FIELDS = {"span": "for"}


@dataclass(frozen=True)
class FitStep:
    """A validated ``[fit]`` table: the dataset path and :func:`dmtpk.fit` arguments."""

    data: Path
    read: MappingProxyType
    arguments: MappingProxyType


@dataclass(frozen=True)
class DesignProblem:
    """A validated ``[design]`` table: :func:`dmtpk.design` arguments and the label."""

    window: tuple
    span: tuple
    arguments: MappingProxyType
    label: str


def _error(path, key, message):
    from .scenario import ScenarioError
    return ScenarioError(path, key, message)


def _names(value, key, path, mapping=False):
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if mapping and isinstance(value, dict):
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in value.values()):
            raise _error(path, key, f"initial variances must be numbers, got {value!r}")
        return dict(value)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _error(path, key, f"a list of parameter names, got {value!r}")
    return list(value)


def _parse_fit(tab, path, base) -> FitStep:
    extra = sorted(set(tab) - _FIT_KEYS)
    if extra:
        raise _error(path, "fit", f"unknown key(s) {extra}; allowed: {sorted(_FIT_KEYS)}")
    for k in ("data", "time_unit"):
        if not isinstance(tab.get(k), str) or not tab[k]:
            raise _error(path, f"fit.{k}", f"a text is required, got {tab.get(k)!r}")
    data = Path(tab["data"])
    data = data if data.is_absolute() else Path(base) / data
    read = {"time_unit": tab["time_unit"], "amount_unit": tab.get("amount_unit", "mg"),
            "concentration_unit": tab.get("concentration_unit", "ng/mL")}
    if tab.get("drop") is not None:
        read["drop"] = _names(tab["drop"], "fit.drop", path)
    if tab.get("ignore") is not None:
        read["ignore"] = tab["ignore"]
    args = {"estimate": _names(tab.get("estimate"), "fit.estimate", path),
            "omega": _names(tab.get("omega"), "fit.omega", path, mapping=True),
            "method": tab.get("method", "focei")}
    for k in ("seed", "covariance"):
        if k in tab:
            args[k] = tab[k]
    # The counts are checked as the file is read, by the checks dmtpk.fit applies.
    from .fit.estimate import outer_iterations
    from .fit.saem import iteration_counts
    for k, check in (("iterations", iteration_counts), ("max_iter", outer_iterations)):
        if k in tab:
            try:
                args[k] = check(tab[k])
            except ValidationError as exc:
                raise _error(path, f"fit.{k}", str(exc)[len(exc.field) + 2:]) from None
    return FitStep(data, MappingProxyType(read), MappingProxyType(args))


def _parse_design(tab, path) -> DesignProblem:
    extra = sorted(set(tab) - _DESIGN_KEYS)
    if extra:
        raise _error(path, "design", f"unknown key(s) {extra}; allowed: {sorted(_DESIGN_KEYS)}")
    window = tab.get("window")
    if not isinstance(window, list) or len(window) != 2:
        raise _error(path, "design.window", f"[low, high] is required, got {window!r}")
    if "for" not in tab:
        raise _error(path, "design.for", "how long the effect stays in the window ('20 min') "
                                         "is required")
    try:
        start = to_canonical(tab.get("start", "5 min"), "time", "start")
        length = to_canonical(tab["for"], "time", "for")
    except DmtpkError as exc:
        key = exc.field if exc.field in ("start", "for") else "for"
        raise _error(path, f"design.{key}", str(exc)[len(exc.field) + 2:]) from None
    if not (math.isfinite(length) and length > 0):
        raise _error(path, "design.for", f"must be a positive time, got {tab['for']!r}")
    args = {k: tab[k] for k in _DESIGN_KEYS - {"window", "for", "start", "label"} if k in tab}
    for k in ("fixed", "bounds"):
        if k in args and not isinstance(args[k], dict):
            raise _error(path, f"design.{k}", f"must be a table, got {args[k]!r}")
    label = tab.get("label", "designed")
    if not isinstance(label, str) or not label:
        raise _error(path, "design.label", f"must be a text, got {label!r}")
    return DesignProblem((window[0], window[1]), (start, start + length),
                         MappingProxyType(args), label)


def parse_sections(raw: dict, path: str, base) -> MappingProxyType:
    """The ``[fit]`` and ``[design]`` tables of a scenario mapping, validated (what can be
    checked without the model), as ``{"fit": FitStep, "design": DesignProblem}``."""
    out = {}
    for name in SECTIONS:
        tab = raw.get(name)
        if tab is None:
            continue
        if not isinstance(tab, dict):
            raise _error(path, name, f"must be a table, got {tab!r}")
        out[name] = _parse_fit(tab, path, base) if name == "fit" else _parse_design(tab, path)
    return MappingProxyType(out)


def check_section_outputs(outputs: dict, sections, path: str) -> None:
    """The section outputs' suffixes, and that each belongs to a section of the file."""
    for key, suffix in SECTION_OUTPUTS.items():
        if key not in outputs:
            continue
        owner = "design" if key == "design" else "fit"
        if owner not in sections:
            raise _error(path, f"outputs.{key}", f"needs a [{owner}] table")
        if suffix is not None and outputs[key].suffix.lower() != suffix:
            raise _error(path, f"outputs.{key}", f"must end in {suffix}")


def output_targets(scenario) -> dict:
    """The files a scenario writes, ``{"file: [outputs.key]": path}``, for
    :func:`dmtpk.io.files.check_outputs` before the run: an existing report folder stands for
    the report's files in it (a new one is created when the outputs are written)."""
    where = f"{scenario.path}: " if scenario.path else ""
    out = {}
    for k, p in scenario.outputs.items():
        if k == "report" and Path(p).is_dir():
            from .fit.report import REPORT_FILES
            out.update({f"{where}[outputs.report] {f}": Path(p) / f for f in REPORT_FILES})
        else:
            out[f"{where}[outputs.{k}]"] = p
    return out


def run_sections(scenario, model, progress=None):
    """Run the scenario's fit then design; returns (model, scenario with the designed regimen
    among its arms, {"fit": FitResult, "design": DesignResult})."""
    import dataclasses

    from .scenario import Arm
    results = {}
    sections = scenario.sections
    path = scenario.path or "<dict>"
    if "fit" in sections:
        from .fit import fit
        from .io import read_nonmem
        step = sections["fit"]
        try:
            data = read_nonmem(step.data, **step.read)
        except ValidationError as exc:
            key = f"fit.{exc.field}" if exc.field in step.read else "fit.data"
            raise _error(path, key, str(exc)) from None
        try:
            results["fit"] = fit(model, data, progress=False, **step.arguments)
        except ValidationError as exc:
            raise _error(path, f"fit.{exc.field}", str(exc)[len(exc.field) + 2:]) from None
        model = results["fit"].model
    if "design" in sections:
        from .design import design
        problem = sections["design"]
        try:
            res = design(model, problem.window, problem.span, **problem.arguments)
        except ValidationError as exc:
            head, _, rest = exc.field.partition(".")
            key = "design." + _DESIGN_FIELDS.get(head, head) + (f".{rest}" if rest else "")
            raise _error(path, key, str(exc)[len(exc.field) + 2:]) from None
        results["design"] = res
        if problem.label in {a.label for a in scenario.arms}:
            raise _error(path, "design.label", f"{problem.label!r} is also a [[regimens]] label")
        scenario = dataclasses.replace(scenario, arms=scenario.arms + (
            Arm(problem.label, res.regimen),))
    return model, scenario, results


def _design_rows(res) -> list:
    rows = [(k, v) for k, v in res.values.items()]
    rows += [("total_dose_mg", res.total_dose), ("time_in_window_min", res.time_in_window),
             ("share_design_population", res.share), ("share_fresh_population",
                                                      res.validation_share),
             ("share_fresh_ci_low", res.validation_ci[0]),
             ("share_fresh_ci_high", res.validation_ci[1]),
             ("share_above_fresh", res.share_above),
             ("cmax_quantile_fresh_ng_per_ml", res.cmax_quantile), ("met", float(res.met))]
    return [(k, "" if v != v else repr(float(v))) for k, v in rows]


def section_writers(result) -> list:
    """The sections' outputs as ``(name, path, write)`` for :func:`dmtpk.io.files.write_outputs`
    (a report folder is created first)."""
    from .io.files import csv_writer
    outs = result.scenario.outputs
    where = f"{result.scenario.path}: " if result.scenario.path else ""
    items = []
    if "design" in outs and "design" in result.sections:
        items.append((f"{where}[outputs.design]", outs["design"],
                      csv_writer(("parameter", "value"), _design_rows(result.sections["design"]))))
    fitted = result.sections.get("fit")
    if fitted is not None and "fitted_model" in outs:
        from .model.toml import to_toml
        text = to_toml(fitted.model)

        def model_file(tmp, text=text):
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
        items.append((f"{where}[outputs.fitted_model]", outs["fitted_model"], model_file))
    if fitted is not None and "report" in outs:
        from .fit.report import report_outputs
        folder = Path(outs["report"])
        if folder.exists() and not folder.is_dir():
            raise _error(result.scenario.path, "outputs.report", f"{folder} is a file, not a "
                                                                 "folder")
        folder.mkdir(parents=False, exist_ok=True)
        items += [(f"{where}[outputs.report]", p, w) for p, w in report_outputs(fitted, folder)]
    return items


def section_lines(result) -> list:
    """What the sections found, as lines for the command line."""
    lines = []
    fitted = result.sections.get("fit")
    if fitted is not None:
        lines.append(fitted.summary())
    res = result.sections.get("design")
    if res is not None:
        values = ", ".join(f"{k} {v:.4g}" for k, v in res.values.items())
        lines.append(f"design: {values}; total dose {res.total_dose:.4g} mg; typical subject "
                     f"{res.time_in_window:.3g} min in [{res.window[0]:g}, {res.window[1]:g}]")
        if res.validation_share == res.validation_share:
            lo, hi = res.validation_ci
            lines.append(f"design: {res.validation_share:.1%} of a fresh population inside "
                         f"(95 % CI {lo:.1%}-{hi:.1%}); {res.share:.1%} of the design's own"
                         + ("" if res.met else "; the asked share or limits were not met"))
    return lines
