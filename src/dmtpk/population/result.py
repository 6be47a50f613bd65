"""Results of a population simulation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ValidationError

__all__ = ["PopulationResult"]

#: Per-subject metrics, in the column order of the kernels' exposure and effect outputs
#: (``dmtpk._kernels.metrics.grid_metrics``).
_EXPOSURE = ("cmax", "tmax", "auc")
_EFFECT = ("onset", "peak", "time_to_peak", "offset", "duration")


def metric_keys(ep_names, thresholds) -> list[str]:
    """Names of the per-subject metrics in column order: the exposure metrics, then
    ``<endpoint>.<effect metric>`` for each endpoint with a finite threshold."""
    keys = list(_EXPOSURE)
    for name, thr in zip(ep_names, thresholds):
        if not np.isnan(thr):
            keys += [f"{name}.{f}" for f in _EFFECT]
    return keys


@dataclass(eq=False)
class PopulationResult:
    """A simulated population.

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
        if output == "concentration":
            return self.concentration
        if output == "metabolite":
            if self.metabolite_concentration is None:
                raise ValidationError("output", "the model has no metabolite")
            return self.metabolite_concentration
        if output.startswith("effect_site:"):
            return self.effect_sites[output.split(":", 1)[1]]
        if output in self.effects:
            return self.effects[output]
        raise ValidationError("output", f"unknown output {output!r}; expected 'concentration', "
                                        f"'metabolite', an endpoint {list(self.effects) or ''} "
                                        "or 'effect_site:<endpoint>'")

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
        q = np.atleast_1d(np.asarray(q, dtype=float))
        if np.any((q < 0) | (q > 100)):
            raise ValidationError("q", f"percentiles must lie in [0, 100], got {q}")
        if self.keep == "all":
            return np.percentile(self._curves(output), q, axis=0)
        if output not in self.summaries:
            raise ValidationError("output", f"no summary of {output!r}; have "
                                            f"{sorted(k for k in self.summaries if ':' not in k or k.startswith('effect_site'))}")
        return self.summaries[output].percentiles(q)

    # -- metrics -----------------------------------------------------------------------------
    @property
    def metrics(self) -> dict:
        """Per-subject metrics (``keep="all"``), computed from the curves on first use:
        ``cmax``, ``tmax``, ``auc`` and ``<endpoint>.<onset|peak|time_to_peak|offset|duration>``
        for endpoints with a threshold, each of shape (n,)."""
        if self.keep != "all":
            return {}
        cached = self.__dict__.get("_metrics")
        if cached is None:
            from .._kernels.metrics import grid_metrics
            spec = self.spec
            eff = np.stack([self.effects[e] for e in spec.ep_names], axis=1) if spec.ep_names \
                else np.zeros((self.n, 0, self.time.size))
            exposure = np.empty((self.n, 3))
            em = np.empty((self.n, len(spec.ep_names), 5))
            grid_metrics(self.time, np.ascontiguousarray(self.concentration), eff,
                         spec.thresholds, spec.signs, exposure, em)
            columns = [exposure[:, j] for j in range(3)]
            for k in range(len(spec.ep_names)):
                if not np.isnan(spec.thresholds[k]):
                    columns += [em[:, k, f] for f in range(5)]
            cached = dict(zip(metric_keys(spec.ep_names, spec.thresholds), columns))
            self.__dict__["_metrics"] = cached
        return cached

    def metric(self, name: str, endpoint: str | None = None) -> np.ndarray:
        """Per-subject metric (``keep="all"``): ``cmax`` (ng/mL), ``tmax`` (min), ``auc``
        (ng·min/mL), or for an endpoint ``onset``, ``peak``, ``time_to_peak``, ``offset``,
        ``duration`` (min), shape (n,)."""
        if self.keep != "all":
            raise ValidationError("keep", "per-subject metrics exist only with keep='all'; use "
                                          "metric_percentiles")
        return self.metrics[self._metric_key(name, endpoint)]

    def _metric_key(self, name, endpoint):
        if name in _EXPOSURE:
            return name
        if name in _EFFECT:
            ep = endpoint or (self.model.effects[0].name if self.model.effects else None)
            key = f"{ep}.{name}"
            if key not in self.metrics and key not in self.summaries.get("_metric_index", {}):
                raise ValidationError("endpoint", f"no metrics for endpoint {ep!r} (endpoints "
                                                  f"with a threshold: {sorted(self.thresholds)})")
            return key
        raise ValidationError("metric", f"unknown metric {name!r}; expected one of "
                                        f"{_EXPOSURE + _EFFECT}")

    def metric_percentiles(self, q=(5, 50, 95)) -> dict:
        """Percentiles of every per-subject metric: dict key -> array (len(q),). NaN values
        (an effect never reaching its threshold has no onset) are left out; see
        :meth:`metric_nan_fraction`."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        if self.keep == "all":
            out = {}
            for k, v in self.metrics.items():
                finite = v[~np.isnan(v)]
                out[k] = np.percentile(finite, q) if finite.size else np.full(q.size, np.nan)
            return out
        index = self.summaries["_metric_index"]
        pct = self.summaries["_metrics"].percentiles(q)
        return {k: pct[:, j] for k, j in index.items()}

    def metric_nan_fraction(self) -> dict:
        """Share of subjects for which each metric does not exist (NaN)."""
        if self.keep == "all":
            return {k: float(np.isnan(v).mean()) for k, v in self.metrics.items()}
        s = self.summaries["_metrics"]
        return {k: float(s.n_nan[j] / self.n) for k, j in self.summaries["_metric_index"].items()}

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
        tgt = check_target("attainment", conditions, spec.ep_names, _minutes, _ngml)
        conc = self.concentration[:, None, :]
        eff = np.stack([self.effects[n] for n in spec.ep_names], axis=1) if spec.ep_names \
            else np.zeros((self.n, 0, self.time.size))
        return float(evaluate_target(spec, tgt, conc, eff).mean())

    # -- display -----------------------------------------------------------------------------
    def summary(self, q=(5, 50, 95)) -> str:
        """Metric distributions as text: median and the interval between the outer percentiles."""
        pct = self.metric_percentiles(q)
        nan = self.metric_nan_fraction()
        units = {"cmax": "ng/mL", "tmax": "min", "auc": "ng·min/mL", "onset": "min",
                 "time_to_peak": "min", "offset": "min", "duration": "min"}
        lines = [f"{self.n} subjects, seed {self.seed}, engine {self.engine}",
                 f"{'metric':28s} {'median':>10s}   {q[0]:g}-{q[-1]:g}th percentile"]
        for k, v in pct.items():
            base = k.split(".")[-1]
            unit = units.get(base, "")
            extra = f"  ({nan[k]:.1%} never)" if nan.get(k, 0) > 0 else ""
            lines.append(f"{k + (' [' + unit + ']' if unit else ''):28s} {v[len(v) // 2]:10.4g}"
                         f"   {v[0]:.4g} - {v[-1]:.4g}{extra}")
        return "\n".join(lines)

    def plot(self, output: str = "concentration", q=(5, 50, 95), individuals: int = 0,
             ax=None):
        """Percentile band(s) with the median; optionally the first ``individuals`` curves."""
        from ..plot import population_bands
        return population_bands(self, output=output, q=q, individuals=individuals, ax=ax)
