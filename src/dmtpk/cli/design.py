"""``dmtpk design MODEL``: the regimen that holds an effect in a window (:func:`dmtpk.design`),
printed as a table; ``--out`` writes a scenario file that ``dmtpk run`` runs with the designed
regimen (on the fresh population its reported share was measured on: ``--validation``
subjects, seed ``--seed`` + 1), ``--plot`` the typical subject's effect under it."""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import ValidationError
from ..io.files import check_outputs
from ..units import to_canonical
from ._common import figure_writer, fmt, option_value, quiet_load, table, write_files

__all__ = ["add_parser", "scenario_text"]

#: design() arguments -> the options that give them.
_OPTIONS = {"window": "--window", "span": "--for", "template": "--template",
            "count": "--count", "bounds": "--bound", "fixed": "--fix",
            "max_total_dose": "--max-dose", "max_rate": "--max-rate", "cmax": "--cmax",
            "cmax_quantile": "--cmax-quantile", "above": "--above",
            "population": "--population", "share": "--share", "seed": "--seed",
            "endpoint": "--endpoint", "validation": "--validation"}
_UNITS = {"amount": "mg", "rate": "mg/min", "time": "min"}


def _pair(text, option, convert=float):
    """``"6,8"`` -> (6.0, 8.0)."""
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValidationError(option, f"expected two values separated by a comma, got {text!r}")
    try:
        return tuple(convert(p) for p in parts)
    except ValueError:
        raise ValidationError(option, f"expected numbers, got {text!r}") from None


def _assignments(items, option, pair=False) -> dict:
    """``["duration=30 min", "bolus=0:30 mg"]`` -> {name: value or (low, high)}."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValidationError(option, f"expected NAME=VALUE, got {item!r}")
        value = value.strip()
        if pair:
            low, sep, high = value.partition(":")
            if not sep:
                raise ValidationError(option, f"expected NAME=LOW:HIGH, got {item!r}")
            value = (option_value(low.strip()), option_value(high.strip()))
        else:
            value = option_value(value)
        out[name.strip()] = value
    return out


def _design(args):
    from ..design import design
    start = to_canonical(option_value(args.start), "time", "--start")
    length = to_canonical(option_value(getattr(args, "for")), "time", "--for")
    if not (math.isfinite(length) and length > 0):
        raise ValidationError("--for", f"must be a positive time, got {getattr(args, 'for')!r}")
    kwargs = dict(template=args.template, count=args.count, endpoint=args.endpoint,
                  bounds=_assignments(args.bound, "--bound", pair=True),
                  fixed=_assignments(args.fix, "--fix"),
                  max_total_dose=option_value(args.max_dose),
                  max_rate=option_value(args.max_rate), cmax=option_value(args.cmax),
                  cmax_quantile=args.cmax_quantile,
                  above=_pair(args.above, "--above") if args.above else None)
    if args.population is not None:
        kwargs.update(population=args.population, seed=args.seed, share=args.share,
                      validation=args.validation)
    elif args.share is not None:
        raise ValidationError("--share", "a share of subjects needs --population")
    model = quiet_load(args.model)
    try:
        return model, design(model, _pair(args.window, "--window"), (start, start + length),
                             **kwargs)
    except ValidationError as exc:
        head = exc.field.split(".")[0]
        if head in _OPTIONS:
            rest = exc.field[len(head) + 1:]
            option = _OPTIONS[head] + (f" {rest}" if rest else "")
            raise ValidationError(option, str(exc)[len(exc.field) + 2:]) from None
        raise


def scenario_text(model_name: str, res, population=None) -> str:
    """A scenario file running the designed regimen (typical subject, or ``population`` as
    ``(n, seed)``), the design's figures in its description."""
    from ..io.toml import dumps
    from ..regimen.mapping import regimen_to_mappings
    t1 = res.span[1]
    described = ", ".join(f"{k} {v:.4g}" for k, v in res.values.items())
    if res.validation_share == res.validation_share:
        lo, hi = res.validation_ci
        described += (f"; {res.validation_share:.1%} of a fresh population inside "
                      f"(95 % CI {lo:.1%}-{hi:.1%})")
    raw = {"scenario": {"name": "design", "model": model_name,
                        "description": f"designed for {res.endpoint} in [{res.window[0]:g}, "
                                       f"{res.window[1]:g}] over {res.span[0]:g}-{t1:g} min: "
                                       + described,
                        "until": f"{max(1, math.ceil(2 * t1))} min", "step": "0.25 min"},
           "regimens": [{"label": "designed", "events": regimen_to_mappings(res.regimen)}]}
    if population is not None:
        raw["population"] = {"n": int(population[0]), "seed": int(population[1])}
    return dumps(raw, first="scenario")


def _cmd_design(args) -> int:
    outputs = {}
    if args.out:
        if Path(args.out).suffix.lower() != ".toml":
            raise ValidationError("--out", "a scenario file ends in .toml")
        outputs["--out"] = Path(args.out)
    if args.plot:
        if Path(args.plot).suffix.lower() not in (".png", ".pdf", ".svg"):
            raise ValidationError("--plot", "must end in .png, .pdf or .svg")
        outputs["--plot"] = Path(args.plot)
    args.requested = list(outputs.values())
    check_outputs(outputs, args.force)
    model, res = _design(args)
    from ..design import template_parameters
    kinds = template_parameters(args.template, args.count)
    rows = [(k, fmt(v), _UNITS[kinds[k]]) for k, v in res.values.items()]
    rows.append(("total dose", fmt(res.total_dose), "mg"))
    rows.append(("time in window (typical subject)", fmt(res.time_in_window), "min"))
    if args.population is not None:
        lo, hi = res.validation_ci
        rows.append(("share inside (design population)", fmt(res.share), ""))
        rows.append(("share inside (fresh population)", fmt(res.validation_share),
                     f"95 % CI {fmt(lo)}-{fmt(hi)}"))
        if res.share_above == res.share_above:
            rows.append((f"share above {args.above.split(',')[0].strip()} (fresh)",
                         fmt(res.share_above), ""))
        if res.cmax_quantile == res.cmax_quantile:
            rows.append((f"Cmax quantile {args.cmax_quantile:g} (fresh)",
                         fmt(res.cmax_quantile), "ng/mL"))
    print(f"design on {model.name}: {res.endpoint} in [{res.window[0]:g}, {res.window[1]:g}] "
          f"over {res.span[0]:g}-{res.span[1]:g} min (doses in mg of DMT base)")
    print(table(("parameter", "value", "unit"), rows))
    if not res.met:
        print("not met: see the warning above")
    writers = []
    if args.out:
        name = str(Path(args.model).resolve()) if args.model.endswith(".toml") else args.model
        fresh = (args.validation or 4 * args.population, args.seed + 1) if args.population \
            else None   # the population the reported share was measured on
        text = scenario_text(name, res, fresh)

        def scenario_file(tmp, text=text):
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
        writers.append(("--out", Path(args.out), scenario_file))
    if args.plot:
        writers.append(("--plot", Path(args.plot), figure_writer(res.plot(), Path(args.plot))))
    write_files(args, writers)
    return 0


def add_parser(sub) -> None:
    d = sub.add_parser("design", help="design a regimen that holds an effect in a window, for "
                                      "the typical subject or a share of a population")
    d.add_argument("model", metavar="MODEL", help="model name or .toml path")
    d.add_argument("--template", default="bolus+infusion",
                   choices=("bolus+infusion", "bolus+steps", "inhalations"))
    d.add_argument("--count", type=int, default=1,
                   help="infusion steps (bolus+steps) or inhalations (default 1)")
    d.add_argument("--window", required=True, help="effect window LOW,HIGH (endpoint's unit)")
    d.add_argument("--for", required=True, help="how long the effect stays in the window "
                                                "('20 min')")
    d.add_argument("--start", default="5 min", help="when the window starts (default 5 min)")
    d.add_argument("--endpoint", help="default the model's first")
    d.add_argument("--fix", action="append", metavar="NAME=VALUE",
                   help="hold a parameter: duration='30 min' (repeatable)")
    d.add_argument("--bound", action="append", metavar="NAME=LOW:HIGH",
                   help="bounds of a parameter: bolus=0:30 (mg, mg/min, min) or "
                        "bolus='0 mg:30 mg' (repeatable)")
    d.add_argument("--max-dose", help="largest total dose ('40 mg')")
    d.add_argument("--max-rate", help="largest infusion rate ('2 mg/min')")
    d.add_argument("--cmax", help="plasma Cmax ceiling ('60 ng/mL')")
    d.add_argument("--cmax-quantile", type=float,
                   help="with --population: the ceiling holds for this quantile of Cmax (0.95)")
    d.add_argument("--above", metavar="LEVEL,SHARE",
                   help="at most SHARE of subjects may exceed LEVEL (9.5,0.1)")
    d.add_argument("--population", type=int, help="design for a population of this size")
    d.add_argument("--share", type=float, help="with --population: the smallest dose putting "
                                               "this share inside (default: the largest share)")
    d.add_argument("--seed", type=int, default=1, help="population seed (default 1)")
    d.add_argument("--validation", type=int,
                   help="fresh subjects for the reported share (default 4 x --population)")
    d.add_argument("--out", help="write a scenario file running the designed regimen (.toml)")
    d.add_argument("--plot", help="write the typical subject's effect under it (.png)")
    d.add_argument("--force", action="store_true", help="overwrite existing outputs")
    d.set_defaults(func=_cmd_design)
