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
scale parameters as the model file states (:mod:`dmtpk.model.covariates`): by power laws,
:math:`P_i \leftarrow P_i (X_i / X_{ref})^{\beta}` (allometric body weight: 0.75 for
clearances, 1 for volumes), linear factors :math:`1 + \beta (X_i - X_{ref})` or a factor per
level of a categorical covariate (:func:`apply_covariate`).

Residual error: :func:`build_residual` reads the model file's ``[residual]`` (or a dict of the
same form) into one :class:`~dmtpk.model.residual.ResidualError` per output, the one place
with the formulas; :func:`apply_residual` simulates with it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ValidationError
from ..model.covariates import factor as covariate_factor
from ..model.covariates import term_data as covariate_data
from ..model.covariates import terms as covariate_terms
from ..model.residual import ResidualError
from ..model.sections import _PROVENANCE_KEYS, _RESIDUAL_KEYS
from ..units import to_canonical

__all__ = ["Variability", "build_variability", "individual_parameters", "CovariateSpec",
           "apply_covariate", "build_covariates", "ResidualModel", "build_residual",
           "DISTRIBUTIONS"]

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


def _real(value, field, what="a finite number") -> float:
    """A finite real number (Python or NumPy), else ValidationError naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(float(value)):
        raise ValidationError(field, f"expected {what}, got {value!r}")
    return float(value)


def _mapping(value, field, what) -> dict:
    """A mapping with string keys, else ValidationError naming ``field``."""
    if not isinstance(value, Mapping):
        raise ValidationError(field, f"expected {what}, got {type(value).__name__} {value!r}")
    for k in value:
        if not isinstance(k, str):
            raise ValidationError(field, f"keys must be names (strings), got {k!r}")
    return dict(value)


def _pair(pair, field) -> tuple[str, str]:
    """The two names of a correlation key ``"CL,V1"``."""
    names = [n.strip() for n in pair.split(",")]
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise ValidationError(field, f"key {pair!r} must name two different parameters as "
                                     "\"A,B\" (e.g. \"CL,V1\")")
    return names[0], names[1]


def _matrix_from(names, variances, correlation, field, corr_field=None):
    corr_field = corr_field or f"{field}.correlation"
    correlation = _mapping(correlation if correlation is not None else {}, corr_field,
                           'a mapping of "A,B" pairs to correlations, e.g. {"CL,V1": 0.5}')
    k = len(names)
    omega = np.zeros((k, k))
    for i, n in enumerate(names):
        omega[i, i] = variances[n]
    for pair, rho in correlation.items():
        a, b = _pair(pair, corr_field)
        if a not in names or b not in names:
            raise ValidationError(f"{field}.correlation", f"{pair!r} names a parameter without "
                                                          "variability")
        if isinstance(rho, bool) or not isinstance(rho, numbers.Real) \
                or not -1.0 <= float(rho) <= 1.0:
            raise ValidationError(f"{field}.correlation", f"{pair}: must lie in [-1, 1], got "
                                                          f"{rho!r}")
        i, j = names.index(a), names.index(b)
        omega[i, j] = omega[j, i] = float(rho) * math.sqrt(omega[i, i] * omega[j, j])
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
        Naming the argument: an omega, correlation or distribution of the wrong type or form,
        omega on a parameter the model does not have, negative variance, a covariance that is
        not positive definite, an unknown distribution.
    """
    spec = model.variability
    dists = dict(spec.get("distribution", {}) or {})
    if distribution is not None:
        distribution = _mapping(distribution, "distribution", "a mapping of parameter names to "
                                f"distributions ({', '.join(DISTRIBUTIONS)})")
        for n in distribution:
            if n not in model.parameters:
                raise ValidationError(f"distribution.{n}", f"model {model.name!r} has no "
                                                           f"parameter {n!r} (it has "
                                                           f"{list(model.parameters)})")
        dists.update(distribution)
    if omega is None:
        variances = dict(spec.get("omega", {}))
        for name, cv in dict(spec.get("cv", {}) or {}).items():
            variances[name] = _cv_to_variance(cv, dists.get(name, "lognormal"), name)
        user = correlation is not None
        correlation = dict(spec.get("correlation", {})) if correlation is None else correlation
        names = list(variances)
        matrix = _matrix_from(names, variances, correlation, "variability",
                              "correlation" if user else None)
        field = "variability"
    elif isinstance(omega, Mapping):
        omega = _mapping(omega, "omega", "variances by parameter name")
        names = list(omega)
        for n, v in omega.items():
            if isinstance(v, bool) or not isinstance(v, numbers.Real) \
                    or not math.isfinite(float(v)) or v < 0:
                raise ValidationError(f"omega.{n}", f"must be a non-negative variance, got {v!r}")
        omega = {n: float(v) for n, v in omega.items()}
        matrix = _matrix_from(names, omega, correlation, "omega")
        field = "omega"
    else:
        form = ("a mapping of variances by parameter name, or (names, matrix) with a square "
                "covariance matrix")
        if isinstance(omega, (str, bytes)) or not isinstance(omega, (tuple, list)) \
                or len(omega) != 2:
            raise ValidationError("omega", f"expected {form}, got {omega!r}")
        names, matrix = omega
        if not isinstance(names, (list, tuple, np.ndarray)) \
                or not all(isinstance(n, str) for n in names):
            raise ValidationError("omega", f"the names of (names, matrix) must be a sequence of "
                                           f"parameter names, got {names!r}")
        names = list(names)
        try:
            matrix = np.asarray(matrix, dtype=float)
        except (TypeError, ValueError):
            raise ValidationError("omega", f"the matrix of (names, matrix) must be numbers, got "
                                           f"{matrix!r}") from None
        if matrix.shape != (len(names), len(names)):
            raise ValidationError("omega", f"matrix of shape {matrix.shape} does not match "
                                           f"{len(names)} names")
        if not np.all(np.isfinite(matrix)):
            raise ValidationError("omega", "the covariance matrix must be finite")
        if not np.allclose(matrix, matrix.T):
            raise ValidationError("omega", "the covariance matrix is not symmetric")
        if correlation is not None:
            raise ValidationError("correlation", "give correlations inside the (names, matrix) "
                                                 "omega, not separately")
        field = "omega"
    if len(set(names)) != len(names):
        raise ValidationError(field, f"names a parameter twice: {names}")
    for n in names:
        if n not in model.parameters:
            raise ValidationError(f"{field}.{n}", f"model {model.name!r} has no parameter {n!r} "
                                                  f"(it has {list(model.parameters)})")
    for n, d in dists.items():
        if not isinstance(d, str) or d not in DISTRIBUTIONS:
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
    positions: np.ndarray   # parameters it scales, one per term
    exponents: np.ndarray   # the terms' coefficients (exponents, slopes, level factors)
    kind: str               # "fixed" | "values" | "lognormal" | "normal"
    values: np.ndarray | None = None
    loc: float = 0.0        # median (lognormal) or mean (normal)
    scale: float = 0.0      # log-SD (lognormal) or SD (normal)
    lower: float = -math.inf
    upper: float = math.inf
    forms: tuple = ()       # per term: "power" (default), "linear", "categorical"
    levels: tuple = ()      # per term: the level of a categorical term (0 otherwise)


def apply_covariate(theta: np.ndarray, cs: CovariateSpec, x: np.ndarray) -> None:
    """Multiply the individual parameters ``theta`` (n, n_params), in place, by the effects of
    covariate ``cs`` at its values ``x`` (n,) (:mod:`dmtpk.model.covariates`)."""
    forms = cs.forms or ("power",) * len(cs.positions)
    levels = cs.levels or (0,) * len(cs.positions)
    for p, b, form, level in zip(cs.positions, cs.exponents, forms, levels):
        theta[:, p] *= covariate_factor(form, b, covariate_data(form, x, cs.reference, level))


def _covariate_value(value, name, field):
    kind = "weight" if name in ("WT", "BW") else "dimensionless"
    return to_canonical(value, kind, field)


#: Keys of a covariate distribution: the required ones, then the optional bounds.
COVARIATE_DISTRIBUTIONS = {"lognormal": ("median", "cv"), "normal": ("mean", "sd")}
_BOUNDS = ("lower", "upper")
#: Smallest share of a covariate distribution its bounds may keep (below it the bounds, not
#: the distribution, decide the values: refused).
MIN_TRUNCATED_MASS = 1e-9


def truncated_mass(spec) -> float:
    """Share of a covariate distribution between its bounds (1 for an unbounded one)."""
    from scipy.special import ndtr
    lo, hi = _standard_bounds(spec)
    if lo > 0:  # the upper tail: difference of the complements, accurate far out
        return float(ndtr(-lo) - ndtr(-hi))
    return float(ndtr(hi) - ndtr(lo))


def _standard_bounds(spec) -> tuple[float, float]:
    """The bounds of a drawn covariate on the standard-normal scale of its draws (the log scale
    for a log-normal one); the spread must be positive."""
    lo, hi = spec.lower, spec.upper
    if spec.kind == "lognormal":
        lo = math.log(lo) if lo > 0 else -math.inf
        hi = math.log(hi) if hi > 0 else -math.inf
    return (lo - spec.loc) / spec.scale, (hi - spec.loc) / spec.scale


def _covariate_distribution(cname, value, field, ref, pos, exps) -> CovariateSpec:
    """A covariate drawn from a distribution, validated (see :func:`build_covariates`)."""
    value = _mapping(value, field, "a distribution table")
    dist = value.get("distribution")
    if not isinstance(dist, str) or dist not in COVARIATE_DISTRIBUTIONS:
        raise ValidationError(f"{field}.distribution", f"unknown distribution {dist!r}; expected "
                                                       f"one of {list(COVARIATE_DISTRIBUTIONS)}")
    needed = COVARIATE_DISTRIBUTIONS[dist]
    allowed = ("distribution",) + needed + _BOUNDS
    for k in value:
        if k not in allowed:
            raise ValidationError(f"{field}.{k}", f"is not a key of a {dist} covariate; expected "
                                                  f"{' and '.join(needed)}, optionally "
                                                  f"{' and '.join(_BOUNDS)}")
    for k in needed:
        if k not in value:
            raise ValidationError(f"{field}.{k}", f"is missing: a {dist} covariate needs "
                                                  f"{' and '.join(needed)}")
    lower = _covariate_value(value["lower"], cname, f"{field}.lower") \
        if "lower" in value else -math.inf
    upper = _covariate_value(value["upper"], cname, f"{field}.upper") \
        if "upper" in value else math.inf
    if dist == "lognormal":
        med = _covariate_value(value["median"], cname, f"{field}.median")
        if not med > 0:
            raise ValidationError(f"{field}.median", f"must be positive, got {value['median']!r}")
        cv = _real(value["cv"], f"{field}.cv", "a non-negative coefficient of variation")
        if cv < 0:
            raise ValidationError(f"{field}.cv", f"must not be negative, got {value['cv']!r}")
        loc, scale = math.log(med), math.sqrt(math.log1p(cv * cv))
    else:
        loc = _covariate_value(value["mean"], cname, f"{field}.mean")
        if not loc > 0:
            raise ValidationError(f"{field}.mean", f"must be positive (covariates enter as "
                                                   f"powers of X / X_ref), got "
                                                   f"{value['mean']!r}")
        scale = _real(value["sd"], f"{field}.sd", "a non-negative standard deviation")
        if scale < 0:
            raise ValidationError(f"{field}.sd", f"must not be negative, got {value['sd']!r}")
    for k, b in (("lower", lower), ("upper", upper)):
        if k in value and not b >= 0:
            raise ValidationError(f"{field}.{k}", f"must not be negative (covariates are "
                                                  f"positive), got {value[k]!r}")
    if not lower < upper:
        raise ValidationError(field, f"lower {lower} must be below upper {upper}")
    if dist == "normal":
        # Support of a covariate: (0, inf). A normal one is truncated to it.
        lower = max(lower, 0.0)
    spec = CovariateSpec(cname, ref, pos, exps, dist, None, loc, scale, lower, upper)
    center = math.exp(loc) if dist == "lognormal" else loc
    if scale == 0.0:
        if not lower <= center <= upper:
            raise ValidationError(field, f"the {dist} value {center:g} (zero spread) lies "
                                         f"outside its bounds [{lower:g}, {upper:g}]")
    elif truncated_mass(spec) < MIN_TRUNCATED_MASS:
        raise ValidationError(field, f"the bounds [{lower:g}, {upper:g}] keep "
                                     f"{truncated_mass(spec):.2g} of the {dist} distribution; "
                                     f"widen them or move the distribution")
    return spec


def build_covariates(model, covariates, n) -> list[CovariateSpec]:
    r"""Covariate specifications for ``n`` subjects.

    ``covariates`` maps a name (``"WT"``) to a single value (``"70 kg"``), an array of ``n``
    values, or a distribution ``{"distribution": "lognormal", "median": "70 kg", "cv": 0.2,
    "lower": "45 kg", "upper": "120 kg"}`` / ``{"distribution": "normal", "mean": ...,
    "sd": ..., "lower": ..., "upper": ...}``. A model covariate with no value given is held at
    its reference. Body weight also scales per-kg doses.

    Covariates enter as the model file says (:mod:`dmtpk.model.covariates`): powers
    :math:`(X/X_{ref})^\beta`, linear factors :math:`1 + \beta (X - X_{ref})` or a factor per
    level of a categorical covariate (given as integer levels per subject, never drawn). Given
    values are checked: positive under a power law, finite and keeping the parameter positive
    under a linear effect, one of the levels for a categorical covariate. A drawn covariate is
    a physical quantity (body weight), so it is
    truncated to its support and bounds, the normal one to :math:`(\max(0, lower), upper]` even
    without bounds (a normal body weight of mean 20 kg and SD 15 kg would otherwise give 9 % of
    subjects a negative weight, and negative per-kg doses). The draws are exactly the truncated
    distribution (see :mod:`dmtpk.population.sampling`), reproducible from the seed. Bounds that
    keep less than :data:`MIN_TRUNCATED_MASS` of the distribution are refused.

    Raises
    ------
    ValidationError
        Naming ``covariates.<name>`` (and the key): an unknown covariate, a distribution with
        missing or unknown keys, non-numeric or negative spreads, negative means, medians or
        bounds, bounds keeping almost nothing, values of the wrong count, shape or sign.
    """
    covariates = _mapping(covariates if covariates is not None else {}, "covariates",
                          "a mapping of covariate names to values or distributions")
    specs = []
    names = list(model.parameters)
    for cname in sorted(set(model.covariates) | set(covariates)):
        spec = model.covariates.get(cname, {"reference": 1.0, "exponents": {}})
        if cname not in model.covariates and cname not in ("WT", "BW"):
            raise ValidationError(f"covariates.{cname}", f"model {model.name!r} has no covariate "
                                                         f"{cname!r} (it has "
                                                         f"{list(model.covariates)})")
        terms = covariate_terms(spec)
        pos = np.array([names.index(t[0]) for t in terms], dtype=np.int64)
        exps = np.array([t[2] for t in terms], dtype=float)
        extra = dict(forms=tuple(t[1] for t in terms), levels=tuple(t[3] for t in terms))
        forms = set(extra["forms"])
        ref = float(spec["reference"])
        value = covariates.get(cname)
        field = f"covariates.{cname}"
        if value is None:
            specs.append(CovariateSpec(cname, ref, pos, exps, "fixed", np.array([ref]),
                                       **extra))
        elif isinstance(value, Mapping):
            if "categorical" in forms:
                raise ValidationError(field, f"{cname} is categorical in model {model.name!r}: "
                                             "give its level per subject (or one level), not "
                                             "a distribution")
            cs = _covariate_distribution(cname, value, field, ref, pos, exps)
            cs = replace(cs, **extra)
            _check_linear(cs, field, cs.lower, cs.upper)
            specs.append(cs)
        else:
            if hasattr(value, "units") and np.ndim(getattr(value, "magnitude", 0)) >= 1:
                value = list(value)  # a Quantity array: each value converted with its unit
            try:
                scalar = isinstance(value, str) or np.ndim(value) == 0
            except (TypeError, ValueError):  # a ragged nesting of sequences
                raise ValidationError(field, f"expected one value or a flat sequence of {n} "
                                             "values") from None
            if scalar:
                arr = np.array([_covariate_value(value, cname, field)])
            else:
                arr = np.asarray(value, dtype=object) if not isinstance(value, np.ndarray) \
                    else value
                if arr.ndim != 1:
                    raise ValidationError(field, f"expected one value or a flat sequence of {n} "
                                                 f"values, got shape {arr.shape}")
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
            if "categorical" in forms:
                levels = sorted({1} | set(extra["levels"]))
                bad = np.flatnonzero(~np.isin(arr, levels))
                what = f"one of the levels {', '.join(map(str, levels))} (1 the reference)"
            elif forms <= {"linear"} and forms:
                bad = np.flatnonzero(~np.isfinite(arr))
                what = "a finite value"
            else:
                bad = np.flatnonzero(~np.isfinite(arr) | (arr <= 0))
                what = "a positive finite value"
            if bad.size:
                where = f"{field}[{bad[0]}]" if kind == "values" else field
                raise ValidationError(where, f"must be {what}, got {arr[bad[0]]:g}")
            cs = CovariateSpec(cname, ref, pos, exps, kind, arr, **extra)
            _check_linear(cs, field, float(arr.min()), float(arr.max()))
            specs.append(cs)
    return specs


def _check_linear(cs: CovariateSpec, field: str, low: float, high: float) -> None:
    """A linear effect must keep its parameter positive over the covariate's range
    ``[low, high]`` (a drawn covariate: its bounds, 0 below a log-normal one)."""
    for p, b, form in zip(cs.positions, cs.exponents, cs.forms):
        if form != "linear" or b == 0:
            continue
        x = (max(low, 0.0) if cs.kind in ("lognormal", "normal") else low) if b > 0 else high
        if not 1.0 + b * (x - cs.reference) > 0:
            side = "lower" if b > 0 else "upper"
            raise ValidationError(field, f"the linear effect of {cs.name} (slope {b:g}, "
                                         f"reference {cs.reference:g}) makes a parameter "
                                         f"non-positive at {cs.name} = {x:g}; keep the values "
                                         f"(or the distribution's {side} bound) where "
                                         f"1 + slope x ({cs.name} - reference) > 0")


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
    if residual is None or (isinstance(residual, (bool, np.bool_)) and not residual):
        return None
    if isinstance(residual, (bool, np.bool_)):
        spec = dict(model.residual)
    elif isinstance(residual, Mapping):
        spec = _mapping(residual, "residual", "a residual-error table")
    else:
        raise ValidationError("residual", f"expected True (the model file's [residual]), False "
                                          f"or None (none), or a mapping such as "
                                          f"{{'proportional': 0.2}}, got {residual!r}")
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
        if key == "metabolite" and model.metabolite is None:
            raise ValidationError("residual.metabolite", f"model {model.name!r} has no "
                                                         "metabolite")
        if key != "metabolite" and key not in [e.name for e in model.effects]:
            raise ValidationError(f"residual.{key}", f"unknown key; expected "
                                                     f"{', '.join(_TOP_KEYS)}, 'metabolite' or "
                                                     f"an endpoint table "
                                                     f"{[e.name for e in model.effects]}")
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
