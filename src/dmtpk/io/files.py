"""Output files written atomically: a temporary file in the same folder, renamed into place.

A failure or an interruption while writing leaves neither a partial file nor the temporary one,
and an existing file is kept unless ``force`` is given. :func:`check_outputs` refuses bad
output names before any work is done, so a long run does not end in an error about its files.

This module imports nothing of dmtpk but :mod:`dmtpk.errors`.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np

from ..errors import DmtpkError

__all__ = ["write_atomic", "write_csv", "check_outputs"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path, write, force: bool = False) -> Path:
    """Write a file through a temporary file in the same folder, then rename it into place
    (the temporary file is removed if writing fails; the file's mode follows the umask).

    Parameters
    ----------
    path : str or Path
        The file to write.
    write : callable
        ``write(temporary_path)`` writes the content.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    DmtpkError
        ``path`` exists (without ``force``), is a folder, or its folder does not exist.
    """
    path = Path(path)
    folder = _check_output(path, force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".part{path.suffix}",
                               dir=folder)
    os.close(fd)
    try:
        # mkstemp creates the file private (0600); the output follows the umask like any
        # file the user writes.
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_csv(path, header, rows, force: bool = False) -> Path:
    """Write a CSV file atomically (:func:`write_atomic`); floats with full precision.

    Parameters
    ----------
    path : str or Path
    header : sequence of str
        The first row.
    rows : iterable of sequences
        The data rows; floats are written with ``repr`` (round-trip exact), anything else with
        ``str``.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    Path
        ``path``.
    """
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for row in rows:
                w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v
                            for v in row])
    return write_atomic(path, write, force)


def check_outputs(paths, force: bool) -> None:
    """Fail early, before any simulation, if an output exists (without ``force``), sits in a
    missing folder, is a folder, or is named twice.

    Parameters
    ----------
    paths : iterable of str, Path or None
        The outputs; None entries are skipped.
    force : bool
        Existing files will be overwritten.

    Raises
    ------
    DmtpkError
        The first output at fault.
    """
    seen = set()
    for p in paths:
        if p is None:
            continue
        p = Path(p)
        if p.resolve() in seen:
            raise DmtpkError(f"{p} is named for two outputs")
        seen.add(p.resolve())
        _check_output(p, force)


def _check_output(p: Path, force: bool) -> Path:
    """Refuse an existing file (without ``force``), a folder, or a missing parent folder;
    return the folder the file goes in."""
    if p.exists() and not force:
        raise DmtpkError(f"{p} exists; use --force to overwrite it")
    if p.is_dir():
        raise DmtpkError(f"{p} is a folder, not a file name")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise DmtpkError(f"{p}: folder {folder} does not exist")
    return folder
