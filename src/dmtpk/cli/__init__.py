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
from ._common import INTERRUPTED
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
    INTERRUPTED.set()
    raise KeyboardInterrupt


def _drop_interrupts(hook):
    """An unraisable-exception hook that keeps quiet about a KeyboardInterrupt (the one a
    callback from C code swallowed, which the command reports itself) and passes the rest on."""
    def quiet(unraisable):
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            hook(unraisable)
    return quiet


def _interrupted(args) -> int:
    print(f"dmtpk: interrupted{_interrupted_outputs(args)}", file=sys.stderr)
    return 130


def main(argv=None) -> int:
    """Entry point of the ``dmtpk`` console script; returns the exit code."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage mistake (2), already reported
        return int(exc.code or 0)
    INTERRUPTED.clear()
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGINT):  # kill -TERM cleans up temporary files too
        try:
            handler = signal.getsignal(sig)
            if handler is not signal.SIG_IGN:
                signal.signal(sig, _interrupt)
                previous[sig] = handler
        except ValueError:  # pragma: no cover - not the main thread
            pass
    unraisable_hook = sys.unraisablehook
    sys.unraisablehook = _drop_interrupts(unraisable_hook)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            try:
                code = args.func(args)
            finally:
                for w in caught:
                    print(f"dmtpk: warning: {w.message}", file=sys.stderr)
        if INTERRUPTED.is_set():  # swallowed by C code, and the command ran on to the end
            return _interrupted(args)
        return code
    except KeyboardInterrupt:
        return _interrupted(args)
    except DmtpkError as exc:
        if INTERRUPTED.is_set():
            return _interrupted(args)
        print(f"dmtpk: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (dmtpk models | head): stop quietly
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:  # pragma: no cover
            pass
        return 1
    except OSError as exc:  # disk full, permission denied...
        if INTERRUPTED.is_set():
            return _interrupted(args)
        print(f"dmtpk: error: {exc}", file=sys.stderr)
        return 1
    except Exception:
        if INTERRUPTED.is_set():  # what followed an interrupt swallowed inside C code (Numba
            return _interrupted(args)  # compiling): the interrupt is the news
        raise
    finally:
        sys.unraisablehook = unraisable_hook
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
