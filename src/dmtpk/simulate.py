"""``simulate``: one subject, any regimen. Orchestrates; holds no numerics."""

from __future__ import annotations

import numpy as np

from .engines import check_ode_method, check_tolerances, choose_engine, solve
from .engines.records import solve_records
from .engines.resolve import resolve_events
from .engines.scipy_ivp import DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL
from .library import load_model
from .regimen.events import Regimen, SteadyState, as_regimen
from .regimen.records import RECORD_FIELDS, regimen_records
from .regimen.table import EventTable
from .results import Result
from .errors import ValidationError
from .units import times_to_canonical, to_canonical

__all__ = ["simulate"]


def simulate(model, regimen, times, method: str = "auto", weight=None, parameters=None,
             ode_method: str = DEFAULT_METHOD, rtol: float = DEFAULT_RTOL,
             atol: float = DEFAULT_ATOL) -> Result:
    """Simulate one subject.

    Parameters
    ----------
    model : str, path or Model
        A library name, a model file, or a loaded model.
    regimen : Bolus, Infusion, Inhalation or Regimen
    times : array-like
        Output times: minutes as bare numbers, or a Quantity array / strings; sorted, >= 0.
    method : {"auto", "analytic", "scipy"}
        Engine; ``"auto"`` uses the exact engine for linear models, SciPy otherwise.
    weight : Quantity, str or float, optional
        Body weight (kg), needed for per-kg doses.
    parameters : dict, optional
        Typical values to replace for this run (``{"CL": "20 L/min"}``): Quantities, strings
        or numbers in canonical units (see :meth:`Model.with_parameters`).
    ode_method, rtol, atol
        SciPy engine settings (``solve_ivp`` method and tolerances).

    Returns
    -------
    Result
        ``.time`` (min), ``.concentration`` (ng/mL), ``.effect_site``, ``.effect``,
        ``.effects[name]``, ``.amounts``, ``.metrics()``, ``.plot()``; ``.engine`` names the
        engine that ran.

    Examples
    --------
    >>> import dmtpk
    >>> r = dmtpk.simulate("eckernas2022", dmtpk.Bolus("20 mg", salt="fumarate"), [0, 2, 5, 20])
    >>> r.engine
    'analytic'
    """
    model = load_model(model)
    rtol, atol = check_tolerances(rtol, atol)
    check_ode_method(ode_method)
    if parameters is not None:
        model = model.with_parameters(parameters)  # errors name parameters.<name>
    regimen = as_regimen(regimen)
    steady = any(isinstance(ev, SteadyState) for ev in regimen)
    # A steady-state event stands for its dose in the event table (the doses given from 0).
    doses = Regimen(tuple(ev.event if isinstance(ev, SteadyState) else ev for ev in regimen))
    table = EventTable.from_regimen(doses, model.routes)
    t = times_to_canonical(times)
    w = None if weight is None else to_canonical(weight, "weight", "weight")
    if w is not None and not w > 0:
        raise ValidationError("weight", f"must be a positive body weight, got {weight!r}")
    model.check_regimen(doses, weight=w)  # warns once outside the model's fitted range
    if steady:
        return _simulate_records(model, regimen, table, t, w, method, ode_method, rtol, atol)
    compiled = model.compiled
    theta = compiled.theta
    f_inh, lag_inh, ka = compiled.route_parameters(theta)
    resolved = resolve_events(table, f_inh, lag_inh, ka, w)
    trajectory, engine = solve(compiled, theta, resolved, float(t[-1]), method=method,
                               ode_method=ode_method, rtol=rtol, atol=atol)
    states = trajectory(t)
    return Result(model=model, time=t, states=states, theta=np.array(theta), engine=engine,
                  trajectory=trajectory, events=resolved)


def _simulate_records(model, regimen, table, t, w, method, ode_method, rtol, atol) -> Result:
    """A regimen with steady-state doses, through the record walker: output records at the
    times ``t`` (min), and a trajectory that walks the records again for any other times.
    ``table`` is the regimen's event table with each steady-state event as its dose."""
    compiled = model.compiled
    theta = np.array(compiled.theta)
    idx = compiled.index
    engine = choose_engine(compiled, method)
    f_inh, lag_inh, ka = compiled.route_parameters(theta)
    a = compiled.system_matrix(theta)
    accum = compiled.accumulators
    mm = None if compiled.linear else compiled.mm_parameters(theta)

    def trajectory(at):
        at = np.atleast_1d(np.asarray(at, dtype=float))
        rec = regimen_records(regimen, central=idx["central"], depot=idx["depot"],
                              n_states=compiled.n_states, times=at, f_inhaled=f_inh,
                              lag_inhaled=lag_inh, weight=w, linear=compiled.linear)
        states = solve_records(a, *(rec[k] for k in RECORD_FIELDS), accumulators=accum,
                               method=engine, mm=mm, central=idx["central"],
                               eliminated=idx["eliminated"], metabolite=idx["metabolite"],
                               ode_method=ode_method, rtol=rtol, atol=atol)
        out = states[rec["evid"] == 2]
        order = np.argsort(np.argsort(at, kind="stable"), kind="stable")
        return out[order]

    return Result(model=model, time=t, states=trajectory(t), theta=theta, engine=engine,
                  trajectory=trajectory, events=resolve_events(table, f_inh, lag_inh, ka, w))
