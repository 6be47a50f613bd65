"""``FitResult``: estimates, standard errors, objective, diagnostics and the fitted model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..units import CANONICAL

__all__ = ["FitResult"]


@dataclass(frozen=True, eq=False)
class FitResult:
    """The outcome of :func:`dmtpk.fit`.

    Attributes
    ----------
    method : str
        ``"focei"``, ``"ml"`` or ``"map"``.
    ofv : float
        Objective function value, -2 log-likelihood without the ``n_obs ln 2π`` constant, as
        NONMEM prints it (for MAP, -2 log-posterior without constants).
    ofv_with_constant : float
    theta : mapping of str to float
        Estimated typical values (population fit) or individual values (individual fit of one
        subject), canonical units; estimated covariate exponents as ``"CL~WT"``.
    omega : mapping of str to float
        Estimated variances of η by parameter (population fits).
    omega_matrix : ndarray, shape (n_eta, n_eta)
    correlations : mapping of str to float
        Estimated correlations of random effects in blocks (``"CL,V1"``).
    sigma : mapping of str to float
        Residual standard deviations (``"prop"``, ``"add"``, ...).
    se : mapping of str to float
        Standard errors by the same names (``"CL"``, ``"omega(CL)"``, ``"prop"``), natural
        scale; NaN where the covariance step gave none.
    rse : mapping of str to float
        Relative standard errors, %.
    ci : mapping of str to (float, float)
        95 % confidence intervals (log-scale Wald intervals: every estimated quantity is
        positive).
    covariance, correlation : ndarray or None
        Of the estimates in the order of ``labels``, on the log scale of the optimiser.
    labels : tuple of str
        The estimated quantities.
    shrinkage : mapping of str to float
        η-shrinkage by parameter, ``1 - SD(EBE)/ω`` in % (SD with n - 1, as NONMEM), and
        ``"epsilon"``: ``1 - SD(IWRES)`` in %.
    ebes : ndarray, shape (n_subjects, n_eta)
        Empirical Bayes estimates (conditional modes) of η.
    subject_ids : tuple
    table : mapping of str to ndarray
        Per observation: ``ID``, ``TIME`` (dataset unit), ``DV``, ``PRED`` (η = 0), ``IPRED``,
        ``RES``, ``IWRES``, ``CWRES``, ``OUTPUT`` (on each output's residual scale).
    model : Model
        The model with the estimates (and, for population fits, the estimated Ω and σ).
    n_obs, n_subjects : int
    aic, bic : float
    condition_number : float
        Of the correlation matrix of the estimates (NaN without a covariance step).
    iterations, evaluations : int
    converged : bool
    message : str
    elapsed : float
        Seconds.
    ofv_importance, ofv_importance_se : float
        The objective by importance sampling at the estimates (the marginal likelihood itself,
        :mod:`dmtpk.fit.importance`) and its Monte Carlo SE, when asked for
        (``importance_samples``); else NaN.
    history : ndarray or None
        SAEM: the estimates at every iteration, shape (iterations, len(history_labels)).
    history_labels : tuple of str
        SAEM: the columns of ``history`` (typical values, ``omega(P)``, SDs, covariate
        coefficients, correlations).
    exploration : int
        SAEM: the exploration iterations (the first rows of ``history``; smoothing after).
    convergence_z : mapping of str to (float, float)
        SAEM: per entry of ``history_labels``, the Geweke z-score of the exploration's second
        half and the smoothing phase's last-half change in Monte Carlo SEs, on which
        ``converged`` rests (:func:`dmtpk.fit.saem.convergence`).
    problem : Problem
        The fitting problem (dataset, observations, parameterisation), for the simulation
        diagnostics.
    estimates_vector : tuple
        (full parameter vector, Ω, residual SDs) at the estimates, canonical units.
    fixed : tuple of str
        Population fits: the quantities held at their initial values (``fix=``), listed by the
        summary as fixed.
    """

    method: str
    ofv: float
    ofv_with_constant: float
    theta: MappingProxyType
    omega: MappingProxyType
    omega_matrix: np.ndarray
    sigma: MappingProxyType
    se: MappingProxyType
    rse: MappingProxyType
    ci: MappingProxyType
    covariance: np.ndarray | None
    correlation: np.ndarray | None
    labels: tuple
    shrinkage: MappingProxyType
    ebes: np.ndarray
    subject_ids: tuple
    table: MappingProxyType
    model: object
    n_obs: int
    n_subjects: int
    aic: float
    bic: float
    condition_number: float
    iterations: int
    evaluations: int
    converged: bool
    message: str
    elapsed: float
    ofv_importance: float = math.nan
    ofv_importance_se: float = math.nan
    history: np.ndarray | None = None
    history_labels: tuple = ()
    exploration: int = 0
    convergence_z: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    correlations: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    problem: object = None
    estimates_vector: tuple = ()
    fixed: tuple = ()

    def estimates(self) -> dict:
        """Every estimate by its label (typical values, ``omega(P)``, SDs)."""
        return self._values(self.labels)

    def fixed_values(self) -> dict:
        """The quantities held fixed (:attr:`fixed`) by label, at their values."""
        return self._values(self.fixed)

    def _values(self, labels) -> dict:
        out = dict(self.theta)
        out.update({f"omega({k})": v for k, v in self.omega.items()})
        out.update(self.sigma)
        out.update({f"corr({k})": v for k, v in self.correlations.items()})
        return {k: out[k] for k in labels}

    def summary(self) -> str:
        """The parameter table (estimate, SE, RSE %, 95 % CI, shrinkage) and the objective."""
        units = {n: CANONICAL[self.model.parameters[n].kind] for n in self.theta
                 if n in self.model.parameters}
        lines = [f"{self.method.upper()} fit of {self.model.name}: {self.n_subjects} subjects, "
                 f"{self.n_obs} observations",
                 f"OFV {self.ofv:.3f} (with n ln 2pi: {self.ofv_with_constant:.3f}); "
                 f"AIC {self.aic:.2f}, BIC {self.bic:.2f}",
                 f"{'converged' if self.converged else 'NOT converged'}: {self.message} "
                 f"({self.iterations} iterations, {self.evaluations} evaluations, "
                 f"{self.elapsed:.1f} s)", "",
                 f"{'parameter':<16}{'estimate':>12}{'unit':>14}{'SE':>12}{'RSE %':>9}"
                 f"{'95% CI':>26}{'shrink %':>10}"]
        est = self.estimates()
        for lab in self.labels:
            v = est[lab]
            se = self.se.get(lab, math.nan)
            lo, hi = self.ci.get(lab, (math.nan, math.nan))
            unit = units.get(lab, "")
            shr = ""
            if lab.startswith("omega("):
                s = self.shrinkage.get(lab[6:-1])
                shr = f"{s:.1f}" if s is not None else ""
            lines.append(f"{lab:<16}{v:>12.5g}{unit:>14}{se:>12.3g}{self.rse.get(lab, math.nan):>9.1f}"
                         f"{f'[{lo:.4g}, {hi:.4g}]':>26}{shr:>10}")
        for lab, v in self.fixed_values().items():
            s = self.shrinkage.get(lab[6:-1]) if lab.startswith("omega(") else None
            shr = f"{s:.1f}" if s is not None else ""
            lines.append(f"{lab:<16}{v:>12.5g}{units.get(lab, ''):>14}{'fixed':>12}"
                         f"{'':>9}{'':>26}{shr:>10}".rstrip())
        if "epsilon" in self.shrinkage:
            lines.append(f"epsilon shrinkage {self.shrinkage['epsilon']:.1f} %")
        if np.isfinite(self.ofv_importance):
            lines.append(f"OFV by importance sampling {self.ofv_importance:.3f} "
                         f"(Monte Carlo SE {self.ofv_importance_se:.3f})")
        if np.isfinite(self.condition_number):
            lines.append(f"condition number {self.condition_number:.3g}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    # -- simulation diagnostics ------------------------------------------------------------

    def _need_population(self, what):
        from ..errors import ValidationError
        if self.method not in ("focei", "saem") or self.problem is None:
            raise ValidationError("method", f"{what} needs a population fit (focei or saem)")

    def simulate(self, n: int = 200, seed: int = 0) -> np.ndarray:
        """``n`` replicates of the observations from the fitted model, shape (n, n_obs), on
        each output's own scale (see :mod:`dmtpk.fit.diagnostics`)."""
        from .diagnostics import simulate_replicates
        self._need_population("simulate")
        theta, omega, sd = self.estimates_vector
        return simulate_replicates(self.problem, theta, omega, sd, _count(n, "n"), seed)

    def npde(self, n: int = 1000, seed: int = 0) -> np.ndarray:
        """Normalised prediction distribution errors of the observations (NaN for censored
        ones), shape (n_obs,), from ``n`` replicates."""
        from .diagnostics import _back, npde
        observed = _back(self.problem, np.asarray(self.table["DV"]))
        return npde(self.problem, observed, self.simulate(n, seed))

    def vpc(self, n: int = 200, seed: int = 0, bins: int = 8, q=(5, 50, 95),
            prediction_corrected: bool = False, output: str = "concentration") -> dict:
        """Visual predictive check of one output (see :func:`dmtpk.fit.diagnostics.vpc`);
        times in the dataset's unit."""
        from ..errors import ValidationError
        from .diagnostics import _back, vpc
        self._need_population("vpc")
        labels = [o[0] for o in self.problem.outputs]
        if output not in labels:
            raise ValidationError("output", f"the fit has no observations of {output!r} (it "
                                            f"has {labels})")
        k = labels.index(output)
        observed = _back(self.problem, np.asarray(self.table["DV"]))
        pred = _back(self.problem, np.asarray(self.table["PRED"]))
        out = vpc(self.problem, np.asarray(self.table["TIME"]), observed, pred,
                  self.simulate(n, seed), bins=_count(bins, "bins"), q=q,
                  prediction_corrected=prediction_corrected, output=k)
        out["output"] = output
        out["prediction_corrected"] = prediction_corrected
        out["time_unit"] = self.problem.prepared.data.time_unit
        return out

    def plot(self, kind: str = "diagnostics", **kw):
        """Figures: ``"diagnostics"`` (observations against PRED and IPRED, CWRES against time
        and PRED), ``"individuals"`` (observations and IPRED per subject), ``"eta"`` (EBE
        distributions), ``"vpc"`` (keywords of :meth:`vpc`), ``"saem"`` (the SAEM estimates
        at every iteration, exploration and smoothing)."""
        from .. import plot
        from ..errors import ValidationError
        if kind == "diagnostics":
            return plot.fit_diagnostics(self)
        if kind == "individuals":
            return plot.fit_individuals(self, **kw)
        if kind == "eta":
            return plot.eta_distributions(self)
        if kind == "vpc":
            return plot.vpc(self.vpc(**kw))
        if kind == "saem":
            if self.history is None:
                raise ValidationError("kind", f"a {self.method} fit has no SAEM trajectories")
            return plot.saem_trajectories(self)
        raise ValidationError("kind", f"expected 'diagnostics', 'individuals', 'eta', 'vpc' or "
                                      f"'saem', got {kind!r}")

    def write_model(self, path, force: bool = False):
        """Write :attr:`model` (the estimates, and for population fits Ω and σ) as a model file
        whose description names the dataset and the method.

        Returns
        -------
        Path
        """
        from ..model.toml import write_model
        return write_model(self.model, path, force=force)

    def write_report(self, folder, vpc_replicates: int = 200, seed: int = 0,
                     force: bool = False):
        """Write the fitted model, the parameter and observation tables and the diagnostic
        figures into ``folder``, all or none (:func:`dmtpk.fit.report.write_report`)."""
        from .report import write_report
        self._need_population("a report")
        return write_report(self, folder, vpc_replicates=vpc_replicates, seed=seed,
                            force=force)

    def to_dataframe(self):
        """:attr:`table` as a pandas DataFrame (needs pandas)."""
        import pandas as pd
        return pd.DataFrame(dict(self.table))


def _count(value, field) -> int:
    from ..errors import ValidationError
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValidationError(field, f"expected a whole number of at least 2, got {value!r}")
    return int(value)
