"""Engines: the exact solution for linear models and the SciPy reference integrator.

:func:`solve` maps a subject's resolved dosing input onto the compiled model's states and runs the
chosen engine. Both engines read the same system matrix from
:meth:`~dmtpk.model.compiled.CompiledModel.system_matrix`.
"""

from __future__ import annotations

import numpy as np

from ..errors import ValidationError
from ..model.compiled import CompiledModel
from ..regimen.table import ResolvedEvents
from .analytic import solve_linear
from .scipy_ivp import DEFAULT_ATOL, DEFAULT_METHOD, DEFAULT_RTOL, solve_ode

__all__ = ["solve", "choose_engine", "ENGINES", "check_tolerances"]

ENGINES = ("auto", "analytic", "scipy")


def check_tolerances(rtol, atol) -> tuple[float, float]:
    """The integrator tolerances as floats; each must be a positive finite number (a negative
    or NaN tolerance made the integrators return negative concentrations)."""
    out = []
    for name, tol in (("rtol", rtol), ("atol", atol)):
        ok = isinstance(tol, (int, float, np.integer, np.floating)) and not isinstance(tol, bool)
        if not (ok and np.isfinite(tol) and tol > 0):
            raise ValidationError(name, f"must be a positive finite number, got {tol!r}")
        out.append(float(tol))
    return out[0], out[1]


#: ``solve_ivp`` methods the SciPy engine accepts.
ODE_METHODS = ("LSODA", "Radau", "BDF", "RK45", "RK23", "DOP853")


def check_ode_method(method) -> str:
    """``method`` if it is one of :data:`ODE_METHODS` (refused by name before any solving,
    instead of a solver failure deep in SciPy)."""
    if not isinstance(method, str) or method not in ODE_METHODS:
        raise ValidationError("ode_method", f"unknown solve_ivp method {method!r}; expected "
                                            f"one of {', '.join(ODE_METHODS)}")
    return method


def choose_engine(compiled: CompiledModel, method: str) -> str:
    """``"analytic"`` or ``"scipy"`` for ``method`` (``"auto"``: exact whenever the model is
    linear); refuses an unknown method and the exact engine for a nonlinear model."""
    if method not in ENGINES:
        raise ValidationError("method", f"unknown engine {method!r}; expected one of {ENGINES}")
    if method == "analytic" and not compiled.linear:
        raise ValidationError("method", f"the exact engine needs a linear model; "
                                        f"{compiled.name!r} has Michaelis-Menten elimination "
                                        "(use method='scipy' or 'auto')")
    return "analytic" if method == "analytic" or (method == "auto" and compiled.linear) \
        else "scipy"


def solve(compiled: CompiledModel, theta: np.ndarray, resolved: ResolvedEvents, t_end: float,
          method: str = "auto", ode_method: str = DEFAULT_METHOD, rtol: float = DEFAULT_RTOL,
          atol: float = DEFAULT_ATOL):
    """Solve one subject.

    Parameters
    ----------
    compiled : CompiledModel
    theta : ndarray, shape (n_params,)
        Parameter values in canonical units.
    resolved : ResolvedEvents
    t_end : float
        Last time (min) the trajectory must cover (the SciPy engine integrates up to it).
    method : {"auto", "analytic", "scipy"}
        ``"auto"`` uses the exact engine whenever the model is linear.

    Returns
    -------
    trajectory : callable
        Maps times (min), shape (m,), to states, shape (m, n_states + extra depots).
    engine : str
        ``"analytic"`` or ``"scipy"``, the engine that ran.
    """
    engine = choose_engine(compiled, method)
    a = compiled.system_matrix(theta, resolved.depot_kas)
    n = a.shape[0]
    targets = compiled.input_states(resolved.jumps.shape[1])
    jumps = np.zeros((resolved.breaks.size, n))
    rates = np.zeros((resolved.breaks.size, n))
    jumps[:, targets] = resolved.jumps
    rates[:, targets] = resolved.rates
    if engine == "analytic":
        return solve_linear(a, resolved.breaks, jumps, rates), "analytic"
    idx = compiled.index
    mm = None if compiled.linear else compiled.mm_parameters(theta)
    traj = solve_ode(a, resolved.breaks, jumps, rates, t_end, mm=mm, central=idx["central"],
                     eliminated=idx["eliminated"], metabolite=idx["metabolite"],
                     method=ode_method, rtol=rtol, atol=atol)
    return traj, "scipy"
