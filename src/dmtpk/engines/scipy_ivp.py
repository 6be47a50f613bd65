"""Reference engine: ``scipy.integrate.solve_ivp`` integrated piecewise between event times.

The integrator restarts at every event time (dose, lag end, infusion start or stop), so
boluses, lags and rate changes are exact and never stepped over. It handles any model,
Michaelis–Menten elimination included, and is the reference for nonlinear ones.
"""

from __future__ import annotations

import numpy as np

from ..errors import SolverError
from .._kernels.elimination import mm_dflux_dc, mm_flux

__all__ = ["solve_ode", "system_functions", "OdeTrajectory", "DEFAULT_RTOL", "DEFAULT_ATOL"]

DEFAULT_METHOD = "LSODA"
#: Default tolerances: relative 1e-10; absolute 1e-14 in state units (mg, or mg/L for effect
#: compartments), far below any concentration of interest for doses of a few mg and up.
DEFAULT_RTOL = 1e-10
DEFAULT_ATOL = 1e-14


class OdeTrajectory:
    """Continuous solution from the integrator's dense output; call with times (min)."""

    def __init__(self, n: int, breaks: np.ndarray, segments: list):
        self.n = n
        self.breaks = breaks
        self.segments = segments  # per break: (start state, OdeSolution or None, t_end)

    def __call__(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.zeros((t.size, self.n))
        seg = np.searchsorted(self.breaks, t, side="right") - 1
        for k in np.unique(seg):
            if k < 0:
                continue
            sel = seg == k
            x0, sol, t_end = self.segments[k]
            if sol is None:
                out[sel] = x0
                continue
            tk = t[sel]
            if np.any(tk > t_end):
                raise ValueError(f"time {tk.max()} lies beyond the integrated range {t_end}")
            out[sel] = sol(tk).T
        return out


def system_functions(a: np.ndarray, b: np.ndarray, mm: np.ndarray | None, central: int,
                     eliminated: int, metabolite: int):
    """Right-hand side and Jacobian of :math:`\\dot x = A x + b - f_{MM}(x)` for ``solve_ivp``.

    ``mm`` is None for a linear model, else (VMAX, KM, V1, metabolite mass per mg eliminated):
    the flux VMAX C/(KM + C), C = x[central]/V1, leaves ``central`` and enters ``eliminated``
    (and ``metabolite``) when those are >= 0.
    """
    if mm is None:
        return (lambda t, x: a @ x + b), (lambda t, x: a)
    vmax, km, v1, fm_mass = mm
    c, e, m = central, eliminated, metabolite

    def fun(t, x):
        dx = a @ x + b
        flux = mm_flux(x[c] / v1, vmax, km)
        dx[c] -= flux
        if e >= 0:
            dx[e] += flux
        if m >= 0:
            dx[m] += fm_mass * flux
        return dx

    def jac(t, x):
        j = a.copy()
        d = mm_dflux_dc(x[c] / v1, vmax, km) / v1  # d flux / d x_central
        j[c, c] -= d
        if e >= 0:
            j[e, c] += d
        if m >= 0:
            j[m, c] += fm_mass * d
        return j

    return fun, jac


def solve_ode(a: np.ndarray, breaks: np.ndarray, jumps: np.ndarray, rates: np.ndarray,
              t_end: float, mm: np.ndarray | None = None, central: int = 0, eliminated: int = 0,
              metabolite: int = -1, method: str = DEFAULT_METHOD, rtol: float = DEFAULT_RTOL,
              atol: float = DEFAULT_ATOL) -> OdeTrajectory:
    """Integrate :math:`\\dot x = A x + b(t) + f_{MM}(x)` from zero state up to ``t_end``.

    Parameters
    ----------
    a, breaks, jumps, rates
        As for :func:`dmtpk.engines.analytic.solve_linear`.
    t_end : float
        Last time needed (min).
    mm : ndarray, shape (4,), optional
        (VMAX, KM, V1, metabolite mass per mg eliminated) for Michaelis–Menten elimination from
        state ``central`` into ``eliminated`` (and ``metabolite``).
    method : str
        Any ``solve_ivp`` method; LSODA (default), Radau and BDF cope with stiff systems.
    rtol, atol : float
        Integrator tolerances.

    Raises
    ------
    SolverError
        When the integrator fails; names the time.
    """
    from scipy.integrate import solve_ivp  # imported on use: keeps `import dmtpk` light
    n = a.shape[0]
    stiff = method in ("LSODA", "Radau", "BDF")
    segments = []
    x = np.zeros(n)
    for k, t0 in enumerate(breaks):
        x = x + jumps[k]
        t1 = breaks[k + 1] if k + 1 < breaks.size else max(t_end, t0)
        fun, jac = system_functions(a, rates[k], mm, central, eliminated, metabolite)
        kwargs = {"jac": jac} if stiff else {}
        if t1 <= t0:
            segments.append((x.copy(), None, t0))
            continue
        if t1 - t0 <= 1e-12 * max(1.0, abs(t0)):
            # Events a few ulp apart: no integrator accepts such a span; one Euler step is
            # exact to O(span^2), far below rounding.
            x0 = x.copy()
            x = x + (t1 - t0) * fun(t0, x)
            segments.append((x0, None, t1))
            continue
        try:
            res = solve_ivp(fun, (t0, t1), x, method=method, rtol=rtol, atol=atol,
                            dense_output=True, **kwargs)
        except ValueError as exc:  # e.g. tolerances so small that steps stop advancing
            raise SolverError(f"solve_ivp ({method}) failed: {exc}", time=float(t0)) from None
        if res.status < 0:
            raise SolverError(f"solve_ivp ({method}) failed: {res.message}", time=float(res.t[-1]))
        segments.append((x.copy(), res.sol, t1))
        x = res.y[:, -1].copy()
    return OdeTrajectory(n, breaks, segments)
