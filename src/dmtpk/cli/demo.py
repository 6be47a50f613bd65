"""``dmtpk demo``: the README's main job, a population on three routes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ValidationError
from ..io.files import check_outputs
from ..library import load_model
from ..regimen import Bolus, Infusion, Inhalation, as_regimen
from ..scenario import MAX_KEEP_ALL_BYTES, keep_all_bytes
from ._common import figure_writer, heading, table, write_files

__all__ = ["DEMO_REGIMENS", "add_parser"]

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


def _cmd_demo(args) -> int:
    from ..population import simulate_population
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
    header = ("regimen",) + tuple(heading(k) for k in keys)
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
    print(table(header, rows))
    if args.plot:
        from ..plot import compare_bands
        fig = compare_bands([r for _, r in results], [label for label, _ in results])
        write_files(args, [("--plot", Path(args.plot), figure_writer(fig, Path(args.plot)))])
    return 0


def add_parser(sub) -> None:
    d = sub.add_parser("demo", help="simulate a population on a shipped model for IV bolus, "
                                    "bolus + infusion and inhaled dosing; print the metric "
                                    "distributions and plot percentile bands")
    d.add_argument("--model", default="eckernas2022_inhaled", help="model name or TOML path")
    d.add_argument("--n", type=int, default=2000, help="subjects per regimen (default 2000)")
    d.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    d.add_argument("--plot", default=None, help="write a PNG of the time courses here")
    d.add_argument("--force", action="store_true", help="overwrite an existing output")
    d.set_defaults(func=_cmd_demo)
