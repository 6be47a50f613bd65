"""Command-line interface: a thin layer over the public API.

``dmtpk models`` lists the shipped models; ``dmtpk demo`` simulates a virtual population on a
shipped DMT model for the three routes (IV bolus, IV bolus + infusion, inhaled), prints the
distributions of the key metrics and writes a percentile-band plot.
User mistakes give one line on stderr and exit code 2; outputs are written atomically.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from .errors import DmtpkError
from .library import list_models, load_model
from .regimen import Bolus, Infusion, Inhalation, as_regimen

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


def _write_atomic(path: Path, write, force: bool) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    if path.exists() and not force:
        raise DmtpkError(f"{path} exists; use --force to overwrite it")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise DmtpkError(f"{path}: folder {folder} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cmd_models(args) -> int:
    for name in list_models():
        m = load_model(name)
        print(f"{name:28s} routes: {', '.join(m.routes):12s} endpoints: "
              f"{', '.join(e.name for e in m.effects) or '-'}")
    return 0


def _fmt(x: float) -> str:
    return "-" if x != x else f"{x:.3g}"


def _cmd_demo(args) -> int:
    from .population import simulate_population
    model = load_model(args.model)
    times = np.linspace(0.0, 60.0, 241)
    ep = model.effects[0] if model.effects else None
    print(f"model {model.name}: {model.description}")
    print(f"population: {args.n} subjects per regimen, seed {args.seed}; "
          "median [5th-95th percentile]")
    if ep is not None:
        print(f"effect: {ep.name} [{ep.unit}], duration and onset at threshold {ep.threshold:g}")
    header = ("regimen", "Cmax ng/mL", "AUC ng·min/mL", "peak", "onset min", "duration min")
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
        name = ep.name if ep is not None else ""
        rows.append((label, cell("cmax"), cell("auc"), cell(f"{name}.peak"),
                     cell(f"{name}.onset"), cell(f"{name}.duration")))
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    if args.plot:
        from .plot import compare_bands
        fig = compare_bands([r for _, r in results], [label for label, _ in results])
        _write_atomic(Path(args.plot), lambda p: fig.savefig(p, dpi=120), args.force)
        print(f"plot written to {args.plot}")
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dmtpk", description="PK/PD simulation of DMT")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("models", help="list the shipped models").set_defaults(func=_cmd_models)
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


def main(argv=None) -> int:
    """Entry point of the ``dmtpk`` console script."""
    args = _parser().parse_args(argv)
    try:
        return args.func(args)
    except DmtpkError as exc:
        print(f"dmtpk: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
