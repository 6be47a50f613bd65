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

import math
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from types import MappingProxyType

import numpy as np

from ..errors import UnitError, ValidationError
from ..units import to_canonical
from .columns import (COMMENT_COLUMN, _check_header, _csv_table, _ExactIds, _frame_table,
                      _index_labels, _is_frame, _layout, _missing_item, _number,
                      _with_index_label)
from .errors import DatasetError
from .selection import _row_filter, _selection
from .writing import _format, write_nonmem

__all__ = ["NonmemDataset", "DatasetError", "read_nonmem", "write_nonmem", "STANDARD_ITEMS",
           "COVARIATE_MODES"]

#: The data items read with their NONMEM meaning; any other column is a covariate.
STANDARD_ITEMS = ("ID", "TIME", "EVID", "AMT", "RATE", "CMT", "SS", "II", "ADDL", "MDV", "DV",
                  "DVID")
#: How a covariate missing on some records is filled.
COVARIATE_MODES = ("nocb", "locf", "linear")


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
                     if c.upper() not in STANDARD_ITEMS and c.upper() != COMMENT_COLUMN)

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
    comment = layout.keep[upper.index(COMMENT_COLUMN)] if COMMENT_COLUMN in upper else None
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
                 and h.upper() != COMMENT_COLUMN]
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
