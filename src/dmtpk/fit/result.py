"""``FitResult``: estimates, standard errors, objective, diagnostics and the fitted model."""

from __future__ import annotations

import math
from dataclasses import dataclass
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
        subject), canonical units.
    omega : mapping of str to float
        Estimated variances of η by parameter (population fits).
    omega_matrix : ndarray, shape (n_eta, n_eta)
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
        SAEM: the estimates at every iteration (typical values, variances, SDs).
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

    def estimates(self) -> dict:
        """Every estimate by its label (typical values, ``omega(P)``, SDs)."""
        out = dict(self.theta)
        out.update({f"omega({k})": v for k, v in self.omega.items()})
        out.update(self.sigma)
        return {k: out[k] for k in self.labels}

    def summary(self) -> str:
        """The parameter table (estimate, SE, RSE %, 95 % CI, shrinkage) and the objective."""
        units = {n: CANONICAL[self.model.parameters[n].kind] for n in self.theta}
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

    def to_dataframe(self):
        """:attr:`table` as a pandas DataFrame (needs pandas)."""
        import pandas as pd
        return pd.DataFrame(dict(self.table))
