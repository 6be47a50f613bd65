"""Command-line interface: a thin layer over the public API.

::

    dmtpk models                          list the shipped models (name, routes, sources)
    dmtpk models show NAME                parameters with units, variability and citations
    dmtpk simulate MODEL --route iv --dose "20 mg" [--salt fumarate] [--until "60 min"]
                   [--out result.csv] [--plot result.png]
    dmtpk population MODEL --route inhaled --dose "60 mg" --n 100000 --seed 1
                   [--backend numba|dask --scheduler ADDRESS] [--out summary.csv]
                   [--bands bands.csv] [--plot bands.png]
    dmtpk run SCENARIO.toml [--force]     a batch described in a scenario file
    dmtpk fit MODEL DATA.csv --time-unit h --amount-unit ug --estimate CL,V1
                   [--omega CL,V1] [--method focei|saem|ml|map] [--out fit.toml]
                   [--report DIR]         fit a model to a NONMEM-style dataset
    dmtpk demo [--plot dmtpk-demo.png]    the three routes on a virtual population

User mistakes give one line on stderr and exit code 2; an interrupted run exits with 130.
Outputs are written atomically (a temporary file renamed into place), only after every
simulation has finished, and an existing file is kept unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import signal
import sys
import warnings
from pathlib import Path

import numpy as np

from .catalogue import METRICS, metric_label, metric_unit, split_metric_key
from .errors import DmtpkError, ValidationError
from .io.files import check_outputs, csv_writer, write_outputs
from .library import list_models, load_model
from .regimen import Bolus, Infusion, Inhalation, Regimen, as_regimen
from .scenario import (MAX_DOSES, MAX_KEEP_ALL_BYTES, Arm, Scenario, ScenarioResult,
                       curve_columns, doses_needed, keep_all_bytes, load_scenario,
                       run_scenario, scenario_model, time_grid)
from .units import to_canonical

__all__ = ["main"]

#: The demo's regimens: (label, regimen). Doses as in the published designs: a 20 mg DMT fumarate
#: bolus (Timmermann 2019 / Eckernäs 2022), the 16 mg + 1.4 mg/min fumarate scheme of Eckernäs'
#: optimised-infusion paper (here for 30 min), and a 60 mg vaporised dose (Falchi-Carvalho 2025).
DEMO_REGIMENS = (
    ("IV bolus 20 mg fumarate", Bolus("20 mg", salt="fumarate")),
    ("IV 16 mg + 1.4 mg/min x 30 min (fumarate)",
     Bolus("16 mg", salt="fumarate") + Infusion(rate="1.4 mg/min", duration="30 min",
                                                salt="fumarate")),
    ("inhaled 60 mg", Inhalation("60 mg")),
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit code 2)."""

    def error(self, message):  # noqa: D401 - argparse's hook
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _fmt(x: float) -> str:
    return "-" if x != x else f"{x:.4g}"


def _table(header, rows) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
                     for row in [header] + rows)


def _metric_label(model, key: str, thresholds: dict) -> str:
    """The catalogue's label; a metric defined by a threshold shows it: "intensity onset (> 5)"."""
    label = metric_label(key)
    ep, name = split_metric_key(key)
    if ep is not None and METRICS[name].threshold:
        endpoint = model.endpoint(ep)
        rel = ">" if endpoint.sign > 0 else "<"
        label += f" ({rel} {thresholds.get(ep, endpoint.threshold):g})"
    return label


def _heading(key: str) -> str:
    """A column heading of the demo's table: the metric's label and unit, without the endpoint
    ("Cmax ng/mL", "onset min"; "peak", in the endpoint's unit, printed above the table)."""
    info = METRICS[split_metric_key(key)[1]]
    return f"{info.label} {info.unit}" if info.unit else info.label


# -- models ------------------------------------------------------------------------------------

def _short_source(src) -> str:
    authors = src.get("authors")
    year = src.get("year", "")
    if authors:
        first = str(authors[0]).split(",")[0]
        return f"{first}{' et al.' if len(authors) > 1 else ''} {year}".strip()
    return str(src.get("key") or src.get("citation", ""))[:40]


def _quiet_load(name):
    from .model.spec import ModelValidityWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelValidityWarning)
        return load_model(name)


def _cmd_models(args) -> int:
    if getattr(args, "models_command", None) == "show":
        print(load_model(args.name).describe())
        return 0
    rows, footnote = [], False
    for name in list_models():
        m = _quiet_load(name)
        routes = []
        for r in m.routes:
            v = m.validity.get(r)
            routes.append(r + ("*" if v is not None and not v.fitted else ""))
            footnote |= v is not None and not v.fitted
        rows.append((name, ", ".join(routes), ", ".join(e.name for e in m.effects) or "-",
                     "; ".join(_short_source(s) for s in m.sources) or "-"))
    print(_table(("model", "routes", "endpoints", "sources"), rows))
    if footnote:
        print("* route not fitted to data: its parameters are assumptions "
              "(dmtpk models show NAME)")
    return 0


# -- simulate / population ---------------------------------------------------------------------

def _value(text):
    """A command-line value: a bare number is in the canonical unit (mg, mg/min, min, kg), as
    in the Python API; anything else is a quantity string such as "20 mg"."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _as_option(exc: ValidationError, rename: dict | None = None) -> ValidationError:
    """The same error, naming the command-line option (``Bolus.dose`` -> ``--dose``)."""
    name = exc.field.split(".")[-1]
    option = (rename or {}).get(name, name if name.startswith("--") else f"--{name}")
    message = str(exc)[len(exc.field) + 2:]
    return type(exc)(option, message)


def _event(cls, rename=None, **kwargs):
    try:
        return cls(**kwargs)
    except ValidationError as exc:
        if "." not in exc.field:  # the event as a whole (Infusion): the options that give it
            given = [(rename or {}).get(k, f"--{k}") for k in ("dose", "rate", "duration")
                     if kwargs.get(k) is not None]
            raise type(exc)(", ".join(given) or f"--route {cls.route}",
                            str(exc)[len(exc.field) + 2:]) from None
        raise _as_option(exc, rename) from None


def _regimen(args) -> Regimen:
    """The regimen described by --route, --dose, --rate, --duration, --at, --bolus, --every."""
    for k in ("dose", "rate", "duration", "at", "bolus", "every", "until", "step", "weight"):
        setattr(args, k, _value(getattr(args, k)))
    route = args.route
    given = {k: getattr(args, k) for k in ("dose", "rate", "duration")}
    if route != "infusion":
        for k in ("rate", "duration", "bolus"):
            if getattr(args, k) is not None:
                raise ValidationError(f"--{k}", "applies to --route infusion only")
        if args.dose is None:
            raise ValidationError("--dose", f"is required for --route {route}")
    if route != "inhaled" and (args.f is not None):
        raise ValidationError("--f", "applies to --route inhaled only")
    if route == "iv":
        ev = _event(Bolus, dose=args.dose, at=args.at, salt=args.salt)
    elif route == "inhaled":
        ev = _event(Inhalation, dose=args.dose, at=args.at, salt=args.salt,
                    **({"f": args.f} if args.f is not None else {}))
    else:
        if sum(v is not None for v in given.values()) < 2:
            raise ValidationError("--route infusion", "give two of --dose, --rate and "
                                                      "--duration")
        ev = _event(Infusion, **given, at=args.at, salt=args.salt)
    regimen = as_regimen(ev)
    if (args.every is None) != (args.times is None):
        raise ValidationError("--every", "give both --every (interval) and --times (number of "
                                         "doses), or neither")
    if args.every is not None:
        try:
            regimen = _repeat(regimen, args)
        except ValidationError as exc:
            raise _as_option(exc, {"interval": "--every"}) from None
    if route == "infusion" and args.bolus is not None:
        loading = _event(Bolus, {"dose": "--bolus"}, dose=args.bolus, at=args.at, salt=args.salt)
        regimen = Regimen((loading,)) + regimen
    return regimen


def _repeat(regimen: Regimen, args) -> Regimen:
    """``regimen`` every ``--every``, ``--times`` doses in all; only the doses that start by
    the end of the simulation (``--until``) are built (:func:`dmtpk.scenario.doses_needed`),
    so a huge ``--times`` costs nothing."""
    if isinstance(args.times, int) and args.times > 1:
        interval = to_canonical(args.every, "time", "--every")
        if not (math.isfinite(interval) and interval > 0):
            raise ValidationError("--every", f"must be a positive interval, got {args.every!r}")
        end = _time_grid(args)[-1]
        first = min(ev.at for ev in regimen.events)
        needed = doses_needed(first, interval, args.times, end)
        if needed > MAX_DOSES:
            raise ValidationError("--times", f"{needed - 1:,} doses start before the end of the "
                                  f"simulation ({end:g} min); at most {MAX_DOSES:,} can be "
                                  "simulated: give fewer doses, a longer --every or an "
                                  "earlier --until")
        args.doses_simulated, args.interval = needed, interval
        args.repeated = regimen.describe()
        return regimen.every(interval, times=needed)
    return regimen.every(args.every, times=args.times)


def _time_grid(args):
    """The output times of --until and --step; errors name the option."""
    try:
        return time_grid(args.until, args.step)
    except ValidationError as exc:
        raise _as_option(exc) from None


def _describe_regimen(args, regimen) -> str:
    needed = getattr(args, "doses_simulated", None)
    if needed is not None and needed < args.times:
        loading = args.route == "infusion" and args.bolus is not None
        text = (f"{Regimen(regimen.events[:1]).describe()} + " if loading else "") + (
            f"{args.repeated} every {args.interval:g} min x {args.times:,} of DMT base (the "
            f"first {needed:,} are simulated; later ones start after the end and cannot "
            "change the outputs)")
        if args.salt != "base":
            text += f" (given as {args.salt})"
        return text
    text = regimen.describe() + " of DMT base"
    if args.salt != "base":
        text += f" (given as {args.salt})"
    return text


def _thresholds(args, model) -> dict:
    out = {}
    for item in args.threshold or []:
        name, sep, value = item.rpartition("=")
        if not sep:
            if not model.effects:
                raise ValidationError("--threshold", f"model {model.name!r} has no endpoint")
            name = model.effects[0].name
        try:
            out[name] = float(value)
        except ValueError:
            raise ValidationError("--threshold", f"expected a number or ENDPOINT=NUMBER, got "
                                                 f"{item!r}") from None
    try:
        return model.check_thresholds(out, "--threshold")  # known endpoints, finite values
    except ValidationError as exc:
        raise ValidationError("--threshold", str(exc)[len(exc.field) + 2:]) from None


def _scenario_from_args(args, model, population: bool) -> Scenario:
    regimen = _regimen(args)
    missing = regimen.routes - set(model.routes)
    if missing:
        raise ValidationError("--route", f"model {model.name!r} has route(s) "
                                         f"{list(model.routes)}, not {sorted(missing)[0]!r}")
    times = _time_grid(args)
    label = _describe_regimen(args, regimen)
    outputs = {}
    if population:
        for key, value in (("metrics", args.out), ("curves", args.bands), ("plot", args.plot)):
            if value is not None:
                outputs[key] = Path(value)
    else:
        for key, value in (("curves", args.out), ("plot", args.plot)):
            if value is not None:
                outputs[key] = Path(value)
    if "plot" in outputs and outputs["plot"].suffix.lower() not in (".png", ".pdf", ".svg"):
        raise ValidationError("--plot", "the file name must end in .png, .pdf or .svg")
    for key in ("metrics", "curves"):
        if key in outputs and outputs[key].suffix.lower() != ".csv":
            raise ValidationError("--out" if key != "curves" or not population else "--bands",
                                  "the file name must end in .csv")
    names = {"curves": "--bands" if population else "--out", "metrics": "--out",
             "plot": "--plot"}
    args.requested = list(outputs.values())
    check_outputs({names[k]: p for k, p in outputs.items()}, args.force)
    from types import MappingProxyType
    kw = dict(name=model.name, description="", model=model.path, arms=(Arm(label, regimen),),
              path=None,
              times=times, thresholds=MappingProxyType(_thresholds(args, model)),
              outputs=MappingProxyType(outputs))
    kw["covariates"] = MappingProxyType({} if args.weight is None else {"WT": args.weight})
    if population:
        if args.scheduler is not None and args.backend != "dask":
            raise ValidationError("--scheduler", "needs --backend dask")
        kw.update(n=args.n, seed=args.seed, backend=args.backend, scheduler=args.scheduler,
                  keep=args.keep)
    return Scenario(**kw)


def _print_header(model, scenario) -> None:
    print(f"model {model.name}: {model.description}")
    t = scenario.times
    print(f"times: 0 to {t[-1]:g} min, every {t[1] - t[0]:g} min")


def _print_single(res: ScenarioResult) -> None:
    th = dict(res.scenario.thresholds)
    for label, ms in res.metrics().items():
        print(f"regimen: {label}")
        rows = [(_metric_label(res.model, k, th), _fmt(v), metric_unit(k, res.model))
                for k, v in ms.items()]
        print(_table(("metric", "value", "unit"), rows))


def _print_population(res: ScenarioResult) -> None:
    sc = res.scenario
    lo, _, hi = sc.percentiles
    th = dict(sc.thresholds)
    first = True
    for label, ms in res.metrics().items():
        r = res.runs[label]
        if first:
            print(f"population: {r.n} subjects, seed {r.seed}, engine {r.engine}; median and "
                  f"{lo:g}th-{hi:g}th percentile interval")
            first = False
        print(f"regimen: {label}")
        rows = []
        for k, (q, never, censored, _) in ms.items():
            rows.append((_metric_label(res.model, k, th), _fmt(q[1]),
                         f"{_fmt(q[0])} - {_fmt(q[2])}", metric_unit(k, res.model),
                         f"{never:.1%}" if never > 0 else "",
                         f"{censored:.1%}" if censored > 0 else ""))
        print(_table(("metric", "median", f"{lo:g}-{hi:g}%", "unit", "never reached",
                      "beyond at end"), rows))


@contextlib.contextmanager
def _quiet_cluster(scenario):
    """Around a run on the Dask backend: distributed's loggers, in this process and in the
    worker processes it starts (which read ``DASK_LOGGING__DISTRIBUTED``), are silenced, so
    that an interrupt or the cluster's shutdown prints no log lines before dmtpk's one-line
    message; failures reach the user as dmtpk's errors. A level the user set in the
    environment is kept."""
    if scenario.n is None or scenario.backend != "dask" \
            or "DASK_LOGGING__DISTRIBUTED" in os.environ:
        yield
        return
    try:  # distributed sets its loggers' levels from dask's configuration when imported
        import distributed  # noqa: F401
    except ImportError:  # the run will say that the backend needs it
        pass
    logger = logging.getLogger("distributed")
    level = logger.level
    os.environ["DASK_LOGGING__DISTRIBUTED"] = "critical"
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        os.environ.pop("DASK_LOGGING__DISTRIBUTED", None)
        logger.setLevel(level)


def _run(scenario) -> ScenarioResult:
    """Run a scenario; errors of a scenario built from the options name the option
    (``--weight``)."""
    try:
        with _quiet_cluster(scenario):
            return run_scenario(scenario)
    except ValidationError as exc:
        if scenario.path is not None:
            raise
        option = _RUN_OPTIONS.get(exc.field)
        if option is not None:
            raise type(exc)(option, str(exc)[len(exc.field) + 2:]) from None
        raise


#: Fields of run-time errors (dmtpk.scenario.run_scenario) -> the option they come from.
_RUN_OPTIONS = {"weight": "--weight", "covariates.WT": "--weight", "population.n": "--n",
                "population.keep": "--keep", "regimens[1]": "--times",
                "population.scheduler": "--scheduler"}


def _figure_writer(fig, path: Path):
    """A ``write(temporary_path)`` function saving a figure in the format of ``path``."""
    return lambda p: fig.savefig(p, dpi=120, format=path.suffix[1:].lower())


def _write(args, outputs) -> None:
    """Write a command's outputs, all or none (:func:`dmtpk.io.files.write_outputs`), and say
    which were written."""
    if not outputs:
        return
    paths = write_outputs(outputs, args.force)
    args.written = paths
    for path in paths:
        print(f"written: {path}")


def _cmd_simulate(args) -> int:
    model = load_model(args.model)
    scenario = _scenario_from_args(args, model, population=False)
    _print_header(model, scenario)
    res = _run(scenario)
    _print_single(res)
    outs = scenario.outputs
    r = next(iter(res.runs.values()))
    outputs = []
    if "curves" in outs:
        cols = curve_columns(r)
        outputs.append(("--out", outs["curves"], csv_writer(tuple(cols), zip(*cols.values()))))
    if "plot" in outs:
        from .plot import result_overview
        outputs.append(("--plot", outs["plot"],
                        _figure_writer(result_overview(r, log=args.log), outs["plot"])))
    _write(args, outputs)
    return 0


def _cmd_population(args) -> int:
    if args.n < 1:
        raise ValidationError("--n", f"must be at least 1, got {args.n}")
    if args.seed < 0:
        raise ValidationError("--seed", f"must not be negative, got {args.seed}")
    if args.individuals < 0:
        raise ValidationError("--individuals", f"must not be negative, got {args.individuals}")
    if args.individuals and args.keep != "all":
        raise ValidationError("--individuals", "needs --keep all (per-subject curves)")
    model = load_model(args.model)
    scenario = _scenario_from_args(args, model, population=True)
    _print_header(model, scenario)
    res = _run(scenario)
    _print_population(res)
    outs = scenario.outputs
    outputs = []
    if "metrics" in outs:
        outputs.append(("--out", outs["metrics"],
                        csv_writer(res.metric_header(), res.metric_rows())))
    if "curves" in outs:
        outputs.append(("--bands", outs["curves"], csv_writer(*res.curve_rows())))
    if "plot" in outs:
        from .plot import population_overview
        fig = population_overview(next(iter(res.runs.values())), q=scenario.percentiles,
                                  individuals=args.individuals)
        outputs.append(("--plot", outs["plot"], _figure_writer(fig, outs["plot"])))
    _write(args, outputs)
    return 0


def _cmd_run(args) -> int:
    scenario = load_scenario(args.scenario)
    args.requested = list(scenario.outputs.values())
    check_outputs({f"{scenario.path}: [outputs.{k}]": p for k, p in scenario.outputs.items()},
                  args.force)
    model = scenario_model(scenario)
    print(f"scenario {scenario.name}" + (f": {scenario.description}" if scenario.description
                                          else ""))
    _print_header(model, scenario)
    res = _run(scenario)
    if res.is_population:
        _print_population(res)
    else:
        _print_single(res)
    _write(args, res.output_writers())
    return 0


def _cmd_demo(args) -> int:
    from .population import simulate_population
    if args.n < 1:
        raise ValidationError("--n", f"must be at least 1, got {args.n}")
    if args.seed < 0:
        raise ValidationError("--seed", f"must not be negative, got {args.seed}")
    model = load_model(args.model)
    if args.plot:
        args.requested = [Path(args.plot)]
        check_outputs({"--plot": Path(args.plot)}, args.force)
    times = np.linspace(0.0, 60.0, 241)
    size, n_out = keep_all_bytes(args.n, times.size, model)  # the demo keeps every subject
    if size > MAX_KEEP_ALL_BYTES:
        raise ValidationError("--n", f"{args.n:,} subjects x {times.size} times x {n_out} "
                              f"outputs = {size / 2**30:.3g} GiB; the demo keeps every "
                              f"subject, at most {MAX_KEEP_ALL_BYTES / 2**30:g} GiB: use "
                              "dmtpk population (summaries) for larger populations")
    ep = model.effects[0] if model.effects else None
    print(f"model {model.name}: {model.description}")
    print(f"population: {args.n} subjects per regimen, seed {args.seed}; "
          "median [5th-95th percentile]")
    if ep is not None:
        print(f"effect: {ep.name} [{ep.unit}], duration and onset at threshold {ep.threshold:g}")
    name = ep.name if ep is not None else ""
    keys = ("cmax", "auc", f"{name}.peak", f"{name}.onset", f"{name}.duration")
    header = ("regimen",) + tuple(_heading(k) for k in keys)
    rows, results = [], []
    for label, regimen in DEMO_REGIMENS:
        if not as_regimen(regimen).routes <= set(model.routes):
            continue  # the model does not have this route
        r = simulate_population(model, regimen, times, n=args.n, seed=args.seed)
        results.append((label, r))
        pct = r.metric_percentiles([5, 50, 95])

        def cell(key):
            v = pct.get(key)
            return "-" if v is None else f"{v[1]:.3g} [{v[0]:.3g}-{v[2]:.3g}]"
        rows.append((label,) + tuple(cell(k) for k in keys))
    print(_table(header, rows))
    if args.plot:
        from .plot import compare_bands
        fig = compare_bands([r for _, r in results], [label for label, _ in results])
        _write(args, [("--plot", Path(args.plot), _figure_writer(fig, Path(args.plot)))])
    return 0


def _names_or_values(text, option):
    """``CL,V1`` -> list; ``CL=0.1,V1=0.2`` -> dict of floats."""
    if text is None:
        return None
    items = [v.strip() for v in text.split(",") if v.strip()]
    if not items:
        raise ValidationError(option, "names no parameter")
    if all("=" not in v for v in items):
        return items
    out = {}
    for v in items:
        name, sep, value = v.partition("=")
        if not sep:
            raise ValidationError(option, f"mixes names and name=value: {v!r}")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise ValidationError(option, f"{name.strip()}: {value!r} is not a number") \
                from None
    return out


def _cmd_fit(args) -> int:
    from .fit import fit
    from .fit.report import report_outputs
    from .io import read_nonmem
    from .model.toml import to_toml
    outputs = {}
    if args.out:
        outputs["--out"] = Path(args.out)
    report = Path(args.report) if args.report else None
    if report is not None:
        from .fit.report import REPORT_FILES
        if report.exists() and not report.is_dir():
            raise ValidationError("--report", f"{report} is a file, not a folder")
        if report.is_dir():
            outputs.update({f"--report {report}": report / f for f in REPORT_FILES})
        elif not report.parent.is_dir() and str(report.parent):
            raise ValidationError("--report", f"the folder {report.parent} does not exist")
    args.requested = list(outputs.values())
    if report is None or report.is_dir():
        check_outputs(outputs, args.force)
    if args.method in ("ml", "map") and report is not None:
        raise ValidationError("--report", "a report is for population fits (focei, saem)")
    if args.method == "saem" and args.seed is None:
        raise ValidationError("--seed", "SAEM draws random numbers: give --seed")
    model = load_model(args.model)
    data = read_nonmem(args.data, time_unit=args.time_unit, amount_unit=args.amount_unit,
                       concentration_unit=args.concentration_unit,
                       drop=[v.strip() for v in args.drop.split(",")] if args.drop else None,
                       ignore=args.ignore)
    estimate = _names_or_values(args.estimate, "--estimate")
    if isinstance(estimate, dict):
        raise ValidationError("--estimate", "takes names (CL,V1); initial values go in the "
                                            "model file")
    omega = _names_or_values(args.omega, "--omega")
    lloq = args.lloq
    if lloq is not None:
        try:
            lloq = float(lloq)
        except ValueError:
            pass  # a column name
    res = fit(model, data, estimate=estimate, omega=omega, method=args.method,
              subject=_value(args.subject) if args.subject is not None else None,
              seed=args.seed, blq=args.blq, lloq=lloq, progress=False,
              covariance=args.covariance)
    print(res.summary())
    writers = []
    if args.out:
        text = to_toml(res.model)

        def model_file(tmp, text=text):
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
        writers.append(("--out", Path(args.out), model_file))
    if report is not None:
        report.mkdir(exist_ok=True)
        writers += [(f"--report {report}", path, w)
                    for path, w in report_outputs(res, report, seed=args.seed or 0)]
    _write(args, writers)
    return 0


# -- parser ------------------------------------------------------------------------------------

def _regimen_options(p) -> None:
    p.add_argument("model", metavar="MODEL", help="model name (dmtpk models) or .toml path")
    p.add_argument("--route", required=True, choices=("iv", "infusion", "inhaled"),
                   help="iv: bolus; infusion: zero-order IV infusion; inhaled: vaporised dose")
    p.add_argument("--dose", help='amount, e.g. "20 mg", "0.3 mg/kg", "100 umol"')
    p.add_argument("--rate", help='infusion rate, e.g. "1.4 mg/min"')
    p.add_argument("--duration", help='infusion duration, e.g. "30 min"')
    p.add_argument("--bolus", help="IV loading bolus given with the infusion (route infusion)")
    p.add_argument("--at", default="0 min", help='time of the dose (default "0 min")')
    p.add_argument("--salt", default="base", choices=("base", "fumarate", "hemifumarate"),
                   help="form the dose is stated in; converted to DMT base (default base)")
    p.add_argument("--f", type=float, default=None,
                   help="bioavailability of an inhaled dose (default: the model's F_INH)")
    p.add_argument("--every", help='repeat the dose at this interval, e.g. "10 min"')
    p.add_argument("--times", type=int, help="number of doses in all (with --every)")
    p.add_argument("--until", default="60 min", help='end of the simulation (default "60 min")')
    p.add_argument("--step", default="0.25 min", help='output step (default "0.25 min")')
    p.add_argument("--threshold", action="append", metavar="[ENDPOINT=]VALUE",
                   help="effect threshold for onset and duration (default: the model's)")
    p.add_argument("--weight", help='body weight, e.g. "70 kg" (for per-kg doses)')
    p.add_argument("--plot", help="write a figure here (.png, .pdf or .svg)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dmtpk", description="PK/PD simulation of DMT")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = sub.add_parser("models", help="list the shipped models; 'models show NAME' for one")
    msub = m.add_subparsers(dest="models_command", metavar="[show NAME]")
    show = msub.add_parser("show", help="parameters with units, variability and citations")
    show.add_argument("name", metavar="NAME", help="model name or .toml path")
    m.set_defaults(func=_cmd_models)

    s = sub.add_parser("simulate", help="simulate the typical subject; print the key metrics")
    _regimen_options(s)
    s.add_argument("--out", help="write the time courses here (.csv)")
    s.add_argument("--log", action="store_true", help="log concentration axis in the plot")
    s.set_defaults(func=_cmd_simulate)

    pp = sub.add_parser("population", help="simulate a virtual population; print the metric "
                                           "distributions")
    _regimen_options(pp)
    pp.add_argument("--n", type=int, required=True, help="number of subjects")
    pp.add_argument("--seed", type=int, required=True, help="random seed")
    pp.add_argument("--backend", default="numba", choices=("numba", "dask"),
                    help="local threads (numba, default) or a Dask cluster")
    pp.add_argument("--scheduler", help="Dask scheduler address (default: a local cluster)")
    pp.add_argument("--keep", default="summary", choices=("summary", "all"),
                    help="stream summaries in bounded memory (default) or keep every subject")
    pp.add_argument("--individuals", type=int, default=0,
                    help="draw this many individual curves in the plot (needs --keep all)")
    pp.add_argument("--out", help="write the metric distributions here (.csv)")
    pp.add_argument("--bands", help="write the percentile bands over time here (.csv)")
    pp.set_defaults(func=_cmd_population)

    r = sub.add_parser("run", help="run a scenario file (model, regimens, population, outputs)")
    r.add_argument("scenario", metavar="SCENARIO.toml")
    r.add_argument("--force", action="store_true", help="overwrite existing outputs")
    r.set_defaults(func=_cmd_run)

    f = sub.add_parser("fit", help="fit a model to a NONMEM-style dataset; print the parameter "
                                   "table (estimate, SE, RSE %%, shrinkage) and the OFV")
    f.add_argument("model", metavar="MODEL", help="model name or .toml path")
    f.add_argument("data", metavar="DATA.csv", help="NONMEM-style dataset")
    f.add_argument("--time-unit", required=True, help="unit of TIME (min, h)")
    f.add_argument("--amount-unit", required=True, help="unit of AMT (mg, ug)")
    f.add_argument("--concentration-unit", default="ng/mL",
                   help="unit of concentration DV (default ng/mL)")
    f.add_argument("--estimate", help="typical values to estimate: CL,V1,... (default those "
                                      "with a random effect)")
    f.add_argument("--omega", help="random effects: CL,V1 or CL=0.1,V1=0.1 (initial "
                                   "variances; default the model's)")
    f.add_argument("--method", default="focei", choices=("focei", "saem", "ml", "map"))
    f.add_argument("--seed", type=int, help="random seed (SAEM)")
    f.add_argument("--subject", help="one subject's ID (ml, map)")
    f.add_argument("--covariance", choices=("sandwich", "r", "s", "none", "observed",
                                            "expected"),
                   help="covariance step (default sandwich; observed for ml/map)")
    f.add_argument("--drop", help="dataset columns to drop, as NONMEM's DROP: SS,II")
    f.add_argument("--ignore", help="records to ignore, as NONMEM's IGNORE: 'SD == 0'")
    f.add_argument("--blq", help="column flagging observations below the LLOQ (M3)")
    f.add_argument("--lloq", help="the LLOQ: a column or a value in the data's unit")
    f.add_argument("--out", help="write the fitted model here (.toml)")
    f.add_argument("--report", help="write tables and diagnostic figures into this folder")
    f.add_argument("--force", action="store_true", help="overwrite existing outputs")
    f.set_defaults(func=_cmd_fit)

    d = sub.add_parser("demo", help="simulate a population on a shipped model for IV bolus, "
                                    "bolus + infusion and inhaled dosing; print the metric "
                                    "distributions and plot percentile bands")
    d.add_argument("--model", default="eckernas2022_inhaled", help="model name or TOML path")
    d.add_argument("--n", type=int, default=2000, help="subjects per regimen (default 2000)")
    d.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    d.add_argument("--plot", default=None, help="write a PNG of the time courses here")
    d.add_argument("--force", action="store_true", help="overwrite an existing output")
    d.set_defaults(func=_cmd_demo)
    return p


def _interrupted_outputs(args) -> str:
    """What an interrupted command left: none of its outputs (they are written all or none,
    after the run), or all of them if the interrupt came after they were written."""
    written = getattr(args, "written", None)
    if written:
        return f"; the outputs were written ({', '.join(map(str, written))})"
    requested = getattr(args, "requested", None)
    if requested:
        return f"; none of the outputs was written ({', '.join(map(str, requested))})"
    return "; no output written"


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """Entry point of the ``dmtpk`` console script; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage mistake (2), already reported
        return int(exc.code or 0)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        signal.signal(signal.SIGTERM, _interrupt)  # clean up temporary files on kill -TERM
    except ValueError:  # pragma: no cover - not the main thread
        previous = None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                return args.func(args)
            finally:
                for w in caught:
                    print(f"dmtpk: warning: {w.message}", file=sys.stderr)
    except DmtpkError as exc:
        print(f"dmtpk: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (dmtpk models | head): stop quietly
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:  # pragma: no cover
            pass
        return 1
    except KeyboardInterrupt:
        print(f"dmtpk: interrupted{_interrupted_outputs(args)}", file=sys.stderr)
        return 130
    except OSError as exc:  # disk full, permission denied...
        print(f"dmtpk: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
