"""Exposure and effect metrics.

Exposure (non-compartmental, on the output grid): Cmax and Tmax, AUC from the first to the last
output time by the linear-up/log-down trapezoidal rule, and the terminal half-life from a
log-linear fit to the last three positive points after Tmax. When the continuous solution is
available, Cmax and Tmax are refined between grid points, so they do not depend on the grid.

Effect (on the continuous solution): onset and offset are the first and last times the response
crosses its threshold, found by root finding (Brent's method to 1e-10 min) on brackets from a
dense grid, never by interpolating the output grid. Peaks (Cmax, peak response) are located on
the same dense grid and refined by a bounded scalar search, which stops near sqrt(eps) x t
(about 1e-7 min at t = 60 min). Duration is the total time beyond the
threshold ("beyond" is above for a response the drug raises and below for one it lowers).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["ExposureMetrics", "EffectMetrics", "auc_linear_up_log_down", "terminal_half_life",
           "exposure_metrics", "effect_metrics", "threshold_crossings"]

#: Points of the dense grid used to bracket threshold crossings and peaks.
DENSE_POINTS = 4001
#: Points added after the events of a long regimen, in all (see :func:`_dense_grid`).
MAX_LOCAL_POINTS = 2_000_000


@dataclass(frozen=True)
class ExposureMetrics:
    """Plasma exposure. ``cmax`` ng/mL, ``tmax`` min, ``auc`` ng·min/mL, ``half_life`` min."""

    cmax: float
    tmax: float
    auc: float
    half_life: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class EffectMetrics:
    """One endpoint's time course against a threshold; times in min, ``peak`` in its unit.

    ``onset`` and ``offset`` are NaN when the response never goes beyond the threshold;
    ``offset`` is NaN too when it is still beyond at the last time (``censored`` is then True).
    """

    endpoint: str
    threshold: float
    direction: int
    onset: float
    peak: float
    time_to_peak: float
    offset: float
    duration: float
    censored: bool

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def auc_linear_up_log_down(t: np.ndarray, c: np.ndarray) -> float:
    """AUC over the grid: linear trapezoids where c rises or is flat, logarithmic where it falls
    between two positive values."""
    t = np.asarray(t, dtype=float)
    c = np.asarray(c, dtype=float)
    dt = np.diff(t)
    c0, c1 = c[:-1], c[1:]
    lin = 0.5 * (c0 + c1) * dt
    down = (c1 < c0) & (c1 > 0) & (c0 > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log = np.where(down, (c0 - c1) * dt / np.log(np.where(down, c0 / c1, 2.0)), 0.0)
    return float(np.sum(np.where(down, log, lin)))


def terminal_half_life(t: np.ndarray, c: np.ndarray, n_points: int = 3) -> float:
    """ln 2 / λz, λz from a least-squares line through log c at the last ``n_points`` positive
    points after Tmax; NaN if there are too few or the line does not fall."""
    t = np.asarray(t, dtype=float)
    c = np.asarray(c, dtype=float)
    imax = int(np.argmax(c))
    tt, cc = t[imax + 1:], c[imax + 1:]
    keep = cc > 0
    tt, cc = tt[keep][-n_points:], cc[keep][-n_points:]
    if tt.size < n_points:
        return math.nan
    slope = np.polyfit(tt, np.log(cc), 1)[0]
    return math.log(2.0) / -slope if slope < 0 else math.nan


def _refine_extreme(fn, t: np.ndarray, y: np.ndarray, sign: int) -> tuple[float, float]:
    """Refine the grid maximum of sign*y with a bounded scalar search of the continuous fn."""
    i = int(np.argmax(sign * y))
    best_t, best_y = float(t[i]), float(y[i])
    if fn is None:
        return best_t, best_y
    from scipy.optimize import minimize_scalar  # imported on use: keeps `import dmtpk` light
    for lo, hi in ((max(i - 1, 0), i), (i, min(i + 1, t.size - 1))):
        if hi <= lo or t[hi] <= t[lo]:
            continue
        res = minimize_scalar(lambda s: -sign * float(fn(np.array([s]))[0]),
                              bounds=(t[lo], t[hi]), method="bounded",
                              options={"xatol": 1e-10 * max(1.0, t[hi])})
        val = float(fn(np.array([res.x]))[0])
        if sign * val > sign * best_y:
            best_t, best_y = float(res.x), val
    return best_t, best_y


def _dense_grid(t0: float, t1: float, t: np.ndarray, extra_times) -> np.ndarray:
    """The grid on which extremes and threshold crossings are bracketed, whatever the span:
    the output grid, a uniform grid of :data:`DENSE_POINTS`, the event times in [t0, t1], and
    after each event a geometric grid up to the next event (or ``t1``) that starts 1e-4 min
    after it and grows by a few per cent per point, so that the response's fast rise and fall
    after every dose is resolved even when a month of doses spans the uniform grid's 11-minute
    spacing. At most about :data:`MAX_LOCAL_POINTS` points are added in all."""
    extra = np.asarray(extra_times, dtype=float)
    events = np.unique(extra[(extra >= t0) & (extra < t1)])
    parts = [np.asarray(t, dtype=float), np.linspace(t0, t1, DENSE_POINTS), events]
    if events.size:
        per_event = int(max(50, min(400, MAX_LOCAL_POINTS // events.size)))
        ends = np.append(events[1:], t1)
        for e, end in zip(events, ends):
            width = end - e
            if width > 1e-4:
                parts.append(e + np.geomspace(1e-4, width, per_event))
    grid = np.unique(np.concatenate(parts))
    return grid[(grid >= t0) & (grid <= t1)]


def exposure_metrics(t: np.ndarray, c: np.ndarray, fn=None, extra_times=()) -> ExposureMetrics:
    """Exposure metrics of a concentration profile.

    Parameters
    ----------
    t : ndarray, shape (n,)
        Times (min), sorted.
    c : ndarray, shape (n,)
        Concentrations (ng/mL).
    fn : callable, optional
        Continuous concentration, times -> ng/mL. Cmax and Tmax are then searched on a dense
        grid (plus ``extra_times``, the event times) and refined between its points, so they do
        not depend on the output grid (a profile may fall and rise again between two output
        times, as after a bolus followed by a lagged dose).
    extra_times : sequence of float
        Event times to include in the dense grid.
    """
    if fn is None:
        tmax, cmax = _refine_extreme(None, t, c, +1)
    else:
        grid = _dense_grid(float(t[0]), float(t[-1]), t, extra_times)
        tmax, cmax = _refine_extreme(fn, grid, fn(grid), +1)
    return ExposureMetrics(cmax=float(cmax), tmax=float(tmax),
                           auc=auc_linear_up_log_down(t, c),
                           half_life=float(terminal_half_life(t, c)))


def threshold_crossings(fn, grid: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Times at which the continuous ``fn`` crosses ``threshold``.

    Returns (times, kind) with kind +1 for an upward crossing and -1 for a downward one. Each
    crossing is bracketed by consecutive grid points with a sign change and solved with Brent's
    method to 1e-10 min.
    """
    from scipy.optimize import brentq  # imported on use: keeps `import dmtpk` light
    g = fn(grid) - threshold
    above = g > 0
    change = np.flatnonzero(above[1:] != above[:-1])
    times, kinds = [], []
    for i in change:
        a, b = grid[i], grid[i + 1]
        ga = g[i]
        if ga == 0.0:
            root = a
        else:
            root = brentq(lambda s: float(fn(np.array([s]))[0]) - threshold, a, b,
                          xtol=1e-10, rtol=4 * np.finfo(float).eps)
        times.append(root)
        kinds.append(1 if above[i + 1] else -1)
    return np.asarray(times), np.asarray(kinds, dtype=int)


def effect_metrics(name: str, fn, t0: float, t1: float, threshold: float, direction: int,
                   extra_times=()) -> EffectMetrics:
    """Onset, peak, offset and duration beyond ``threshold`` of a continuous response on
    [t0, t1].

    Parameters
    ----------
    fn : callable
        Response as a function of time (array in, array out).
    direction : {+1, -1}
        +1 when "beyond" means above the threshold, -1 when it means below.
    extra_times : sequence of float
        Times to include in the bracketing grid (event times, where the response may jump).
    """
    grid = _dense_grid(t0, t1, np.array([t0, t1]), extra_times)
    s = float(direction)

    def g(x):
        return s * fn(x)

    y = g(grid)
    t_peak, y_peak = _refine_extreme(g, grid, y, +1)
    if not np.any(grid == t_peak):
        # The refined peak joins the grid: an episode briefer than the grid's spacing around
        # it is then bracketed, and a peak beyond the threshold always has a duration.
        k = int(np.searchsorted(grid, t_peak))
        grid = np.insert(grid, k, t_peak)
        y = np.insert(y, k, y_peak)
    times, kinds = threshold_crossings(g, grid, s * threshold)
    beyond_start = y[0] > s * threshold
    ups = list(times[kinds > 0])
    downs = list(times[kinds < 0])
    starts = ([t0] if beyond_start else []) + ups
    ends = downs + ([t1] if y[-1] > s * threshold else [])
    duration = float(sum(e - b for b, e in zip(starts, ends)))
    onset = starts[0] if starts else math.nan
    censored = bool(y[-1] > s * threshold)
    offset = (downs[-1] if downs and not censored else math.nan)
    return EffectMetrics(endpoint=name, threshold=float(threshold), direction=int(direction),
                         onset=float(onset), peak=float(s * y_peak), time_to_peak=float(t_peak),
                         offset=float(offset), duration=duration, censored=censored)
