"""``dmtpk simulate``, ``dmtpk population`` and ``dmtpk run``: a regimen from the options (or a
scenario file) run through :func:`dmtpk.scenario.run_scenario`."""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path

from ..catalogue import metric_unit
from ..errors import ValidationError
from ..io.files import check_outputs, csv_writer
from ..library import load_model
from ..regimen import Bolus, Infusion, Inhalation, Regimen, as_regimen
from ..scenario import (MAX_DOSES, Arm, Scenario, ScenarioResult, curve_columns, doses_needed,
                        load_scenario, run_scenario, scenario_model, time_grid)
from ..scenario_sections import output_targets
from ..units import to_canonical
from ._common import (as_option, figure_writer, fmt, option_value, table, threshold_label,
                      write_files)

__all__ = ["add_parser"]


def _event(cls, rename=None, **kwargs):
    try:
        return cls(**kwargs)
    except ValidationError as exc:
        if "." not in exc.field:  # the event as a whole (Infusion): the options that give it
            given = [(rename or {}).get(k, f"--{k}") for k in ("dose", "rate", "duration")
                     if kwargs.get(k) is not None]
            raise type(exc)(", ".join(given) or f"--route {cls.route}",
                            str(exc)[len(exc.field) + 2:]) from None
        raise as_option(exc, rename) from None


def _regimen(args) -> Regimen:
    """The regimen described by --route, --dose, --rate, --duration, --at, --bolus, --every."""
    for k in ("dose", "rate", "duration", "at", "bolus", "every", "until", "step", "weight"):
        setattr(args, k, option_value(getattr(args, k)))
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
            raise as_option(exc, {"interval": "--every"}) from None
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
        raise as_option(exc) from None


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
        rows = [(threshold_label(res.model, k, th), fmt(v), metric_unit(k, res.model))
                for k, v in ms.items()]
        print(table(("metric", "value", "unit"), rows))


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
            rows.append((threshold_label(res.model, k, th), fmt(q[1]),
                         f"{fmt(q[0])} - {fmt(q[2])}", metric_unit(k, res.model),
                         f"{never:.1%}" if never > 0 else "",
                         f"{censored:.1%}" if censored > 0 else ""))
        print(table(("metric", "median", f"{lo:g}-{hi:g}%", "unit", "never reached",
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
        from ..plot import result_overview
        outputs.append(("--plot", outs["plot"],
                        figure_writer(result_overview(r, log=args.log), outs["plot"])))
    write_files(args, outputs)
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
        from ..plot import population_overview
        fig = population_overview(next(iter(res.runs.values())), q=scenario.percentiles,
                                  individuals=args.individuals)
        outputs.append(("--plot", outs["plot"], figure_writer(fig, outs["plot"])))
    write_files(args, outputs)
    return 0


def _cmd_run(args) -> int:
    scenario = load_scenario(args.scenario)
    args.requested = list(scenario.outputs.values())
    check_outputs(output_targets(scenario), args.force)
    model = scenario_model(scenario)
    print(f"scenario {scenario.name}" + (f": {scenario.description}" if scenario.description
                                          else ""))
    _print_header(model, scenario)
    res = _run(scenario)
    if res.is_population:
        _print_population(res)
    else:
        _print_single(res)
    for line in res.section_lines():
        print(line)
    write_files(args, res.output_writers())
    return 0


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


def add_parser(sub) -> None:
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
