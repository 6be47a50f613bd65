"""What the commands share: number and table formatting, command-line values, output
writing (all or none), quiet model loading."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

from ..catalogue import METRICS, metric_label, split_metric_key
from ..errors import ValidationError
from ..io.files import write_outputs
from ..library import load_model

__all__ = ["fmt", "table", "threshold_label", "heading", "option_value", "as_option",
           "figure_writer", "write_files", "quiet_load", "INTERRUPTED"]

#: Set when the command is interrupted (Ctrl-C, kill -TERM). Python swallows an exception
#: raised inside a callback from C code, such as Numba compiling through LLVM or a gc callback,
#: so the KeyboardInterrupt may never reach the command: this flag still does, and the command
#: then writes no output and reports the interrupt (``dmtpk.cli.main``).
INTERRUPTED = threading.Event()


def fmt(x: float) -> str:
    return "-" if x != x else f"{x:.4g}"


def table(header, rows) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
                     for row in [header] + rows)


def threshold_label(model, key: str, thresholds: dict) -> str:
    """The catalogue's label; a metric defined by a threshold shows it: "intensity onset (> 5)"."""
    label = metric_label(key)
    ep, name = split_metric_key(key)
    if ep is not None and METRICS[name].threshold:
        endpoint = model.endpoint(ep)
        rel = ">" if endpoint.sign > 0 else "<"
        label += f" ({rel} {thresholds.get(ep, endpoint.threshold):g})"
    return label


def heading(key: str) -> str:
    """A column heading of the demo's table: the metric's label and unit, without the endpoint
    ("Cmax ng/mL", "onset min"; "peak", in the endpoint's unit, printed above the table)."""
    info = METRICS[split_metric_key(key)[1]]
    return f"{info.label} {info.unit}" if info.unit else info.label


def quiet_load(name):
    from ..model.spec import ModelValidityWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelValidityWarning)
        return load_model(name)


def option_value(text):
    """A command-line value: a bare number is in the canonical unit (mg, mg/min, min, kg), as
    in the Python API; anything else is a quantity string such as "20 mg"."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def as_option(exc: ValidationError, rename: dict | None = None) -> ValidationError:
    """The same error, naming the command-line option (``Bolus.dose`` -> ``--dose``)."""
    name = exc.field.split(".")[-1]
    option = (rename or {}).get(name, name if name.startswith("--") else f"--{name}")
    message = str(exc)[len(exc.field) + 2:]
    return type(exc)(option, message)


def figure_writer(fig, path: Path):
    """A ``write(temporary_path)`` function saving a figure in the format of ``path``."""
    return lambda p: fig.savefig(p, dpi=120, format=path.suffix[1:].lower())


def write_files(args, outputs) -> None:
    """Write a command's outputs, all or none (:func:`dmtpk.io.files.write_outputs`), and say
    which were written."""
    if not outputs:
        return
    if INTERRUPTED.is_set():  # an interrupt that C code swallowed: nothing is written
        raise KeyboardInterrupt
    paths = write_outputs(outputs, args.force)
    args.written = paths
    for path in paths:
        print(f"written: {path}")
