"""``simulate_dataset``: predictions on a dataset's records, with random effects and residual
error when asked; one subject's doses as a regimen; a dataset's observation records."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from numbers import Number

import numpy as np

from ..engines.scipy_ivp import DEFAULT_METHOD
from ..errors import ValidationError
from ..io.nonmem import DatasetError, NonmemDataset
from ..library import load_model
from ..units import MG_PER_L_TO_NG_PER_ML
from .prepare import prepare_dataset

__all__ = ["simulate_dataset", "DatasetResult", "compartment_numbers", "subject_regimen",
           "subject_event_table", "observations"]


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


#: Datasets prepared for a model, most recently used last: a dataset and a model are immutable,
#: so a second call with the same objects and options reuses the preparation (record arrays,
#: validation, covariate factors) and pays only for the prediction.
_PREPARED: OrderedDict = OrderedDict()
#: How many prepared datasets are kept (each holds its dataset and model alive).
PREPARED_CACHE_SIZE = 4


def _frozen(value):
    """A hashable stand-in for an option value; raises TypeError for what has none."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, Number):
        return (type(value).__name__, repr(value))
    if isinstance(value, dict) or hasattr(value, "items"):
        return ("map",) + tuple(sorted((repr(k), _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("seq",) + tuple(_frozen(v) for v in value)
    if hasattr(value, "magnitude") and hasattr(value, "units"):  # a pint Quantity
        return ("quantity", repr(value.magnitude), str(value.units))
    raise TypeError(type(value).__name__)


def _prepared(model, data, options: dict):
    """:func:`prepare_dataset` of ``model`` and ``data`` with ``options`` and the output label
    of every record (read-only), reused while the same model and dataset objects come back with
    equal options."""
    model = load_model(model)
    try:
        key = (id(model), id(data), _frozen(options))
    except TypeError:  # an option without a hashable form: prepare afresh
        key = None
    hit = _PREPARED.get(key) if key is not None else None
    if hit is not None and hit[0] is model and hit[1] is data:
        _PREPARED.move_to_end(key)
        return hit[2], hit[3]
    prep = prepare_dataset(model, data, **options)
    output = prep.labels[prep.code]
    output.setflags(write=False)
    if key is not None:
        _PREPARED[key] = (model, data, prep, output)
        while len(_PREPARED) > PREPARED_CACHE_SIZE:
            _PREPARED.popitem(last=False)
    return prep, output


def compartment_numbers(model) -> dict:
    """NONMEM compartment number of each state of ``model`` (1-based, state order)."""
    model = load_model(model)
    return {name: k + 1 for k, name in enumerate(model.compiled.state_names)}


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
        integrator (Michaelis-Menten models, steady states iterated to convergence; superposed
        steady states, steady-state constant infusions and stiff segments go to the
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
    if (variability or residual) and seed is None:
        raise ValidationError("seed", "random effects and residual error need a seed")
    prep, output = _prepared(model, data, dict(
        method=method, record_values=record_values, outputs=outputs, parameters=parameters,
        subject_parameters=subject_parameters, parameter_columns=parameter_columns, ss=ss,
        ode_method=ode_method, rtol=rtol, atol=atol, ss_tol=ss_tol, batch=batch))
    model = prep.model
    compiled = model.compiled
    rng = np.random.default_rng(seed) if seed is not None else None
    rows = None
    if variability:
        from ..population.variability import build_variability, individual_parameters
        var = build_variability(model)
        if var.n_eta:
            eta = rng.standard_normal((prep.n_subjects, var.n_eta)) @ var.chol.T
            rows = individual_parameters(np.asarray(compiled.theta), var, eta)
    theta_rec = prep.theta_records(rows)
    states = prep.states(theta_rec)
    pred, conc, effects = prep.outputs(states, theta_rec)
    labels = prep.labels
    code = prep.code
    to_data_conc = prep.to_data_conc
    n_rec = len(data)

    simulated = None
    if residual:
        evid = data.item("EVID")
        from ..population.variability import apply_residual, build_residual
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

    return DatasetResult(data=data, engine=prep.engine, id=data.item("ID").copy(),
                         time=data.item("TIME").copy(), pred=pred,
                         concentration=conc["parent"] * MG_PER_L_TO_NG_PER_ML, effects=effects,
                         output=output, states=states, theta=theta_rec,
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
    from ..regimen.events import Bolus, Infusion, Inhalation, Regimen
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
    from ..regimen.table import EventTable
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
