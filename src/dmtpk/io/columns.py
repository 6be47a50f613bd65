"""A dataset's raw table and its columns: CSV files and DataFrames as rows of text, the header,
which columns are read under which names (``drop``, ``rename``), field values and exact IDs."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import ValidationError
from .errors import DatasetError
from .text import FileReadError, decode_utf8, read_bytes

#: NONMEM's comment flag column: a row with it set is a comment row.
COMMENT_COLUMN = "C"


def _csv_table(path):
    """(name for messages, header, body rows) of a CSV file."""
    try:
        path_str = os.fspath(path)
    except TypeError:
        raise ValidationError("path", f"expected a file path or a DataFrame, got "
                                      f"{type(path).__name__}") from None
    name = os.path.basename(path_str)
    try:
        data = read_bytes(path_str)
    except FileReadError as exc:
        raise DatasetError(name, None, "-", exc.message) from None
    try:
        text = decode_utf8(data, name)
    except FileReadError as exc:
        raw_line = data.split(b"\n")[exc.line - 1]
        fields = raw_line.decode("utf-8", errors="replace")[:exc.column - 1].count(",")
        header = next(csv.reader([data.split(b"\n")[0].decode("utf-8", "replace")]), [])
        column = header[fields].strip() if exc.line > 1 and fields < len(header) else "-"
        raise DatasetError(name, exc.line, column, exc.message) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        lines = list(reader)
    except csv.Error as exc:
        raise DatasetError(name, reader.line_num, "-", f"cannot read the row ({exc})") from None
    if not lines:
        raise DatasetError(name, 1, "-", "the file is empty; expected a header row")
    return name, [h.strip() for h in lines[0]], lines[1:]


def _is_frame(obj) -> bool:
    return hasattr(obj, "columns") and not isinstance(obj, (str, bytes, os.PathLike))


def _frame_table(name, frame):
    """Header and body rows (cell texts, as a CSV file would give them) of a DataFrame."""
    header = [str(c).strip() for c in frame.columns]
    _check_header(name, header)
    columns = []
    for c, h in zip(frame.columns, header):
        try:
            arr = np.asarray(frame[c], dtype=object)
        except Exception as exc:  # anything the duck-typed frame raises
            raise DatasetError(name, 1, h, f"cannot read the column ({type(exc).__name__}: "
                                           f"{exc})") from None
        if arr.ndim != 1:
            raise DatasetError(name, 1, h, f"expected one value per row, got shape {arr.shape}")
        columns.append([_cell_text(v) for v in arr.tolist()])
    lengths = sorted({len(c) for c in columns})
    if len(lengths) > 1:
        raise DatasetError(name, None, "-", f"columns have different lengths {lengths}")
    return header, [list(fields) for fields in zip(*columns)]


def _cell_text(v) -> str:
    """A DataFrame cell as the text a CSV file would hold (``.`` for missing)."""
    if v is None or type(v).__name__ in ("NAType", "NaTType"):
        return "."
    if isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
        return str(int(v))  # exact, also beyond 2**53
    if isinstance(v, (float, np.floating)):
        return "." if math.isnan(v) else repr(float(v))
    return str(v)  # anything else must read as a number, like a file's text


def _index_labels(frame):
    index = getattr(frame, "index", None)
    try:
        return list(index) if index is not None else None
    except TypeError:
        return None


def _with_index_label(exc: DatasetError, labels) -> DatasetError:
    """The error with the DataFrame index label of its row, when known."""
    if exc.row is None or not 2 <= exc.row < len(labels) + 2:
        return exc
    label = labels[exc.row - 2]
    if isinstance(label, np.generic):
        label = label.item()
    return DatasetError(exc.path, exc.row, exc.column, exc.message, read_as=exc.read_as,
                        index=label)


# -- columns: drop and rename ----------------------------------------------------------------

def _check_header(name, header):
    seen = {}
    for k, h in enumerate(header):
        if not h:
            raise DatasetError(name, 1, f"#{k + 1}", "empty column name")
        key = h.upper()
        if key in seen:
            raise DatasetError(name, 1, h, f"duplicate column (same name, case aside, as column "
                                           f"{seen[key] + 1}, {header[seen[key]]!r})")
        seen[key] = k


@dataclass(frozen=True)
class _Layout:
    """Which file columns are read and under which names."""

    header: tuple  # the file's column names
    keep: tuple  # file index of each column read, in file order
    names: tuple  # the name each is read as (parallel to keep)
    dropped: tuple  # file indices of dropped columns

    def read_as(self, k: int) -> str | None:
        """The new name of file column k, if renamed."""
        if k in self.keep:
            new = self.names[self.keep.index(k)]
            return new if new != self.header[k] else None
        return None

    def find(self, column: str) -> int | None:
        """File index of a column named as read (or a dropped column by its file name), case
        aside; None if there is none."""
        for k, n in zip(self.keep, self.names):
            if n == column:
                return k
        for k, n in zip(self.keep, self.names):
            if n.upper() == column.upper():
                return k
        for k in self.dropped:
            if self.header[k].upper() == column.upper():
                return k
        return None

    def known(self) -> list:
        """Column names a condition may use."""
        return list(self.names) + [self.header[k] for k in self.dropped]

    def row_fields(self, fields) -> list:
        """A comment row's fields without the dropped columns (free text as written)."""
        if self.dropped and len(fields) == len(self.header):
            return [fields[k] for k in self.keep]
        return list(fields)


def _names_arg(arg, value) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    try:
        names = list(value)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) for n in names):
        raise ValidationError(arg, f"expected a list of column names, got {value!r}")
    return names


def _layout(name, header, drop, rename) -> _Layout:
    """Resolve ``drop`` and ``rename`` against the file's columns."""
    where = {h.upper(): k for k, h in enumerate(header)}
    dropped = set()
    for d in _names_arg("drop", drop):
        k = where.get(d.strip().upper())
        if k is None:
            raise ValidationError("drop", f"{d!r} is not a column of {name} (columns: "
                                          f"{list(header)})")
        dropped.add(k)
    if rename is None:
        rename = {}
    if not isinstance(rename, Mapping):
        raise ValidationError("rename", f"expected a mapping of old name -> new name, got "
                                        f"{rename!r}")
    new, key_of = {}, {}
    for old, to in rename.items():
        arg = f"rename.{old}"
        k = where.get(old.strip().upper()) if isinstance(old, str) else None
        if k is None:
            raise ValidationError(arg, f"{old!r} is not a column of {name} (columns: "
                                       f"{list(header)})")
        if k in dropped:
            raise ValidationError(arg, f"column {header[k]} is dropped, so it cannot be renamed")
        if k in new:
            raise ValidationError(arg, f"column {header[k]} is renamed twice "
                                       f"({key_of[k]!r} and {old!r})")
        if not isinstance(to, str) or not to.strip():
            raise ValidationError(arg, f"the new name must be a non-empty string, got {to!r}")
        new[k], key_of[k] = to.strip(), old
    keep = tuple(k for k in range(len(header)) if k not in dropped)
    names = tuple(new.get(k, header[k]) for k in keep)
    first = {}
    for k, n in zip(keep, names):
        other = first.setdefault(n.upper(), k)
        if other != k:
            culprit, kept = (k, other) if k in new else (other, k)
            clash = (f"column {header[kept]} is renamed to {new[kept]!r} too" if kept in new
                     else f"the file has a column {header[kept]}")
            raise ValidationError(f"rename.{key_of[culprit]}",
                                  f"renaming column {header[culprit]} to {n!r} gives two "
                                  f"columns of that name (case aside): {clash}")
    return _Layout(tuple(header), keep, names, tuple(sorted(dropped)))


def _missing_item(name, layout: _Layout, item: str) -> DatasetError:
    why = ""
    k = next((k for k, h in enumerate(layout.header) if h.upper() == item), None)
    if k is not None and k in layout.dropped:
        why = f" (column {layout.header[k]} is dropped)"
    elif k is not None:
        why = f" (column {layout.header[k]} is renamed to {layout.read_as(k)!r})"
    return DatasetError(name, 1, item, f"the dataset has no {item} column{why}")


# -- values ----------------------------------------------------------------------------------

def _number(name, r, raw, column, read_as, needed_by=None) -> float:
    """A field's value: float, NaN for missing (``.`` or empty)."""
    s = raw.strip()
    if s in ("", "."):
        return np.nan
    why = f" (needed by {needed_by})" if needed_by else ""
    try:
        v = float(s)
    except ValueError:
        raise DatasetError(name, r, column, f"non-numeric value {raw!r}{why}",
                           read_as=read_as) from None
    if not math.isfinite(v):
        raise DatasetError(name, r, column, f"non-finite value {raw!r}{why}", read_as=read_as)
    return v


class _ExactIds:
    """Subject IDs read exactly from their text: whole numbers as Python ints (any size),
    others as floats, refused when double precision cannot tell them apart from another ID."""

    def __init__(self, name, column, read_as):
        self.name, self.column, self.read_as = name, column, read_as
        self.seen = {}  # float -> (exact value, text, row) of non-integer IDs

    def fail(self, r, message):
        raise DatasetError(self.name, r, self.column, message, read_as=self.read_as)

    def read(self, r, raw, v):
        if math.isnan(v):
            return None  # a missing ID, refused by validation
        text = raw.strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            exact = Fraction(text)
        except (ValueError, ZeroDivisionError):
            exact = Fraction(v)  # a form float() reads and Fraction does not
        if exact.denominator == 1:
            return int(exact)
        if v.is_integer():
            self.fail(r, f"ID {text} is not a whole number but reads as {int(v)} in double "
                         "precision, so it cannot be told apart from ID "
                         f"{int(v)}")
        prev = self.seen.setdefault(v, (exact, text, r))
        if prev[0] != exact:
            self.fail(r, f"IDs {text} and {prev[1]} (row {prev[2]}) are different numbers but "
                         "the same in double precision; they cannot be told apart")
        return v
