"""NONMEM-style datasets: read, validate, write.

A dataset is a CSV file (or a DataFrame) with one record per row and the standard data items of
NONMEM's PREDPP as columns: ``ID``, ``TIME``, ``AMT``, ``RATE``, ``CMT``, ``EVID``, ``MDV``,
``DV``, ``II``, ``ADDL``, ``SS`` and ``DVID``. Column names are matched without regard to case;
``.`` or an empty field is a missing value. Every other column is a covariate (time-varying per
record), except a column named ``C``, NONMEM's comment flag: rows whose ``C`` field is set
(anything but ``.``, empty or ``0``) are comment rows, kept in :attr:`NonmemDataset.ignored_rows`
and written back unchanged. Lines starting with ``#`` are comments too.

Datasets as users have them can be read as NONMEM would with ``$INPUT`` and ``$DATA`` options
(see :func:`read_nonmem`): ``drop`` leaves columns out (``$INPUT SS=DROP``), ``rename`` reads a
column under another name (``{"V": "V1"}``; renaming a column to ``DV`` makes it the ``DV``
item), and ``ignore``/``accept`` select records (``$DATA IGNORE=(SD.EQ.0)``) with conditions
such as ``"SD == 0"`` or a function of a row. Selected-out records are not validated and are not
part of the dataset (``write_nonmem`` does not write them back, unlike comment rows).

Values are kept as read, in the dataset's declared units (``time_unit``, ``amount_unit``,
``concentration_unit``, any pint unit of the right dimension), so writing a dataset back
reproduces every number exactly; conversion to canonical units (min, mg, mg/L) happens when the
dataset is simulated. Rates are in amount unit per time unit. Subject IDs are read exactly
(:attr:`NonmemDataset.id_values`): whole numbers of any size stay distinct, and two different IDs
are never merged (an ID that double precision cannot tell apart from another is refused).

Rows are numbered as in the file, the header being row 1 (the first record is row 2), also when
records are selected out or the data come from a DataFrame (whose index label is named too).
Every error names the file, the row and the column as written in the file (and the name it is
read as, when renamed: "column V (read as V1)").

Defaults for absent items: ``EVID`` from ``MDV`` and ``AMT`` (a record with an amount is a dose,
one with ``MDV = 1`` and no amount an other-type record, otherwise an observation); ``MDV`` 0
on observations and 1 elsewhere; ``AMT``, ``RATE``, ``II``, ``ADDL``, ``SS`` zero; ``CMT``
missing or 0: doses go to compartment 1, observations are of plasma concentration.
A dataset whose ``DV`` is missing on every row (or has no ``DV`` column) is a simulation
template: its observation records ask for predictions. Otherwise an observation record
(``EVID = 0``, ``MDV = 0``) must carry a ``DV``.

Covariates missing on some records are filled per subject from the records that have them:
``"nocb"`` (next observation carried backward, NONMEM's default), ``"locf"`` (last observation
carried forward) or ``"linear"`` (linear in time between the surrounding values; constant
beyond them). See :meth:`NonmemDataset.covariate`.
"""

from __future__ import annotations

import csv
import math
import operator
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from functools import cached_property, lru_cache
from types import MappingProxyType

import numpy as np

from ..errors import DmtpkError, UnitError, ValidationError
from ..units import to_canonical

__all__ = ["NonmemDataset", "DatasetError", "read_nonmem", "write_nonmem", "STANDARD_ITEMS",
           "COVARIATE_MODES"]

#: The data items read with their NONMEM meaning; any other column is a covariate.
STANDARD_ITEMS = ("ID", "TIME", "EVID", "AMT", "RATE", "CMT", "SS", "II", "ADDL", "MDV", "DV",
                  "DVID")
#: How a covariate missing on some records is filled.
COVARIATE_MODES = ("nocb", "locf", "linear")
_COMMENT_COLUMN = "C"


class DatasetError(ValidationError):
    """Bad data in a dataset; names the file, the row (header = row 1) and the column.

    Parameters
    ----------
    path : str
        The file (or ``"<dataset>"``, ``"<DataFrame>"``).
    row : int or None
        Row in the file, the header being row 1.
    column : str
        Column (data item) at fault, as written in the file: the name the user finds there, also
        when the column is read under another name (``rename``).
    message : str
    read_as : str, optional
        The name the column is read as, when renamed; shown as "column V (read as V1)".
    index : optional
        The DataFrame index label of the row, when the data came from a DataFrame.
    """

    def __init__(self, path: str, row: int | None, column: str, message: str, *,
                 read_as: str | None = None, index=None):
        self.path = str(path)
        self.row = row
        self.column = column
        self.read_as = read_as if read_as != column else None
        self.index = index
        self.message = message
        where = f"{self.path}, row {row}" if row is not None else self.path
        if index is not None:
            where += f" (index {index!r})"
        where += f", column {column}"
        if self.read_as is not None:
            where += f" (read as {self.read_as})"
        super().__init__(where, message)


@dataclass(frozen=True, eq=False)
class NonmemDataset:
    """A validated NONMEM-style dataset, values in its declared units.

    Attributes
    ----------
    path : str
        Where it was read from (for messages): the file name, or ``"<DataFrame>"``.
    columns : tuple of str
        Column names as read, in file order: as written, except renamed columns (``rename``),
        which have their new name; dropped columns (``drop``) are not there.
    values : mapping of str to ndarray
        One float64 array per column (keyed by the name in :attr:`columns`; NaN = missing),
        shape (n_records,). Standard items are also reachable by their upper-case name through
        :meth:`item`. The ``ID`` column's floats can merge IDs beyond 2**53; the exact IDs are
        :attr:`id_values`.
    rows : ndarray of int
        File row of each record (header = row 1).
    time_unit, amount_unit, concentration_unit : str
        Declared units (rates are amount_unit per time_unit).
    covariate_modes : mapping of str to str
        Fill mode of each covariate column.
    ignored_rows : tuple of (int, list of str)
        Comment rows (file row and fields), written back unchanged.
    text : mapping of str to ndarray
        The comment column's raw text per record, when there is one.
    id_values : ndarray of object or None
        The exact ID of each record: a Python int for a whole number (of any size), a float
        otherwise. None for a dataset built without them (then taken from the ID floats).
    renamed : mapping of str to str
        Renamed columns: name in :attr:`columns` -> name as written in the file.
    """

    path: str
    columns: tuple
    values: MappingProxyType
    rows: np.ndarray
    time_unit: str
    amount_unit: str
    concentration_unit: str
    covariate_modes: MappingProxyType
    ignored_rows: tuple = ()
    text: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    id_values: np.ndarray | None = None
    renamed: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))

    # -- structure ------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.rows.size

    @property
    def standard(self) -> dict:
        """Standard item (upper case) -> column name as written."""
        return dict(self._standard)

    @cached_property
    def _standard(self) -> MappingProxyType:
        return MappingProxyType({c.upper(): c for c in self.columns
                                 if c.upper() in STANDARD_ITEMS})

    @property
    def covariates(self) -> tuple:
        """Covariate column names (every column that is not a standard item or ``C``)."""
        return tuple(c for c in self.columns
                     if c.upper() not in STANDARD_ITEMS and c.upper() != _COMMENT_COLUMN)

    def item(self, name: str) -> np.ndarray:
        """Values of a standard item, with its default where the column is absent."""
        name = name.upper()
        col = self._standard.get(name)
        if col is not None:
            return self.values[col]
        return _derived_default(self, name)

    def has(self, name: str) -> bool:
        return name.upper() in self._standard

    def subjects(self) -> list:
        """(ID, slice of records) per subject, in file order; the ID exact (see
        :attr:`id_values`). Computed once per dataset (a dataset is immutable)."""
        return list(self._subjects)

    @cached_property
    def _subjects(self) -> tuple:
        ids = self.exact_ids()
        if ids.size == 0:
            return ()
        starts = np.concatenate([[0], np.flatnonzero(ids[1:] != ids[:-1]) + 1, [ids.size]])
        return tuple((ids[a], slice(int(a), int(b))) for a, b in zip(starts[:-1], starts[1:]))

    def exact_ids(self) -> np.ndarray:
        """The exact ID of each record (object array: int for whole numbers, else float)."""
        if self.id_values is not None:
            return self.id_values
        return np.array([_id_value(v) for v in self.values[self.standard["ID"]]], dtype=object)

    @property
    def ids(self) -> list:
        return [i for i, _ in self.subjects()]

    def unit_factors(self) -> dict:
        """Factors to canonical units: time (min), amount (mg), rate (mg/min), concentration
        (mg/L)."""
        return dict(_unit_factors(self.time_unit, self.amount_unit, self.concentration_unit))

    def covariate(self, name: str, mode: str | None = None) -> np.ndarray:
        """A covariate's values on every record, missing ones filled per subject.

        Parameters
        ----------
        name : str
            Column name (as written, or any case).
        mode : {"nocb", "locf", "linear"}, optional
            Fill mode; default the dataset's mode for this column.

        Returns
        -------
        ndarray, shape (n_records,)
            NaN only for a subject with no value at all.
        """
        col = self._column(name)
        mode = mode or self.covariate_modes.get(col, "nocb")
        if mode not in COVARIATE_MODES:
            raise ValidationError("mode", f"unknown covariate mode {mode!r}; expected one of "
                                          f"{COVARIATE_MODES}")
        values = self.values[col]
        time = self.item("TIME")
        out = values.copy()
        for _, sl in self.subjects():
            out[sl] = _fill(values[sl], time[sl], mode)
        return out

    def _column(self, name: str) -> str:
        for c in self.columns:
            if c == name:
                return c
        for c in self.columns:
            if c.upper() == name.upper():
                return c
        raise ValidationError("column", f"{self.path} has no column {name!r} (columns: "
                                        f"{list(self.columns)})")

    def row_of(self, record: int) -> int:
        """File row (header = row 1) of a record."""
        return int(self.rows[record])

    def error(self, record: int | None, column: str, message: str) -> DatasetError:
        """A :class:`DatasetError` about a record's value in a column (a name in
        :attr:`columns`), naming the column as written in the file and as read if renamed."""
        source = self.renamed.get(column, column)
        row = None if record is None else self.row_of(record)
        return DatasetError(self.path, row, source, message, read_as=column)

    # -- derived datasets -----------------------------------------------------------------
    def with_values(self, **columns) -> "NonmemDataset":
        """A copy with some columns replaced or added (arrays of n_records values, NaN =
        missing), e.g. ``data.with_values(DV=simulated)``; a new column goes last."""
        values = dict(self.values)
        cols = list(self.columns)
        id_values = self.id_values
        for name, arr in columns.items():
            arr = np.asarray(arr, dtype=float)
            if arr.shape != (len(self),):
                raise ValidationError(name, f"expected {len(self)} values, got shape {arr.shape}")
            existing = [c for c in cols if c.upper() == name.upper()]
            if existing:
                name = existing[0]
            else:
                cols.append(name)
            if name.upper() == "ID":
                id_values = None  # new IDs: taken from the floats given
            values[name] = arr.copy()
            values[name].setflags(write=False)
        return replace(self, columns=tuple(cols), values=MappingProxyType(values),
                       id_values=id_values)

    def write(self, path) -> None:
        """Write as CSV (see :func:`write_nonmem`)."""
        write_nonmem(self, path)


@lru_cache(maxsize=64)
def _unit_factors(time_unit: str, amount_unit: str, concentration_unit: str) -> tuple:
    """(kind, factor to canonical) pairs of a dataset's declared units (parsed once)."""
    t = to_canonical(f"1 {time_unit}", "time", "time_unit")
    a = to_canonical(f"1 {amount_unit}", "amount", "amount_unit")
    c = to_canonical(f"1 {concentration_unit}", "concentration", "concentration_unit")
    return (("time", t), ("amount", a), ("rate", a / t), ("concentration", c))


def _id_value(v: float):
    return int(v) if float(v).is_integer() else float(v)


def _derived_default(ds: NonmemDataset, name: str) -> np.ndarray:
    n = len(ds)
    if name in ("AMT", "RATE", "II", "ADDL", "SS", "CMT"):
        return np.zeros(n)
    if name in ("DV", "DVID"):
        return np.full(n, np.nan)
    if name == "EVID":
        amt = ds.item("AMT")
        if ds.has("MDV"):
            mdv = ds.values[ds.standard["MDV"]]
            return np.where(np.nan_to_num(amt) > 0, 1.0, np.where(mdv == 1, 2.0, 0.0))
        return np.where(np.nan_to_num(amt) > 0, 1.0, 0.0)
    if name == "MDV":
        evid = ds.item("EVID")
        return np.where(evid == 0, 0.0, 1.0)
    raise ValidationError("item", f"unknown data item {name!r}")


def _fill(values: np.ndarray, time: np.ndarray, mode: str) -> np.ndarray:
    have = np.flatnonzero(~np.isnan(values))
    out = values.copy()
    if have.size == 0 or have.size == values.size:
        return out
    miss = np.flatnonzero(np.isnan(values))
    if mode == "nocb":
        nxt = np.searchsorted(have, miss)  # index of the next record with a value
        out[miss] = values[have[np.minimum(nxt, have.size - 1)]]
    elif mode == "locf":
        prv = np.searchsorted(have, miss) - 1
        out[miss] = values[have[np.maximum(prv, 0)]]
    else:
        # Linear in time between the records with values; constant beyond them. At equal
        # times (several records at one time) the later record's value wins.
        nxt = np.minimum(np.searchsorted(have, miss), have.size - 1)
        prv = np.maximum(np.searchsorted(have, miss) - 1, 0)
        t0, t1 = time[have[prv]], time[have[nxt]]
        v0, v1 = values[have[prv]], values[have[nxt]]
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(t1 > t0, (time[miss] - t0) / np.where(t1 > t0, t1 - t0, 1.0), 1.0)
        w = np.clip(w, 0.0, 1.0)
        out[miss] = v0 + w * (v1 - v0)
    return out


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

def _check_unit(unit, kind, field_name):
    if not isinstance(unit, str) or not unit.strip():
        raise ValidationError(field_name, f"must name a unit (e.g. 'h'), got {unit!r}")
    try:
        to_canonical(f"1 {unit}", kind, field_name)
    except UnitError as exc:
        raise UnitError(field_name, f"{unit!r} is not a unit of {kind}: "
                                    f"{str(exc).split(': ', 1)[-1]}") from None
    return unit


def read_nonmem(path, *, time_unit: str, amount_unit: str = "mg",
                concentration_unit: str = "ng/mL", covariates=None, drop=None, rename=None,
                ignore=None, accept=None) -> NonmemDataset:
    """Read and validate a NONMEM-style CSV dataset (or a DataFrame).

    Parameters
    ----------
    path : str, path-like or DataFrame
        The CSV file (comma separated, one header row), or a pandas DataFrame (any object with
        ``.columns`` whose columns ``path[name]`` convert to 1-D arrays). A DataFrame's cells
        may be numbers or strings; ``NaN``, ``None``, ``"."`` or ``""`` are missing, any other
        string must be a number. It is named ``"<DataFrame>"`` in messages and its rows are
        numbered as in a file (header = row 1, first record = row 2), with the index label.
    time_unit : str
        Unit of ``TIME`` and ``II`` (and of covariate columns giving times, such as a lag);
        required, e.g. ``"h"`` or ``"min"``.
    amount_unit : str
        Unit of ``AMT`` (``RATE`` is amount_unit per time_unit). Default ``"mg"``.
    concentration_unit : str
        Unit of ``DV`` on plasma-concentration records. Default ``"ng/mL"``.
    covariates : mapping of str to str, optional
        Fill mode per covariate column (``"nocb"`` default, ``"locf"``, ``"linear"``), by the
        name the column is read as.
    drop : list of str, optional
        Columns not to read, as NONMEM's ``$INPUT SS=DROP`` (names as written in the file, case
        aside). A dropped column is not parsed or validated and is neither a standard item
        nor a covariate, e.g. ``drop=["SS", "II"]`` for a file whose ``SS`` column marks a data
        subset rather than a steady state. A dropped ``C`` column flags no comment rows.
    rename : mapping of str to str, optional
        Columns read under another name, old name (as written in the file, case aside) -> new
        name, e.g. ``{"V": "V1", "DOSE": "DOSEGRP"}``; like NONMEM's ``$INPUT`` labels, but
        mapping the file's names to dmtpk's. Renaming happens before standard items are
        recognised, so a column renamed to ``DV`` or ``EVID`` is that item. Errors about the
        data still name the column as written in the file, with its new name:
        "column V (read as V1)" (:attr:`DatasetError.column` is the file's name).
    ignore, accept : str, list of str or callable, optional
        Record selection, as NONMEM's ``$DATA IGNORE=(list)`` and ``ACCEPT=(list)``: with
        ``ignore`` a record is left out when the condition holds, with ``accept`` it is kept
        only when the condition holds. At most one of the two. A condition is a string
        ``COLUMN OP NUMBER`` with OP one of ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (or
        NONMEM's ``.EQ.``, ``.NE.``, ``.LT.``, ``.LE.``, ``.GT.``, ``.GE.``, ``.EQN.``,
        ``.NEN.``, ``=``, ``/=``), and several conditions may be joined by ``and`` and ``or``
        (``and`` binds first; no parentheses), e.g. ``"SD == 0"``, ``"SD.EQ.0"``,
        ``"DV < 0.05 and EVID == 0"``. A list of conditions holds when any of them holds (the
        list is OR-ed, for ``ignore`` and ``accept`` alike, as in NONMEM). Or a function taking
        a mapping of column name -> float for one row (NaN = missing) and returning True or
        False. COLUMN is a name as read (after ``rename``) or a dropped column's name: as in
        NONMEM, records are selected before columns are dropped. Comparisons are numeric;
        a missing value satisfies only ``!=``. Selected-out records are not validated, are
        not records of the dataset and are not written back by :func:`write_nonmem` (unlike
        comment rows); the other records keep their file row numbers.

    Returns
    -------
    NonmemDataset

    Raises
    ------
    DatasetError
        Bad data, naming the file, the row and the column: duplicate columns, a missing ``ID``
        or ``TIME`` column, non-numeric values, times decreasing within an ID (other than at a
        reset record), IDs not contiguous, an ID that double precision cannot tell apart from
        another, negative ``AMT``, ``EVID`` and ``AMT`` that do not agree, an unknown
        ``EVID``/``SS``, a ``CMT`` that is not a whole number >= 0, ``II`` without ``ADDL`` or
        ``SS``, ``ADDL`` without ``II``, a ``RATE`` that is not 0, > 0, -1 or -2 on a dose, a
        missing ``DV`` on an observation record; a non-numeric value in a column a selection
        condition reads.
    ValidationError
        A bad argument, naming it: an unknown column in ``drop``, ``rename`` or a condition, a
        renaming that gives two columns one name, a malformed condition, ``ignore`` and
        ``accept`` together, a selection function that fails or does not return a bool.

    Notes
    -----
    NONMEM (NM-TRAN help, ``$DATA``, options ``IGNORE=(list)`` and ``ACCEPT=(list)``): a
    record is dropped when at least one condition of the IGNORE list is true, and kept when at
    least one condition of the ACCEPT list is true (commas are implied ``.OR.``; ``.AND.``
    cannot be written there); an ACCEPT list cannot be used together with an IGNORE list. NONMEM compares ``=``, ``==``, ``.EQ.``, ``.NE.`` and ``/=``
    as character strings and the others numerically; dmtpk compares all numerically (as
    NONMEM's ``.EQN.``/``.NEN.``), so ``SD == 0`` also matches a field written ``0.0``.
    """
    _check_unit(time_unit, "time", "time_unit")
    _check_unit(amount_unit, "amount", "amount_unit")
    _check_unit(concentration_unit, "concentration", "concentration_unit")
    selection = _selection(ignore, accept)
    if _is_frame(path):
        name, labels = "<DataFrame>", _index_labels(path)
        header, body = _frame_table(name, path)
    else:
        labels = None
        name, header, body = _csv_table(path)
    try:
        return _build(name, header, body, time_unit, amount_unit, concentration_unit,
                      covariates, drop=drop, rename=rename, selection=selection)
    except DatasetError as exc:
        if labels is None:
            raise
        raise _with_index_label(exc, labels) from None


# -- sources ---------------------------------------------------------------------------------

def _csv_table(path):
    """(name for messages, header, body rows) of a CSV file."""
    try:
        path_str = os.fspath(path)
    except TypeError:
        raise ValidationError("path", f"expected a file path or a DataFrame, got "
                                      f"{type(path).__name__}") from None
    name = os.path.basename(path_str)
    try:
        with open(path_str, newline="", encoding="utf-8-sig") as fh:
            lines = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(name, None, "-", f"cannot read the file ({exc})") from None
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


# -- record selection: ignore / accept -------------------------------------------------------

_OPERATORS = {"==": operator.eq, "=": operator.eq, ".EQ.": operator.eq, ".EQN.": operator.eq,
              "!=": operator.ne, "/=": operator.ne, ".NE.": operator.ne, ".NEN.": operator.ne,
              "<": operator.lt, ".LT.": operator.lt, "<=": operator.le, ".LE.": operator.le,
              ">": operator.gt, ".GT.": operator.gt, ">=": operator.ge, ".GE.": operator.ge}
_TOKEN = re.compile(r"""\s*(?:
    (?P<op>\.(?:EQN|NEN|EQ|NE|LT|LE|GT|GE)\.|==|!=|/=|<=|>=|<|>|=)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
)""", re.VERBOSE | re.IGNORECASE)
_SYNTAX = ("conditions are COLUMN OP NUMBER with OP one of ==, !=, <, <=, >, >= (or .EQ., .NE., "
           ".LT., .LE., .GT., .GE.), joined by 'and' / 'or'")


@dataclass(frozen=True)
class _Condition:
    column: str
    op: str
    value: float
    text: str

    def holds(self, x: float) -> bool:
        # NaN (missing): only != holds, as IEEE comparisons give.
        return _OPERATORS[self.op.upper()](x, self.value)


def _tokens(arg, text):
    """(kind, text) tokens of a condition string."""
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValidationError(arg, f"cannot read {text!r} at {text[pos:].strip()!r}; "
                                       f"{_SYNTAX}")
        kind = m.lastgroup
        tok = m.group(kind)
        if kind == "name" and tok.lower() in ("and", "or"):
            kind = tok.lower()
        out.append((kind, tok))
        pos = m.end()
    return out


def _parse_conditions(arg, text) -> tuple:
    """A condition string as OR-ed groups of AND-ed conditions."""
    groups, group, piece = [], [], []

    def close_piece():
        kinds = [k for k, _ in piece]
        if kinds != ["name", "op", "number"]:
            got = " ".join(t for _, t in piece) or "nothing"
            raise ValidationError(arg, f"in {text!r}: expected COLUMN OP NUMBER, got {got!r}; "
                                       f"{_SYNTAX}")
        (_, col), (_, op), (_, num) = piece
        group.append(_Condition(col, op, float(num), f"{col} {op} {num}"))
        piece.clear()

    for kind, tok in _tokens(arg, text):
        if kind in ("and", "or"):
            close_piece()
            if kind == "or":
                groups.append(tuple(group))
                group = []
        else:
            piece.append((kind, tok))
    close_piece()
    groups.append(tuple(group))
    return tuple(groups)


def _selection(ignore, accept):
    """(argument name, rule) for ``ignore``/``accept``, or None: the rule is a callable or a
    tuple of OR-ed groups of AND-ed conditions."""
    if ignore is not None and accept is not None:
        raise ValidationError("accept", "cannot be used together with ignore (as in NONMEM, an "
                                        "ACCEPT list and an IGNORE list exclude each other); "
                                        "write the selection as one of them")
    if ignore is None and accept is None:
        return None
    arg, value = ("ignore", ignore) if ignore is not None else ("accept", accept)
    if callable(value):
        return arg, value
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        items = list(value)
    else:
        raise ValidationError(arg, f"expected a condition such as 'SD == 0', a list of them or "
                                   f"a function of a row, got {value!r}")
    groups = ()
    for text in items:
        groups += _parse_conditions(arg, text)
    return arg, groups


class _RowView(Mapping):
    """One row's values by column name (as read, or a dropped column's file name), parsed on
    access: float, NaN for missing."""

    def __init__(self, value_of, layout: _Layout):
        self._value_of = value_of
        self._layout = layout

    def __getitem__(self, column):
        k = self._layout.find(column) if isinstance(column, str) else None
        if k is None:
            raise KeyError(f"no column {column!r} (columns: {self._layout.known()})")
        return self._value_of(k)

    def __iter__(self):
        return iter(self._layout.known())

    def __len__(self):
        return len(self._layout.known())


def _row_filter(selection, name, layout: _Layout):
    """A function (row, fields) -> keep the record? for the selection, or None."""
    if selection is None:
        return None
    arg, rule = selection
    keep_when = arg == "accept"

    def value_of(r, fields, k):
        return _number(name, r, fields[k], layout.header[k], layout.read_as(k),
                       needed_by=arg)

    if callable(rule):
        def keep(r, fields):
            row = _RowView(lambda k: value_of(r, fields, k), layout)
            try:
                result = rule(row)
            except DmtpkError:
                raise
            except Exception as exc:  # the user's function failed: say where
                detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
                raise ValidationError(arg, f"{name}, row {r}: the function raised "
                                           f"{type(exc).__name__}: {detail}") from None
            if not isinstance(result, (bool, np.bool_)):
                raise ValidationError(arg, f"{name}, row {r}: the function must return True or "
                                           f"False, got {result!r}")
            return bool(result) == keep_when
        return keep

    resolved = []
    for group in rule:
        resolved.append([(c, _condition_column(arg, name, layout, c)) for c in group])

    def keep(r, fields):
        hit = any(all(c.holds(value_of(r, fields, k)) for c, k in group) for group in resolved)
        return hit == keep_when
    return keep


def _condition_column(arg, name, layout: _Layout, c: _Condition) -> int:
    k = layout.find(c.column)
    if k is not None:
        return k
    hint = ""
    old = next((j for j, h in enumerate(layout.header) if h.upper() == c.column.upper()), None)
    if old is not None and layout.read_as(old):
        hint = f"; column {layout.header[old]} is read as {layout.read_as(old)!r}"
    raise ValidationError(arg, f"{c.text!r}: {name} has no column {c.column!r} (columns: "
                               f"{layout.known()}){hint}")


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


# -- the dataset -----------------------------------------------------------------------------

def _build(name, header, body, time_unit, amount_unit, conc_unit, covariates, *, drop=None,
           rename=None, selection=None) -> NonmemDataset:
    _check_header(name, header)
    layout = _layout(name, header, drop, rename)
    upper = [n.upper() for n in layout.names]
    for req in ("ID", "TIME"):
        if req not in upper:
            raise _missing_item(name, layout, req)
    keep_record = _row_filter(selection, name, layout)
    comment = layout.keep[upper.index(_COMMENT_COLUMN)] if _COMMENT_COLUMN in upper else None
    id_pos = upper.index("ID")
    id_col = layout.keep[id_pos]
    exact_ids = _ExactIds(name, header[id_col], layout.read_as(id_col))
    read_as = [layout.read_as(k) for k in layout.keep]
    ncol = len(header)
    records, rows, ignored, ctext, ids = [], [], [], [], []
    for r, fields in enumerate(body, start=2):
        if not fields or all(not f.strip() for f in fields):
            raise DatasetError(name, r, "-", "empty row")
        if fields[0].lstrip().startswith("#"):
            ignored.append((r, layout.row_fields(fields)))
            continue
        if len(fields) != ncol:
            raise DatasetError(name, r, "-", f"has {len(fields)} fields; the header has {ncol}")
        if comment is not None and fields[comment].strip() not in ("", ".", "0"):
            ignored.append((r, layout.row_fields(fields)))
            continue
        if keep_record is not None and not keep_record(r, fields):
            continue  # selected out: not validated, not a record
        vals = [np.nan if k == comment else _number(name, r, fields[k], header[k], read_as[p])
                for p, k in enumerate(layout.keep)]
        ids.append(exact_ids.read(r, fields[id_col], vals[id_pos]))
        records.append(vals)
        rows.append(r)
        if comment is not None:
            ctext.append(fields[comment])
    if not records:
        raise DatasetError(name, None, "-", "the dataset has no records"
                           + (" (all selected out)" if selection is not None and body else ""))
    columns = layout.names
    arr = np.array(records, dtype=float).reshape(len(records), len(columns))
    values = {}
    for p, h in enumerate(columns):
        col = arr[:, p].copy()
        col.setflags(write=False)
        values[h] = col
    std = {h.upper(): h for h in columns if h.upper() in STANDARD_ITEMS}
    modes = _covariate_modes(name, columns, covariates)
    text = {}
    if comment is not None:
        t = np.array(ctext, dtype=object)
        t.setflags(write=False)
        text[columns[layout.keep.index(comment)]] = t
    rows_arr = np.array(rows, dtype=np.int64)
    rows_arr.setflags(write=False)
    id_values = np.empty(len(ids), dtype=object)
    id_values[:] = ids
    id_values.setflags(write=False)
    renamed = {n: header[k] for k, n in zip(layout.keep, columns) if n != header[k]}
    ds = NonmemDataset(path=name, columns=tuple(columns), values=MappingProxyType(values),
                       rows=rows_arr, time_unit=time_unit, amount_unit=amount_unit,
                       concentration_unit=conc_unit, covariate_modes=MappingProxyType(modes),
                       ignored_rows=tuple((r, list(f)) for r, f in ignored),
                       text=MappingProxyType(text), id_values=id_values,
                       renamed=MappingProxyType(renamed))
    _validate(ds, std)
    return ds


def _covariate_modes(name, columns, covariates) -> dict:
    cov_names = [h for h in columns if h.upper() not in STANDARD_ITEMS
                 and h.upper() != _COMMENT_COLUMN]
    modes = {}
    for cname, mode in dict(covariates or {}).items():
        match = [h for h in cov_names if h.upper() == str(cname).upper()]
        if not match:
            raise ValidationError(f"covariates.{cname}", f"{name} has no covariate column "
                                                         f"{cname!r} (covariates: {cov_names})")
        if mode not in COVARIATE_MODES:
            raise ValidationError(f"covariates.{cname}", f"unknown mode {mode!r}; expected one "
                                                         f"of {COVARIATE_MODES}")
        modes[match[0]] = mode
    for h in cov_names:
        modes.setdefault(h, "nocb")
    return modes


def _validate(ds: NonmemDataset, std: dict) -> None:
    def col(item):
        return std.get(item, item)

    def fail(i, item, msg):
        raise ds.error(i, col(item), msg)

    time = ds.values[std["TIME"]]
    for item, arr in (("ID", ds.values[std["ID"]]), ("TIME", time)):
        bad = np.flatnonzero(np.isnan(arr))
        if bad.size:
            fail(bad[0], item, f"missing {item}")
    ids = ds.exact_ids()  # compared exactly: IDs beyond 2**53 stay apart
    evid = ds.item("EVID")
    amt = ds.item("AMT")
    rate = ds.item("RATE")
    cmt = ds.item("CMT")
    ss = ds.item("SS")
    ii = ds.item("II")
    addl = ds.item("ADDL")
    mdv = ds.item("MDV")
    dv = ds.item("DV")
    dvid = ds.item("DVID")
    template = bool(np.all(np.isnan(dv)))

    def whole(i, item, v, allowed=None, low=None):
        if not float(v).is_integer() or (low is not None and v < low) or \
                (allowed is not None and int(v) not in allowed):
            what = f"one of {sorted(allowed)}" if allowed is not None else "a whole number >= 0"
            fail(i, item, f"must be {what}, got {v:g}")

    # IDs contiguous
    seen_ids = set()
    for k in range(len(ids)):
        if k == 0 or ids[k] != ids[k - 1]:
            if ids[k] in seen_ids:
                fail(k, "ID", f"ID {ids[k]} appears again after other IDs; the records of a "
                              "subject must be contiguous")
            seen_ids.add(ids[k])
    for i in range(len(ds)):
        nan = math.isnan
        e = evid[i]
        if nan(e):
            fail(i, "EVID", "missing EVID")
        whole(i, "EVID", e, allowed={0, 1, 2, 3, 4})
        e = int(e)
        a = 0.0 if nan(amt[i]) else amt[i]
        rt = 0.0 if nan(rate[i]) else rate[i]
        s = 0.0 if nan(ss[i]) else ss[i]
        iv = 0.0 if nan(ii[i]) else ii[i]
        ad = 0.0 if nan(addl[i]) else addl[i]
        c = 0.0 if nan(cmt[i]) else cmt[i]
        if i > 0 and ids[i] == ids[i - 1] and time[i] < time[i - 1] and e not in (3, 4):
            fail(i, "TIME", f"times must not decrease within an ID: {time[i]:g} follows "
                            f"{time[i - 1]:g} (ID {ids[i]}); only a reset record (EVID 3 or "
                            "4) may go back in time")
        if time[i] < 0:
            fail(i, "TIME", f"must not be negative, got {time[i]:g}")
        if a < 0:
            fail(i, "AMT", f"must not be negative, got {a:g}")
        whole(i, "SS", s, allowed={0, 1, 2})
        whole(i, "ADDL", ad, low=0)
        whole(i, "CMT", c, low=None)
        if c < 0:
            fail(i, "CMT", f"a negative CMT (turning a compartment off or on) is not supported, "
                           f"got {c:g}")
        if iv < 0:
            fail(i, "II", f"must not be negative, got {iv:g}")
        if not nan(mdv[i]):
            whole(i, "MDV", mdv[i], allowed={0, 1})
        if e in (1, 4):
            ss_infusion = s > 0 and a == 0 and rt > 0 and iv == 0
            if a == 0 and not ss_infusion:
                fail(i, "AMT", f"EVID {e} is a dose and needs AMT > 0 (or a steady-state "
                               "constant infusion: AMT = 0, RATE > 0, SS > 0, II = 0)")
            if not (rt == 0 or rt > 0 or rt in (-1.0, -2.0)):
                fail(i, "RATE", f"must be 0 (bolus), > 0 (infusion), -1 (rate from the model) "
                                f"or -2 (duration from the model), got {rt:g}")
            if iv > 0 and ad == 0 and s == 0:
                fail(i, "II", f"II = {iv:g} without ADDL or SS: the interval would not be used")
            if ad > 0 and iv == 0:
                fail(i, "ADDL", f"ADDL = {ad:g} needs II > 0")
            if s > 0 and iv == 0 and not ss_infusion:
                fail(i, "II", "a steady-state dose (SS > 0) needs II > 0, unless it is a "
                              "constant infusion (AMT = 0, RATE > 0)")
            if ss_infusion and ad > 0:
                fail(i, "ADDL", "must be 0 with a steady-state constant infusion")
            if not nan(mdv[i]) and mdv[i] == 0:
                fail(i, "MDV", f"must be 1 on a dose record (EVID {e})")
        else:
            if a != 0:
                fail(i, "AMT", f"EVID {e} is not a dose, so AMT must be 0 or missing, got {a:g}")
            if rt != 0:
                fail(i, "RATE", f"EVID {e} is not a dose, so RATE must be 0 or missing, "
                                f"got {rt:g}")
            for item, v in (("SS", s), ("II", iv), ("ADDL", ad)):
                if v != 0:
                    fail(i, item, f"EVID {e} is not a dose, so {item} must be 0 or missing, "
                                  f"got {v:g}")
            if e != 0 and not nan(mdv[i]) and mdv[i] == 0:
                fail(i, "MDV", f"must be 1 on an EVID {e} record")
        if e == 0 and not template:
            observed = nan(mdv[i]) or mdv[i] == 0
            if observed and nan(dv[i]):
                fail(i, "DV", "missing DV on an observation record (set MDV = 1 to ask for a "
                              "prediction only)")
        if not nan(dvid[i]):
            whole(i, "DVID", dvid[i], low=0)


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def _format(v: float) -> str:
    if math.isnan(v):
        return "."
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _format_id(v) -> str:
    return str(v) if isinstance(v, int) else _format(float(v))


def write_nonmem(data: NonmemDataset, path) -> None:
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
    """
    path = os.fspath(path)
    cols = data.columns
    comment = next((c for c in cols if c.upper() == _COMMENT_COLUMN), None)
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
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(out_rows)
    os.replace(tmp, path)


def dataset_from_records(columns: dict, *, time_unit: str, amount_unit: str = "mg",
                         concentration_unit: str = "ng/mL", covariates=None,
                         name: str = "<dataset>") -> NonmemDataset:
    """Build and validate a dataset from columns in memory.

    Parameters
    ----------
    columns : mapping of str to sequence of float
        Column name -> values (NaN or None = missing), all of one length, in column order.
    time_unit, amount_unit, concentration_unit, covariates
        As for :func:`read_nonmem`.
    name : str
        Name used in messages.
    """
    _check_unit(time_unit, "time", "time_unit")
    _check_unit(amount_unit, "amount", "amount_unit")
    _check_unit(concentration_unit, "concentration", "concentration_unit")
    header = list(columns)
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise ValidationError("columns", f"columns have different lengths {sorted(lengths)}")
    n = lengths.pop()
    body = []
    for k in range(n):
        line = []
        for h in header:
            v = columns[h][k]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                line.append(".")
            elif isinstance(v, str):
                line.append(v)
            elif isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)):
                line.append(str(int(v)))  # exact, also beyond 2**53
            else:
                line.append(_format(float(v)))
        body.append(line)
    return _build(name, header, body, time_unit, amount_unit, concentration_unit, covariates)
