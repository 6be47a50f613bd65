r"""Regimen design: the regimen that holds an effect inside a window ``[low, high]`` over a
time span, for the typical subject or for a stated share of a population.

Templates: a bolus at time 0 and an infusion from time 0 (``bolus`` mg, ``rate`` mg/min,
``duration`` min), or ``count`` inhalations of ``dose`` mg every ``interval`` min from time 0;
any parameter can be fixed, the others have bounds.

* **Typical subject**: the regimen minimises the integrated squared excursion of the effect
  outside the window over ``[start, end]`` (on a 0.1-min grid),
  :math:`\int \max(0, low - E)^2 + \max(0, E - high)^2\,dt`, which is smooth in the
  parameters and 0 exactly when the effect stays inside; with a penalty (10^6 per unit
  squared) for a total dose or a Cmax above their limits. L-BFGS-B from several starts.
* **Population** (``population=n``): the regimen maximises the share of subjects whose effect
  stays inside the window over the whole span (and whose Cmax stays under ``cmax``), with the
  same subjects (one seed: common random numbers) for every candidate, by differential
  evolution (derivative-free: the share is a step function). The chosen regimen's share is then
  re-estimated on a fresh population (another seed) and reported with a 95 % Wilson interval,
  so that the figure is not optimistic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import ValidationError
from .library import load_model
from .regimen.events import Bolus, Infusion, Regimen
from .units import MG_PER_L_TO_NG_PER_ML, to_canonical

__all__ = ["design", "DesignResult", "PARAMETERS", "TEMPLATES", "population_view",
           "PopulationView"]

#: Templates: their parameters and kinds.
TEMPLATES = {"bolus+infusion": {"bolus": "amount", "rate": "rate", "duration": "time"},
             "inhalations": {"dose": "amount", "interval": "time"}}
#: Parameters of the default template.
PARAMETERS = TEMPLATES["bolus+infusion"]
_GRID = 0.1      # min
_Z95 = 1.959963984540054


@dataclass(frozen=True, eq=False)
class DesignResult:
    """A designed regimen.

    Attributes
    ----------
    values : dict
        The template's parameters: ``bolus`` (mg), ``rate`` (mg/min), ``duration`` (min); or
        ``dose`` (mg), ``interval`` (min).
    regimen : Regimen
    time_in_window : float
        Typical subject: minutes of ``[start, end]`` with the effect inside the window.
    share : float
        Population: share of the optimisation population inside the window over the whole span
        (NaN for a typical-subject design).
    validation_share : float
        The same on a fresh population (another seed).
    validation_ci : (float, float)
        Its 95 % Wilson interval.
    total_dose : float
        mg.
    objective : float
        The minimised value.
    """

    values: dict
    regimen: Regimen
    time_in_window: float
    share: float
    validation_share: float
    validation_ci: tuple
    total_dose: float
    objective: float


def _build(template, v, count) -> Regimen:
    """The regimen of a template for parameter values ``v``."""
    if template == "inhalations":
        from .regimen.events import Inhalation
        dose = max(v["dose"], 1e-12)
        first = Regimen((Inhalation(dose),))
        return first.every(max(v["interval"], 1e-9), times=count) if count > 1 else first
    return _regimen(v["bolus"], v["rate"], v["duration"])


def _regimen(bolus, rate, duration) -> Regimen:
    events = []
    if bolus > 0:
        events.append(Bolus(bolus))
    if rate > 0 and duration > 0:
        events.append(Infusion(rate=rate, duration=duration))
    if not events:
        events.append(Bolus(1e-12))   # nothing given: a negligible dose keeps the engines happy
    return Regimen(tuple(events))


def _time_inside(t, inside) -> float:
    """Minutes inside the window on the grid ``t``: each interval counts by the share of its
    two ends inside (the trapezoid rule on the indicator)."""
    ind = inside.astype(float)
    return float(np.sum(0.5 * (ind[1:] + ind[:-1]) * np.diff(t)))


def _endpoint_window(model, endpoint, window):
    """(endpoint, low, high): the endpoint (default the model's first) and a finite window
    ``low < high``, each error naming its argument."""
    ep = model.endpoint(endpoint) if endpoint else (model.effects[0] if model.effects
                                                     else None)
    if ep is None:
        raise ValidationError("endpoint", f"model {model.name!r} has no effect endpoint")
    try:
        low, high = (float(v) for v in window)
    except (TypeError, ValueError):
        raise ValidationError("window", f"expected (low, high), got {window!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValidationError("window", f"expected finite low < high, got {window!r}")
    return ep, low, high


def _wilson(k, n):
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + _Z95 ** 2 / n
    mid = (p + _Z95 ** 2 / (2 * n)) / den
    half = _Z95 * math.sqrt(p * (1 - p) / n + _Z95 ** 2 / (4 * n * n)) / den
    return (mid - half, mid + half)


def design(model, window, span, *, template: str = "bolus+infusion", count: int = 1,
           endpoint: str | None = None, bounds=None, fixed=None,
           max_total_dose=None, cmax=None, population: int | None = None,
           seed: int | None = None, validation: int | None = None, starts: int = 4,
           maxiter: int = 30) -> DesignResult:
    """Design a bolus + infusion regimen (see the module docstring).

    Parameters
    ----------
    model : str, path or Model
    window : (float, float)
        ``(low, high)`` of the endpoint (its unit).
    span : (time, time)
        ``(start, end)`` over which the effect must stay in the window (Quantity, string or
        minutes).
    template : {"bolus+infusion", "inhalations"}
        A bolus and an infusion from time 0 (``bolus``, ``rate``, ``duration``), or ``count``
        inhalations of ``dose`` every ``interval`` from time 0.
    count : int
        Inhalations (``"inhalations"``).
    endpoint : str, optional
        Default the model's first.
    bounds : dict, optional
        ``{"bolus": ("0 mg", "30 mg"), "rate": ("0 mg/min", "2 mg/min"),
        "duration": ("1 min", "60 min")}`` (defaults: bolus 0-50 mg, rate 0-5 mg/min,
        duration the span's end).
    fixed : dict, optional
        Parameters held, ``{"duration": "30 min"}``.
    max_total_dose : Quantity, str or float, optional
        mg.
    cmax : Quantity, str or float, optional
        Plasma ceiling (a bare number is mg/L).
    population, seed, validation : int, optional
        Design for a population of ``population`` subjects drawn with ``seed``, re-estimated
        on ``validation`` (default ``4 * population``) subjects drawn with ``seed + 1``.
    starts, maxiter : int
        Local starts (typical subject) or generations (population).

    Returns
    -------
    DesignResult
    """
    from scipy.optimize import differential_evolution, minimize
    model = load_model(model)
    ep, low, high = _endpoint_window(model, endpoint, window)
    try:
        t0, t1 = (to_canonical(v, "time", f"span.{k}") for k, v in enumerate(span))
    except (TypeError, ValueError):
        raise ValidationError("span", f"expected (start, end), got {span!r}") from None
    if not 0 <= t0 < t1:
        raise ValidationError("span", f"expected 0 <= start < end, got ({t0}, {t1})")
    if template not in TEMPLATES:
        raise ValidationError("template", f"expected one of {list(TEMPLATES)}, got "
                                          f"{template!r}")
    kinds = TEMPLATES[template]
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValidationError("count", f"expected a whole number >= 1, got {count!r}")
    if template == "inhalations" and "inhaled" not in model.routes:
        raise ValidationError("template", f"model {model.name!r} has no inhaled route")
    box = {"bolus": (0.0, 50.0), "rate": (0.0, 5.0), "duration": (0.0, t1),
           "dose": (0.0, 100.0), "interval": (1.0, max(2.0, t1))}
    for k, pair in dict(bounds or {}).items():
        if k not in kinds:
            raise ValidationError(f"bounds.{k}", f"expected one of {list(kinds)}")
        lo, hi = (to_canonical(v, kinds[k], f"bounds.{k}") for v in pair)
        if not 0 <= lo < hi:
            raise ValidationError(f"bounds.{k}", f"expected 0 <= low < high, got ({lo}, {hi})")
        box[k] = (lo, hi)
    held = {}
    for k, v in dict(fixed or {}).items():
        if k not in kinds:
            raise ValidationError(f"fixed.{k}", f"expected one of {list(kinds)}")
        held[k] = to_canonical(v, kinds[k], f"fixed.{k}")
        if held[k] < 0:
            raise ValidationError(f"fixed.{k}", "must not be negative")
    free = [k for k in kinds if k not in held]
    if not free:
        raise ValidationError("fixed", "every parameter is fixed: nothing to design")
    dose_cap = to_canonical(max_total_dose, "amount", "max_total_dose") \
        if max_total_dose is not None else math.inf
    c_cap = to_canonical(cmax, "concentration", "cmax") * MG_PER_L_TO_NG_PER_ML \
        if cmax is not None else math.inf
    times = np.arange(0.0, t1 + _GRID / 2, _GRID)
    inside_span = times >= t0 - 1e-9

    def values(z):
        v = dict(held)
        v.update(zip(free, z))
        return v

    def total(v):
        if template == "inhalations":
            return v["dose"] * count
        return v["bolus"] + v["rate"] * v["duration"]

    from .simulate import simulate
    if population is None:
        def cost(z):
            v = values(z)
            res = simulate(model, _build(template, v, count), times)
            e = res.effects[ep.name][inside_span]
            out = np.sum(np.maximum(low - e, 0) ** 2 + np.maximum(e - high, 0) ** 2) * _GRID
            over_dose = max(0.0, total(v) - dose_cap)
            over_c = max(0.0, float(res.concentration.max()) - c_cap)
            return float(out + 1e6 * (over_dose ** 2 + over_c ** 2))

        rng = np.random.default_rng(0 if seed is None else seed)
        lo = np.array([box[k][0] for k in free])
        hi = np.array([box[k][1] for k in free])
        best = None
        for s in range(max(1, int(starts))):
            z0 = 0.5 * (lo + hi) if s == 0 else lo + rng.random(lo.size) * (hi - lo)
            r = minimize(cost, z0, method="L-BFGS-B", bounds=list(zip(lo, hi)))
            if best is None or r.fun < best.fun:
                best = r
        v = values(best.x)
        res = simulate(model, _build(template, v, count), times)
        e = res.effects[ep.name]
        tin = _time_inside(times[inside_span], ((e >= low) & (e <= high))[inside_span])
        return DesignResult(values=v, regimen=_build(template, v, count),
                            time_in_window=tin, share=math.nan, validation_share=math.nan,
                            validation_ci=(math.nan, math.nan), total_dose=total(v),
                            objective=float(best.fun))

    from .population import simulate_population
    if isinstance(population, bool) or not isinstance(population, (int, np.integer)) \
            or population < 10:
        raise ValidationError("population", f"expected at least 10 subjects, got "
                                            f"{population!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValidationError("seed", f"a population design needs an integer seed, got "
                                      f"{seed!r}")
    n_val = 4 * int(population) if validation is None else int(validation)

    def shares(v, n, s):
        pop = simulate_population(model, _build(template, v, count),
                                  times, n=n, seed=s, progress=False)
        e = pop.effects[ep.name]
        ok = np.all((e[:, inside_span] >= low) & (e[:, inside_span] <= high), axis=1)
        ok &= pop.concentration.max(axis=1) <= c_cap
        return ok

    def neg_share(z):
        v = values(z)
        if total(v) > dose_cap:
            return 1.0 + (total(v) - dose_cap)
        return -float(shares(v, int(population), int(seed)).mean())

    r = differential_evolution(neg_share, [box[k] for k in free], seed=int(seed),
                               maxiter=int(maxiter), popsize=8, tol=1e-6, polish=False)
    v = values(r.x)
    ok = shares(v, n_val, int(seed) + 1)
    res = simulate(model, _build(template, v, count), times)
    e = res.effects[ep.name]
    tin = _time_inside(times[inside_span], ((e >= low) & (e <= high))[inside_span])
    return DesignResult(values=v, regimen=_build(template, v, count),
                        time_in_window=tin, share=float(-r.fun),
                        validation_share=float(ok.mean()),
                        validation_ci=_wilson(int(ok.sum()), ok.size), total_dose=total(v),
                        objective=float(r.fun))


@dataclass(frozen=True, eq=False)
class PopulationView:
    """A regimen seen across a population (:func:`population_view`).

    Attributes
    ----------
    time : ndarray, shape (n_times,)
        min.
    inside, above, below : ndarray, shape (n_times,)
        Share of subjects with the effect inside, above and below the window at each time.
    time_in_window : ndarray, shape (n_subjects,)
        Minutes each subject spends inside the window over the grid (trapezoid of the
        indicator on the grid).
    cmax : ndarray, shape (n_subjects,)
        ng/mL.
    ever_above : ndarray of bool, shape (n_subjects,)
        Subjects whose effect exceeds the window at some grid time (over-target intensity).
    window : (float, float)
    cmax_limit : float
        ng/mL (inf without one).
    """

    time: np.ndarray
    inside: np.ndarray
    above: np.ndarray
    below: np.ndarray
    time_in_window: np.ndarray
    cmax: np.ndarray
    ever_above: np.ndarray
    window: tuple
    cmax_limit: float

    def table(self, q=(5, 50, 95)) -> dict:
        """Percentiles of the time in the window and of Cmax, the share of subjects ever above
        the window and the share over the Cmax limit."""
        return {"time_in_window": dict(zip(q, np.percentile(self.time_in_window, q))),
                "cmax": dict(zip(q, np.percentile(self.cmax, q))),
                "share_ever_above": float(np.mean(self.ever_above)),
                "share_over_cmax": float(np.mean(self.cmax > self.cmax_limit))}

    def plot(self):
        """Shares inside/above/below over time, the time-in-window distribution and Cmax
        against the limit."""
        from .plot import population_view as figure
        return figure(self)


def population_view(model, regimen, window, times, *, n: int, seed: int,
                    endpoint: str | None = None, cmax=None) -> PopulationView:
    """The share of a simulated population inside, above and below an effect window over
    time, each subject's time in the window and its Cmax against a ceiling.

    Parameters
    ----------
    model : str, path or Model
    regimen : Regimen or event
    window : (float, float)
        ``(low, high)`` in the endpoint's unit.
    times : array-like
        Output grid (min or quantities); the shares and times in the window are grid
        statistics of this grid.
    n, seed : int
        Population size and seed (as :func:`dmtpk.simulate_population`).
    endpoint : str, optional
    cmax : Quantity, str or float, optional
        Plasma ceiling (a bare number is mg/L).
    """
    from .population import simulate_population
    model = load_model(model)
    ep, low, high = _endpoint_window(model, endpoint, window)
    limit = to_canonical(cmax, "concentration", "cmax") * MG_PER_L_TO_NG_PER_ML \
        if cmax is not None else math.inf
    pop = simulate_population(model, regimen, times, n=n, seed=seed, progress=False)
    e = pop.effects[ep.name]
    inside = (e >= low) & (e <= high)
    t = pop.time
    ind = inside.astype(float)
    tin = 0.5 * (ind[:, 1:] + ind[:, :-1]) @ np.diff(t)
    view = PopulationView(time=t, inside=inside.mean(axis=0), above=(e > high).mean(axis=0),
                          below=(e < low).mean(axis=0), time_in_window=tin,
                          cmax=pop.concentration.max(axis=1),
                          ever_above=np.any(e > high, axis=1), window=(low, high),
                          cmax_limit=limit)
    return view
