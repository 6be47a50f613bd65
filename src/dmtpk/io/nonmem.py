"""NONMEM-style datasets: read, validate, write.

A dataset is a CSV file with one record per row and the standard data items of NONMEM's PREDPP
as columns: ``ID``, ``TIME``, ``AMT``, ``RATE``, ``CMT``, ``EVID``, ``MDV``, ``DV``, ``II``,
``ADDL``, ``SS`` and ``DVID``. Column names are matched without regard to case; ``.`` or an
empty field is a missing value. Every other column is a covariate (time-varying per record),
except a column named ``C``, NONMEM's comment flag: rows whose ``C`` field is set (anything but
``.``, empty or ``0``) are comment rows, kept in :attr:`NonmemDataset.ignored_rows` and written
back unchanged. Lines starting with ``#`` are comments too.

Values are kept as read, in the dataset's declared units (``time_unit``, ``amount_unit``,
``concentration_unit``, any pint unit of the right dimension), so writing a dataset back
reproduces every number exactly; conversion to canonical units (min, mg, mg/L) happens when the
dataset is simulated. Rates are in amount unit per time unit.

Rows are numbered as in the file, the header being row 1 (the first record is row 2). Every
error names the file, the row and the column.

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
import os
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from ..errors import UnitError, ValidationError
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
        The file (or ``"<dataset>"``).
    row : int or None
        Row in the file, the header being row 1.
    column : str
        Column (data item) at fault, as written in the file.
    message : str
    """

    def __init__(self, path: str, row: int | None, column: str, message: str):
        self.path = str(path)
        self.row = row
        self.column = column
        where = f"{self.path}, row {row}" if row is not None else self.path
        super().__init__(f"{where}, column {column}", message)


@dataclass(frozen=True, eq=False)
class NonmemDataset:
    """A validated NONMEM-style dataset, values in its declared units.

    Attributes
    ----------
    path : str
        Where it was read from (for messages).
    columns : tuple of str
        Column names as written, in file order.
    values : mapping of str to ndarray
        One float64 array per column (keyed by the name as written; NaN = missing), shape
        (n_records,). Standard items are also reachable by their upper-case name through
        :meth:`item`.
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

    # -- structure ------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.rows.size

    @property
    def standard(self) -> dict:
        """Standard item (upper case) -> column name as written."""
        return {c.upper(): c for c in self.columns if c.upper() in STANDARD_ITEMS}

    @property
    def covariates(self) -> tuple:
        """Covariate column names (every column that is not a standard item or ``C``)."""
        return tuple(c for c in self.columns
                     if c.upper() not in STANDARD_ITEMS and c.upper() != _COMMENT_COLUMN)

    def item(self, name: str) -> np.ndarray:
        """Values of a standard item, with its default where the column is absent."""
        name = name.upper()
        col = self.standard.get(name)
        if col is not None:
            return self.values[col]
        return _derived_default(self, name)

    def has(self, name: str) -> bool:
        return name.upper() in self.standard

    def subjects(self) -> list:
        """(ID, slice of records) per subject, in file order."""
        ids = self.values[self.standard["ID"]]
        out = []
        start = 0
        for k in range(1, ids.size + 1):
            if k == ids.size or ids[k] != ids[start]:
                out.append((_id_value(ids[start]), slice(start, k)))
                start = k
        return out

    @property
    def ids(self) -> list:
        return [i for i, _ in self.subjects()]

    def unit_factors(self) -> dict:
        """Factors to canonical units: time (min), amount (mg), rate (mg/min), concentration
        (mg/L)."""
        t = to_canonical(f"1 {self.time_unit}", "time", "time_unit")
        a = to_canonical(f"1 {self.amount_unit}", "amount", "amount_unit")
        c = to_canonical(f"1 {self.concentration_unit}", "concentration", "concentration_unit")
        return {"time": t, "amount": a, "rate": a / t, "concentration": c}

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

    # -- derived datasets -----------------------------------------------------------------
    def with_values(self, **columns) -> "NonmemDataset":
        """A copy with some columns replaced or added (arrays of n_records values, NaN =
        missing), e.g. ``data.with_values(DV=simulated)``; a new column goes last."""
        values = dict(self.values)
        cols = list(self.columns)
        for name, arr in columns.items():
            arr = np.asarray(arr, dtype=float)
            if arr.shape != (len(self),):
                raise ValidationError(name, f"expected {len(self)} values, got shape {arr.shape}")
            existing = [c for c in cols if c.upper() == name.upper()]
            if existing:
                name = existing[0]
            else:
                cols.append(name)
            values[name] = arr.copy()
            values[name].setflags(write=False)
        return replace(self, columns=tuple(cols), values=MappingProxyType(values))

    def write(self, path) -> None:
        """Write as CSV (see :func:`write_nonmem`)."""
        write_nonmem(self, path)


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
                concentration_unit: str = "ng/mL", covariates=None) -> NonmemDataset:
    """Read and validate a NONMEM-style CSV dataset.

    Parameters
    ----------
    path : str or path-like
        The CSV file (comma separated, one header row).
    time_unit : str
        Unit of ``TIME`` and ``II`` (and of covariate columns giving times, such as a lag);
        required, e.g. ``"h"`` or ``"min"``.
    amount_unit : str
        Unit of ``AMT`` (``RATE`` is amount_unit per time_unit). Default ``"mg"``.
    concentration_unit : str
        Unit of ``DV`` on plasma-concentration records. Default ``"ng/mL"``.
    covariates : mapping of str to str, optional
        Fill mode per covariate column (``"nocb"`` default, ``"locf"``, ``"linear"``).

    Returns
    -------
    NonmemDataset

    Raises
    ------
    DatasetError
        Bad data, naming the file, the row and the column: duplicate columns, a missing ``ID``
        or ``TIME`` column, non-numeric values, times decreasing within an ID (other than at a
        reset record), IDs not contiguous, negative ``AMT``, ``EVID`` and ``AMT`` that do not
        agree, an unknown ``EVID``/``SS``, a ``CMT`` that is not a whole number >= 0, ``II``
        without ``ADDL`` or ``SS``, ``ADDL`` without ``II``, a ``RATE`` that is not 0, > 0, -1
        or -2 on a dose, a missing ``DV`` on an observation record.
    """
    path_str = os.fspath(path)
    name = os.path.basename(path_str)
    _check_unit(time_unit, "time", "time_unit")
    _check_unit(amount_unit, "amount", "amount_unit")
    _check_unit(concentration_unit, "concentration", "concentration_unit")
    try:
        with open(path_str, newline="", encoding="utf-8-sig") as fh:
            lines = list(csv.reader(fh))
    except OSError as exc:
        raise DatasetError(name, None, "-", f"cannot read the file ({exc})") from None
    if not lines:
        raise DatasetError(name, 1, "-", "the file is empty; expected a header row")
    header = [h.strip() for h in lines[0]]
    return _build(name, header, lines[1:], time_unit, amount_unit, concentration_unit,
                  covariates)


def _build(name, header, body, time_unit, amount_unit, conc_unit, covariates) -> NonmemDataset:
    seen = {}
    for k, h in enumerate(header):
        if not h:
            raise DatasetError(name, 1, f"#{k + 1}", "empty column name")
        key = h.upper()
        if key in seen:
            raise DatasetError(name, 1, h, f"duplicate column (same name, case aside, as column "
                                           f"{seen[key] + 1}, {header[seen[key]]!r})")
        seen[key] = k
    for req in ("ID", "TIME"):
        if req not in seen:
            raise DatasetError(name, 1, req, f"the dataset has no {req} column")
    comment_col = seen.get(_COMMENT_COLUMN)
    ncol = len(header)
    records, rows, ignored, ctext = [], [], [], []
    for r, fields in enumerate(body, start=2):
        if not fields or all(not f.strip() for f in fields):
            raise DatasetError(name, r, "-", "empty row")
        if fields[0].lstrip().startswith("#"):
            ignored.append((r, fields))
            continue
        if len(fields) != ncol:
            raise DatasetError(name, r, "-", f"has {len(fields)} fields; the header has {ncol}")
        if comment_col is not None:
            flag = fields[comment_col].strip()
            if flag not in ("", ".", "0"):
                ignored.append((r, fields))
                continue
        vals = []
        for k, raw in enumerate(fields):
            if k == comment_col:
                vals.append(np.nan)
                continue
            s = raw.strip()
            if s in ("", "."):
                vals.append(np.nan)
                continue
            try:
                v = float(s)
            except ValueError:
                raise DatasetError(name, r, header[k], f"non-numeric value {raw!r}") from None
            if not math.isfinite(v):
                raise DatasetError(name, r, header[k], f"non-finite value {raw!r}")
            vals.append(v)
        records.append(vals)
        rows.append(r)
        if comment_col is not None:
            ctext.append(fields[comment_col])
    if not records:
        raise DatasetError(name, None, "-", "the dataset has no records")
    arr = np.array(records, dtype=float).reshape(len(records), ncol)
    values = {}
    for k, h in enumerate(header):
        col = arr[:, k].copy()
        col.setflags(write=False)
        values[h] = col
    std = {h.upper(): h for h in header if h.upper() in STANDARD_ITEMS}
    cov_names = [h for h in header if h.upper() not in STANDARD_ITEMS
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
    text = {}
    if comment_col is not None:
        t = np.array(ctext, dtype=object)
        t.setflags(write=False)
        text[header[comment_col]] = t
    rows_arr = np.array(rows, dtype=np.int64)
    rows_arr.setflags(write=False)
    ds = NonmemDataset(path=name, columns=tuple(header), values=MappingProxyType(values),
                       rows=rows_arr, time_unit=time_unit, amount_unit=amount_unit,
                       concentration_unit=conc_unit, covariate_modes=MappingProxyType(modes),
                       ignored_rows=tuple((r, list(f)) for r, f in ignored),
                       text=MappingProxyType(text))
    _validate(ds, std)
    return ds


def _validate(ds: NonmemDataset, std: dict) -> None:
    name = ds.path
    rows = ds.rows

    def col(item):
        return std.get(item, item)

    def fail(i, item, msg):
        raise DatasetError(name, int(rows[i]), col(item), msg)

    ids = ds.values[std["ID"]]
    time = ds.values[std["TIME"]]
    for item, arr in (("ID", ids), ("TIME", time)):
        bad = np.flatnonzero(np.isnan(arr))
        if bad.size:
            fail(bad[0], item, f"missing {item}")
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
    for k in range(ids.size):
        if k == 0 or ids[k] != ids[k - 1]:
            if ids[k] in seen_ids:
                fail(k, "ID", f"ID {ids[k]:g} appears again after other IDs; the records of a "
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
                            f"{time[i - 1]:g} (ID {ids[i]:g}); only a reset record (EVID 3 or "
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


def write_nonmem(data: NonmemDataset, path) -> None:
    """Write a dataset as CSV, every number exactly (shortest round-trip form; ``.`` for
    missing), comment rows back in their places, atomically (a temporary file renamed).

    Parameters
    ----------
    data : NonmemDataset
    path : str or path-like
    """
    path = os.fspath(path)
    cols = data.columns
    comment = next((c for c in cols if c.upper() == _COMMENT_COLUMN), None)
    ctext = data.text.get(comment) if comment is not None else None
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
            else:
                line.append(_format(float(v)))
        body.append(line)
    return _build(name, header, body, time_unit, amount_unit, concentration_unit, covariates)
