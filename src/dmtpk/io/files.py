"""Output files written atomically: temporary files in the same folders, renamed into place.

A failure or an interruption while writing leaves neither a partial file nor a temporary one,
and an existing file is kept unless ``force`` is given. The outputs of one command are written
together by :func:`write_outputs`: every file is first written to a temporary beside its
target, then all are renamed into place; if any step fails, the temporaries are removed and
the targets already renamed are restored (or removed, if they did not exist), so either every
requested file appears or none does. Files follow the umask, like any file the user writes.

:func:`check_outputs` refuses bad output names before any work is done (an existing file, a
folder, a missing folder, a folder the user cannot write in, a name given twice), so a long
run does not end in an error about its files.

This module imports nothing of dmtpk but :mod:`dmtpk.errors`.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DmtpkError

__all__ = ["OutputError", "write_atomic", "write_outputs", "write_csv", "csv_writer",
           "check_outputs"]


class OutputError(DmtpkError, OSError):
    """An output file cannot be written; names the user's path (never a temporary file).

    Parameters
    ----------
    path : str or Path
        The output, as the user gave it.
    message : str
        What is wrong.
    name : str, optional
        What the output is called where the user gave it (``"--out"``, ``"outputs.plot"``).
    """

    def __init__(self, path, message: str, name: str | None = None):
        self.path = Path(path)
        self.name = name
        prefix = f"{name}: " if name else ""
        super().__init__(f"{prefix}{path}: {message}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _labelled(paths) -> list[tuple[str | None, Path]]:
    """(name, path) pairs of a mapping name -> path or of a sequence of paths; None skipped."""
    items = paths.items() if isinstance(paths, Mapping) else ((None, p) for p in paths)
    return [(name, Path(p)) for name, p in items if p is not None]


def check_outputs(paths, force: bool) -> None:
    """Fail early, before any simulation, if an output exists (without ``force``), is a
    folder, sits in a missing folder or in one the user cannot create files in, or is named
    twice.

    Parameters
    ----------
    paths : mapping of str to path, or iterable of str, Path or None
        The outputs; with a mapping, its keys (``"--out"``) name the outputs in the messages.
        None entries are skipped.
    force : bool
        Existing files will be overwritten.

    Raises
    ------
    OutputError
        The first output at fault, named as the user gave it.
    """
    _check_all(_labelled(paths), force)


def _check_all(pairs, force: bool) -> None:
    seen = {}
    for name, p in pairs:
        try:
            key = p.resolve()
        except (OSError, RuntimeError, ValueError) as exc:
            raise OutputError(p, f"not a usable file name ({exc})", name) from None
        if key in seen:
            first = seen[key]
            twice = f"also named by {first}" if first else "named for two outputs"
            raise OutputError(p, twice, name)
        seen[key] = name
        _check_output(p, force, name)


def _check_output(p: Path, force: bool, name: str | None = None) -> Path:
    """Refuse an existing file (without ``force``), a folder, anything else that is not a
    regular file (a device, a pipe), a missing parent folder or one the user cannot create
    files in; return the folder the file goes in."""
    try:
        if p.is_dir():
            raise OutputError(p, "is a folder, not a file name", name)
        if p.exists() and not p.is_file():  # /dev/null, a pipe: never replaced by a file
            raise OutputError(p, "exists and is not a regular file; give a file name", name)
        if p.exists() and not force:
            how = ("--force" if name is not None and name.startswith("--")
                   else "force=True (--force on the command line)")
            raise OutputError(p, f"exists; use {how} to overwrite it", name)
        folder = p.parent if str(p.parent) else Path(".")
        if not folder.is_dir():
            raise OutputError(p, f"folder {folder} does not exist", name)
    except (OSError, ValueError) as exc:
        if isinstance(exc, OutputError):
            raise
        raise OutputError(p, f"not a usable file name ({exc})", name) from None
    # Only creating a file shows that one can be created (permissions, read-only or full file
    # systems, immutable folders, root-squashed mounts): create and remove an empty one.
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".check", dir=folder)
    except OSError as exc:
        raise OutputError(p, f"cannot create files in folder {folder} "
                             f"({exc.strerror or exc})", name) from None
    os.close(fd)
    os.unlink(probe)
    return folder


def write_outputs(outputs, force: bool = False) -> list[Path]:
    """Write several files all-or-nothing: each through a temporary file beside it, then all
    renamed into place.

    Parameters
    ----------
    outputs : sequence of (path, write) or (name, path, write)
        ``write(temporary_path)`` writes one file's content; ``name`` (``"--plot"``) names
        the output in messages.
    force : bool
        Overwrite existing files.

    Returns
    -------
    list of Path
        The files written, in order.

    Raises
    ------
    OutputError
        An output is refused (see :func:`check_outputs`) or cannot be written; the message
        names it and says that none of the outputs was written.
    BaseException
        Whatever ``write`` raises (an interruption included), after the same clean-up: no
        temporary file is left, no output is changed.

    Notes
    -----
    Only a kill (SIGKILL, power loss) in the microseconds between two renames can leave some
    of the files renamed and not others; no temporary file is ever left behind but by a kill.
    """
    items = [(None, *o) if len(o) == 2 else tuple(o) for o in outputs]
    _check_all([(name, Path(path)) for name, path, _ in items], force)
    paths = [Path(path) for _, path, _ in items]
    listed = ", ".join(str(p) for p in paths)
    none = f"none of the outputs ({listed}) was written" if len(paths) > 1 \
        else "the file was not written"
    temps: list[str] = []
    mode = 0o666 & ~_umask()
    try:
        for (name, path, write), target in zip(items, paths):
            folder = target.parent if str(target.parent) else Path(".")
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.",
                                           suffix=f".part{target.suffix}", dir=folder)
            except OSError as exc:
                raise OutputError(target, f"cannot write ({exc.strerror or exc}); {none}",
                                  name) from None
            os.close(fd)
            temps.append(tmp)
            # mkstemp creates the file private (0600); the output follows the umask.
            os.chmod(tmp, mode)
            try:
                write(tmp)
            except OSError as exc:
                if isinstance(exc, OutputError):
                    raise
                raise OutputError(target, f"cannot write ({exc.strerror or exc}); {none}",
                                  name) from exc
        _commit(list(zip(items, paths, temps)), none)
    except BaseException:
        for tmp in temps:
            Path(tmp).unlink(missing_ok=True)
        raise
    return paths


def _commit(entries, none: str) -> None:
    """Rename every temporary into place; on any failure put back what was there before."""
    done = []  # (target, backup or None): renamed into place
    backups = []
    try:
        for (name, _, _), target, tmp in entries:
            backup = None
            if target.exists():
                backup = _keep_copy(target)
                backups.append(backup)
            try:
                os.replace(tmp, target)
            except OSError as exc:
                raise OutputError(target, f"cannot write ({exc.strerror or exc}); {none}",
                                  name) from None
            done.append((target, backup))
    except BaseException:
        for target, backup in reversed(done):
            try:
                if backup is not None:
                    os.replace(backup, target)
                else:
                    target.unlink(missing_ok=True)
            except OSError:  # pragma: no cover - nothing better to do
                pass
        for b in backups:
            Path(b).unlink(missing_ok=True)
        raise
    for b in backups:
        Path(b).unlink(missing_ok=True)


def _keep_copy(target: Path) -> str:
    """A hidden copy of an existing output beside it (a hard link where possible), so that a
    failed commit can restore it; the output itself stays in place."""
    fd, backup = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".old",
                                  dir=target.parent if str(target.parent) else ".")
    os.close(fd)
    try:
        os.unlink(backup)
        os.link(target, backup)
    except OSError:
        shutil.copy2(target, backup)
    return backup


def write_atomic(path, write, force: bool = False) -> Path:
    """Write one file through a temporary file in the same folder, then rename it into place
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
    OutputError
        ``path`` exists (without ``force``), is a folder, its folder does not exist or cannot
        be written in, or writing fails (the message names ``path``).
    """
    return write_outputs([(path, write)], force)[0]


def csv_writer(header, rows):
    """A ``write(temporary_path)`` function for :func:`write_outputs` that writes a CSV file;
    floats with full precision (``repr``, round-trip exact), anything else with ``str``.

    Parameters
    ----------
    header : sequence of str
        The first row.
    rows : iterable of sequences
        The data rows.
    """
    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for row in rows:
                w.writerow([repr(float(v)) if isinstance(v, (float, np.floating)) else v
                            for v in row])
    return write


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
    return write_atomic(path, csv_writer(header, rows), force)
