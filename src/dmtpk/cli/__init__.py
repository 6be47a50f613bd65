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
    dmtpk design MODEL --window 6,8 --for "20 min" [--population N --share P --seed S]
                   [--out design.toml --plot design.png]
                                          a regimen holding an effect in a window
    dmtpk tci MODEL --target "20 ng/mL" --site effect --until "60 min" [--out schedule.csv]
                                          a target-controlled infusion schedule
    dmtpk explore [MODEL] [--port N]      the dosing explorer: a local web page (dmtpk[explore])
    dmtpk demo [--plot dmtpk-demo.png]    the three routes on a virtual population

User mistakes give one line on stderr and exit code 2; an interrupted run exits with 130.
Outputs are written atomically (a temporary file renamed into place), only after every
simulation has finished, and an existing file is kept unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from ..errors import DmtpkError
from . import demo, design, explore, fit, models, simulate, tci

__all__ = ["main"]

#: The command modules, in the order ``dmtpk --help`` lists them; each has ``add_parser(sub)``,
#: which adds its subcommand and sets ``func`` (the function run with the parsed arguments).
COMMANDS = (models, simulate, fit, design, explore, tci, demo)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit code 2)."""

    def error(self, message):  # noqa: D401 - argparse's hook
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dmtpk", description="PK/PD simulation of DMT")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
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
