"""``simulate``: one subject, any regimen. Orchestrates; holds no numerics."""

from __future__ import annotations

import numpy as np

from .engines import solve
from .engines.scipy_ivp import DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL
from .library import load_model
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
        Typical values to replace for this run (``{"CL": "20 L/min"}``).
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
    if parameters:
        model = model.with_parameters(**parameters)
    table = EventTable.from_regimen(regimen, model.routes)
    t = times_to_canonical(times)
    w = None if weight is None else to_canonical(weight, "weight", "weight")
    if w is not None and not w > 0:
        raise ValidationError("weight", f"must be a positive body weight, got {weight!r}")
    model.check_regimen(regimen, weight=w)  # warns once outside the model's fitted range
    compiled = model.compiled
    theta = compiled.theta
    f_inh, lag_inh, ka = compiled.route_parameters(theta)
    resolved = table.resolve(f_inh, lag_inh, ka, w)
    trajectory, engine = solve(compiled, theta, resolved, float(t[-1]), method=method,
                               ode_method=ode_method, rtol=rtol, atol=atol)
    states = trajectory(t)
    return Result(model=model, time=t, states=states, theta=np.array(theta), engine=engine,
                  trajectory=trajectory, events=resolved)
