"""Results of a single-subject simulation."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .catalogue import EXPOSURE_METRICS, METRICS
from .errors import ValidationError
from .metrics import ExposureMetrics, effect_metrics, exposure_metrics
from .model.spec import Model
from .regimen.table import ResolvedEvents
from .units import MG_PER_L_TO_NG_PER_ML, query_times

__all__ = ["Result", "Metrics"]


@dataclass(frozen=True)
class Metrics:
    """Exposure metrics of the parent in plasma and effect metrics per endpoint."""

    exposure: ExposureMetrics
    effects: dict

    def as_dict(self) -> dict:
        return {"exposure": self.exposure.as_dict(),
                "effects": {k: v.as_dict() for k, v in self.effects.items()}}

    def __str__(self) -> str:
        width = max(len(METRICS[k].label) for k in EXPOSURE_METRICS) + 1
        lines = [f"{METRICS[k].label:{width}s}{getattr(self.exposure, k):10.4g} "
                 f"{METRICS[k].unit}" for k in EXPOSURE_METRICS]
        for name, m in self.effects.items():
            rel = ">" if m.direction > 0 else "<"
            lines += [f"{name}: peak {m.peak:.4g} at {m.time_to_peak:.4g} min; "
                      f"{rel} {m.threshold:g} from {m.onset:.4g} to {m.offset:.4g} min "
                      f"({m.duration:.4g} min{', still beyond at the end' if m.censored else ''})"]
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class Result:
    """One subject's simulated time course.

    Attributes
    ----------
    model : Model
    time : ndarray, shape (n_times,)
        Output times (min).
    states : ndarray, shape (n_times, n_states)
        Amounts (mg; effect compartments in mg/L), columns named by :attr:`state_names`.
    theta : ndarray
        Parameter values used (canonical units).
    engine : str
        ``"analytic"`` or ``"scipy"``.
    trajectory : callable
        Continuous solution: times (min) -> states.
    events : ResolvedEvents
        The dosing input as the engine saw it.
    """

    model: Model
    time: np.ndarray
    states: np.ndarray
    theta: np.ndarray
    engine: str
    trajectory: object
    events: ResolvedEvents

    @property
    def state_names(self) -> tuple:
        names = list(self.model.compiled.state_names)
        names += [f"depot_{k + 2}" for k in range(self.states.shape[1] - len(names))]
        return tuple(names)

    @property
    def amounts(self) -> dict[str, np.ndarray]:
        """Each state's time course, keyed by state name (mg; effect compartments mg/L)."""
        return {n: self.states[:, i] for i, n in enumerate(self.state_names)}

    def _conc(self, states):
        return self.model.compiled.concentrations(states, self.theta)

    @cached_property
    def concentration(self) -> np.ndarray:
        """Plasma concentration of the parent (ng/mL), shape (n_times,)."""
        return self._conc(self.states)["parent"] * MG_PER_L_TO_NG_PER_ML

    @cached_property
    def metabolite_concentration(self) -> np.ndarray | None:
        """Plasma concentration of the metabolite (ng/mL), or None without one."""
        c = self._conc(self.states).get("metabolite")
        return None if c is None else c * MG_PER_L_TO_NG_PER_ML

    @cached_property
    def _endpoints(self):
        return self.model.compiled.endpoint_outputs(self.states, self.theta)

    @property
    def effect_sites(self) -> dict[str, np.ndarray]:
        """Driving concentration at each endpoint's effect site (ng/mL); plasma for a direct
        link."""
        return {ep.name: ce * MG_PER_L_TO_NG_PER_ML
                for ep, (ce, _) in zip(self.model.effects, self._endpoints)}

    @property
    def effects(self) -> dict[str, np.ndarray]:
        """Each endpoint's response (in the endpoint's unit), shape (n_times,)."""
        return {ep.name: resp for ep, (_, resp) in zip(self.model.effects, self._endpoints)}

    def _first(self, what):
        if not self.model.effects:
            raise ValidationError("endpoint", f"model {self.model.name!r} has no effect endpoint")
        return what[self.model.effects[0].name]

    @property
    def effect_site(self) -> np.ndarray:
        """Effect-site concentration of the first endpoint (ng/mL)."""
        return self._first(self.effect_sites)

    @property
    def effect(self) -> np.ndarray:
        """Response of the first endpoint."""
        return self._first(self.effects)

    def at(self, t) -> np.ndarray:
        """States at arbitrary times from the continuous solution, shape (len(t), n).

        ``t``: a number (min), a string (``"5 min"``), a Quantity or a sequence of these.
        """
        return self.trajectory(query_times(t, "t"))

    def concentration_at(self, t) -> np.ndarray:
        """Plasma concentration (ng/mL) at arbitrary times from the continuous solution."""
        return self._conc(self.at(t))["parent"] * MG_PER_L_TO_NG_PER_ML

    def effect_at(self, t, endpoint: str | None = None) -> np.ndarray:
        """Response of an endpoint (default: the first) at arbitrary times."""
        names = [e.name for e in self.model.effects]
        if not names:
            raise ValidationError("endpoint", f"model {self.model.name!r} has no effect endpoint")
        k = names.index(endpoint) if endpoint in names else 0
        if endpoint is not None and endpoint not in names:
            raise ValidationError("endpoint", f"unknown endpoint {endpoint!r}; have {names}")
        return self.model.compiled.endpoint_outputs(self.at(t), self.theta)[k][1]

    def metrics(self, thresholds: dict | None = None) -> Metrics:
        """Exposure and effect metrics.

        Parameters
        ----------
        thresholds : dict, optional
            Threshold per endpoint name (a finite number in the endpoint's unit); defaults to
            each endpoint's ``threshold`` in the model file. Endpoints without a threshold are
            left out of the effect metrics. See :meth:`Model.check_thresholds`.
        """
        thresholds = self.model.check_thresholds(thresholds)
        exposure = exposure_metrics(self.time, self.concentration, self.concentration_at,
                                    extra_times=self.events.breaks)
        effects = {}
        t0, t1 = float(self.time[0]), float(self.time[-1])
        for ep in self.model.effects:
            thr = thresholds.get(ep.name, ep.threshold)
            if thr is None:
                continue
            if t1 > t0:
                effects[ep.name] = effect_metrics(
                    ep.name, lambda t, n=ep.name: self.effect_at(t, n), t0, t1, float(thr),
                    ep.sign, extra_times=self.events.breaks)
        return Metrics(exposure, effects)

    def plot(self, **kwargs):
        """Concentration and effect panels; see :func:`dmtpk.plot.result_overview`."""
        from .plot import result_overview
        return result_overview(self, **kwargs)

    def to_dataframe(self):
        """A pandas DataFrame with units in the column names (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("Result.to_dataframe needs pandas: pip install pandas") from None
        data = {"time [min]": self.time, "Cp [ng/mL]": self.concentration}
        if self.metabolite_concentration is not None:
            name = self.model.metabolite.name
            data[f"C_{name} [ng/mL]"] = self.metabolite_concentration
        for ep in self.model.effects:
            data[f"Ce_{ep.name} [ng/mL]"] = self.effect_sites[ep.name]
            data[f"{ep.name} [{ep.unit}]" if ep.unit else ep.name] = self.effects[ep.name]
        return pd.DataFrame(data)
