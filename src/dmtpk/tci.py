r"""Target-controlled infusion: plasma targeting (Jacobs 1990) and effect-site targeting
(Shafer & Gregg 1992, as STANPUMP does it), exact for linear models, through the record walker
for Michaelis-Menten ones.

The pump changes its rate every ``interval`` (default 10 s). With the model's linear system
:math:`\dot x = A x + b\,r` (``b`` the central compartment, ``r`` mg/min), over one update
interval :math:`\Delta` the state moves exactly to :math:`x' = \Phi x + \Gamma r`,
:math:`\Phi = e^{A\Delta}`, :math:`\Gamma = \int_0^\Delta e^{As} b\,ds` (one matrix
exponential of the augmented system). At each update time

* **plasma**: the rate that brings the plasma concentration to the target at the end of the
  interval, :math:`r = (C_T - c^\top \Phi x)/(c^\top \Gamma)`;
* **effect site**: while the effect-site concentration is below the target, the rate whose
  effect-site peak (the infusion running for one interval, then off) equals the target: with
  :math:`e_0(t)` the free response and :math:`e_1(t)` the unit-rate one, the peak time
  :math:`t_p` and :math:`r = (C_T - e_0(t_p))/e_1(t_p)` are iterated to a fixed point on a grid
  of ``interval``/20 over the following 30 min; if that peak would come within the interval,
  the rate that puts the effect site on target at its end; once the effect site has reached
  the target, the plasma is held at it (plasma targeting) until the target changes: at the
  peak plasma and effect site are equal, so the effect site stays on target (as opentiva
  does; solving for the effect site at each interval's end instead inverts a second-order
  response one step ahead and makes the rates alternate);

then clipped to ``[0, max_rate]``. Beyond the pump limit, ``max_bolus`` allows a bolus at
the update (at most that amount) for what the limited rate cannot give; a target the limits
cannot reach is reported by a :class:`TciWarning` naming them (the schedule returned is the
best achievable: the pump at its limits until the target is reached). A target that falls is
met by stopping the pump until the concentration has come down. The result is an ordinary
:class:`~dmtpk.regimen.Regimen` (one infusion per interval with a positive rate, and the
boluses) that simulates anywhere in dmtpk, with the schedule as a table and a plot.

An effect level (``effect=True``) is converted to an effect-site target through the
endpoint's PD inverse. A population's quantile can be targeted (``n=`` subjects), in the
plasma or at the effect site: the same rules applied to the quantile of the subjects'
concentrations (Brent's method on the rate; the quantile is monotone and piecewise linear in
it), the effect-site peak searched on a grid of ``interval``/4.

Nonlinear (Michaelis-Menten) models go through the state-continuing record walker
(:func:`dmtpk.engines.records.solve_records` from a :class:`~dmtpk.engines.records.WalkerState`,
SciPy steps): at each update the rate is the root (Brent) of the continued simulation's plasma
concentration at the end of the interval, or of its effect-site peak (the time where plasma and
effect-site concentrations cross, root-found too), minus the target.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from ._kernels.expm import expm
from .errors import ValidationError
from .library import load_model
from .regimen.events import Bolus, Infusion, Regimen
from .units import MG_PER_L_TO_NG_PER_ML, to_canonical

__all__ = ["tci", "TciResult", "TciWarning", "SITES"]

#: What can be targeted.
SITES = ("plasma", "effect")
_PEAK_HORIZON = 30.0   # min searched for the effect-site peak
_PEAK_GRID = 20        # grid points per update interval in that search
_POP_PEAK_GRID = 4     # the same for a population (subjects x grid points per update)
_WALK_CHUNK = 12       # updates walked at a time in the nonlinear peak search
_POP_MEMORY = 2 * 2**30  # bytes the population's effect-site peak search may hold


class TciWarning(UserWarning):
    """The pump's limits (``max_rate``, ``max_bolus``) cannot reach the target at some
    updates; the schedule is the best they achieve."""


@dataclass(frozen=True, eq=False)
class TciResult:
    """A TCI schedule.

    Attributes
    ----------
    time : ndarray, shape (n,)
        Update times (min).
    rate : ndarray, shape (n,)
        Pump rate from each update time to the next (mg/min of DMT base).
    bolus : ndarray, shape (n,)
        Bolus given at each update time (mg of DMT base; 0 without ``max_bolus``).
    limited : ndarray of bool, shape (n,)
        The update at which the limits kept the target from being met.
    target : ndarray, shape (n,)
        Target in force over each interval (ng/mL).
    plasma, effect_site : ndarray, shape (n + 1,)
        Predicted concentrations (ng/mL) at the update times and at the end.
    regimen : Regimen
        The schedule as infusions.
    model : Model
    site : str
    interval : float
        Update interval (min).
    """

    time: np.ndarray
    rate: np.ndarray
    bolus: np.ndarray
    limited: np.ndarray
    target: np.ndarray
    plasma: np.ndarray
    effect_site: np.ndarray
    regimen: Regimen
    model: object
    site: str
    interval: float

    @property
    def amount(self) -> np.ndarray:
        """mg of DMT base given over each interval (rate x interval + bolus), shape (n,)."""
        return self.rate * self.interval + self.bolus

    @property
    def total_dose(self) -> float:
        """mg of DMT base."""
        return float(np.sum(self.amount))

    def table(self) -> dict:
        """The schedule: ``time`` (min), ``rate`` (mg/min), ``bolus`` and ``amount`` (mg),
        ``target``, ``plasma`` and ``effect_site`` (ng/mL at the update time)."""
        return {"time": self.time, "rate": self.rate, "bolus": self.bolus,
                "amount": self.amount, "target": self.target,
                "plasma": self.plasma[:-1], "effect_site": self.effect_site[:-1]}

    @property
    def schedule(self):
        """:meth:`table` as a pandas DataFrame when pandas is installed, else the dict."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            return self.table()
        return pd.DataFrame(self.table())

    def plot(self):
        """Rate (steps) and predicted plasma and effect-site concentrations with the target."""
        from .plot import tci_schedule
        return tci_schedule(self)


def _effect_targets(model, compiled, target, endpoint):
    """Effect levels -> effect-site concentrations (mg/L) through the endpoint's PD inverse."""
    from ._kernels.pd import pd_inverse
    names = [ep.name for ep in model.effects]
    name = endpoint if endpoint is not None else (names[0] if names else None)
    if name is None or name not in names:
        raise ValidationError("endpoint", f"model {model.name!r} has no endpoint {name!r} "
                                          f"(it has {names})")
    ep = compiled.endpoints[names.index(name)]
    theta = np.asarray(compiled.theta, dtype=float)

    def g(k, d=0.0):
        return float(theta[ep[k]]) if ep[k] >= 0 else d

    def conc(level, field):
        if isinstance(level, bool) or not isinstance(level, (int, float, np.integer,
                                                             np.floating)):
            raise ValidationError(field, f"an effect level is a number in the endpoint's unit, "
                                         f"got {level!r}")
        c = float(pd_inverse(float(level), ep["code"], ep["sign"], ep["fractional"], g("E0"),
                             g("EMAX"), g("EC50", 1.0), g("GAMMA", 1.0), g("SLOPE")))
        if not np.isfinite(c):
            raise ValidationError(field, f"the effect level {level!r} cannot be reached by "
                                         f"{name} (beyond its maximum or below its baseline)")
        return c

    if isinstance(target, (list, tuple)) and target and isinstance(target[0], (list, tuple)):
        return ([(t, conc(level, f"target.{k}.effect")) for k, (t, level) in enumerate(target)],
                name)
    return conc(target, "target"), name


def _schedule(target, until):
    """Piecewise-constant targets: [(start min, mg/L)], sorted, the first at 0."""
    if isinstance(target, (list, tuple)) and target and isinstance(target[0], (list, tuple)):
        steps = []
        for k, item in enumerate(target):
            if len(item) != 2:
                raise ValidationError(f"target.{k}", f"expected (time, concentration), got "
                                                     f"{item!r}")
            t = to_canonical(item[0], "time", f"target.{k}.time")
            c = to_canonical(item[1], "concentration", f"target.{k}.concentration")
            steps.append((t, c))
        if steps[0][0] != 0:
            raise ValidationError("target.0.time", "the first target starts at time 0")
        if any(b[0] <= a[0] for a, b in zip(steps, steps[1:])):
            raise ValidationError("target", "target times must increase")
    else:
        steps = [(0.0, to_canonical(target, "concentration", "target"))]
    for k, (t, c) in enumerate(steps):
        if not c >= 0:
            raise ValidationError(f"target.{k}", f"a target cannot be negative, got {c}")
        if t >= until:
            raise ValidationError(f"target.{k}.time", f"starts at {t} min, after the end "
                                                      f"({until} min)")
    return steps


def tci(model, target, until, *, site: str = "plasma", endpoint: str | None = None,
        interval="10 s", max_rate=None, max_bolus=None, parameters=None,
        n: int | None = None, seed: int | None = None, quantile: float = 0.5,
        effect: bool = False) -> TciResult:
    """A target-controlled infusion schedule for the model's typical subject.

    Parameters
    ----------
    model : str, path or Model
        A linear model, or one with Michaelis-Menten elimination (through the record walker;
        typical subject only).
    target : Quantity, str, float or list of (time, concentration)
        The target concentration (``"20 ng/mL"``; a bare number is mg/L), or a
        piecewise-constant schedule ``[(0, "20 ng/mL"), ("30 min", "10 ng/mL")]``. With
        ``effect=True``, levels of the endpoint instead (``6``, or ``[(0, 6), (20, 4)]`` in the
        endpoint's unit), converted to effect-site concentrations through the endpoint's PD
        inverse (typical values); ``site`` is then ``"effect"``.
    until : Quantity, str or float
        How long the pump runs (min).
    site : {"plasma", "effect"}
        Target the plasma or the effect-site concentration.
    endpoint : str, optional
        The endpoint whose effect compartment is targeted (default the model's first with
        one).
    interval : Quantity, str or float
        Update interval (default 10 s).
    max_rate : Quantity, str or float, optional
        Pump limit (mg/min of DMT base).
    max_bolus : Quantity, str or float, optional
        The largest bolus given at one update beyond the pump limit (mg of DMT base): where
        ``max_rate`` cannot give what the target needs, a bolus at the update makes up the
        rest, up to this amount. Needs ``max_rate`` (without a limit the rate gives it all).
    parameters : dict, optional
        Typical values to replace (see :meth:`Model.with_parameters`).
    n : int, optional
        Targeting of a population instead of the typical subject (the R package ``tci``'s
        population mode; linear models): ``n`` subjects are drawn from the model's
        ``[variability]`` with ``seed`` (the same subjects as
        :func:`dmtpk.simulate_population` with that seed), and at each update the rate is the
        one that brings the ``quantile`` of their plasma concentrations to the target at the
        end of the interval, or whose peak of the ``quantile`` of their effect-site
        concentrations equals it (Brent; the quantile is monotone in the rate).
        ``plasma`` and ``effect_site`` are then that quantile of the population's
        concentrations.
    seed : int
        With ``n``.
    quantile : float
        With ``n``: the share of subjects at or below the target (0.5: the median;
        0.9: nine in ten at or below).
    effect : bool
        ``target`` is an effect level (see ``target``).

    Returns
    -------
    TciResult

    Raises
    ------
    ValidationError
        Naming the argument: an unknown site or endpoint, a model without an effect
        compartment for effect-site targeting (``site``), an effect level beyond the
        endpoint's maximum (``target``), non-positive ``interval`` or ``until``, a negative target or
        limit, a population of a nonlinear model.

    Warns
    -----
    TciWarning
        The limits cannot reach the target at some updates (naming ``max_rate`` and
        ``max_bolus``, with the best the schedule achieves).
    """
    model = load_model(model)
    if parameters:
        model = model.with_parameters(parameters)
    if site not in SITES:
        raise ValidationError("site", f"expected one of {SITES}, got {site!r}")
    if "iv" not in model.routes:
        raise ValidationError("model", f"{model.name!r} has no intravenous route")
    dt = to_canonical(interval, "time", "interval")
    total = to_canonical(until, "time", "until")
    for name, v in (("interval", dt), ("until", total)):
        if not (v > 0 and math.isfinite(v)):
            raise ValidationError(name, f"must be a positive finite time, got {v}")
    if total / dt > 1e6:
        raise ValidationError("interval", f"{total / dt:.3g} updates; at most 1e6")
    r_max = np.inf
    if max_rate is not None:
        r_max = to_canonical(max_rate, "rate", "max_rate")
        if not r_max > 0:
            raise ValidationError("max_rate", f"must be positive, got {r_max}")
    b_max = 0.0
    if max_bolus is not None:
        b_max = to_canonical(max_bolus, "amount", "max_bolus")
        if not (b_max >= 0 and math.isfinite(b_max)):
            raise ValidationError("max_bolus", f"must be a finite amount >= 0, got {b_max}")
        if max_rate is None:
            raise ValidationError("max_bolus", "is the bolus beyond the pump limit: give "
                                               "max_rate too (without a limit the rate gives "
                                               "everything)")
    compiled = model.compiled
    if effect:
        site = "effect"
        target, endpoint = _effect_targets(model, compiled, target, endpoint)
    steps = _schedule(target, total)
    theta = np.asarray(compiled.theta, dtype=float)
    a = compiled.system_matrix(theta)
    n_states = a.shape[0]
    central = compiled.index["central"]
    v1 = compiled.get(theta, "V1")
    c_row = np.zeros(n_states)
    c_row[central] = 1.0 / v1
    e_state = -1
    eps = [ep for ep in compiled.endpoints if ep["state"] >= 0 and ep["driver"] == 0]
    if endpoint is not None:
        names = [ep.name for ep in model.effects]
        if endpoint not in names:
            raise ValidationError("endpoint", f"model {model.name!r} has no endpoint "
                                              f"{endpoint!r} (it has {names})")
        eps = [ep for ep in eps if ep["name"] == endpoint]
    if eps:
        e_state = eps[0]["state"]
    elif site == "effect":
        raise ValidationError("site", f"model {model.name!r} has no effect compartment driven "
                                      "by plasma DMT" + (f" for {endpoint!r}" if endpoint
                                                         else ""))
    e_row = np.zeros(n_states)
    if e_state >= 0:
        e_row[e_state] = 1.0
    limits = (r_max, b_max, max_rate is not None, max_bolus is not None)
    if not model.is_linear:
        if n is not None:
            raise ValidationError("n", f"{model.name!r} has Michaelis-Menten "
                                                "elimination; population targeting needs a "
                                                "linear model")
        return _walker(model, site, e_state, steps, total, dt, limits)

    def flow(step, a=a, m=n_states):
        aug = np.zeros((m + 1, m + 1))
        aug[:m, :m] = a * step
        aug[central, m] = step
        big = expm(aug)
        return big[:m, :m], big[:m, m]

    if n is not None:
        return _population(model, site, steps, total, dt, limits, n, seed, quantile,
                           flow, central, e_state)
    phi, gamma = flow(dt)
    phi_c = phi[:, central]                 # state at the interval's end per mg of bolus
    n_up, times, tgt = _updates(steps, total, dt)
    if site == "effect":
        phi_h, _ = flow(dt / _PEAK_GRID)
        powers = _powers(e_row, phi_h, int(np.ceil(_PEAK_HORIZON * _PEAK_GRID / dt)))
        unit_r, unit_b = powers @ gamma, powers @ phi_c   # effect site on the fine grid
    x = np.zeros(n_states)
    rates, boluses = np.zeros(n_up), np.zeros(n_up)
    limited = np.zeros(n_up, dtype=bool)
    cp = np.zeros(n_up + 1)
    ce = np.zeros(n_up + 1)
    held = False
    for k in range(n_up):
        cp[k], ce[k] = c_row @ x, e_row @ x
        goal = tgt[k]
        x_free = phi @ x
        loading, held = _loading(site, tgt, k, e_row @ x, held)

        def need(base, unit_end, unit_grid, goal=goal, loading=loading):
            if not loading:      # plasma (and an effect site on target: plasma = effect site)
                return (goal - c_row @ base) / (c_row @ unit_end)
            v = _peak_rate(goal, powers @ base, unit_grid)
            # Once the peak would be reached within this interval, hold the target at its end.
            hold = (goal - e_row @ base) / (e_row @ unit_end)
            return min(v, hold) if e_row @ (base + unit_end * v) >= goal * (1 - 1e-9) else v

        r, b, limited[k] = _limits(
            lambda: need(x_free, gamma, unit_r if loading else None),
            lambda r: need(x_free + gamma * r, phi_c, unit_b if loading else None), limits)
        rates[k], boluses[k] = r, b
        x = x_free + gamma * r + phi_c * b
    cp[n_up], ce[n_up] = c_row @ x, e_row @ x
    return _result(model, site, dt, times, rates, boluses, limited, tgt, cp, ce, limits)


def _powers(e_row, phi_h, n_h):
    """``e_row Phi_h^k``, k = 0..n_h-1: the effect site on the fine grid of the free response
    from a state; shape (n_h, n), or (N, n_h, n) for a stack of subjects' ``phi_h``
    (N, n, n)."""
    stack = phi_h.ndim == 3
    row = np.broadcast_to(e_row, phi_h.shape[:-1]).copy()
    powers = np.empty(phi_h.shape[:-2] + (n_h, e_row.size))
    for k in range(n_h):
        powers[..., k, :] = row
        row = np.einsum("in,inm->im", row, phi_h) if stack else row @ phi_h
    return powers


def _loading(site, tgt, k, ce_now, held):
    """(loading, held) at update ``k``: effect-site targeting loads (the peak rule) until the
    effect site has reached the target in force; from then on, until the target changes, the
    plasma is held at it (at the peak plasma and effect site are equal, so the effect site
    stays there; switching back whenever round-off put the effect site a hair below the target
    made the rates dither)."""
    held = held and k > 0 and tgt[k] == tgt[k - 1]
    loading = site == "effect" and not held and ce_now < tgt[k] * (1 - 1e-6)
    return loading, not loading


def _limits(rate_needed, bolus_needed, limits):
    """(rate, bolus, limited): the rate the target needs, clipped to ``[0, max_rate]``; beyond
    the limit the bolus (on top of the limited rate) that makes up the rest, clipped to
    ``[0, max_bolus]``; ``limited`` when the limits kept the target from being met."""
    r_max, b_max = limits[0], limits[1]
    r = max(rate_needed(), 0.0)
    if r <= r_max:
        return float(r), 0.0, False
    if b_max <= 0:
        return float(r_max), 0.0, True
    b = max(bolus_needed(r_max), 0.0)
    return float(r_max), float(min(b, b_max)), bool(b > b_max)


def _peak_fixed_point(solve_at, peak_at, k):
    """The rate whose curve peaks at the target: ``solve_at(k)`` is the rate that puts grid
    point ``k`` on target, ``peak_at(r)`` the grid point where the curve of rate ``r`` peaks;
    the peak's grid point and the rate are iterated to a fixed point from ``k``."""
    r = solve_at(k)
    for _ in range(50):
        k_new = peak_at(r)
        r_new = solve_at(k_new)
        if k_new == k and abs(r_new - r) <= 1e-12 * max(r, 1e-30):
            break
        k, r = k_new, r_new
    return float(r)


def _quantile_peak(grid0, unit, r, q, stride=8) -> int:
    """Grid point of the peak of ``percentile(grid0 + r unit, q)`` over subjects (axis 0):
    every ``stride``-th point first, then every point around the best of those (the curve of
    one interval's infusion rises and falls once)."""
    j = int(np.argmax(np.percentile(grid0[:, ::stride] + r * unit[:, ::stride], q, axis=0)))
    lo, hi = max(0, (j - 1) * stride), min(grid0.shape[1], (j + 1) * stride + 1)
    return lo + int(np.argmax(np.percentile(grid0[:, lo:hi] + r * unit[:, lo:hi], q, axis=0)))


def _peak_rate(goal, free_after, unit) -> float:
    """The rate whose effect-site peak equals ``goal``: ``free_after`` is the free response
    on the fine grid from the end of the interval on, ``unit`` the unit-rate response from
    the end of the infusion on."""
    if free_after.max() >= goal * (1 - 1e-10):   # already peaks there (round-off: rate 0)
        return 0.0
    ratio = (goal - free_after) / np.maximum(unit, 1e-300)
    return _peak_fixed_point(lambda k: max(ratio[k], 0.0),
                             lambda r: int(np.argmax(free_after + r * unit)),
                             int(np.argmax(unit)))


def _updates(steps, total, dt):
    """(number of updates, update times (min), target in force over each interval (mg/L))."""
    n_up = int(np.ceil(total / dt - 1e-9))
    times = np.arange(n_up) * dt
    starts = np.array([t for t, _ in steps])
    levels = np.array([c for _, c in steps])
    return n_up, times, levels[np.searchsorted(starts, times + 1e-9, side="right") - 1]


def _result(model, site, dt, times, rates, boluses, limited, tgt, cp, ce, limits) -> TciResult:
    """The schedule as a :class:`TciResult` (one infusion per interval with a positive rate,
    a bolus where one is given; concentrations from mg/L to ng/mL), warning when the limits
    kept the target from being met."""
    events = []
    for t, r, b in zip(times, rates, boluses):
        if b > 0:
            events.append(Bolus(dose=b, at=t))
        if r > 0:
            events.append(Infusion(rate=r, duration=dt, at=t))
    if not events:
        raise ValidationError("target", "the schedule never infuses (target 0)")
    level = cp if site == "plasma" else ce
    if limited.any():
        _warn_limited(site, times, dt, tgt, level, limited, limits)
    return TciResult(time=times, rate=rates, bolus=boluses, limited=limited,
                     target=tgt * MG_PER_L_TO_NG_PER_ML, plasma=cp * MG_PER_L_TO_NG_PER_ML,
                     effect_site=ce * MG_PER_L_TO_NG_PER_ML, regimen=Regimen(tuple(events)),
                     model=model, site=site, interval=dt)


def _warn_limited(site, times, dt, tgt, level, limited, limits):
    """A :class:`TciWarning` naming the limits, with what they achieve instead."""
    names = " and ".join(n for n, given in (("max_rate", limits[2]), ("max_bolus", limits[3]))
                         if given)
    idx = np.flatnonzero(limited)
    last = int(idx[-1])
    label = "plasma" if site == "plasma" else "effect-site"
    # When the schedule puts the concentration on the target in force (0.1 %) after that.
    on = np.flatnonzero((np.arange(times.size) > last)
                        & (np.abs(level[1:] - tgt) <= 1e-3 * tgt))
    then = (f"; it reaches the target at {times[on[0]] + dt:g} min" if on.size else
            "; it does not reach the target before the end")
    warnings.warn(TciWarning(
        f"{names}: the {label} target cannot be reached at {idx.size} of {times.size} updates "
        f"(from {times[idx[0]]:g} to {times[last] + dt:g} min); the schedule returned is the "
        f"best achievable, the pump at its limits there: at {times[last] + dt:g} min the "
        f"{label} concentration is {level[last + 1] * MG_PER_L_TO_NG_PER_ML:.4g} ng/mL against "
        f"the target {tgt[last] * MG_PER_L_TO_NG_PER_ML:.4g}{then}"), stacklevel=3)


def _quantile_rate(a0, b, goal, q) -> float:
    """The r >= 0 with ``percentile(a0 + b r, q) = goal`` (Brent's method on the quantile,
    monotone and piecewise linear in r; 0 when ``a0`` is already there): ``a0`` the subjects'
    free values, ``b`` (> 0) their values per unit of r."""
    from scipy.optimize import brentq
    if np.percentile(a0, q) >= goal:
        return 0.0
    # At this r every subject is at or above the goal, so the quantile is.
    hi = max(1e-12, float(np.max((goal - a0) / np.maximum(b, 1e-300))))
    return float(brentq(lambda r: np.percentile(a0 + b * r, q) - goal, 0.0, hi,
                        xtol=1e-15 * hi, rtol=1e-12))


def _population(model, site, steps, total, dt, limits, n_sub, seed, quantile, flow, central,
                e_state):
    """Targeting of a population's ``quantile`` (see :func:`tci`)."""
    from .population.sampling import draw_subjects
    from .population.variability import build_variability, individual_parameters
    if isinstance(n_sub, bool) or not isinstance(n_sub, (int, np.integer)) or n_sub < 2:
        raise ValidationError("n", f"expected a number of subjects >= 2, got {n_sub!r}")
    if n_sub > 100_000:
        raise ValidationError("n", f"at most 100,000 subjects, got {n_sub}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValidationError("seed", f"population targeting needs an integer seed, got "
                                      f"{seed!r}")
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) \
            or not 0 < quantile < 1:
        raise ValidationError("quantile", f"expected a number in (0, 1), got {quantile!r}")
    compiled = model.compiled
    if site == "effect":
        # The peak search keeps every subject's effect-site responses on the grid: the grid
        # powers (N, n_h, n states) and three (N, n_h) arrays.
        n_h = int(np.ceil(_PEAK_HORIZON * _POP_PEAK_GRID / dt))
        nbytes = 8.0 * n_sub * n_h * (compiled.n_states + 3)
        if nbytes > _POP_MEMORY:
            raise ValidationError("n", f"effect-site targeting of {n_sub:,} subjects needs "
                                       f"{nbytes / 2**30:.1f} GiB for the peak search (a grid of "
                                       f"{n_h} points per subject); at most "
                                       f"{_POP_MEMORY / 2**30:g} GiB: fewer subjects or a "
                                       "longer interval")
    var = build_variability(model)
    draws = draw_subjects(int(seed), 0, int(n_sub), var.n_eta, n_occ=var.n_occ)
    eta = draws["z"] @ var.chol.T if var.n_eta else np.zeros((n_sub, 0))
    kappa = draws["z_occ"] @ var.occ_chol.T if var.n_occ else None
    thetas = individual_parameters(np.asarray(compiled.theta, dtype=float), var, eta, kappa)
    mats = [compiled.system_matrix(th) for th in thetas]
    phis, gammas = (np.array(v) for v in zip(*(flow(dt, m) for m in mats)))  # (N,n,n), (N,n)
    phi_c = phis[:, :, central]
    v1 = np.array([compiled.get(th, "V1") for th in thetas])
    q = 100 * quantile
    if site == "effect":
        # e_row Phi_h^k per subject, shape (N, n_h, n), on a grid of interval / _POP_PEAK_GRID.
        e_row = np.zeros(gammas.shape[1])
        e_row[e_state] = 1.0
        powers = _powers(e_row, np.array([flow(dt / _POP_PEAK_GRID, m)[0] for m in mats]),
                         n_h)
        unit_r = np.einsum("ikl,il->ik", powers, gammas)
        unit_b = np.einsum("ikl,il->ik", powers, phi_c)

    def pct(xs, state):
        return np.percentile(xs[:, central] / v1 if state == central else xs[:, state], q) \
            if state >= 0 else 0.0

    n_up, times, tgt = _updates(steps, total, dt)
    x = np.zeros(gammas.shape)
    rates, boluses = np.zeros(n_up), np.zeros(n_up)
    limited = np.zeros(n_up, dtype=bool)
    cp = np.zeros(n_up + 1)
    ce = np.zeros(n_up + 1)
    held = False
    for k in range(n_up):
        cp[k], ce[k] = pct(x, central), pct(x, e_state)
        goal = tgt[k]
        x_free = np.einsum("ikl,il->ik", phis, x)
        loading, held = _loading(site, tgt, k, ce[k], held)

        def need(base, unit_end, unit_grid, goal=goal, loading=loading):
            if not loading:
                return _quantile_rate(base[:, central] / v1, unit_end[:, central] / v1, goal, q)
            a0, b = base[:, e_state], unit_end[:, e_state]
            hold = _quantile_rate(a0, b, goal, q)
            grid0 = np.einsum("ikl,il->ik", powers, base)
            v = _peak_fixed_point(
                lambda j: _quantile_rate(grid0[:, j], unit_grid[:, j], goal, q),
                lambda r: _quantile_peak(grid0, unit_grid, r, q),
                _quantile_peak(np.zeros_like(unit_grid), unit_grid, 1.0, q))
            return min(v, hold) if np.percentile(a0 + b * v, q) >= goal * (1 - 1e-9) else v

        r, b, limited[k] = _limits(
            lambda: need(x_free, gammas, unit_r if loading else None),
            lambda r: need(x_free + gammas * r, phi_c, unit_b if loading else None), limits)
        rates[k], boluses[k] = r, b
        x = x_free + gammas * r + phi_c * b
    cp[n_up], ce[n_up] = pct(x, central), pct(x, e_state)
    return _result(model, site, dt, times, rates, boluses, limited, tgt, cp, ce, limits)


def _walker(model, site, e_state, steps, total, dt, limits) -> TciResult:
    """Targeting of a nonlinear (Michaelis-Menten) model through the record walker: each
    candidate rate (or bolus) is the continued simulation of one interval from the state at
    the update time (see :func:`tci`)."""
    from scipy.optimize import brentq
    from .engines.records import WalkerState, solve_records
    compiled = model.compiled
    theta = np.asarray(compiled.theta, dtype=float)
    a = compiled.system_matrix(theta)
    n = a.shape[0]
    idx = compiled.index
    central = idx["central"]
    v1 = compiled.get(theta, "V1")
    opts = dict(accumulators=compiled.accumulators, method="scipy",
                mm=compiled.mm_parameters(theta), central=central,
                eliminated=idx["eliminated"], metabolite=idx["metabolite"], return_state=True)

    def walk(state, times, doses=()):
        """States at ``times`` after giving ``doses`` ((amount, rate) each) at ``state.t``;
        also the state at the last time."""
        m = len(doses) + len(times)
        zi = np.zeros(m, dtype=np.int64)
        out, end = solve_records(
            a, np.array([state.t] * len(doses) + list(times)),
            np.array([1] * len(doses) + [0] * len(times)),
            np.array([d[0] for d in doses] + [0.0] * len(times)),
            np.array([d[1] for d in doses] + [0.0] * len(times)), np.full(m, central), zi,
            np.zeros(m), zi, np.ones((m, n)), np.zeros((m, n)), start=state, **opts)
        return out[len(doses):], end

    def interval(state, r, b):
        doses = ([(b, 0.0)] if b > 0 else []) + ([(r * dt, r)] if r > 0 else [])
        return walk(state, [state.t + dt], doses)[1]

    def gap(x):                      # plasma minus effect site: the effect site rises while > 0
        return x[central] / v1 - x[e_state]

    def peak(s) -> float:
        """The highest effect-site concentration from state ``s`` on, the pump off."""
        if gap(s.x) <= 0:
            return float(s.x[e_state])
        cur = s
        for _ in range(int(np.ceil(_PEAK_HORIZON / (_WALK_CHUNK * dt)))):
            times = cur.t + dt * np.arange(1, _WALK_CHUNK + 1)
            out, end = walk(cur, times)
            falling = np.flatnonzero(out[:, central] / v1 - out[:, e_state] <= 0)
            if falling.size:
                j = int(falling[0])
                left = cur if j == 0 else WalkerState(t=float(times[j - 1]), x=out[j - 1],
                                                      infusions=(), pending=(), rows=end.rows)
                tau = brentq(lambda u: gap(walk(left, [left.t + u])[0][0]), 0.0,
                             float(times[j] - left.t), xtol=1e-10)
                return float(walk(left, [left.t + tau])[0][0][e_state])
            cur = end
        return float(cur.x[e_state])

    def solve(f, cap, guess, goal) -> float:
        """The v in [0, cap] with f(v) = 0, f increasing: 0 when f(0) >= 0 (to 1e-9 of the
        target ``goal``: the walker's own accuracy), inf when f(cap) < 0 (more than the cap
        is needed)."""
        if f(0.0) >= -1e-9 * goal:
            return 0.0
        lo, hi = 0.0, guess
        while True:
            if hi >= cap:
                if f(cap) < 0:
                    return math.inf
                hi = cap
                break
            if f(hi) >= 0:
                break
            lo, hi = hi, hi * 4
        return float(brentq(f, lo, hi, xtol=1e-13, rtol=1e-12))

    n_up, times, tgt = _updates(steps, total, dt)
    rows = (np.ones(n), np.zeros(n), np.full(n, np.nan), np.full(n, np.nan))
    state = WalkerState(t=0.0, x=np.zeros(n), infusions=(), pending=(), rows=rows)
    rates, boluses = np.zeros(n_up), np.zeros(n_up)
    limited = np.zeros(n_up, dtype=bool)
    cp = np.zeros(n_up + 1)
    ce = np.zeros(n_up + 1)
    held = False
    for k in range(n_up):
        x = state.x
        cp[k], ce[k] = x[central] / v1, (x[e_state] if e_state >= 0 else 0.0)
        goal = tgt[k]
        loading, held = _loading(site, tgt, k, ce[k], held)

        def need(dose, cap, guess, state=state, goal=goal, loading=loading):
            def at_end(v, plasma=not loading):
                y = interval(state, *dose(v)).x
                return (y[central] / v1 if plasma else y[e_state]) - goal
            if not loading:      # plasma (and an effect site on target: plasma = effect site)
                return solve(at_end, cap, guess, goal)
            v = solve(lambda v: peak(interval(state, *dose(v))) - goal, cap, guess, goal)
            if math.isfinite(v) and at_end(v) >= -goal * 1e-9:
                v = min(v, solve(at_end, cap, guess, goal))
            return v

        guess = max(1.25 * rates[k - 1] if k else 0.0, 1e-2)
        r, b, limited[k] = _limits(
            lambda: need(lambda v: (v, 0.0), limits[0], guess),
            lambda r: need(lambda v: (r, v), limits[1], guess * dt), limits)
        rates[k], boluses[k] = r, b
        state = interval(state, r, b)
    x = state.x
    cp[n_up], ce[n_up] = x[central] / v1, (x[e_state] if e_state >= 0 else 0.0)
    return _result(model, site, dt, times, rates, boluses, limited, tgt, cp, ce, limits)
