"""Results of a population simulation."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType

import numpy as np

from ..catalogue import EFFECT_METRICS, POPULATION_EXPOSURE_METRICS, metric_unit
from ..errors import ValidationError
from ..units import DMT_MOLAR_MASS, to_canonical

__all__ = ["PopulationResult", "metric_keys", "metric_columns", "check_percentiles",
           "check_conditions"]

#: Target conditions and the kind of quantity each takes (``above``/``below``: a response).
_CONDITIONS = {"for_at_least": "time", "for_at_most": "time", "cmax_below": "concentration",
               "cmax_above": "concentration"}


def check_percentiles(q, field: str = "q") -> np.ndarray:
    """Percentiles, validated: a float array of shape (k,), k >= 1, each finite in [0, 100].

    Raises
    ------
    ValidationError
        Naming ``field``: not numbers, nested, empty, NaN or outside [0, 100].
    """
    try:
        arr = np.atleast_1d(np.asarray(q, dtype=float))
    except (TypeError, ValueError):
        raise ValidationError(field, f"expected a percentile or a sequence of percentiles in "
                                     f"[0, 100], got {q!r}") from None
    if isinstance(q, (str, bytes)) or arr.ndim != 1 or arr.size == 0:
        raise ValidationError(field, f"expected a percentile or a flat, non-empty sequence of "
                                     f"percentiles in [0, 100], got {q!r}")
    if not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 100)):
        raise ValidationError(field, f"percentiles must lie in [0, 100], got {q!r}")
    return arr


def check_conditions(conditions, prefix: str = "") -> None:
    """Types and signs of target conditions (:meth:`PopulationResult.attainment`, the
    ``targets`` of :func:`~dmtpk.simulate_population`): ``above``/``below`` finite numbers,
    ``for_at_least``/``for_at_most`` non-negative times, ``cmax_below``/``cmax_above``
    non-negative concentrations. Errors name ``prefix + key``."""
    if not isinstance(conditions, Mapping):
        raise ValidationError(prefix.rstrip(".") or "conditions",
                              f"expected a mapping of conditions, e.g. {{'endpoint': "
                              f"'intensity', 'above': 5, 'for_at_least': '10 min'}}, got "
                              f"{conditions!r}")
    for key in ("above", "below"):
        if key in conditions:
            v = conditions[key]
            if isinstance(v, bool) or not isinstance(v, numbers.Real) \
                    or not math.isfinite(float(v)):
                raise ValidationError(f"{prefix}{key}", f"expected a finite number in the "
                                                        f"endpoint's unit, got {v!r}")
    for key, kind in _CONDITIONS.items():
        if key in conditions:
            v = to_canonical(conditions[key], kind, f"{prefix}{key}", molar_mass=DMT_MOLAR_MASS)
            if v < 0:
                raise ValidationError(f"{prefix}{key}", f"must not be negative, got "
                                                        f"{conditions[key]!r}")


class GridWarning(UserWarning):
    """Population metrics are statistics of the output grid, and the grid is coarse for the
    model's dynamics (see :func:`grid_note`)."""


def grid_note(model, times) -> str | None:
    """Why a population's metrics on ``times`` (min) may be off, or None.

    Per-subject metrics of a population (Cmax, Tmax, onset, offset, duration) are computed on
    the output grid, crossings interpolated linearly between grid points. They agree with the
    single-subject metrics of ``Result.metrics()`` to within a fraction of the grid step when
    the step is well below the model's fastest time constant (that of the typical subject's
    fastest non-zero eigenvalue: distribution, absorption or effect-site equilibration); when
    the largest step exceeds it, an effect shorter than a step can vanish and onsets shift.
    """
    t = np.asarray(times, dtype=float)
    if t.size < 2:
        return None
    step = float(np.max(np.diff(t)))
    compiled = model.compiled
    a = compiled.system_matrix(np.asarray(compiled.theta, dtype=float))
    keep = [k for k in range(a.shape[0]) if k not in compiled.accumulators]
    lam = np.abs(np.linalg.eigvals(a[np.ix_(keep, keep)]).real)
    lam = lam[lam > 1e-12]
    if not lam.size:
        return None
    tau = float(1.0 / lam.max())
    if step <= tau:
        return None
    return (f"population metrics are statistics of the output grid: its largest step "
            f"({step:.3g} min) exceeds the model's fastest time constant ({tau:.3g} min), so "
            f"onset, peak and duration may be off by up to a step and effects shorter than a "
            f"step may not show; use a step of at most {tau / 2:.2g} min, or Result.metrics() "
            f"for a subject")


def metric_keys(ep_names, thresholds) -> list[str]:
    """Names of the per-subject metrics in column order.

    Parameters
    ----------
    ep_names : sequence of str
        The model's endpoints, in order.
    thresholds : sequence of float
        Each endpoint's threshold; NaN for an endpoint without one (it has no effect metrics).

    Returns
    -------
    list of str
        The population exposure metrics (:data:`~dmtpk.catalogue.POPULATION_EXPOSURE_METRICS`),
        then ``<endpoint>.<effect metric>`` for each endpoint with a finite threshold.
    """
    keys = list(POPULATION_EXPOSURE_METRICS)
    for name, thr in zip(ep_names, thresholds):
        if not np.isnan(thr):
            keys += [f"{name}.{f}" for f in EFFECT_METRICS]
    return keys


def metric_columns(exposure: np.ndarray, effect_metrics: np.ndarray, thresholds) -> list:
    """The per-subject metric columns in the order of :func:`metric_keys`.

    Parameters
    ----------
    exposure : ndarray, shape (n, len(POPULATION_EXPOSURE_METRICS))
        Exposure metrics as the population kernels write them.
    effect_metrics : ndarray, shape (n, n_endpoints, len(EFFECT_METRICS))
        Effect metrics as the population kernels write them.
    thresholds : sequence of float
        Each endpoint's threshold (NaN: left out).

    Returns
    -------
    list of ndarray, each of shape (n,)
        Views into the inputs.
    """
    columns = [exposure[:, j] for j in range(len(POPULATION_EXPOSURE_METRICS))]
    for k, thr in enumerate(thresholds):
        if not np.isnan(thr):
            columns += [effect_metrics[:, k, f] for f in range(len(EFFECT_METRICS))]
    return columns


def _read_only(a):
    """A read-only view of an array (the caller's array keeps its flags), or None."""
    if a is None:
        return None
    view = np.asarray(a).view()
    view.setflags(write=False)
    return view


def _read_only_map(d) -> MappingProxyType:
    """A read-only mapping of read-only views."""
    return MappingProxyType({k: _read_only(v) for k, v in dict(d).items()})


@dataclass(frozen=True, eq=False)
class PopulationResult:
    """A simulated population.

    Immutable: :func:`~dmtpk.simulate_population` builds it in one call. Its arrays are
    read-only views and its mappings read-only (:class:`types.MappingProxyType`).

    Attributes
    ----------
    model : Model
    time : ndarray, shape (n_times,)
        Output times (min).
    n : int
        Number of subjects.
    seed : int
        The seed; the same seed gives the same subjects.
    engine : str
        ``"closed_form"`` (linear models) or ``"ode"`` (compiled adaptive integrator).
    keep : {"all", "summary"}
    concentration : ndarray, shape (n, n_times), or None
        Plasma concentration (ng/mL) of every subject (``keep="all"``).
    metabolite_concentration, effect_sites, effects, observations, parameters, covariates,
    metrics
        Per-subject arrays (``keep="all"``); see the class attributes' docstrings.
    replicate : ndarray of int, shape (n,)
        Replicate trial of each subject (all 0 without replicates).
    replicate_parameters : dict
        Typical values of each replicate trial, name -> shape (replicates,), when typical
        values carry uncertainty or trials are replicated.
    """

    model: object
    time: np.ndarray
    n: int
    seed: int
    engine: str
    keep: str
    concentration: np.ndarray | None = None
    metabolite_concentration: np.ndarray | None = None
    effect_sites: dict = field(default_factory=dict)
    effects: dict = field(default_factory=dict)
    observations: dict | None = None
    parameters: dict = field(default_factory=dict)
    covariates: dict = field(default_factory=dict)
    summaries: dict = field(default_factory=dict)
    target_counts: dict = field(default_factory=dict)
    n_fallback: int = 0
    thresholds: dict = field(default_factory=dict)
    spec: object = field(default=None, repr=False)
    replicate: np.ndarray | None = None
    replicate_parameters: dict = field(default_factory=dict)

    def __post_init__(self):
        # Construction, not filling: the frozen fields are set once here, as read-only views
        # and mappings, so a result cannot be changed after simulate_population returns it.
        for name in ("time", "concentration", "metabolite_concentration", "replicate"):
            object.__setattr__(self, name, _read_only(getattr(self, name)))
        for name in ("effect_sites", "effects", "parameters", "covariates",
                     "replicate_parameters"):
            object.__setattr__(self, name, _read_only_map(getattr(self, name)))
        if self.observations is not None:
            object.__setattr__(self, "observations", _read_only_map(self.observations))
        for name in ("summaries", "target_counts", "thresholds"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    # -- outputs ---------------------------------------------------------------------------
    @property
    def effect_site(self) -> np.ndarray:
        """Effect-site concentration of the first endpoint (ng/mL), shape (n, n_times)."""
        return self._first(self.effect_sites)

    @property
    def effect(self) -> np.ndarray:
        """Response of the first endpoint, shape (n, n_times)."""
        return self._first(self.effects)

    def _first(self, d):
        if self.keep != "all":
            raise ValidationError("keep", "per-subject curves exist only with keep='all'")
        if not d:
            raise ValidationError("endpoint", f"model {self.model.name!r} has no endpoint")
        return d[self.model.effects[0].name]

    def _curves(self, output: str) -> np.ndarray:
        if not isinstance(output, str):
            raise ValidationError("output", f"expected the name of an output, got {output!r}")
        if output == "concentration":
            return self.concentration
        if output == "metabolite":
            if self.metabolite_concentration is None:
                raise ValidationError("output", "the model has no metabolite")
            return self.metabolite_concentration
        if output.startswith("effect_site:") and output.split(":", 1)[1] in self.effect_sites:
            return self.effect_sites[output.split(":", 1)[1]]
        if output in self.effects:
            return self.effects[output]
        raise ValidationError("output", f"unknown output {output!r}; expected 'concentration', "
                                        f"'metabolite', an endpoint {list(self.effects) or ''} "
                                        f"or 'effect_site:<endpoint>' "
                                        f"{list(self.effect_sites) or ''}")

    def percentiles(self, q, output: str = "concentration") -> np.ndarray:
        """Percentiles over subjects at each time, shape (len(q), n_times).

        Parameters
        ----------
        q : float or sequence of float
            Percentiles in 0-100, as :func:`numpy.percentile`.
        output : str
            ``"concentration"`` (ng/mL), ``"metabolite"``, an endpoint name, or
            ``"effect_site:<endpoint>"``.

        With ``keep="all"`` these are exact (``numpy.percentile``); with ``keep="summary"`` they
        come from streamed histograms, within one bin width of exact (see
        :mod:`dmtpk.population.summary`).
        """
        q = check_percentiles(q)
        if not isinstance(output, str):
            raise ValidationError("output", f"expected the name of an output, got {output!r}")
        if self.keep == "all":
            return np.percentile(self._curves(output), q, axis=0)
        if output not in self.summaries:
            have = sorted(k for k in self.summaries
                          if ":" not in k or k.startswith("effect_site"))
            raise ValidationError("output", f"no summary of {output!r}; have {have}")
        return self.summaries[output].percentiles(q)

    # -- metrics -----------------------------------------------------------------------------
    @cached_property
    def metrics(self) -> MappingProxyType:
        """Per-subject metrics (``keep="all"``), computed from the curves on first use:
        ``cmax``, ``tmax``, ``auc`` and ``<endpoint>.<onset|peak|time_to_peak|offset|duration>``
        for endpoints with a threshold, each a read-only array of shape (n,); empty with
        ``keep="summary"``."""
        if self.keep != "all":
            return MappingProxyType({})
        from .._kernels.metrics import grid_metrics
        spec = self.spec
        eff = np.stack([self.effects[e] for e in spec.ep_names], axis=1) if spec.ep_names \
            else np.zeros((self.n, 0, self.time.size))
        exposure = np.empty((self.n, len(POPULATION_EXPOSURE_METRICS)))
        em = np.empty((self.n, len(spec.ep_names), len(EFFECT_METRICS)))
        # The kernel gets writable arrays, as in the simulation: a read-only one would compile
        # a second specialisation of it. spec.times is the array self.time is a view of.
        conc = np.require(self.concentration, requirements=("C", "W"))
        grid_metrics(spec.times, conc, eff, spec.thresholds, spec.signs, exposure, em)
        exposure.setflags(write=False)
        em.setflags(write=False)
        columns = metric_columns(exposure, em, spec.thresholds)
        return MappingProxyType(dict(zip(metric_keys(spec.ep_names, spec.thresholds), columns)))

    def metric(self, name: str, endpoint: str | None = None) -> np.ndarray:
        """Per-subject metric (``keep="all"``): ``cmax`` (ng/mL), ``tmax`` (min), ``auc``
        (ng·min/mL), or for an endpoint ``onset``, ``peak``, ``time_to_peak``, ``offset``,
        ``duration`` (min), shape (n,)."""
        if self.keep != "all":
            raise ValidationError("keep", "per-subject metrics exist only with keep='all'; use "
                                          "metric_percentiles")
        return self.metrics[self._metric_key(name, endpoint)]

    def _metric_key(self, name, endpoint):
        if name in POPULATION_EXPOSURE_METRICS:
            return name
        if name in EFFECT_METRICS:
            ep = endpoint or (self.model.effects[0].name if self.model.effects else None)
            key = f"{ep}.{name}"
            if key not in self.metrics and key not in self.summaries.get("_metric_index", {}):
                raise ValidationError("endpoint", f"no metrics for endpoint {ep!r} (endpoints "
                                                  f"with a threshold: {sorted(self.thresholds)})")
            return key
        raise ValidationError("metric", f"unknown metric {name!r}; expected one of "
                                        f"{POPULATION_EXPOSURE_METRICS + EFFECT_METRICS}")

    def metric_percentiles(self, q=(5, 50, 95)) -> dict:
        """Percentiles of every per-subject metric: dict key -> array (len(q),). NaN values
        (an effect never reaching its threshold has no onset) are left out; see
        :meth:`metric_nan_fraction`."""
        q = check_percentiles(q)
        if self.keep == "all":
            out = {}
            for k, v in self.metrics.items():
                finite = v[~np.isnan(v)]
                # Tmax is a grid time for every subject: its percentiles are grid times too
                # (the inverted CDF), not interpolations between two of them.
                method = "inverted_cdf" if k == "tmax" else "linear"
                out[k] = np.percentile(finite, q, method=method) if finite.size \
                    else np.full(q.size, np.nan)
            return out
        index = self.summaries["_metric_index"]
        summ = self.summaries["_metrics"]
        pct = summ.percentiles(q)
        out = {k: pct[:, j] for k, j in index.items()}
        if "tmax" in index:
            out["tmax"] = self._grid_percentiles(summ, index["tmax"], q)
        return out

    def _grid_percentiles(self, summ, j, q) -> np.ndarray:
        """Inverted-CDF percentiles of a streamed column whose values are grid times: the bin
        where the cumulative count reaches the rank, snapped to the grid time in it (exact
        while a bin is narrower than the grid spacing)."""
        counts = summ.counts[j]
        n = int(counts.sum())
        out = np.full(q.size, np.nan)
        if n == 0:
            return out
        cum = np.cumsum(counts)
        bw = summ.bin_width[j]
        half = summ.n_bins // 2
        t = np.asarray(self.time, dtype=float)
        for i, qi in enumerate(q):
            rank = max(1, int(np.ceil(qi / 100.0 * n - 1e-9)))
            b = int(np.searchsorted(cum, rank, side="left"))
            mid = summ.center[j] + (b - half + 0.5) * bw
            out[i] = t[int(np.argmin(np.abs(t - mid)))]
        return out

    def metric_nan_fraction(self) -> dict:
        """Share of subjects for which each metric does not exist (NaN)."""
        if self.keep == "all":
            return {k: float(np.isnan(v).mean()) for k, v in self.metrics.items()}
        s = self.summaries["_metrics"]
        return {k: float(s.n_nan[j] / self.n) for k, j in self.summaries["_metric_index"].items()}

    def metric_accuracy(self) -> dict:
        """The stated accuracy of each metric's percentiles: 0 where they are exact (``keep=
        "all"``, and Tmax, a grid time), else the streamed histogram's bin width (a streamed
        percentile lies within one bin width of ``numpy.percentile`` of the same values)."""
        if self.keep == "all":
            return {k: 0.0 for k in self.metrics}
        summ = self.summaries["_metrics"]
        return {k: 0.0 if k == "tmax" else float(summ.bin_width[j])
                for k, j in self.summaries["_metric_index"].items()}

    def censored_fraction(self) -> dict:
        """Per endpoint offset (``"intensity.offset"``): the share of subjects whose effect is
        still beyond the threshold at the end of the grid (the offset is censored: it exists
        but after the grid). The rest of :meth:`metric_nan_fraction` for an offset are
        subjects whose effect never reached the threshold (no onset either)."""
        nan = self.metric_nan_fraction()
        out = {}
        for k in nan:
            if k.endswith(".offset"):
                never = nan.get(k[:-len("offset")] + "onset", 0.0)
                out[k] = max(0.0, nan[k] - never)
        return out

    # -- attainment --------------------------------------------------------------------------
    def attainment(self, name: str | None = None, **conditions) -> float:
        """Probability of target attainment: the share of subjects meeting every condition.

        Either the name of a target given to :func:`simulate_population` (works with
        ``keep="summary"``), or conditions (``keep="all"``): ``endpoint``, ``above`` or
        ``below`` (threshold of the response), ``for_at_least`` / ``for_at_most`` (time beyond
        it, min or a time string), ``cmax_below`` / ``cmax_above`` (ng/mL or a string).

        Examples
        --------
        ``result.attainment(endpoint="intensity", above=7, for_at_least="15 min")``
        """
        if name is not None:
            if conditions:
                raise ValidationError("attainment", "give a target name or conditions, not both")
            if name not in self.target_counts:
                raise ValidationError("attainment", f"no target {name!r}; declared targets: "
                                                    f"{sorted(self.target_counts)}")
            return self.target_counts[name] / self.n
        if self.keep != "all":
            raise ValidationError("attainment", "with keep='summary' declare targets= when "
                                                "simulating and ask by name")
        from .chunk import check_target, evaluate_target
        from .runner import _ngml, _minutes
        spec = self.spec
        check_conditions(conditions)  # errors name the keyword (for_at_least, above, ...)
        tgt = check_target("attainment", conditions, spec.ep_names, _minutes, _ngml)
        conc = self.concentration[:, None, :]
        eff = np.stack([self.effects[n] for n in spec.ep_names], axis=1) if spec.ep_names \
            else np.zeros((self.n, 0, self.time.size))
        return float(evaluate_target(spec, tgt, conc, eff).mean())

    # -- display -----------------------------------------------------------------------------
    def summary(self, q=(5, 50, 95)) -> str:
        """Metric distributions as text: median and the interval between the outer percentiles."""
        q = check_percentiles(q)
        pct = self.metric_percentiles(q)
        nan = self.metric_nan_fraction()
        censored = self.censored_fraction()
        accuracy = ""
        if self.keep != "all":
            accuracy = ("; percentiles streamed: each within one histogram bin of the exact "
                        "value (bin widths in metric_accuracy())")
        lines = [f"{self.n} subjects, seed {self.seed}, engine {self.engine}{accuracy}",
                 f"{'metric':28s} {'median':>10s}   {q[0]:g}-{q[-1]:g}th percentile"]
        for k, v in pct.items():
            unit = metric_unit(k)  # without the model: a peak is shown without its unit
            share = nan.get(k, 0.0) - censored.get(k, 0.0)
            parts = ([f"{share:.1%} never reached"] if share > 0 else []) + \
                ([f"{censored[k]:.1%} still beyond at the end"] if censored.get(k, 0) > 0
                 else [])
            extra = f"  ({', '.join(parts)})" if parts else ""
            lines.append(f"{k + (' [' + unit + ']' if unit else ''):28s} {v[len(v) // 2]:10.4g}"
                         f"   {v[0]:.4g} - {v[-1]:.4g}{extra}")
        note = grid_note(self.model, self.time)
        if note is not None:
            lines.append(f"note: {note}")
        from ..model.describe import hill_share_below_one
        var = getattr(self.spec, "var", None)
        for ep in self.model.effects:
            gamma = ep.roles.get("GAMMA")
            if var is None or gamma not in var.names:
                continue
            k = var.names.index(gamma)
            share = hill_share_below_one(self.model, gamma, float(var.omega[k, k]),
                                         var.distributions[k])
            if share is not None and share >= 0.001:
                lines.append(f"note: the IIV of this run gives {share:.1%} of subjects a Hill "
                             f"coefficient ({gamma}) below 1, a flatter concentration-response "
                             f"for {ep.name}; see print(model)")
        return "\n".join(lines)

    def plot(self, output: str = "concentration", q=(5, 50, 95), individuals: int = 0,
             ax=None):
        """Percentile band(s) with the median; optionally the first ``individuals`` curves."""
        from ..plot import population_bands
        return population_bands(self, output=output, q=q, individuals=individuals, ax=ax)
