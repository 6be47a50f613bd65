"""``dmtpk tci MODEL --target "20 ng/mL" --until "60 min"``: a target-controlled infusion
schedule (:func:`dmtpk.tci`) printed, and written as a table and a figure."""

from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import ValidationError
from ..io.files import check_outputs, csv_writer
from ._common import figure_writer, fmt, option_value, quiet_load, table, write_files

__all__ = ["add_parser"]

#: Fields of dmtpk.tci's errors and warnings -> the options they come from.
_OPTIONS = {"target": "--target", "until": "--until", "interval": "--interval",
            "max_rate": "--max-rate", "max_bolus": "--max-bolus", "site": "--site",
            "endpoint": "--endpoint", "n": "--n", "seed": "--seed",
            "quantile": "--quantile"}

#: The schedule's CSV columns: (heading, TciResult.table() key).
COLUMNS = (("time_min", "time"), ("rate_mg_per_min", "rate"), ("bolus_mg", "bolus"),
           ("amount_mg", "amount"), ("target_ng_per_mL", "target"), ("plasma_ng_per_mL", "plasma"),
           ("effect_site_ng_per_mL", "effect_site"))


def _target(args):
    """--target: a concentration, or with --endpoint an effect level (a number)."""
    if args.endpoint is None:
        return option_value(args.target)
    try:
        return float(args.target)
    except ValueError:
        raise ValidationError("--target", f"with --endpoint the target is an effect level (a "
                                          f"number in the endpoint's unit), got "
                                          f"{args.target!r}") from None


def _outputs(args) -> dict:
    outputs = {}
    if args.out is not None:
        outputs["--out"] = Path(args.out)
        if outputs["--out"].suffix.lower() != ".csv":
            raise ValidationError("--out", "the file name must end in .csv")
    if args.plot is not None:
        outputs["--plot"] = Path(args.plot)
        if outputs["--plot"].suffix.lower() not in (".png", ".pdf", ".svg"):
            raise ValidationError("--plot", "the file name must end in .png, .pdf or .svg")
    args.requested = list(outputs.values())
    check_outputs(outputs, args.force)
    return outputs


def _run(args, model):
    """dmtpk.tci with the options; its errors and warnings name the options."""
    from ..tci import TciWarning, tci
    population = {}
    if args.n is not None:
        population = dict(n=args.n, seed=args.seed,
                          quantile=0.5 if args.quantile is None else args.quantile)
    elif args.quantile is not None:
        raise ValidationError("--quantile", "targets a population quantile: give --n (and "
                                            "--seed) too")
    site = "effect" if args.endpoint is not None else args.site
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TciWarning)
        try:
            res = tci(model, _target(args), option_value(args.until), site=site,
                      endpoint=args.endpoint, interval=option_value(args.interval),
                      max_rate=option_value(args.max_rate),
                      max_bolus=option_value(args.max_bolus),
                      effect=args.endpoint is not None, **population)
        except ValidationError as exc:
            option = _OPTIONS.get(exc.field.split(".")[0])
            if option is None:
                raise
            raise type(exc)(option, _option_names(str(exc)[len(exc.field) + 2:])) from None
    for w in caught:
        text = str(w.message)
        if issubclass(w.category, TciWarning):
            text = _option_names(text)
        warnings.warn(text, w.category, stacklevel=2)
    return res


def _option_names(text: str) -> str:
    """The API's names of the pump limits in a message -> the options."""
    for name in ("max_rate", "max_bolus"):
        text = text.replace(name, _OPTIONS[name])
    return text


def _cmd_tci(args) -> int:
    if args.n is not None and args.n < 2:
        raise ValidationError("--n", f"must be at least 2, got {args.n}")
    if args.seed < 0:
        raise ValidationError("--seed", f"must not be negative, got {args.seed}")
    outputs = _outputs(args)
    model = quiet_load(args.model)
    res = _run(args, model)
    who = (f"the {100 * args.quantile if args.quantile is not None else 50:g}th percentile of "
           f"{args.n:,} subjects (seed {args.seed})" if args.n is not None
           else "the typical subject")
    print(f"{model.name}: {res.site} targeting of {who}, {res.time.size} updates every "
          f"{(res.time[1] - res.time[0]) * 60 if res.time.size > 1 else 0:g} s")
    print(f"total dose {fmt(res.total_dose)} mg of DMT base, largest rate "
          f"{fmt(res.rate.max())} mg/min" + (f", boluses {fmt(res.bolus.sum())} mg"
                                              if res.bolus.any() else ""))
    cols = res.table()
    changes = [k for k in range(res.time.size)
               if k == 0 or res.rate[k] != res.rate[k - 1] or res.bolus[k] > 0][:8]
    print(table(["time min", "rate mg/min", "bolus mg", "amount mg", "target", "plasma",
                 "effect site"],
                [[fmt(cols[key][k]) for _, key in COLUMNS] for k in changes]))
    if res.time.size > len(changes):
        print(f"(first {len(changes)} updates; the full schedule with --out)")
    writers = []
    if "--out" in outputs:
        rows = zip(*(cols[key] for _, key in COLUMNS))
        writers.append(("--out", outputs["--out"],
                        csv_writer([h for h, _ in COLUMNS], rows)))
    if "--plot" in outputs:
        writers.append(("--plot", outputs["--plot"],
                        figure_writer(res.plot(), outputs["--plot"])))
    write_files(args, writers)
    return 0


def add_parser(sub) -> None:
    t = sub.add_parser("tci", help="target-controlled infusion: the pump schedule that holds a "
                                   "plasma or effect-site concentration (or effect level)")
    t.add_argument("model", metavar="MODEL", help="model name or .toml path")
    t.add_argument("--target", required=True,
                   help='target concentration ("20 ng/mL"), or with --endpoint an effect level')
    t.add_argument("--site", choices=("plasma", "effect"), default="plasma",
                   help="target the plasma or the effect site (default plasma)")
    t.add_argument("--until", required=True, help='how long the pump runs ("60 min")')
    t.add_argument("--interval", default="10 s", help='update interval (default "10 s")')
    t.add_argument("--max-rate", help='pump limit ("50 mg/min")')
    t.add_argument("--max-bolus", help='largest bolus at one update beyond the pump limit '
                                       '("5 mg")')
    t.add_argument("--endpoint", help="target this endpoint's level (--target a number); "
                                      "implies --site effect")
    t.add_argument("--n", type=int, help="target a quantile of this many simulated subjects")
    t.add_argument("--quantile", type=float,
                   help="with --n: share of subjects at or below the target (default 0.5)")
    t.add_argument("--seed", type=int, default=1, help="with --n: random seed (default 1)")
    t.add_argument("--out", help="write the schedule here (.csv)")
    t.add_argument("--plot", help="write a figure here (.png, .pdf or .svg)")
    t.add_argument("--force", action="store_true", help="overwrite existing outputs")
    t.set_defaults(func=_cmd_tci)
