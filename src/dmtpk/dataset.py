"""``simulate_dataset``: predictions on a NONMEM-style dataset's own records.

Compartments are numbered as NONMEM's ADVANs number them: in the order of the model's states
(:attr:`~dmtpk.model.compiled.CompiledModel.state_names`), from 1. For a model with the inhaled
route that is 1 = absorption depot, 2 = central, 3 = first peripheral, ...; without it 1 =
central. Doses may go into any compartment that holds an amount (not an effect compartment or a
mass-balance accumulator); a dose with CMT missing or 0 goes into compartment 1.

What an observation record observes: with a ``DVID`` column, ``outputs`` maps each DVID value to
``"concentration"`` (plasma parent), ``"metabolite"`` or an endpoint's name (default: 1 plasma
concentration, 2, 3, ... the model's endpoints in order). Without one, the record's ``CMT``
decides: missing, 0 or the central compartment, plasma concentration; the metabolite
compartment, the metabolite's concentration; an endpoint's effect compartment, that endpoint's
response. Plasma concentrations are in the dataset's concentration unit; responses in their
endpoint's unit.

Bioavailability, lag time and modelled infusion rate or duration of doses into compartment
``n`` are ``F<n>``, ``ALAG<n>``, ``R<n>``, ``D<n>`` as in a NONMEM ``$PK``. By default
``F`` is 1 and ``ALAG`` 0, except for the absorption depot of an inhaled model, which takes
``F_INH`` and ``TLAG_INH``; ``R`` and ``D`` are undefined (a RATE of -1 or -2 is then rejected).
``record_values`` sets any of them from a dataset column (read on each record, in the dataset's
units: time unit for ``ALAG`` and ``D``, amount per time unit for ``R``) or to a constant
(a quantity or a string with its unit; a bare number is canonical: min, mg/min).

Model covariates (``[covariates]`` of the model file, power laws) are taken from the dataset
column of the same name (case aside), in the unit the model uses (kg for ``WT``). Parameters are
piecewise constant between records, as in PREDPP: the advance to a record uses the values for
that interval, which with the default ``"nocb"`` mode are the record's own (next observation
carried backward), with ``"locf"`` those of the record before, and with ``"linear"`` the mean of
the linear interpolant over the interval (the average of the two records' values).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .engines import check_tolerances
from .engines.records import RecordError, solve_records, solve_records_batch
from .engines.scipy_ivp import DEFAULT_METHOD
from .errors import ValidationError
from .io.nonmem import DatasetError, NonmemDataset
from .library import load_model
from .units import MG_PER_L_TO_NG_PER_ML, to_canonical

__all__ = ["simulate_dataset", "DatasetResult", "compartment_numbers", "subject_regimen",
           "subject_event_table", "observations"]

_KEY = re.compile(r"^(F|ALAG|R|D)(\d+)$")
_ENGINE_NAMES = ("auto", "analytic", "dopri5", "scipy")


@dataclass(frozen=True, eq=False)
class DatasetResult:
    """Predictions on every record of a dataset.

    Attributes
    ----------
    data : NonmemDataset
    engine : str
        ``"analytic"``, ``"dopri5"`` or ``"scipy"``.
    id : ndarray, shape (n_records,)
    time : ndarray, shape (n_records,)
        Record times in the dataset's time unit.
    pred : ndarray, shape (n_records,)
        The record's output: plasma concentration (dataset concentration unit) unless the record
        observes something else (see :attr:`output`).
    concentration : ndarray, shape (n_records,)
        Plasma parent concentration (ng/mL) on every record.
    effects : dict of str to ndarray
        Each endpoint's response on every record.
    output : ndarray of str, shape (n_records,)
        What :attr:`pred` is on each record.
    states : ndarray, shape (n_records, n_states)
        Amounts (mg; effect compartments mg/L) after each record.
    theta : ndarray, shape (n_records, n_params)
        Parameters in force at each record (canonical units).
    simulated : ndarray or None
        Observations with residual error (``residual=...``) on observation records, NaN
        elsewhere; same units as :attr:`pred`.
    """

    data: NonmemDataset
    engine: str
    id: np.ndarray
    time: np.ndarray
    pred: np.ndarray
    concentration: np.ndarray
    effects: dict
    output: np.ndarray
    states: np.ndarray
    theta: np.ndarray
    simulated: np.ndarray | None = None

    def to_dataset(self, dv: str = "simulated") -> NonmemDataset:
        """The dataset with ``DV`` set on observation records (EVID 0) and missing elsewhere.

        Parameters
        ----------
        dv : {"simulated", "pred"}
            Observations with residual error (needs ``residual``) or the predictions.
        """
        if dv == "simulated":
            if self.simulated is None:
                raise ValidationError("dv", "no residual error was simulated; pass residual=... "
                                            "to simulate_dataset or use dv='pred'")
            values = self.simulated
        elif dv == "pred":
            values = self.pred
        else:
            raise ValidationError("dv", f"expected 'simulated' or 'pred', got {dv!r}")
        obs = self.data.item("EVID") == 0
        return self.data.with_values(DV=np.where(obs, values, np.nan))


def compartment_numbers(model) -> dict:
    """NONMEM compartment number of each state of ``model`` (1-based, state order)."""
    model = load_model(model)
    return {name: k + 1 for k, name in enumerate(model.compiled.state_names)}


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
    """Multiply ``theta_rec`` (in place) by the model's covariate power laws, the covariate
    taken from the dataset column of the same name; parameters in ``skip`` are left alone."""
    pnames = list(model.compiled.param_names)
    first = np.zeros(len(data), dtype=bool)
    first[starts[:-1]] = True
    for cname, spec in model.covariates.items():
        match = [c for c in data.covariates if c.upper() == cname.upper()]
        if not match:
            continue
        v = data.covariate(match[0])
        bad = np.flatnonzero(~(v > 0))
        if bad.size:
            i = int(bad[0])
            sid = data.exact_ids()[i]
            raise data.error(i, match[0],
                             f"covariate {cname} must be positive on every record of ID "
                             f"{sid} (got {v[i]})")
        mode = data.covariate_modes.get(match[0], "nocb")
        if mode != "nocb":
            # The value in force on the way to each record: the previous record's (locf) or
            # the mean of the two (linear); a subject's first record keeps its own.
            prev = np.where(first, v, np.concatenate([v[:1], v[:-1]]))
            v = prev if mode == "locf" else 0.5 * (prev + v)
        for pname, e in spec["exponents"].items():
            p = pnames.index(pname)
            if p not in skip:
                theta_rec[:, p] *= (v / spec["reference"]) ** e


def simulate_dataset(model, data: NonmemDataset, *, method: str = "auto", record_values=None,
                     outputs=None, parameters=None, subject_parameters=None,
                     parameter_columns=None, variability=False, residual=False,
                     seed: int | None = None, ss: str = "auto",
                     ode_method: str = DEFAULT_METHOD, rtol: float | None = None,
                     atol: float | None = None, ss_tol: float = 1e-10,
                     batch: bool = True) -> DatasetResult:
    """Simulate a dataset on its own records, one subject or thousands.

    Parameters
    ----------
    model : str, path or Model
    data : NonmemDataset
        From :func:`~dmtpk.io.read_nonmem`.
    method : {"auto", "analytic", "dopri5", "scipy"}
        The compiled walker with exact steps (linear models) or with its Dormand-Prince
        integrator (Michaelis-Menten models; steady states and stiff segments go to the
        single-subject walker with SciPy), which ``"auto"`` picks; or ``solve_ivp`` between
        events in the single-subject walker. ``rtol``/``atol`` are the integrators'
        tolerances.
    record_values : mapping, optional
        ``{"ALAG2": "LAGT", "F2": "BIOAV", "R2": "RAT2", "D2": "DUR2"}``: per-compartment
        bioavailability, lag, modelled rate and duration from dataset columns or constants.
    outputs : mapping of int to str, optional
        DVID value -> ``"concentration"``, ``"metabolite"`` or an endpoint name.
    parameters : dict, optional
        Typical values replaced for every subject (``{"CL": "1.1 L/h"}``).
    subject_parameters : mapping of ID to dict, optional
        Values replaced for single subjects (applied before covariates).
    parameter_columns : mapping of str to str or (str, str), optional
        Parameters read from dataset columns, record by record: ``{"CL": "CL", "V1": "V"}``
        (the column in the dataset's units: L per time unit for a clearance, L for a volume,
        1 per time unit for a rate constant, amount per time unit for VMAX, the concentration
        unit for KM) or ``{"KM": ("KM", "ug/L")}`` with the column's unit. A parameter taken
        from a column replaces the typical value, random effect and subject value and gets no
        covariate effect (the column is the individual value, as in simulated datasets that
        carry each subject's true parameters).
    variability : bool
        Draw each subject's random effects from the model's ``[variability]`` (needs ``seed``).
    residual : bool or dict
        Residual error on observation records: True for the model's ``[residual]``, a dict to
        replace it (see :func:`~dmtpk.population.variability.build_residual`); needs ``seed``.
    seed : int, optional
        Seed for random effects and residual error.
    ss : {"auto", "exact", "iterate"}
        Steady-state computation (see :mod:`dmtpk.engines.records`).
    ode_method, rtol, atol, ss_tol
        SciPy engine settings, the integrators' tolerances (default: rtol 1e-10, atol 1e-14
        mg for SciPy; rtol 1e-8, atol 1e-12 mg for the compiled integrator, whose
        predictions then agree with LSODA at 1e-12 to about 3e-8 relative) and the relative
        tolerance of an iterated steady state.
    batch : bool
        With the exact engine and exact steady states, run every subject at once through the
        compiled walker (default); False runs each subject through the single-subject walker
        (the reference it is tested against).

    Returns
    -------
    DatasetResult

    Raises
    ------
    DatasetError
        A record the model cannot take (unknown CMT, a combination with no defined answer such
        as SS with a lag of at least II), naming the file, the row and the column.
    """
    model = load_model(model)
    if parameters:
        model = model.with_parameters(**parameters)
    if method not in _ENGINE_NAMES:
        raise ValidationError("method", f"unknown engine {method!r}; expected one of "
                                        f"{_ENGINE_NAMES}")
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
    if (variability or residual) and seed is None:
        raise ValidationError("seed", "random effects and residual error need a seed")
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

    # Parameters per record: typical values, random effects, subject values, data columns,
    # covariates.
    subjects = data.subjects()
    starts = np.array([sl.start for _, sl in subjects] + [n_rec], dtype=np.int64)
    counts = np.diff(starts)
    theta_rec = np.repeat(np.asarray(compiled.theta, dtype=float)[None, :], n_rec, axis=0)
    pnames = list(compiled.param_names)
    rng = np.random.default_rng(seed) if seed is not None else None
    if variability:
        from .population.variability import build_variability, individual_parameters
        var = build_variability(model)
        if var.n_eta:
            eta = rng.standard_normal((len(subjects), var.n_eta)) @ var.chol.T
            rows = individual_parameters(np.asarray(compiled.theta), var, eta)
            theta_rec = np.repeat(rows, counts, axis=0)
    for sid, vals in dict(subject_parameters or {}).items():
        sl = next((s for i, s in subjects if i == sid), None)
        if sl is None:
            raise ValidationError(f"subject_parameters.{sid}", f"{path} has no ID {sid!r}")
        for pname, v in vals.items():
            if pname not in pnames:
                raise ValidationError(f"subject_parameters.{sid}.{pname}",
                                      f"model {model.name!r} has no parameter {pname!r}")
            kind = model.parameters[pname].kind
            theta_rec[sl, pnames.index(pname)] = to_canonical(v, kind, pname)
    for p, column, factor in pcols:
        values = data.values[column] * factor
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            i = int(bad[0])
            raise data.error(i, column,
                             f"{pnames[p]} must be a finite number on every record, got "
                             f"{data.values[column][i]}")
        theta_rec[:, p] = values
    _covariate_effects(model, data, theta_rec, starts, {p for p, _, _ in pcols})

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
    if idx["depot"] >= 0:
        f_all[:, idx["depot"]] = theta_rec[:, compiled.param["F_INH"]] \
            if compiled.param["F_INH"] >= 0 else 1.0
        lag_all[:, idx["depot"]] = theta_rec[:, compiled.param["TLAG_INH"]] \
            if compiled.param["TLAG_INH"] >= 0 else 0.0
    sources = {}
    for key, kind, s, column, const, scale in rv:
        dest = {"F": f_all, "ALAG": lag_all, "R": mrate_all, "D": mdur_all}[kind]
        if column is not None:
            dest[:, s] = data.covariate(column) * scale
            sources[(kind, s)] = f"{column} ({key})"
        else:
            dest[:, s] = const
            sources[(kind, s)] = key

    a_cache: dict = {}

    def system(th):
        key = th.tobytes()
        a = a_cache.get(key)
        if a is None:
            a = a_cache[key] = compiled.system_matrix(th)
        return a

    def dataset_error(exc: RecordError, rec: int) -> DatasetError:
        item = exc.item
        if item in ("F", "ALAG", "R", "D"):
            column = sources.get((item, exc.compartment))
            if column is None:
                column = col("RATE") if item in ("R", "D") else \
                    f"{item}{(exc.compartment or 0) + 1} (model)"
        else:
            column = col(item)
        if column in data.columns:
            return data.error(rec, column, exc.detail)  # names a renamed column as in the file
        return DatasetError(path, data.row_of(rec), column, exc.detail)

    record_arrays = (time_c, evid, amt_c, rate_c, target, ss_i, ii_c, addl_i, f_all, lag_all,
                     mrate_all, mdur_all)
    mm_all = None
    if not model.is_linear:
        mm_all = compiled.mm_parameters(theta_rec)
    if engine == "dopri5" or (batch and engine == "analytic" and ss in ("auto", "exact")):
        # Every subject at once through the compiled walker.
        try:
            states = solve_records_batch(
                theta_rec, compiled.layout, compiled.mass_ratio, starts, *record_arrays,
                accumulators=accum, mm=mm_all, rtol=rtol, atol=atol, ss_tol=ss_tol,
                central=idx["central"], eliminated=idx["eliminated"],
                metabolite=idx["metabolite"], system_matrix=system)
        except RecordError as exc:
            raise dataset_error(exc, exc.record) from None
    else:
        states = np.zeros((n_rec, n))
        for sid, sl in subjects:
            a = np.array([system(theta_rec[i]) for i in range(sl.start, sl.stop)])
            try:
                states[sl] = solve_records(
                    a, *(x[sl] for x in record_arrays), accumulators=accum, method=engine,
                    ss_mode=ss, mm=None if mm_all is None else mm_all[sl],
                    central=idx["central"], eliminated=idx["eliminated"],
                    metabolite=idx["metabolite"], ode_method=ode_method, rtol=rtol, atol=atol,
                    ss_tol=ss_tol)
            except RecordError as exc:
                raise dataset_error(exc, sl.start + exc.record) from None

    # Outputs: concentrations in mg/L inside, the dataset's unit (or ng/mL) at the boundary.
    conc = compiled.concentrations(states, theta_rec)
    ep_names = [ep.name for ep in model.effects]
    responses = compiled.endpoint_outputs(states, theta_rec)
    effects = {nm: resp for nm, (_, resp) in zip(ep_names, responses)}
    to_data_conc = 1.0 / factors["concentration"]  # mg/L -> dataset unit
    table = [conc["parent"] * to_data_conc]
    table.append(conc["metabolite"] * to_data_conc if "metabolite" in conc
                 else np.zeros(n_rec))
    table += [effects[nm] for nm in ep_names]
    pred = np.stack(table)[code, np.arange(n_rec)]
    labels = np.array(["concentration", "metabolite"] + ep_names)

    simulated = None
    if residual:
        from .population.variability import apply_residual, build_residual
        res = build_residual(model, residual)
        simulated = np.full(n_rec, np.nan)
        obs = evid == 0
        for c in sorted(set(code[obs].tolist())):
            kind = str(labels[c])
            sel = obs & (code == c)
            entry = res.outputs.get(kind) if res is not None else None
            if entry is None:
                simulated[sel] = pred[sel]
                continue
            eps = rng.standard_normal((2, int(sel.sum())))
            if kind in ("concentration", "metabolite"):
                # Residual error is specified in ng/mL.
                p_ng = pred[sel] / to_data_conc * MG_PER_L_TO_NG_PER_ML
                y = apply_residual(p_ng, entry, eps)
                simulated[sel] = y / MG_PER_L_TO_NG_PER_ML * to_data_conc
            else:
                simulated[sel] = apply_residual(pred[sel], entry, eps)

    return DatasetResult(data=data, engine=engine, id=data.item("ID").copy(),
                         time=data.item("TIME").copy(), pred=pred,
                         concentration=conc["parent"] * MG_PER_L_TO_NG_PER_ML, effects=effects,
                         output=labels[code], states=states, theta=theta_rec,
                         simulated=simulated)


def _subject_slice(data: NonmemDataset, subject):
    for sid, sl in data.subjects():
        if sid == subject:
            return sl
    raise ValidationError("subject", f"{data.path} has no ID {subject!r} (IDs: {data.ids[:10]}"
                                     f"{' ...' if len(data.ids) > 10 else ''})")


def subject_regimen(model, data: NonmemDataset, subject):
    """One subject's doses as a :class:`~dmtpk.regimen.Regimen` (for :func:`dmtpk.simulate`).

    Only what an event table can say is accepted: boluses and infusions (data ``RATE``) into
    the central compartment, boluses into the inhaled route's depot, ``ADDL``/``II`` (expanded).
    Steady state, resets, modelled rate or duration, infusions into the depot and doses into
    other compartments need the record engine (:func:`simulate_dataset`) and are rejected,
    naming the row and the column. Bioavailability and lag are the model's.

    Parameters
    ----------
    model : str, path or Model
    data : NonmemDataset
    subject : int or float
        The subject's ID.

    Returns
    -------
    Regimen
    """
    from .regimen.events import Bolus, Infusion, Inhalation, Regimen
    model = load_model(model)
    idx = model.compiled.index
    sl = _subject_slice(data, subject)
    std = data.standard
    fac = data.unit_factors()
    evid = data.item("EVID")[sl]
    cols = {k: np.nan_to_num(data.item(k)[sl]) for k in ("AMT", "RATE", "CMT", "SS", "II",
                                                         "ADDL")}
    events = []
    for k in range(evid.size):
        row = data.row_of(sl.start + k)
        e = int(evid[k])
        if e in (3, 4):
            raise DatasetError(data.path, row, std.get("EVID", "EVID"),
                               f"EVID {e} (reset) cannot be expressed as an event table; use "
                               "simulate_dataset")
        if e != 1:
            continue
        if cols["SS"][k] != 0:
            raise DatasetError(data.path, row, std.get("SS", "SS"),
                               "a steady-state dose cannot be expressed as an event table; use "
                               "simulate_dataset")
        cmt = int(cols["CMT"][k]) or 1
        amt = cols["AMT"][k] * fac["amount"]
        rate = cols["RATE"][k]
        at = data.item("TIME")[sl.start + k] * fac["time"]
        if rate < 0:
            raise DatasetError(data.path, row, std.get("RATE", "RATE"),
                               f"RATE = {rate:g} (from the model) cannot be expressed as an "
                               "event table; use simulate_dataset")
        if cmt - 1 == idx["central"]:
            ev = Infusion(dose=amt, rate=rate * fac["rate"], at=at) if rate > 0 else \
                Bolus(amt, at=at)
        elif cmt - 1 == idx["depot"] and rate == 0:
            ev = Inhalation(amt, at=at)
        else:
            raise DatasetError(data.path, row, std.get("CMT", "CMT"),
                               f"a dose into compartment {cmt}"
                               f"{' as an infusion' if rate > 0 else ''} cannot be expressed "
                               "as an event table; use simulate_dataset")
        n_addl = int(cols["ADDL"][k])
        if n_addl:
            events.extend(Regimen((ev,)).every(cols["II"][k] * fac["time"],
                                               addl=n_addl).events)
        else:
            events.append(ev)
    if not events:
        raise ValidationError("subject", f"ID {subject!r} of {data.path} has no doses")
    return Regimen(tuple(events))


def subject_event_table(model, data: NonmemDataset, subject):
    """One subject's doses as an :class:`~dmtpk.regimen.EventTable` (see
    :func:`subject_regimen` for what is accepted)."""
    from .regimen.table import EventTable
    model = load_model(model)
    return EventTable.from_regimen(subject_regimen(model, data, subject), model.routes)


def observations(data: NonmemDataset) -> dict:
    """Observation records (EVID 0, MDV 0, DV present): the targets of a fit.

    Returns
    -------
    dict of ndarray
        ``record`` (position in the dataset), ``row`` (file row), ``id``, ``time`` (min),
        ``dv`` (as written, in the dataset's concentration unit for concentrations), ``dvid``
        and ``cmt`` (NaN where absent).
    """
    evid = data.item("EVID")
    mdv = data.item("MDV")
    dv = data.item("DV")
    sel = np.flatnonzero((evid == 0) & ~(mdv == 1) & ~np.isnan(dv))
    return {"record": sel, "row": data.rows[sel], "id": data.item("ID")[sel],
            "time": data.item("TIME")[sel] * data.unit_factors()["time"], "dv": dv[sel],
            "dvid": data.item("DVID")[sel], "cmt": data.item("CMT")[sel]}
