r"""Regimen design: the regimen that holds an effect inside a window ``[low, high]`` over a
time span, for the typical subject or for a stated share of a population.

Templates (every dose from time 0; any parameter can be fixed, the others have bounds):

* ``"bolus+infusion"``: a bolus (``bolus`` mg) and an infusion (``rate`` mg/min for
  ``duration`` min);
* ``"bolus+steps"``: a bolus and ``count`` consecutive infusions (``rate_1`` mg/min for
  ``duration_1`` min, then ``rate_2`` ...), a stepped infusion;
* ``"inhalations"``: ``count`` inhalations of ``dose`` mg every ``interval`` min.

Objectives:

* **Typical subject**: the regimen minimises the integrated squared excursion of the effect
  outside the window over ``[start, end]`` (on a 0.1-min grid),
  :math:`\int \max(0, low - E)^2 + \max(0, E - high)^2\,dt`, which is smooth in the
  parameters and 0 exactly when the effect stays inside; with a penalty (10^6 per unit
  squared) for a total dose, a Cmax or an effect above its limit. L-BFGS-B from several
  starts. When several regimens stay inside (the excursion is 0 on a set), a second run picks
  the one nearest the window's centre (integrated squared distance, the excursion held at 0).
* **Population** (``population=n``): the regimen maximises the share of subjects whose effect
  stays inside the window over the whole span, or, with ``share=p``, reaches that share (the
  probability of target attainment) with the smallest total dose. Constraints: the share of
  subjects whose effect ever exceeds an upper bound (``above=(level, share)``), a Cmax ceiling
  per subject or for a quantile of the population (``cmax_quantile``), the total dose and the
  infusion rate. Every candidate is judged on the same subjects (one seed: common random
  numbers) by differential evolution (derivative-free: shares are step functions). For a
  linear model the subjects' responses to a unit bolus, a unit infusion or a unit inhalation
  are simulated once and each candidate is their superposition (durations and intervals then
  move on the 0.1-min grid); other models, and fixed durations or intervals off that grid,
  are simulated per candidate. The chosen regimen's
  attainment is then re-estimated by :func:`~dmtpk.simulate_population` on a fresh population
  (another seed) and reported with a 95 % Wilson interval, so that the figure is not
  optimistic.

Bounds that exclude every feasible design (the least exposing design in the bounds already
breaks a limit: exposure rises with every dose, rate and duration and falls with the interval)
and a window the endpoint cannot reach are refused before any optimisation, naming the
argument.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import ValidationError
from .library import load_model
from .model.sections import ModelValidityWarning
from .regimen.events import Bolus, Infusion, Inhalation, Regimen
from .units import MG_PER_L_TO_NG_PER_ML, to_canonical

__all__ = ["design", "DesignResult", "DesignWarning", "PARAMETERS", "TEMPLATES",
           "template_parameters", "population_view", "PopulationView"]

#: Templates: their parameters and kinds (``"bolus+steps"``: see :func:`template_parameters`).
TEMPLATES = {"bolus+infusion": {"bolus": "amount", "rate": "rate", "duration": "time"},
             "bolus+steps": {"bolus": "amount", "rate_1": "rate", "duration_1": "time"},
             "inhalations": {"dose": "amount", "interval": "time"}}
#: Parameters of the default template.
PARAMETERS = TEMPLATES["bolus+infusion"]
_GRID = 0.1      # min
_Z95 = 1.959963984540054
_DEFAULT_BOX = {"amount": (0.0, 50.0), "rate": (0.0, 5.0), "dose": (0.0, 100.0)}


class DesignWarning(UserWarning):
    """A design that does not reach what was asked (the best achievable is reported)."""


def template_parameters(template: str, count: int = 1) -> dict:
    """The free parameters of a template and their kinds (``"amount"``, ``"rate"``,
    ``"time"``): ``bolus+steps`` has ``rate_j`` and ``duration_j`` for ``j = 1..count``."""
    if template == "bolus+steps":
        out = {"bolus": "amount"}
        for j in range(1, count + 1):
            out[f"rate_{j}"] = "rate"
            out[f"duration_{j}"] = "time"
        return out
    return dict(TEMPLATES[template])


@dataclass(frozen=True, eq=False)
class DesignResult:
    """A designed regimen.

    Attributes
    ----------
    values : dict
        The template's parameters by name, canonical units (mg, mg/min, min).
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
    share_above : float
        Fresh population: share of subjects whose effect exceeds the ``above`` level at some
        grid time (NaN without a population or without ``above``).
    cmax_quantile : float
        Fresh population: the ``cmax_quantile`` quantile of Cmax (ng/mL), or NaN.
    met : bool
        Whether the design reaches the asked share (``share=``) and keeps its constraints on the
        optimisation population (always True otherwise).
    window, span : (float, float)
        The effect window and ``(start, end)`` (min).
    endpoint : str
    model : Model
    evaluations : int
        Candidates evaluated by the population optimiser (0 for a typical-subject design).
    """

    values: dict
    regimen: Regimen
    time_in_window: float
    share: float
    validation_share: float
    validation_ci: tuple
    total_dose: float
    objective: float
    share_above: float = math.nan
    cmax_quantile: float = math.nan
    met: bool = True
    window: tuple = (math.nan, math.nan)
    span: tuple = (math.nan, math.nan)
    endpoint: str = ""
    model: object = None
    evaluations: int = 0

    @property
    def parameters(self) -> dict:
        """The chosen values by name (canonical units), as :attr:`values`."""
        return dict(self.values)

    @property
    def attainment(self) -> tuple:
        """(share inside the window on the fresh population, (low, high) 95 % interval)."""
        return self.validation_share, self.validation_ci

    def plot(self):
        """The typical subject's effect under the designed regimen, with the window and span."""
        from .plot import design_result as figure
        return figure(self)


def _build(template, v, count) -> Regimen:
    """The regimen of a template for parameter values ``v``."""
    if template == "inhalations":
        dose = max(v["dose"], 1e-12)
        first = Regimen((Inhalation(dose),))
        return first.every(max(v["interval"], 1e-9), times=count) if count > 1 else first
    events = []
    if v["bolus"] > 0:
        events.append(Bolus(v["bolus"]))
    at = 0.0
    for rate, duration in _steps(template, v, count):
        if rate > 0 and duration > 0:
            events.append(Infusion(rate=rate, duration=duration, at=at))
        at += duration
    if not events:
        events.append(Bolus(1e-12))   # nothing given: a negligible dose keeps the engines happy
    return Regimen(tuple(events))


def _steps(template, v, count):
    """(rate, duration) of each infusion of a bolus + infusion template."""
    if template == "bolus+infusion":
        return [(v["rate"], v["duration"])]
    return [(v[f"rate_{j}"], v[f"duration_{j}"]) for j in range(1, count + 1)]


def _total(template, v, count) -> float:
    if template == "inhalations":
        return v["dose"] * count
    return v["bolus"] + sum(r * d for r, d in _steps(template, v, count))


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


def _pd(model, ep, params):
    """(code, sign, fractional, E0, EMAX, EC50, GAMMA, SLOPE) of an endpoint, the values
    taken from ``params`` (name -> value or per-subject array)."""
    cep = model.compiled.endpoints[[e.name for e in model.effects].index(ep.name)]

    def g(role, default):
        name = ep.roles.get(role)
        return np.asarray(params[name], dtype=float) if name in params else default
    return (cep["code"], cep["sign"], cep["fractional"], g("E0", 0.0), g("EMAX", np.nan),
            g("EC50", 1.0), g("GAMMA", 1.0), g("SLOPE", np.nan))


def _conc_limits(pd, level):
    """For a rising response E(c), c >= 0: (a, b) with E >= level <=> c >= a and
    E <= level <=> c <= b (mg/L; -inf / inf where every or no concentration qualifies)."""
    from ._kernels.pd import pd_inverse
    code, sign, fractional, e0, emax, ec50, gamma, slope = pd
    top = np.inf if code == 0 else e0 + (emax * e0 if fractional else emax)
    inv = pd_inverse(np.full(np.shape(e0), level) if np.ndim(e0) else level, *pd)
    a = np.where(level <= e0, -np.inf, np.where(level >= top, np.inf, inv))
    b = np.where(level < e0, -np.inf, np.where(level >= top, np.inf, inv))
    return a, b


def _rising(model, ep) -> bool:
    code, sign = _pd(model, ep, {})[:2]
    slope = model.parameters.get(ep.roles.get("SLOPE"))
    return sign > 0 and (code != 0 or (slope is not None and slope.value > 0))


def _positive_int(value, field, low=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValidationError(field, f"expected a whole number >= {low}, got {value!r}")
    return int(value)


def _fraction(value, field):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
            or not 0 <= float(value) <= 1:
        raise ValidationError(field, f"expected a share in [0, 1], got {value!r}")
    return float(value)


def _quiet(f, *args, **kwargs):
    """Run ``f`` with the model-validity warnings silenced (unit doses, not the design)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelValidityWarning)
        return f(*args, **kwargs)


class _Superposed:
    """A linear model's population under any candidate of a template, from each subject's
    responses to unit doses on the grid (simulated once, with the design's seed): a bolus of
    1 mg, an infusion of 1 mg/min outlasting the grid (an infusion of duration d starting at s
    is it shifted by s minus it shifted by s + d), or an inhalation of 1 mg. Shifts are whole
    grid steps. The window is checked on the effect-site concentration against each subject's
    concentrations at the window's edges (the PD inverse of a rising response)."""

    def __init__(self, model, ep, template, times, n, seed, window, level):
        from .population import simulate_population

        def unit(regimen):
            return _quiet(simulate_population, model, regimen, times, n=n, seed=seed,
                          progress=False)
        if template == "inhalations":
            pops = {"inhalation": unit(Inhalation(1.0))}
        else:
            pops = {"bolus": unit(Bolus(1.0)),
                    "infusion": unit(Infusion(rate=1.0, duration=float(times[-1]) + 1.0))}
        self.keys = {k: j for j, k in enumerate(pops)}
        self.c = np.stack([p.concentration for p in pops.values()])
        self.ce = np.stack([p.effect_sites[ep.name] for p in pops.values()])
        pd = _pd(model, ep, next(iter(pops.values())).parameters)
        ng = MG_PER_L_TO_NG_PER_ML
        self.c_low = _conc_limits(pd, window[0])[0] * ng
        self.c_high = _conc_limits(pd, window[1])[1] * ng
        self.c_level = _conc_limits(pd, level)[1] * ng if level is not None else None

    def _extrema(self, units, terms, first):
        """Per subject (min over the span, max over the span, max) of the superposition."""
        from ._kernels.superpose import superposed_extrema
        key = np.array([self.keys[k] for k, _, _ in terms], dtype=np.int64)
        weight = np.array([w for _, w, _ in terms], dtype=float)
        shift = np.array([k for _, _, k in terms], dtype=np.int64)
        out = np.empty((3, units.shape[1]))
        superposed_extrema(units, key, weight, shift, first, out[0], out[1], out[2])
        return out

    def __call__(self, template, v, count, span, need_cmax):
        """(inside the window over the span, ever above the level or None, Cmax ng/mL or
        None) per subject."""
        steps = lambda d: int(round(d / _GRID))  # noqa: E731
        if template == "inhalations":
            terms = [("inhalation", v["dose"], steps(j * v["interval"])) for j in range(count)]
        else:
            terms, at = [("bolus", v["bolus"], 0)], 0.0
            for rate, duration in _steps(template, v, count):
                terms += [("infusion", rate, steps(at)), ("infusion", -rate,
                                                          steps(at + duration))]
                at += duration
        first = int(np.argmax(span))
        lowest, highest, peak = self._extrema(self.ce, terms, first)
        inside = (lowest >= self.c_low) & (highest <= self.c_high)
        above = peak > self.c_level if self.c_level is not None else None
        cmax = self._extrema(self.c, terms, first)[2] if need_cmax else None
        return inside, above, cmax


def _simulated(model, ep, regimen, times, n, seed, span, window, level):
    """The same per subject (inside, ever above, Cmax) from one simulated population."""
    from .population import simulate_population
    pop = simulate_population(model, regimen, times, n=n, seed=seed, progress=False)
    e = pop.effects[ep.name]
    inside = np.all((e[:, span] >= window[0]) & (e[:, span] <= window[1]), axis=1)
    above = np.any(e > level, axis=1) if level is not None else None
    return inside, above, pop.concentration.max(axis=1)


def design(model, window, span, *, template: str = "bolus+infusion", count: int = 1,
           endpoint: str | None = None, bounds=None, fixed=None, max_total_dose=None,
           max_rate=None, cmax=None, cmax_quantile: float | None = None, above=None,
           population: int | None = None, share: float | None = None,
           seed: int | None = None, validation: int | None = None, starts: int = 4,
           maxiter: int = 30, reuse: bool = True) -> DesignResult:
    """Design a regimen holding an endpoint in a window (see the module docstring).

    Parameters
    ----------
    model : str, path or Model
    window : (float, float)
        ``(low, high)`` of the endpoint (its unit).
    span : (time, time)
        ``(start, end)`` over which the effect must stay in the window (Quantity, string or
        minutes).
    template : {"bolus+infusion", "bolus+steps", "inhalations"}
        A bolus and an infusion from time 0 (``bolus``, ``rate``, ``duration``); a bolus and
        ``count`` consecutive infusions (``rate_j``, ``duration_j``); or ``count`` inhalations
        of ``dose`` every ``interval`` from time 0.
    count : int
        Infusion steps (``"bolus+steps"``) or inhalations (``"inhalations"``).
    endpoint : str, optional
        Default the model's first.
    bounds : dict, optional
        Per parameter ``(low, high)``, e.g. ``{"bolus": ("0 mg", "30 mg"), "rate": ("0 mg/min",
        "2 mg/min")}`` (defaults: bolus 0-50 mg, inhaled dose 0-100 mg, rates 0-5 mg/min,
        durations 0 to the span's end, interval 1 min to the span's end).
    fixed : dict, optional
        Parameters held, ``{"duration": "30 min"}``.
    max_total_dose : Quantity, str or float, optional
        mg.
    max_rate : Quantity, str or float, optional
        Largest infusion rate (mg/min): caps the rates' upper bounds.
    cmax : Quantity, str or float, optional
        Plasma ceiling (a bare number is mg/L): for the typical subject, or each subject of a
        population (a subject above it does not count as inside), or with ``cmax_quantile``.
    cmax_quantile : float, optional
        Population: the ceiling holds for this quantile of Cmax (``0.95``: 95 % of subjects
        stay under it).
    above : (float, float), optional
        ``(level, share)``: at most ``share`` of the subjects may see the effect exceed
        ``level`` at any time of ``[0, end]`` (for the typical subject, with ``share < 1``:
        its effect stays under ``level``).
    population, seed, validation : int, optional
        Design for a population of ``population`` subjects drawn with ``seed``, re-estimated
        on ``validation`` (default ``4 * population``) subjects drawn with ``seed + 1``.
    share : float, optional
        Population: instead of the largest share inside the window, the smallest total dose
        whose share inside reaches ``share`` (a probability of target attainment).
    starts, maxiter : int
        Local starts (typical subject) or generations (population).
    reuse : bool
        Population of a linear model: superpose the subjects' unit responses (default) rather
        than simulate the population for every candidate.

    Returns
    -------
    DesignResult

    Warns
    -----
    DesignWarning
        No design within the bounds reaches ``share`` or keeps the population constraints
        (the best found is returned, ``met=False``).
    """
    from scipy.optimize import differential_evolution, minimize

    from .simulate import simulate
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
    count = _positive_int(count, "count")
    kinds = template_parameters(template, count)
    if template == "inhalations" and "inhaled" not in model.routes:
        raise ValidationError("template", f"model {model.name!r} has no inhaled route")
    if template != "inhalations" and "iv" not in model.routes:
        raise ValidationError("template", f"model {model.name!r} has no IV route")
    box = {k: _DEFAULT_BOX["dose" if k == "dose" else kind] if kind != "time" else (0.0, t1)
           for k, kind in kinds.items()}
    if "interval" in box:
        box["interval"] = (1.0, max(2.0, t1))
    for k, pair in dict(bounds or {}).items():
        if k not in kinds:
            raise ValidationError(f"bounds.{k}", f"expected one of {list(kinds)}")
        try:
            lo, hi = (to_canonical(v, kinds[k], f"bounds.{k}") for v in pair)
        except (TypeError, ValueError):
            raise ValidationError(f"bounds.{k}", f"expected (low, high), got {pair!r}") \
                from None
        if not 0 <= lo < hi:
            raise ValidationError(f"bounds.{k}", f"expected 0 <= low < high, got ({lo}, {hi})")
        box[k] = (lo, hi)
    held = {}
    for k, v in dict(fixed or {}).items():
        if k not in kinds:
            raise ValidationError(f"fixed.{k}", f"expected one of {list(kinds)}")
        held[k] = to_canonical(v, kinds[k], f"fixed.{k}")
        if not (math.isfinite(held[k]) and held[k] >= 0):
            raise ValidationError(f"fixed.{k}", "must be a finite value >= 0")
    free = [k for k in kinds if k not in held]
    if not free:
        raise ValidationError("fixed", "every parameter is fixed: nothing to design")
    if max_rate is not None:
        if template == "inhalations":
            raise ValidationError("max_rate", "the inhalations template has no infusion rate")
        r_cap = to_canonical(max_rate, "rate", "max_rate")
        for k in (k for k in kinds if kinds[k] == "rate"):
            if held.get(k, box[k][0]) > r_cap:
                where = f"fixed.{k}" if k in held else f"bounds.{k}"
                raise ValidationError("max_rate", f"{r_cap:g} mg/min excludes every design: "
                                      f"{where} asks at least {held.get(k, box[k][0]):g} mg/min")
            if k not in held:
                box[k] = (box[k][0], min(box[k][1], r_cap))
    dose_cap = to_canonical(max_total_dose, "amount", "max_total_dose") \
        if max_total_dose is not None else math.inf
    c_cap = to_canonical(cmax, "concentration", "cmax") * MG_PER_L_TO_NG_PER_ML \
        if cmax is not None else math.inf
    level = above_share = None
    if above is not None:
        try:
            level, above_share = float(above[0]), above[1]
        except (TypeError, ValueError, IndexError):
            raise ValidationError("above", f"expected (level, share), got {above!r}") from None
        if not math.isfinite(level):
            raise ValidationError("above", f"the level must be finite, got {above[0]!r}")
        above_share = _fraction(above_share, "above")
    if cmax_quantile is not None:
        cmax_quantile = _fraction(cmax_quantile, "cmax_quantile")
        if population is None:
            raise ValidationError("cmax_quantile", "a quantile of Cmax needs a population")
        if cmax is None:
            raise ValidationError("cmax_quantile", "give the ceiling as cmax")
    if share is not None:
        share = _fraction(share, "share")
        if population is None:
            raise ValidationError("share", "a share of subjects needs a population")
    if _rising(model, ep):
        typical = {k: p.value for k, p in model.parameters.items()}
        a_low = _conc_limits(_pd(model, ep, typical), low)[0]
        b_high = _conc_limits(_pd(model, ep, typical), high)[1]
        if a_low == np.inf or b_high == -np.inf:
            raise ValidationError("window", f"{ep.name} of the typical subject cannot reach "
                                  f"[{low:g}, {high:g}] (beyond its maximum or below its "
                                  "baseline)")
    times = np.arange(0.0, t1 + _GRID / 2, _GRID)
    in_span = times >= t0 - 1e-9
    on_grid = all(abs(held[k] / _GRID - round(held[k] / _GRID)) < 1e-9
                  for k in held if kinds[k] == "time")
    superpose = population is not None and reuse and model.is_linear and on_grid \
        and _rising(model, ep) and not model.raw.get("variability", {}).get("occasion")

    def values(z):
        v = dict(held)
        v.update(zip(free, (float(x) for x in z)))
        if superpose:  # durations and intervals on the grid
            v.update({k: round(v[k] / _GRID) * _GRID for k in free if kinds[k] == "time"})
        return v

    # The least exposing design within the bounds: if it breaks a limit, every design does.
    least = values([box[k][1] if k == "interval" else box[k][0] for k in free])
    if _total(template, least, count) > dose_cap * (1 + 1e-12):
        raise ValidationError("max_total_dose", f"{dose_cap:g} mg excludes every design "
                              f"within the bounds: the smallest gives "
                              f"{_total(template, least, count):g} mg")

    if population is None:
        def outputs(v):
            res = simulate(model, _build(template, v, count), times)
            return res.effects[ep.name], res.concentration

        e, c = _quiet(outputs, least)
        if c.max() > c_cap:
            raise ValidationError("cmax", f"{c_cap:g} ng/mL excludes every design within the "
                                  f"bounds: the smallest gives Cmax {c.max():.4g} ng/mL")
        watch = level is not None and above_share < 1
        if watch and e.max() > level:
            raise ValidationError("above", f"{ep.name} {level:g} excludes every design within "
                                  f"the bounds: the smallest reaches {e.max():.4g}")

        mid, half = 0.5 * (low + high), 0.5 * (high - low)

        def cost(z, centre=False):
            v = values(z)
            e, c = outputs(v)
            s = e[in_span]
            out = np.sum(np.maximum(low - s, 0) ** 2 + np.maximum(s - high, 0) ** 2) * _GRID
            over = max(0.0, _total(template, v, count) - dose_cap) ** 2 \
                + max(0.0, float(c.max()) - c_cap) ** 2
            if watch:
                over += np.sum(np.maximum(e - level, 0) ** 2) * _GRID
            if centre:  # inside already: the regimen nearest the window's centre
                return float(np.sum(((s - mid) / half) ** 2) * _GRID + 1e6 * (out + over))
            return float(out + 1e6 * over)

        rng = np.random.default_rng(0 if seed is None else seed)
        lo = np.array([box[k][0] for k in free])
        hi = np.array([box[k][1] for k in free])
        best = None
        for s in range(max(1, int(starts))):
            z0 = 0.5 * (lo + hi) if s == 0 else lo + rng.random(lo.size) * (hi - lo)
            r = minimize(cost, z0, method="L-BFGS-B", bounds=list(zip(lo, hi)))
            if best is None or r.fun < best.fun:
                best = r
        if best.fun < 1e-9:  # every regimen inside is optimal: take the one nearest the centre
            inner = minimize(cost, best.x, args=(True,), method="L-BFGS-B",
                             bounds=list(zip(lo, hi)))
            if cost(inner.x) < 1e-9:
                best = inner
                best.fun = cost(inner.x)
        v = values(best.x)
        e = outputs(v)[0]
        tin = _time_inside(times[in_span], ((e >= low) & (e <= high))[in_span])
        return DesignResult(values=v, regimen=_build(template, v, count),
                            time_in_window=tin, share=math.nan, validation_share=math.nan,
                            validation_ci=(math.nan, math.nan),
                            total_dose=_total(template, v, count), objective=float(best.fun),
                            window=(low, high), span=(t0, t1), endpoint=ep.name, model=model)

    population = _positive_int(population, "population", 10)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValidationError("seed", f"a population design needs an integer seed, got "
                                      f"{seed!r}")
    seed = int(seed)
    n_val = 4 * population if validation is None else _positive_int(validation, "validation")
    need_cmax = math.isfinite(c_cap)
    if superpose:
        engine = _Superposed(model, ep, template, times, population, seed, (low, high), level)

        def evaluate(v):
            return engine(template, v, count, in_span, need_cmax)
    else:
        def evaluate(v):
            return _simulated(model, ep, _build(template, v, count), times, population, seed,
                              in_span, (low, high), level)

    def judge(inside, over, peak):
        """(share inside, {constraint: violation > 0} of the broken ones)."""
        broken = {}
        if over is not None and over.mean() > above_share:
            broken["above"] = float(over.mean()) - above_share
        if cmax_quantile is not None:
            q = float(np.quantile(peak, cmax_quantile))
            if q > c_cap:
                broken["cmax"] = (q - c_cap) / c_cap
        elif need_cmax:
            inside = inside & (peak <= c_cap)
        return float(inside.mean()), broken

    broken = judge(*evaluate(least))[1] if level is not None or cmax_quantile is not None \
        else {}
    if broken:
        key = next(iter(broken))
        raise ValidationError(key, "excludes every design within the bounds: the smallest "
                              f"already breaks it on the design population (by "
                              f"{broken[key]:.3g})")
    dose_scale = max(_total(template, values([box[k][0] if k == "interval" else box[k][1]
                                              for k in free]), count), 1e-12)

    def cost(z):
        v = values(z)
        total = _total(template, v, count)
        if total > dose_cap:
            return 2.0 + (total - dose_cap) / dose_scale
        got, broken = judge(*evaluate(v))
        violation = sum(broken.values())
        if share is None:
            return 1.0 + violation if violation > 0 else -got
        if violation > 0 or got < share:
            return 1.0 + max(0.0, share - got) + violation
        return total / dose_scale

    r = differential_evolution(cost, [box[k] for k in free], seed=seed, maxiter=int(maxiter),
                               popsize=8, tol=1e-6, polish=False)
    v = values(r.x)
    got, broken = judge(*evaluate(v))
    violation = sum(broken.values())
    met = not broken and (share is None or got >= share)
    if not met:
        asked = f"share {share:g}" if share is not None and got < share else "the constraints"
        warnings.warn(DesignWarning(f"no design within the bounds reaches {asked}: the best "
                                    f"found has {got:.3g} of the subjects inside the window "
                                    f"and violates the constraints by {violation:.3g}"),
                      stacklevel=2)
    regimen = _build(template, v, count)
    inside, over, peak = _simulated(model, ep, regimen, times, n_val, seed + 1, in_span,
                                    (low, high), level)
    ok = inside & (peak <= c_cap) if cmax_quantile is None else inside
    e = simulate(model, regimen, times).effects[ep.name]
    tin = _time_inside(times[in_span], ((e >= low) & (e <= high))[in_span])
    return DesignResult(values=v, regimen=regimen, time_in_window=tin, share=got,
                        validation_share=float(ok.mean()),
                        validation_ci=_wilson(int(ok.sum()), ok.size),
                        total_dose=_total(template, v, count), objective=float(r.fun),
                        share_above=float(over.mean()) if over is not None else math.nan,
                        cmax_quantile=float(np.quantile(peak, cmax_quantile))
                        if cmax_quantile is not None else math.nan, met=met,
                        window=(low, high), span=(t0, t1), endpoint=ep.name, model=model,
                        evaluations=int(r.nfev))


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
