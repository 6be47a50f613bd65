r"""Inter-individual variability, covariates and residual error.

Individual parameters follow NONMEM habits: for parameter :math:`P` with typical value
:math:`\theta_P` and random effect :math:`\eta_P`,

* log-normal (default): :math:`P_i = \theta_P \, e^{\eta_{P,i}}`
* normal: :math:`P_i = \theta_P + \eta_{P,i}`
* logit-normal (fractions such as F_INH): :math:`P_i = \mathrm{expit}(\mathrm{logit}\,\theta_P
  + \eta_{P,i})`
* Box-Cox (NONMEM's shape-transformed eta, shape :math:`\lambda`): :math:`P_i = \theta_P\,
  e^{\eta^{bc}_{P,i}}`, :math:`\eta^{bc} = ((e^{\eta})^{\lambda} - 1)/\lambda`

Between-occasion variability adds :math:`\kappa \sim N(0, \Omega_{occ})` to the (transformed)
eta of a log-normal or Box-Cox parameter; a population simulation is one occasion per subject,
so each subject draws one kappa. With :math:`\eta_i \sim N(0, \Omega)`, :math:`\Omega` a full covariance matrix (variances and
correlations, or CVs: for log-normal parameters :math:`\omega^2 = \ln(1 + CV^2)`). Covariates
scale parameters by power laws, :math:`P_i \leftarrow P_i (X_i / X_{ref})^{\beta}` (allometric
body weight: 0.75 for clearances, 1 for volumes, as the model file states).

Residual error: :func:`build_residual` reads the model file's ``[residual]`` (or a dict of the
same form) into one :class:`~dmtpk.model.residual.ResidualError` per output, the one place
with the formulas; :func:`apply_residual` simulates with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import ValidationError
from ..model.residual import ResidualError
from ..model.sections import _PROVENANCE_KEYS, _RESIDUAL_KEYS
from ..units import to_canonical

__all__ = ["Variability", "build_variability", "individual_parameters", "CovariateSpec",
           "build_covariates", "ResidualModel", "build_residual", "DISTRIBUTIONS"]

DISTRIBUTIONS = ("lognormal", "normal", "logit", "boxcox")
#: Keys of ``[residual]`` itself (plasma DMT); every other key is an output's table.
_TOP_KEYS = ("proportional", "additive", "exponential")


@dataclass(frozen=True)
class Variability:
    """Random effects: names, distribution per name, covariance and its Cholesky factor."""

    names: tuple
    positions: np.ndarray  # position of each name in theta
    distributions: tuple
    omega: np.ndarray      # (k, k)
    chol: np.ndarray       # lower triangular, omega = chol @ chol.T
    boxcox: tuple = ()     # shape per name (NaN unless Box-Cox)
    occ_names: tuple = ()  # parameters with between-occasion variability
    occ_positions: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    occ_chol: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    @property
    def n_eta(self) -> int:
        return len(self.names)

    @property
    def n_occ(self) -> int:
        return len(self.occ_names)


def _matrix_from(names, variances, correlation, field):
    k = len(names)
    omega = np.zeros((k, k))
    for i, n in enumerate(names):
        omega[i, i] = variances[n]
    for pair, rho in (correlation or {}).items():
        a, b = (s.strip() for s in pair.split(","))
        if a not in names or b not in names:
            raise ValidationError(f"{field}.correlation", f"{pair!r} names a parameter without "
                                                          "variability")
        if not -1.0 <= rho <= 1.0:
            raise ValidationError(f"{field}.correlation", f"{pair}: must lie in [-1, 1], got "
                                                          f"{rho}")
        i, j = names.index(a), names.index(b)
        omega[i, j] = omega[j, i] = rho * math.sqrt(omega[i, i] * omega[j, j])
    return omega


def build_variability(model, omega=None, correlation=None, distribution=None,
                      occasion: bool = True) -> Variability:
    """Random-effect structure from the model's ``[variability]`` section, optionally replaced.

    Parameters
    ----------
    model : Model
    omega : dict or (names, matrix), optional
        Variances of eta by parameter name (replacing the model's), or a full covariance as
        ``(names, matrix)``.
    correlation : dict, optional
        ``{"CL,V1": 0.5}``, used with a dict ``omega``.
    distribution : dict, optional
        ``{"F_INH": "logit"}``; default log-normal.
    occasion : bool
        Include the model's between-occasion variability (one occasion per subject).

    Raises
    ------
    ValidationError
        Omega on a parameter the model does not have, negative variance, a covariance that is
        not positive definite, an unknown distribution.
    """
    spec = model.variability
    dists = dict(spec.get("distribution", {}) or {})
    if distribution:
        dists.update(distribution)
    if omega is None:
        variances = dict(spec.get("omega", {}))
        for name, cv in dict(spec.get("cv", {}) or {}).items():
            variances[name] = _cv_to_variance(cv, dists.get(name, "lognormal"), name)
        correlation = dict(spec.get("correlation", {})) if correlation is None else correlation
        names = list(variances)
        matrix = _matrix_from(names, variances, correlation, "variability")
        field = "variability"
    elif isinstance(omega, dict):
        names = list(omega)
        for n, v in omega.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                    or v < 0:
                raise ValidationError(f"omega.{n}", f"must be a non-negative variance, got {v!r}")
        matrix = _matrix_from(names, omega, correlation, "omega")
        field = "omega"
    else:
        names, matrix = omega
        names = list(names)
        matrix = np.asarray(matrix, dtype=float)
        if matrix.shape != (len(names), len(names)):
            raise ValidationError("omega", f"matrix of shape {matrix.shape} does not match "
                                           f"{len(names)} names")
        if not np.allclose(matrix, matrix.T):
            raise ValidationError("omega", "the covariance matrix is not symmetric")
        field = "omega"
    for n in names:
        if n not in model.parameters:
            raise ValidationError(f"{field}.{n}", f"model {model.name!r} has no parameter {n!r} "
                                                  f"(it has {list(model.parameters)})")
    for n, d in dists.items():
        if d not in DISTRIBUTIONS:
            raise ValidationError(f"distribution.{n}", f"unknown distribution {d!r}; expected "
                                                       f"one of {DISTRIBUTIONS}")
        if d == "logit" and not 0.0 < model.value(n) < 1.0:
            raise ValidationError(f"distribution.{n}", "logit-normal needs a typical value "
                                                       f"strictly between 0 and 1, got "
                                                       f"{model.value(n)}")
    if np.any(np.diag(matrix) < 0):
        raise ValidationError(field, "variances must not be negative")
    keep = [i for i in range(len(names)) if matrix[i, i] > 0]
    names = [names[i] for i in keep]
    matrix = matrix[np.ix_(keep, keep)]
    if names:
        try:
            chol = np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            raise ValidationError(field, "the covariance matrix of eta is not positive definite "
                                         f"(eigenvalues {np.linalg.eigvalsh(matrix)})") from None
    else:
        chol = np.zeros((0, 0))
    pos = np.array([list(model.parameters).index(n) for n in names], dtype=np.int64)
    shapes = dict(spec.get("boxcox", {}) or {})
    for n in names:
        if dists.get(n) == "boxcox" and n not in shapes:
            raise ValidationError(f"distribution.{n}", "Box-Cox needs its shape "
                                                       "([variability] boxcox)")
    occ_names, occ_pos, occ_chol = (), np.zeros(0, dtype=np.int64), np.zeros((0, 0))
    occ = spec.get("occasion")
    if occ and occasion:
        onames = [n for n, v in occ["omega"].items() if v > 0]
        omat = _matrix_from(onames, occ["omega"], occ.get("correlation", {}),
                            "variability.occasion")
        try:
            occ_chol = np.linalg.cholesky(omat) if onames else np.zeros((0, 0))
        except np.linalg.LinAlgError:
            raise ValidationError("variability.occasion", "the occasion covariance is not "
                                                          "positive definite") from None
        occ_names = tuple(onames)
        occ_pos = np.array([list(model.parameters).index(n) for n in onames], dtype=np.int64)
    return Variability(tuple(names), pos, tuple(dists.get(n, "lognormal") for n in names),
                       matrix, chol, tuple(float(shapes.get(n, np.nan)) for n in names),
                       occ_names, occ_pos, occ_chol)


def _cv_to_variance(cv, dist, name) -> float:
    if isinstance(cv, bool) or not isinstance(cv, (int, float)) or not cv >= 0:
        raise ValidationError(f"variability.cv.{name}", f"must be a non-negative fraction, got "
                                                        f"{cv!r}")
    return math.log1p(cv * cv) if dist == "lognormal" else float(cv) ** 2


def individual_parameters(theta: np.ndarray, var: Variability, eta: np.ndarray,
                          kappa: np.ndarray | None = None) -> np.ndarray:
    """Individual parameter rows, shape (n, n_params), from typical ``theta`` (shape
    (n_params,), or (n, n_params) when each subject has its own typical values, as in replicated
    trials), ``eta`` (shape (n, n_eta)) and the occasion effects ``kappa`` (shape (n, n_occ))."""
    theta = np.asarray(theta, dtype=float)
    out = np.array(np.broadcast_to(theta, (eta.shape[0], theta.shape[-1])))
    theta = out.copy()  # per-subject typical values, (n, n_params)
    extra = np.zeros(out.shape)
    if kappa is not None:
        for k, p in enumerate(var.occ_positions):
            extra[:, p] += kappa[:, k]
    for p in var.occ_positions:
        if p not in var.positions:  # occasion variability only: log-normal on theta
            out[:, p] = theta[:, p] * np.exp(extra[:, p])
    for k, (p, dist) in enumerate(zip(var.positions, var.distributions)):
        if dist == "lognormal":
            out[:, p] = theta[:, p] * np.exp(eta[:, k] + extra[:, p])
        elif dist == "boxcox":
            lam = var.boxcox[k]
            bc = np.expm1(lam * eta[:, k]) / lam if lam != 0.0 else eta[:, k]
            out[:, p] = theta[:, p] * np.exp(bc + extra[:, p])
        elif dist == "normal":
            out[:, p] = theta[:, p] + eta[:, k]
        else:
            logit = np.log(theta[:, p] / (1.0 - theta[:, p]))
            out[:, p] = 1.0 / (1.0 + np.exp(-(logit + eta[:, k])))
    return out


@dataclass(frozen=True)
class CovariateSpec:
    """One covariate: fixed values, per-subject values, or a distribution to draw from."""

    name: str
    reference: float
    positions: np.ndarray   # parameters it scales
    exponents: np.ndarray
    kind: str               # "fixed" | "values" | "lognormal" | "normal"
    values: np.ndarray | None = None
    loc: float = 0.0        # median (lognormal) or mean (normal)
    scale: float = 0.0      # log-SD (lognormal) or SD (normal)
    lower: float = -math.inf
    upper: float = math.inf


def _covariate_value(value, name, field):
    kind = "weight" if name in ("WT", "BW") else "dimensionless"
    return to_canonical(value, kind, field)


def build_covariates(model, covariates, n) -> list[CovariateSpec]:
    """Covariate specifications for ``n`` subjects.

    ``covariates`` maps a name (``"WT"``) to a single value (``"70 kg"``), an array of ``n``
    values, or a distribution ``{"distribution": "lognormal", "median": "70 kg", "cv": 0.2,
    "lower": "45 kg", "upper": "120 kg"}`` / ``{"distribution": "normal", "mean": ...,
    "sd": ...}`` (truncated by redrawing). A model covariate with no value given is held at its
    reference. Body weight also scales per-kg doses.
    """
    covariates = dict(covariates or {})
    specs = []
    names = list(model.parameters)
    for cname in sorted(set(model.covariates) | set(covariates)):
        spec = model.covariates.get(cname, {"reference": 1.0, "exponents": {}})
        if cname not in model.covariates and cname not in ("WT", "BW"):
            raise ValidationError(f"covariates.{cname}", f"model {model.name!r} has no covariate "
                                                         f"{cname!r} (it has "
                                                         f"{list(model.covariates)})")
        pos = np.array([names.index(p) for p in spec["exponents"]], dtype=np.int64)
        exps = np.array(list(spec["exponents"].values()), dtype=float)
        ref = float(spec["reference"])
        value = covariates.get(cname)
        field = f"covariates.{cname}"
        if value is None:
            specs.append(CovariateSpec(cname, ref, pos, exps, "fixed", np.array([ref])))
        elif isinstance(value, dict):
            dist = value.get("distribution")
            lower = _covariate_value(value["lower"], cname, f"{field}.lower") \
                if "lower" in value else -math.inf
            upper = _covariate_value(value["upper"], cname, f"{field}.upper") \
                if "upper" in value else math.inf
            if dist == "lognormal":
                med = _covariate_value(value["median"], cname, f"{field}.median")
                cv = float(value["cv"])
                if not (med > 0 and cv >= 0):
                    raise ValidationError(field, "lognormal needs a positive median and cv >= 0")
                loc, scale = math.log(med), math.sqrt(math.log1p(cv * cv))
            elif dist == "normal":
                loc = _covariate_value(value["mean"], cname, f"{field}.mean")
                scale = float(value["sd"])
                if not scale >= 0:
                    raise ValidationError(f"{field}.sd", "must not be negative")
            else:
                raise ValidationError(f"{field}.distribution", f"unknown distribution {dist!r}; "
                                                               "expected lognormal or normal")
            if not lower < upper:
                raise ValidationError(field, f"lower {lower} must be below upper {upper}")
            specs.append(CovariateSpec(cname, ref, pos, exps, dist, None, loc, scale, lower,
                                       upper))
        else:
            arr = np.atleast_1d(np.asarray(value if not isinstance(value, str) else
                                           _covariate_value(value, cname, field)))
            if arr.dtype.kind not in "fiu":
                arr = np.array([_covariate_value(v, cname, f"{field}[{i}]")
                                for i, v in enumerate(arr)], dtype=float)
            arr = arr.astype(float)
            if arr.size == 1:
                kind = "fixed"
            elif arr.size == n:
                kind = "values"
            else:
                raise ValidationError(field, f"expected one value or {n} values, got {arr.size}")
            bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
            if bad.size:
                raise ValidationError(f"{field}[{bad[0]}]", f"must be a positive finite value, "
                                                            f"got {arr[bad[0]]}")
            specs.append(CovariateSpec(cname, ref, pos, exps, kind, arr))
    return specs


@dataclass(frozen=True)
class ResidualModel:
    """Residual error per output. Keys of ``outputs``: ``"concentration"``, ``"metabolite"`` and
    endpoint names; values: :class:`~dmtpk.model.residual.ResidualError` (additive SDs of
    concentrations in ng/mL, of endpoints in the endpoint's unit)."""

    outputs: dict  # name -> ResidualError

    @property
    def names(self) -> tuple:
        return tuple(self.outputs)


def _residual_error(name: str, **kw) -> ResidualError:
    """One output's :class:`ResidualError`, its errors naming ``residual.<output>.<key>``."""
    try:
        return ResidualError(**kw)
    except ValidationError as exc:
        raise ValidationError(f"residual.{name}.{exc.field}",
                              str(exc).split(": ", 1)[-1]) from None


def build_residual(model, residual) -> ResidualModel | None:
    """Residual-error model: the model file's ``[residual]`` when ``residual`` is True, a dict of
    the same form to replace it, or None/False for none.

    The form is read here (top-level ``proportional``/``additive``/``exponential`` for plasma
    DMT, tables for the metabolite and the endpoints); the formulas are those of
    :class:`~dmtpk.model.residual.ResidualError`, one per output.
    """
    if residual is None or residual is False:
        return None
    spec = dict(model.residual) if residual is True else dict(residual)
    outputs = {}
    top = {k: v for k, v in spec.items() if k in _TOP_KEYS}

    def conc(value, field, molar_mass):
        """An additive SD of a concentration: a quantity, or a number in mg/L; -> ng/mL."""
        return 1000.0 * to_canonical(value, "concentration", field, molar_mass=molar_mass)

    if top:
        kw = {k: v for k, v in top.items() if k != "additive"}
        if "additive" in top:
            kw["additive"] = conc(top["additive"], "residual.additive", model.molar_mass)
        outputs["concentration"] = _residual_error("concentration", **kw)
    for key, sub in spec.items():
        if key in _TOP_KEYS or key in _PROVENANCE_KEYS:
            continue
        if not isinstance(sub, Mapping):
            raise ValidationError(f"residual.{key}", f"expected a table of "
                                                     f"{sorted(_RESIDUAL_KEYS)}, got {sub!r}")
        sub = dict(sub)
        if key != "metabolite":
            model.endpoint(key)  # raises for an unknown endpoint
        bad = set(sub) - _RESIDUAL_KEYS - _PROVENANCE_KEYS
        if bad:
            raise ValidationError(f"residual.{key}.{sorted(bad)[0]}",
                                  f"unknown key; expected some of {sorted(_RESIDUAL_KEYS)}")
        if "logit_additive" in sub and ("lower" not in sub or "upper" not in sub):
            raise ValidationError(f"residual.{key}", "logit_additive needs the bounds of the "
                                                     "scale: lower and upper")
        kw = {k: sub[k] for k in _RESIDUAL_KEYS if k in sub}
        if key == "metabolite" and "additive" in kw:
            kw["additive"] = conc(kw["additive"], "residual.metabolite.additive",
                                  model.metabolite.molar_mass if model.metabolite else None)
        # an endpoint's additive SD is in the endpoint's unit
        outputs[key] = _residual_error(key, **kw)
    return ResidualModel(outputs)


def apply_residual(pred: np.ndarray, entry, eps: np.ndarray) -> np.ndarray:
    """Observations from predictions and standard-normal draws ``eps`` with a leading axis of 2:
    ``entry.simulate(pred, eps)`` (see :meth:`~dmtpk.model.residual.ResidualError.simulate`).

    ``entry`` is a :class:`~dmtpk.model.residual.ResidualError` (an entry of
    :attr:`ResidualModel.outputs`), or a mapping of its fields.
    """
    if not isinstance(entry, ResidualError):
        entry = ResidualError(**{k: entry[k] for k in _RESIDUAL_KEYS if k in entry})
    return entry.simulate(pred, eps)
