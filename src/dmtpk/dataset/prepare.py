"""A NONMEM-style dataset resolved once for a model: record arrays in canonical units, each
record's parameters and what it observes (:func:`prepare_dataset`); the fitting loop and
:func:`~dmtpk.dataset.simulate_dataset` change only the parameters.

See :mod:`dmtpk.dataset` for how records are read (compartment numbers, outputs, ``F``/``ALAG``/
``R``/``D``, covariates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..engines import check_ode_method, check_tolerances
from ..engines.records import RecordError, solve_records, solve_records_batch
from ..engines.scipy_ivp import DEFAULT_METHOD
from ..errors import ValidationError
from ..io.nonmem import DatasetError, NonmemDataset
from ..library import load_model
from ..model.covariates import factor as covariate_factor
from ..model.covariates import label as covariate_label
from ..model.covariates import term_data as covariate_data
from ..model.covariates import terms as covariate_terms
from ..units import to_canonical

__all__ = ["prepare_dataset", "PreparedDataset"]

_KEY = re.compile(r"^(F|ALAG|R|D)(\d+)$")
ENGINE_NAMES = ("auto", "analytic", "dopri5", "scipy")


def _parse_record_values(record_values, data: NonmemDataset, n_cmt: int, factors):
    """key -> (kind, state index, column name or None, constant or None)."""
    out = []
    for key, value in dict(record_values or {}).items():
        m = _KEY.match(str(key).upper())
        if not m:
            raise ValidationError(f"record_values.{key}", "keys are F<n>, ALAG<n>, R<n> or D<n> "
                                                          "with n a compartment number")
        kind, cmt = m.group(1), int(m.group(2))
        if not 1 <= cmt <= n_cmt:
            raise ValidationError(f"record_values.{key}", f"compartment {cmt} does not exist "
                                                          f"(the model has 1..{n_cmt})")
        column = None
        const = None
        if isinstance(value, str) and any(c.upper() == value.upper() for c in data.columns):
            column = data._column(value)
        else:
            qkind = {"F": "dimensionless", "ALAG": "time", "R": "rate", "D": "time"}[kind]
            try:
                const = to_canonical(value, qkind, f"record_values.{key}")
            except ValidationError as exc:
                raise ValidationError(f"record_values.{key}", f"{value!r} is neither a column "
                                      f"of {data.path} nor a value: "
                                      f"{str(exc).split(': ', 1)[-1]}") from None
        scale = {"F": 1.0, "ALAG": factors["time"], "R": factors["rate"],
                 "D": factors["time"]}[kind]
        out.append((str(key).upper(), kind, cmt - 1, column, const, scale))
    return out


def _zero_missing(values: np.ndarray) -> np.ndarray:
    """A copy with missing values (NaN) as 0, as PREDPP reads absent AMT, RATE, II, ..."""
    out = values.copy()
    out[np.isnan(out)] = 0.0
    return out


def _parse_parameter_columns(parameter_columns, model, data: NonmemDataset, factors):
    """name -> (position in theta, column, factor to canonical units)."""
    pnames = list(model.compiled.param_names)
    # Dataset units of each kind of parameter: the dataset's time, amount and concentration
    # units and what they make (L per time unit for a clearance, ...).
    t, a, c = factors["time"], factors["amount"], factors["concentration"]
    per_kind = {"volume": 1.0, "clearance": 1.0 / t, "rate_constant": 1.0 / t, "time": t,
                "amount": a, "rate": a / t, "concentration": c, "dimensionless": 1.0,
                "inverse_concentration": 1.0 / c}
    out = []
    for pname, spec in dict(parameter_columns or {}).items():
        field = f"parameter_columns.{pname}"
        if pname not in pnames:
            raise ValidationError(field, f"model {model.name!r} has no parameter {pname!r} "
                                         f"(parameters: {', '.join(pnames)})")
        kind = model.parameters[pname].kind
        column, unit = (spec, None) if isinstance(spec, str) else tuple(spec)
        match = [cn for cn in data.columns if cn.upper() == str(column).upper()]
        if not match:
            raise ValidationError(field, f"{data.path} has no column {column!r} (columns: "
                                         f"{', '.join(data.columns)})")
        if unit is not None:
            factor = to_canonical(f"1 {unit}", kind, field)
        elif kind in per_kind:
            factor = per_kind[kind]
        else:
            raise ValidationError(field, f"{pname} is a {kind}; give the column's unit: "
                                         f"{{{pname!r}: ({column!r}, 'unit')}}")
        out.append((pnames.index(pname), match[0], factor))
    return out


def _observed_outputs(model, data: NonmemDataset, outputs, evid, cmt, names, idx,
                      effect_states, col) -> np.ndarray:
    """Output code of every record: 0 plasma parent, 1 metabolite, 2 + k endpoint k (codes of
    records that observe nothing are 0)."""
    ep_names = [ep.name for ep in model.effects]
    allowed = {"concentration": 0, **{nm: 2 + k for k, nm in enumerate(ep_names)}}
    if idx["metabolite"] >= 0:
        allowed["metabolite"] = 1
    if outputs is None:
        outputs = {1: "concentration"}
        outputs.update({k + 2: nm for k, nm in enumerate(ep_names)})
    for k, v in dict(outputs).items():
        if v not in allowed:
            raise ValidationError(f"outputs.{k}", f"unknown output {v!r}; expected one of "
                                                  f"{sorted(allowed)}")
    n_rec = evid.size
    code = np.zeros(n_rec, dtype=np.int64)
    obs = evid == 0
    by_cmt = obs.copy()
    if data.has("DVID"):
        dvid = data.item("DVID")
        with_dvid = obs & ~np.isnan(dvid)
        by_cmt &= ~with_dvid
        known = np.zeros(n_rec, dtype=bool)
        for k, v in dict(outputs).items():
            sel = with_dvid & (dvid == k)
            code[sel] = allowed[v]
            known |= sel
        bad = np.flatnonzero(with_dvid & ~known)
        if bad.size:
            i = int(bad[0])
            raise data.error(i, col("DVID"),
                             f"unknown DVID {int(dvid[i])}; known: {dict(outputs)}")
    # Without a DVID the record's CMT says what it observes.
    cmt_code = np.full(len(names) + 1, -1, dtype=np.int64)  # index: CMT (0 = none)
    cmt_code[0] = 0
    cmt_code[idx["central"] + 1] = 0
    if idx["metabolite"] >= 0:
        cmt_code[idx["metabolite"] + 1] = 1
    for s, nm in effect_states.items():
        cmt_code[s + 1] = allowed[nm]
    in_range = (cmt >= 0) & (cmt <= len(names))
    looked = np.where(in_range, cmt_code[np.clip(cmt, 0, len(names))], -1)
    bad = np.flatnonzero(by_cmt & (looked < 0))
    if bad.size:
        i = int(bad[0])
        c = int(cmt[i])
        what = names[c - 1] if 1 <= c <= len(names) else "no compartment"
        raise data.error(i, col("CMT"),
                         f"unknown CMT {c} for an observation ({what}); observable "
                         f"compartments: central = {idx['central'] + 1}"
                         + "".join(f", {nm} = {s + 1}" for s, nm in effect_states.items()))
    code[by_cmt] = looked[by_cmt]
    return code


def _covariate_effects(model, data: NonmemDataset, theta_rec, starts, skip):
    """Multiply ``theta_rec`` (in place) by the model's covariate effects (power, linear,
    categorical; :mod:`dmtpk.model.covariates`), the covariate taken from the dataset column of
    the same name; parameters in ``skip`` are left alone.

    Returns
    -------
    tuple of (str, str, int, str, float, int, ndarray)
        Each term applied: covariate, parameter, its position, the form, the coefficient,
        the level (categorical) and the term's data z on every record (to change the
        coefficient later).

    Raises
    ------
    DatasetError
        Naming the row and column: a power law's covariate not positive, a linear one not
        finite or making the parameter non-positive, a categorical one not one of its levels.
    """
    pnames = list(model.compiled.param_names)
    first = np.zeros(len(data), dtype=bool)
    first[starts[:-1]] = True
    out = []
    for cname, spec in model.covariates.items():
        match = [c for c in data.covariates if c.upper() == cname.upper()]
        if not match:
            continue
        v = data.covariate(match[0])
        terms = [t for t in covariate_terms(spec) if pnames.index(t[0]) not in skip]
        forms = {t[1] for t in terms}
        sid = data.exact_ids()
        if "power" in forms:
            bad = np.flatnonzero(~(v > 0))
            if bad.size:
                i = int(bad[0])
                raise data.error(i, match[0], f"covariate {cname} must be positive on every "
                                              f"record of ID {sid[i]} (got {v[i]})")
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            i = int(bad[0])
            raise data.error(i, match[0], f"covariate {cname} must be a finite number on every "
                                          f"record of ID {sid[i]} (got {v[i]})")
        if "categorical" in forms:
            levels = {1} | {t[3] for t in terms}
            bad = np.flatnonzero(~np.isin(v, sorted(levels)))
            if bad.size:
                i = int(bad[0])
                raise data.error(i, match[0], f"categorical covariate {cname} has levels "
                                              f"{', '.join(map(str, sorted(levels)))} in the "
                                              f"model (1 the reference), got {v[i]:g}")
        mode = data.covariate_modes.get(match[0], "nocb")
        if mode != "nocb":
            # The value in force on the way to each record: the previous record's (locf) or
            # the mean of the two (linear); a subject's first record keeps its own.
            prev = np.where(first, v, np.concatenate([v[:1], v[:-1]]))
            v = prev if mode == "locf" or "categorical" in forms else 0.5 * (prev + v)
        for pname, form, e, level in terms:
            p = pnames.index(pname)
            z = covariate_data(form, v, spec["reference"], level)
            f = covariate_factor(form, e, z)
            bad = np.flatnonzero(~(f > 0))
            if bad.size:
                i = int(bad[0])
                raise data.error(i, match[0], f"the linear effect of {cname} on {pname} "
                                              f"(1 + {e:g} x ({v[i]:g} - "
                                              f"{spec['reference']:g})) makes {pname} "
                                              f"non-positive on this record")
            theta_rec[:, p] *= f
            out.append((cname, pname, p, form, e, level, z))
    return tuple(out)


@dataclass(frozen=True, eq=False)
class PreparedDataset:
    """A dataset resolved once for a model: record arrays in canonical units, the parameters
    of every record and what each record observes. Only the parameters change between calls,
    as in a fitting loop (:func:`prepare_dataset` builds it; :func:`simulate_dataset` is
    ``prepare_dataset`` followed by one :meth:`predict`).

    Attributes
    ----------
    model : Model
    data : NonmemDataset
    engine : str
        ``"analytic"``, ``"dopri5"`` or ``"scipy"``.
    starts : ndarray of int64, shape (n_subjects + 1,)
        Subject ``i`` owns records ``starts[i]:starts[i + 1]``.
    subject_of : ndarray of int64, shape (n_records,)
        Subject (position in :meth:`NonmemDataset.subjects`) of every record.
    typical : ndarray, shape (n_records, n_params)
        Typical values (canonical units) on every record, with ``subject_parameters`` in.
    code : ndarray of int64, shape (n_records,)
        Output of every record: 0 plasma parent, 1 metabolite, 2 + k endpoint k.
    labels : ndarray of str
        Name of each output code.
    to_data_conc : float
        Dataset concentration units per mg/L.
    """

    model: object
    data: NonmemDataset
    engine: str
    starts: np.ndarray
    subject_of: np.ndarray
    typical: np.ndarray
    code: np.ndarray
    labels: np.ndarray
    to_data_conc: float
    _records: tuple
    _subject_set: np.ndarray   # (n_records, n_params) bool: set by subject_parameters
    _columns: tuple            # ((position, values per record), ...)
    _cov_factor: np.ndarray    # (n_records, n_params) covariate factors
    _covariate_terms: tuple    # (covariate, parameter, position, form, coef, level, z)
    _flags: tuple              # (any subject_parameters, any covariate factor != 1)
    _options: dict
    _sources: dict
    _depot: tuple              # (depot state, position of F_INH, of TLAG_INH; -1 if not used)
    _tiled: dict

    @property
    def n_subjects(self) -> int:
        return self.starts.size - 1

    @property
    def covariate_effects(self) -> tuple:
        """The covariate terms applied: ``((covariate, parameter), ...)`` (a categorical
        covariate once per level)."""
        return tuple((t[0], t[1]) for t in self._covariate_terms)

    @property
    def covariate_terms(self) -> tuple:
        """The covariate terms applied (:mod:`dmtpk.model.covariates`): ``(label, parameter
        position, form, coefficient, z)`` with ``z`` the term's data on every record
        (read-only)."""
        out = []
        for c, p, pos, form, e, level, z in self._covariate_terms:
            z = z.view()
            z.setflags(write=False)
            out.append((covariate_label(c, p, form, level), pos, form, e, z))
        return tuple(out)

    def theta_records(self, rows=None, exponents=None) -> np.ndarray:
        """Parameters of every record (canonical units).

        Parameters
        ----------
        rows : ndarray, shape (n_subjects, n_params) or (m, n_subjects, n_params), optional
            Each subject's individual values before covariate effects (typical values with
            random effects); default the typical values. ``subject_parameters`` replace them,
            covariate effects multiply them and ``parameter_columns`` replace the result, as in
            :func:`simulate_dataset`.
        exponents : sequence of float, optional
            Coefficients of the covariate terms (exponents, linear slopes, level factors), one
            per entry of :attr:`covariate_terms` (default the model's).

        Returns
        -------
        ndarray, shape (n_records, n_params) or (m, n_records, n_params)
        """
        if rows is None:
            base = self.typical
        elif self._flags[0]:
            base = np.where(self._subject_set, self.typical,
                            np.asarray(rows, dtype=float)[..., self.subject_of, :])
        else:  # no subject_parameters: every record takes its subject's row
            base = np.asarray(rows, dtype=float)[..., self.subject_of, :]
        factor = self._cov_factor
        if exponents is not None:
            factor = factor.copy()
            for (_, _, p, form, e0, _, z), e in zip(self._covariate_terms, exponents):
                if e == e0:
                    continue
                if form == "power":
                    factor[:, p] *= np.exp((e - e0) * z)
                else:  # the model's factor is positive on every record (checked)
                    factor[:, p] *= covariate_factor(form, e, z) / covariate_factor(form, e0, z)
        if self._flags[1] or factor is not self._cov_factor:
            out = base * factor
        else:  # no covariate effect applies
            out = base.copy() if base is self.typical else base
        for p, values in self._columns:
            out[..., p] = values
        return out

    def states(self, theta_rec: np.ndarray) -> np.ndarray:
        """Amounts after every record, shape (..., n_records, n_states), for parameters of
        shape (n_records, n_params) or (m, n_records, n_params): ``m`` copies of the dataset
        run as one batch (one compiled call)."""
        theta_rec = np.asarray(theta_rec, dtype=float)
        m = 1 if theta_rec.ndim == 2 else theta_rec.shape[0]
        n_rec = self.starts[-1]
        flat = theta_rec.reshape(m * n_rec, -1)
        return self._solve(flat, m).reshape(theta_rec.shape[:-1] + (-1,))

    def _batch_records(self, m: int):
        got = self._tiled.get(m)
        if got is None:
            if m == 1:
                got = (self.starts, self._records)
            else:
                n_rec = self.starts[-1]
                starts = np.concatenate([self.starts[:-1] + k * n_rec for k in range(m)]
                                        + [[m * n_rec]]).astype(np.int64)
                recs = tuple(np.concatenate([x] * m) for x in self._records)
                got = (starts, recs)
            self._tiled[m] = got
        return got

    def kernel_records(self, theta_rec: np.ndarray, m: int):
        """The record arrays of ``m`` copies of the dataset for the compiled walkers, with the
        inhaled depot's F and lag of every record set from its parameters.

        Parameters
        ----------
        theta_rec : ndarray, shape (m * n_records, n_parameters)
            Each record's parameters (canonical units), the copies one after the other.
        m : int

        Returns
        -------
        starts : ndarray of int64, shape (m * n_subjects + 1,)
            Each subject's first record.
        records : tuple of ndarray
            The record columns the walkers take.
        """
        starts, recs = self._batch_records(m)
        d, pf, pl = self._depot
        if pf >= 0 or pl >= 0:
            recs = list(recs)
            for k, p in ((8, pf), (9, pl)):
                if p >= 0:
                    recs[k] = recs[k].copy()
                    recs[k][:, d] = theta_rec[:, p]
        return starts, recs

    def _solve(self, theta_rec: np.ndarray, m: int) -> np.ndarray:
        compiled = self.model.compiled
        idx = compiled.index
        o = self._options
        starts, recs = self.kernel_records(theta_rec, m)
        mm_all = None if self.model.is_linear else compiled.mm_parameters(theta_rec)
        a_cache: dict = {}

        def system(th):
            key = th.tobytes()
            a = a_cache.get(key)
            if a is None:
                a = a_cache[key] = compiled.system_matrix(th)
            return a

        n_rec = self.starts[-1]
        if self.engine == "dopri5" or (o["batch"] and self.engine == "analytic"
                                       and o["ss"] in ("auto", "exact")):
            try:
                return solve_records_batch(
                    theta_rec, compiled.layout, compiled.mass_ratio, starts, *recs,
                    accumulators=compiled.accumulators, mm=mm_all, rtol=o["rtol"],
                    atol=o["atol"], ss_tol=o["ss_tol"], central=idx["central"],
                    eliminated=idx["eliminated"], metabolite=idx["metabolite"],
                    system_matrix=system)
            except RecordError as exc:
                raise self._error(exc, exc.record % n_rec) from None
        states = np.zeros((theta_rec.shape[0], compiled.n_states))
        for i in range(starts.size - 1):
            sl = slice(int(starts[i]), int(starts[i + 1]))
            a = np.array([system(theta_rec[r]) for r in range(sl.start, sl.stop)])
            try:
                states[sl] = solve_records(
                    a, *(x[sl] for x in recs), accumulators=compiled.accumulators,
                    method=self.engine, ss_mode=o["ss"],
                    mm=None if mm_all is None else mm_all[sl], central=idx["central"],
                    eliminated=idx["eliminated"], metabolite=idx["metabolite"],
                    ode_method=o["ode_method"], rtol=o["rtol"], atol=o["atol"],
                    ss_tol=o["ss_tol"])
            except RecordError as exc:
                raise self._error(exc, (sl.start + exc.record) % n_rec) from None
        return states

    def _error(self, exc: RecordError, rec: int) -> DatasetError:
        data = self.data
        item = exc.item
        if item in ("F", "ALAG", "R", "D"):
            column = self._sources.get((item, exc.compartment))
            if column is None:
                column = data.standard.get("RATE", "RATE") if item in ("R", "D") else \
                    f"{item}{(exc.compartment or 0) + 1} (model)"
        else:
            column = data.standard.get(item, item)
        if column in data.columns:
            return data.error(rec, column, exc.detail)  # names a renamed column as in the file
        return DatasetError(data.path, data.row_of(rec), column, exc.detail)

    def outputs(self, states: np.ndarray, theta_rec: np.ndarray):
        """What the records observe, from :meth:`states` and the parameters it ran with.

        Returns
        -------
        pred : ndarray, shape (..., n_records)
            Each record's output: concentrations in the dataset's unit, responses in their
            endpoint's unit.
        concentration : dict of str to ndarray
            Plasma parent (and metabolite) concentrations, mg/L.
        effects : dict of str to ndarray
            Each endpoint's response.
        """
        compiled = self.model.compiled
        conc = compiled.concentrations(states, theta_rec)
        ep_names = [ep.name for ep in self.model.effects]
        responses = compiled.endpoint_outputs(states, theta_rec)
        effects = {nm: resp for nm, (_, resp) in zip(ep_names, responses)}
        parent = conc["parent"]
        table = [parent * self.to_data_conc,
                 conc["metabolite"] * self.to_data_conc if "metabolite" in conc
                 else np.zeros_like(parent)]
        table += [effects[nm] for nm in ep_names]
        n_rec = self.code.size
        pred = np.stack(table, axis=-1).reshape(-1, n_rec, len(table))
        pred = pred[:, np.arange(n_rec), self.code].reshape(parent.shape)
        return pred, conc, effects

    def predict(self, theta_rec: np.ndarray) -> np.ndarray:
        """Each record's output (see :meth:`outputs`) for parameters of shape
        (n_records, n_params) or (m, n_records, n_params)."""
        theta_rec = np.asarray(theta_rec, dtype=float)
        return self.outputs(self.states(theta_rec), theta_rec)[0]


def prepare_dataset(model, data: NonmemDataset, *, method: str = "auto", record_values=None,
                    outputs=None, parameters=None, subject_parameters=None,
                    parameter_columns=None, ss: str = "auto",
                    ode_method: str = DEFAULT_METHOD, rtol: float | None = None,
                    atol: float | None = None, ss_tol: float = 1e-10,
                    batch: bool = True) -> PreparedDataset:
    """Resolve a dataset for a model once (see :func:`simulate_dataset` for the arguments).

    Returns
    -------
    PreparedDataset
        Call :meth:`~PreparedDataset.predict` with :meth:`~PreparedDataset.theta_records` as
        often as the parameters change.

    Raises
    ------
    DatasetError, ValidationError
        As :func:`simulate_dataset`.
    """
    model = load_model(model)
    if parameters:
        model = model.with_parameters(parameters)
    if method not in ENGINE_NAMES:
        raise ValidationError("method", f"unknown engine {method!r}; expected one of "
                                        f"{ENGINE_NAMES}")
    if method == "analytic" and not model.is_linear:
        raise ValidationError("method", f"the exact engine needs a linear model; {model.name!r} "
                                        "has Michaelis-Menten elimination")
    if method == "dopri5" and model.is_linear:
        raise ValidationError("method", f"the compiled integrator is for nonlinear models; "
                                        f"{model.name!r} is linear (use 'analytic' or 'auto')")
    if method == "auto":
        engine = "analytic" if model.is_linear else "dopri5"
    else:
        engine = method
    if rtol is None:
        rtol = 1e-8 if engine == "dopri5" else 1e-10
    if atol is None:
        atol = 1e-12 if engine == "dopri5" else 1e-14
    rtol, atol = check_tolerances(rtol, atol)
    check_ode_method(ode_method)
    compiled = model.compiled
    names = compiled.state_names
    n = len(names)
    n_rec = len(data)
    idx = compiled.index
    accum = compiled.accumulators
    effect_states = {ep["state"]: ep["name"] for ep in compiled.endpoints if ep["state"] >= 0}
    factors = data.unit_factors()
    rv = _parse_record_values(record_values, data, n, factors)
    pcols = _parse_parameter_columns(parameter_columns, model, data, factors)
    path = data.path
    std = data.standard

    def col(item):
        return std.get(item, item)

    evid = data.item("EVID").astype(np.int64)
    cmt_raw = _zero_missing(data.item("CMT")).astype(np.int64)
    code = _observed_outputs(model, data, outputs, evid, cmt_raw, names, idx, effect_states,
                             col)
    # Doses go into compartments that hold an amount.
    doseable = np.zeros(n + 1, dtype=bool)
    doseable[[k + 1 for k in range(n) if k not in accum and k not in effect_states]] = True
    dose_cmt = np.where(cmt_raw > 0, cmt_raw, 1)
    is_dose = (evid == 1) | (evid == 4)
    bad = np.flatnonzero(is_dose & ~((dose_cmt <= n) & doseable[np.clip(dose_cmt, 0, n)]))
    if bad.size:
        i = int(bad[0])
        c = int(dose_cmt[i])
        what = f"the {names[c - 1]} state" if 1 <= c <= n else "no compartment"
        raise data.error(i, col("CMT"),
                         f"unknown CMT {c} for a dose ({what}); doses go into "
                         + ", ".join(f"{k + 1} ({names[k]})" for k in range(n)
                                     if doseable[k + 1]))

    # Parameters per record: typical values, subject values, data columns, covariates.
    subjects = data.subjects()
    starts = np.array([sl.start for _, sl in subjects] + [n_rec], dtype=np.int64)
    subject_of = np.repeat(np.arange(len(subjects), dtype=np.int64), np.diff(starts))
    typical = np.repeat(np.asarray(compiled.theta, dtype=float)[None, :], n_rec, axis=0)
    subject_set = np.zeros(typical.shape, dtype=bool)
    pnames = list(compiled.param_names)
    for sid, vals in dict(subject_parameters or {}).items():
        sl = next((s for i, s in subjects if i == sid), None)
        if sl is None:
            raise ValidationError(f"subject_parameters.{sid}", f"{path} has no ID {sid!r}")
        for pname, v in vals.items():
            if pname not in pnames:
                raise ValidationError(f"subject_parameters.{sid}.{pname}",
                                      f"model {model.name!r} has no parameter {pname!r}")
            kind = model.parameters[pname].kind
            typical[sl, pnames.index(pname)] = to_canonical(v, kind, pname)
            subject_set[sl, pnames.index(pname)] = True
    columns = []
    for p, column, factor in pcols:
        values = data.values[column] * factor
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            raise data.error(i, column,
                             f"{pnames[p]} must be a finite number on every record, got "
                             f"{data.values[column][i]}")
        columns.append((p, values))
    cov_factor = np.ones(typical.shape)
    cov_terms = _covariate_effects(model, data, cov_factor, starts, {p for p, _, _ in pcols})

    # Per-record dose quantities in canonical units.
    tf, af, rf = factors["time"], factors["amount"], factors["rate"]
    time_c = data.item("TIME") * tf
    amt_c = _zero_missing(data.item("AMT")) * af
    rate_raw = _zero_missing(data.item("RATE"))
    rate_c = np.where(rate_raw > 0, rate_raw * rf, rate_raw)
    ii_c = _zero_missing(data.item("II")) * tf
    ss_i = _zero_missing(data.item("SS")).astype(np.int64)
    addl_i = _zero_missing(data.item("ADDL")).astype(np.int64)
    target = dose_cmt - 1
    f_all = np.ones((n_rec, n))
    lag_all = np.zeros((n_rec, n))
    mrate_all = np.full((n_rec, n), np.nan)
    mdur_all = np.full((n_rec, n), np.nan)
    # The inhaled depot's F and lag are parameters (F_INH, TLAG_INH), set on each call from
    # the parameters of the record unless record_values give them.
    depot = {}
    if idx["depot"] >= 0:
        depot = {kind: compiled.param[p] for kind, p in (("F", "F_INH"), ("ALAG", "TLAG_INH"))
                 if compiled.param[p] >= 0}
    sources = {}
    for key, kind, s, column, const, scale in rv:
        dest = {"F": f_all, "ALAG": lag_all, "R": mrate_all, "D": mdur_all}[kind]
        if column is not None:
            dest[:, s] = data.covariate(column) * scale
            sources[(kind, s)] = f"{column} ({key})"
        else:
            dest[:, s] = const
            sources[(kind, s)] = key
        if s == idx["depot"]:
            depot.pop(kind, None)
    records = tuple(np.ascontiguousarray(x) for x in (
        time_c, evid, amt_c, rate_c, target.astype(np.int64), ss_i, ii_c, addl_i, f_all,
        lag_all, mrate_all, mdur_all))
    ep_names = [ep.name for ep in model.effects]
    return PreparedDataset(
        model=model, data=data, engine=engine, starts=starts, subject_of=subject_of,
        typical=typical, code=code,
        labels=np.array(["concentration", "metabolite"] + ep_names),
        to_data_conc=1.0 / factors["concentration"], _records=records,
        _subject_set=subject_set, _columns=tuple(columns), _cov_factor=cov_factor,
        _covariate_terms=cov_terms,
        _flags=(bool(subject_set.any()), bool(np.any(cov_factor != 1.0))),
        _options=dict(rtol=rtol, atol=atol, ss_tol=ss_tol, ss=ss, ode_method=ode_method,
                      batch=batch),
        _sources=sources, _depot=(idx["depot"], depot.get("F", -1), depot.get("ALAG", -1)),
        _tiled={})
