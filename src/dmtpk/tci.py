r"""Target-controlled infusion for linear models: plasma targeting (Jacobs 1990) and effect-site
targeting (Shafer & Gregg 1992, as STANPUMP does it).

The pump changes its rate every ``update`` (default 10 s). With the model's linear system
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
  of ``update``/20 over the following 30 min; once there, the rate that holds it at the end of
  the interval (as plasma targeting does for the plasma);

then clipped to ``[0, max_rate]``. A target that falls is met by stopping the pump until the
concentration has come down. The result is an ordinary :class:`~dmtpk.regimen.Regimen` (one
infusion per interval with a positive rate) that simulates anywhere in dmtpk, with the schedule
as a table and a plot.

An effect level (``effect=True``) is converted to an effect-site target through the
endpoint's PD inverse; a population's quantile can be targeted in the plasma
(``population=``). Nonlinear (Michaelis-Menten) models and effect-site targeting of a
population quantile are not built.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._kernels.expm import expm
from .errors import ValidationError
from .library import load_model
from .regimen.events import Infusion, Regimen
from .units import MG_PER_L_TO_NG_PER_ML, to_canonical

__all__ = ["tci", "TciResult", "SITES"]

#: What can be targeted.
SITES = ("plasma", "effect")
_PEAK_HORIZON = 30.0   # min searched for the effect-site peak
_PEAK_GRID = 20        # grid points per update interval in that search


@dataclass(frozen=True, eq=False)
class TciResult:
    """A TCI schedule.

    Attributes
    ----------
    time : ndarray, shape (n,)
        Update times (min).
    rate : ndarray, shape (n,)
        Pump rate from each update time to the next (mg/min of DMT base).
    target : ndarray, shape (n,)
        Target in force over each interval (ng/mL).
    plasma, effect_site : ndarray, shape (n + 1,)
        Predicted concentrations (ng/mL) at the update times and at the end.
    regimen : Regimen
        The schedule as infusions.
    model : Model
    site : str
    """

    time: np.ndarray
    rate: np.ndarray
    target: np.ndarray
    plasma: np.ndarray
    effect_site: np.ndarray
    regimen: Regimen
    model: object
    site: str

    @property
    def total_dose(self) -> float:
        """mg of DMT base."""
        step = np.diff(np.append(self.time, self.time[-1] + (self.time[1] - self.time[0])
                                 if self.time.size > 1 else self.time[-1]))
        return float(np.sum(self.rate * step))

    def table(self) -> dict:
        """The schedule: ``time`` (min), ``rate`` (mg/min), ``target``, ``plasma`` and
        ``effect_site`` (ng/mL at the update time)."""
        return {"time": self.time, "rate": self.rate, "target": self.target,
                "plasma": self.plasma[:-1], "effect_site": self.effect_site[:-1]}

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


def _schedule(target, duration):
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
        if t >= duration:
            raise ValidationError(f"target.{k}.time", f"starts at {t} min, after the end "
                                                      f"({duration} min)")
    return steps


def tci(model, target, duration, *, site: str = "plasma", endpoint: str | None = None,
        update="10 s", max_rate=None, parameters=None, population: int | None = None,
        seed: int | None = None, quantile: float = 0.5, effect: bool = False) -> TciResult:
    """A target-controlled infusion schedule for the model's typical subject.

    Parameters
    ----------
    model : str, path or Model
        A linear model.
    target : Quantity, str, float or list of (time, concentration)
        The target concentration (``"20 ng/mL"``; a bare number is mg/L), or a
        piecewise-constant schedule ``[(0, "20 ng/mL"), ("30 min", "10 ng/mL")]``. With
        ``effect=True``, levels of the endpoint instead (``6``, or ``[(0, 6), (20, 4)]`` in the
        endpoint's unit), converted to effect-site concentrations through the endpoint's PD
        inverse (typical values); ``site`` is then ``"effect"``.
    duration : Quantity, str or float
        How long the pump runs (min).
    site : {"plasma", "effect"}
        Target the plasma or the effect-site concentration.
    endpoint : str, optional
        The endpoint whose effect compartment is targeted (default the model's first with
        one).
    update : Quantity, str or float
        Update interval (default 10 s).
    max_rate : Quantity, str or float, optional
        Pump limit (mg/min of DMT base).
    parameters : dict, optional
        Typical values to replace (see :meth:`Model.with_parameters`).
    population : int, optional
        Plasma targeting of a population instead of the typical subject (the R package
        ``tci``'s population mode): ``population`` subjects are drawn from the model's
        ``[variability]`` with ``seed`` (the same subjects as
        :func:`dmtpk.simulate_population` with that seed), and at each update the rate is the
        one that brings the ``quantile`` of their plasma concentrations to the target at the
        end of the interval (bisection; the quantile is monotone in the rate). ``plasma`` and
        ``effect_site`` are then that quantile of the population's concentrations.
    seed : int
        With ``population``.
    quantile : float
        With ``population``: the share of subjects at or below the target (0.5: the median;
        0.9: nine in ten at or below).
    effect : bool
        ``target`` is an effect level (see ``target``).

    Returns
    -------
    TciResult

    Raises
    ------
    ValidationError
        Naming the argument: a nonlinear model, an unknown site or endpoint, a model without an
        effect compartment for effect-site targeting, non-positive update or duration, a
        negative target or limit.
    """
    model = load_model(model)
    if parameters:
        model = model.with_parameters(parameters)
    if not model.is_linear:
        raise ValidationError("model", f"{model.name!r} has Michaelis-Menten elimination; TCI "
                                       "here needs a linear model")
    if site not in SITES:
        raise ValidationError("site", f"expected one of {SITES}, got {site!r}")
    if "iv" not in model.routes:
        raise ValidationError("model", f"{model.name!r} has no intravenous route")
    dt = to_canonical(update, "time", "update")
    total = to_canonical(duration, "time", "duration")
    for name, v in (("update", dt), ("duration", total)):
        if not v > 0:
            raise ValidationError(name, f"must be positive, got {v}")
    if total / dt > 1e6:
        raise ValidationError("update", f"{total / dt:.3g} updates; at most 1e6")
    r_max = np.inf
    if max_rate is not None:
        r_max = to_canonical(max_rate, "rate", "max_rate")
        if not r_max > 0:
            raise ValidationError("max_rate", f"must be positive, got {r_max}")
    compiled = model.compiled
    if effect:
        site = "effect"
        target, endpoint = _effect_targets(model, compiled, target, endpoint)
    steps = _schedule(target, total)
    theta = np.asarray(compiled.theta, dtype=float)
    a = compiled.system_matrix(theta)
    n = a.shape[0]
    central = compiled.index["central"]
    v1 = compiled.get(theta, "V1")
    c_row = np.zeros(n)
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
    e_row = np.zeros(n)
    if e_state >= 0:
        e_row[e_state] = 1.0

    def flow(step, a=a):
        aug = np.zeros((n + 1, n + 1))
        aug[:n, :n] = a * step
        aug[central, n] = step
        big = expm(aug)
        return big[:n, :n], big[:n, n]

    phi, gamma = flow(dt)
    if population is not None:
        if site != "plasma":
            raise ValidationError("site", "population targeting is built for the plasma only")
        return _population(model, steps, total, dt, r_max, population, seed, quantile, flow,
                           central, e_state)
    n_up, times, tgt = _updates(steps, total, dt)
    if site == "effect":
        h = dt / _PEAK_GRID
        phi_h, _ = flow(h)
        n_h = int(np.ceil(_PEAK_HORIZON / h))
        # Unit response: rate 1 for one interval, then off; effect site on the fine grid from
        # the interval's end on.
        x = gamma.copy()
        unit = np.empty(n_h)
        for k in range(n_h):
            unit[k] = e_row @ x
            x = phi_h @ x
        powers = np.empty((n_h, n))       # e_row Phi_h^k, for the free responses
        row = e_row.copy()
        for k in range(n_h):
            powers[k] = row
            row = row @ phi_h
    x = np.zeros(n)
    rates = np.zeros(n_up)
    cp = np.zeros(n_up + 1)
    ce = np.zeros(n_up + 1)
    for k in range(n_up):
        cp[k], ce[k] = c_row @ x, e_row @ x
        goal = tgt[k]
        x_free = phi @ x
        if site == "plasma":
            r = (goal - c_row @ x_free) / (c_row @ gamma)
        elif e_row @ x < goal * (1 - 1e-6):
            free = powers @ x_free                          # e0 from the interval's end on
            r = _peak_rate(goal, free, unit)
            # Once the peak would be reached within this interval, hold the target at its end.
            r = min(r, (goal - e_row @ x_free) / (e_row @ gamma)) \
                if e_row @ (x_free + gamma * r) >= goal * (1 - 1e-9) else r
        else:
            r = (goal - e_row @ x_free) / (e_row @ gamma)
        r = float(min(max(r, 0.0), r_max))
        rates[k] = r
        x = x_free + gamma * r
    cp[n_up], ce[n_up] = c_row @ x, e_row @ x
    return _result(model, site, dt, times, rates, tgt, cp, ce)


def _peak_rate(goal, free_after, unit) -> float:
    """The rate whose effect-site peak equals ``goal``: ``free_after`` is the free response
    on the fine grid from the end of the interval on, ``unit`` the unit-rate response from
    the end of the infusion on; iterate the peak time to a fixed point."""
    ratio = (goal - free_after) / np.maximum(unit, 1e-300)
    k = int(np.argmax(unit))
    r = max(ratio[k], 0.0)
    for _ in range(50):
        k_new = int(np.argmax(free_after + r * unit))
        r_new = max(ratio[k_new], 0.0)
        if k_new == k and abs(r_new - r) <= 1e-12 * max(r, 1e-30):
            break
        k, r = k_new, r_new
    return float(r)


def _updates(steps, total, dt):
    """(number of updates, update times (min), target in force over each interval (mg/L))."""
    n_up = int(np.ceil(total / dt - 1e-9))
    times = np.arange(n_up) * dt
    starts = np.array([t for t, _ in steps])
    levels = np.array([c for _, c in steps])
    return n_up, times, levels[np.searchsorted(starts, times + 1e-9, side="right") - 1]


def _result(model, site, dt, times, rates, tgt, cp, ce) -> TciResult:
    """The schedule as a :class:`TciResult` (one infusion per interval with a positive rate;
    concentrations from mg/L to ng/mL)."""
    events = tuple(Infusion(rate=r, duration=dt, at=t) for t, r in zip(times, rates) if r > 0)
    if not events:
        raise ValidationError("target", "the schedule never infuses (target 0)")
    return TciResult(time=times, rate=rates, target=tgt * MG_PER_L_TO_NG_PER_ML,
                     plasma=cp * MG_PER_L_TO_NG_PER_ML, effect_site=ce * MG_PER_L_TO_NG_PER_ML,
                     regimen=Regimen(events), model=model, site=site)


def _population(model, steps, total, dt, r_max, n_sub, seed, quantile, flow, central, e_state):
    """Plasma targeting of a population's ``quantile`` (see :func:`tci`)."""
    from .population.sampling import draw_subjects
    from .population.variability import build_variability, individual_parameters
    if isinstance(n_sub, bool) or not isinstance(n_sub, (int, np.integer)) or n_sub < 2:
        raise ValidationError("population", f"expected a number of subjects >= 2, got "
                                            f"{n_sub!r}")
    if n_sub > 100_000:
        raise ValidationError("population", f"at most 100,000 subjects, got {n_sub}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValidationError("seed", f"population targeting needs an integer seed, got "
                                      f"{seed!r}")
    if isinstance(quantile, bool) or not isinstance(quantile, (int, float)) \
            or not 0 < quantile < 1:
        raise ValidationError("quantile", f"expected a number in (0, 1), got {quantile!r}")
    compiled = model.compiled
    var = build_variability(model)
    draws = draw_subjects(int(seed), 0, int(n_sub), var.n_eta, n_occ=var.n_occ)
    eta = draws["z"] @ var.chol.T if var.n_eta else np.zeros((n_sub, 0))
    kappa = draws["z_occ"] @ var.occ_chol.T if var.n_occ else None
    thetas = individual_parameters(np.asarray(compiled.theta, dtype=float), var, eta, kappa)
    phis, gammas = zip(*(flow(dt, compiled.system_matrix(th)) for th in thetas))
    phis, gammas = np.array(phis), np.array(gammas)              # (N, n, n), (N, n)
    v1 = np.array([compiled.get(th, "V1") for th in thetas])
    n_up, times, tgt = _updates(steps, total, dt)
    x = np.zeros(gammas.shape)
    rates = np.zeros(n_up)
    cp = np.zeros(n_up + 1)
    ce = np.zeros(n_up + 1)
    q = 100 * quantile
    for k in range(n_up):
        cp[k] = np.percentile(x[:, central] / v1, q)
        ce[k] = np.percentile(x[:, e_state], q) if e_state >= 0 else 0.0
        x_free = np.einsum("ikl,il->ik", phis, x)
        a0 = x_free[:, central] / v1
        b = gammas[:, central] / v1
        if np.percentile(a0, q) >= tgt[k]:
            r = 0.0
        else:
            lo, hi = 0.0, max(1e-12, (tgt[k] - a0.min()) / b.min())
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                if np.percentile(a0 + b * mid, q) < tgt[k]:
                    lo = mid
                else:
                    hi = mid
                if hi - lo <= 1e-12 * hi:
                    break
            r = hi
        r = float(min(r, r_max))
        rates[k] = r
        x = x_free + gammas * r
    cp[n_up] = np.percentile(x[:, central] / v1, q)
    ce[n_up] = np.percentile(x[:, e_state], q) if e_state >= 0 else 0.0
    return _result(model, "plasma", dt, times, rates, tgt, cp, ce)
