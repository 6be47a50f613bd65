"""Writing a dataset back: every number exactly, comment rows in their places, atomically."""

from __future__ import annotations

import csv
import math
import os
from typing import TYPE_CHECKING

from .columns import COMMENT_COLUMN
from .files import write_atomic

if TYPE_CHECKING:
    from .nonmem import NonmemDataset

__all__ = ["write_nonmem"]


def _format(v: float) -> str:
    if math.isnan(v):
        return "."
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _format_id(v) -> str:
    return str(v) if isinstance(v, int) else _format(float(v))


def write_nonmem(data: "NonmemDataset", path) -> None:
    """Write a dataset as CSV, every number exactly (shortest round-trip form; ``.`` for
    missing; IDs exactly, of any size), comment rows back in their places, atomically (a
    temporary file renamed).

    The dataset is written as read: renamed columns under their new names, without dropped
    columns and without the records ``ignore``/``accept`` selected out (those are not part of
    the dataset; comment rows are).

    Parameters
    ----------
    data : NonmemDataset
    path : str or path-like
        An existing file is replaced.

    Raises
    ------
    OutputError
        The folder is missing or cannot be written in, or writing fails; the message names
        ``path`` (never the temporary file, which is removed).
    """
    path = os.fspath(path)
    cols = data.columns
    comment = next((c for c in cols if c.upper() == COMMENT_COLUMN), None)
    ctext = data.text.get(comment) if comment is not None else None
    id_col = data.standard.get("ID")
    ids = data.exact_ids() if id_col is not None else None
    out_rows = [list(cols)]
    ignored = {r: f for r, f in data.ignored_rows}
    order = sorted(list(ignored) + [int(r) for r in data.rows])
    rec_of_row = {int(r): k for k, r in enumerate(data.rows)}
    for r in order:
        if r in ignored:
            out_rows.append(ignored[r])
            continue
        k = rec_of_row[r]
        line = []
        for c in cols:
            if c == comment:
                line.append(str(ctext[k]) if ctext is not None else ".")
            elif c == id_col:
                line.append(_format_id(ids[k]))
            else:
                line.append(_format(float(data.values[c][k])))
        out_rows.append(line)

    def write(tmp):
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, lineterminator="\n").writerows(out_rows)

    write_atomic(path, write, force=True)
