"""Fitting models to data: population FOCE-I, individual maximum likelihood and Bayesian MAP.

``dmtpk.fit(model, data, estimate=[...], omega=[...], method="focei")`` returns a
:class:`FitResult`. The objective is NONMEM's (see :mod:`dmtpk.fit.laplace`); the problem set-up
is :mod:`dmtpk.fit.problem`, the optimisation and covariance step :mod:`dmtpk.fit.estimate`.
"""

from __future__ import annotations

import math
import time
import warnings
from types import MappingProxyType

import numpy as np

from ..errors import ValidationError
from ..library import load_model
from .estimate import (COVARIANCE_KINDS, FitWarning, at_estimates, check_covariance, focei,
                       individual, outer_iterations)
from .laplace import Stencil
from .problem import SD_NAMES, Problem, build_problem
from .result import FitResult
from .sensitivity import check_differentiable
from .saem import DEFAULT_ITERATIONS, saem

__all__ = ["fit", "FitResult", "FitWarning", "Problem", "build_problem", "METHODS"]

#: Estimation methods.
METHODS = ("focei", "saem", "ml", "map")
_LOG_2PI = math.log(2 * math.pi)
_Z95 = 1.959963984540054


def fit(model, data, estimate=None, omega=None, method: str = "focei", subject=None,
        residual=None, initial=None, fix_residual: bool = False,
        covariance: str | None = None, read_options=None, max_iter: int = 200,
        seed: int | None = None, iterations=DEFAULT_ITERATIONS,
        importance_samples: int = 0, blq=None, lloq=None, fix=None, block=None,
        correlation=None, progress: bool | None = None) -> FitResult:
    """Fit a model to a NONMEM-style dataset.

    Parameters
    ----------
    model : str, path or Model
    data : NonmemDataset
        From :func:`dmtpk.read_nonmem` (select records there: ``ignore="SD == 0"``).
    estimate : list of str or str, optional
        Typical values to estimate (default the parameters with a random effect), and
        coefficients of the model's covariate effects (``"CL~WT"``: an exponent or a linear
        slope; ``"CL~SEX[2]"``: a level's factor), or,
        for ``"ml"``, the individual parameters to estimate (default the same).
    omega : list of str, str or dict, optional
        Parameters with a random effect (diagonal Ω) and optionally initial variances
        (``{"CL": 0.1}``); default the model's ``[variability]``. For ``"map"`` the prior.
    method : {"focei", "saem", "ml", "map"}
        Population FOCE-I; population SAEM (:mod:`dmtpk.fit.saem`; needs ``seed``; the
        objective and covariance step are FOCE-I's at its estimates); maximum likelihood of
        each subject's parameters; Bayesian MAP with the model's (or ``omega``'s) Ω as prior.
        Individual fits keep the residual error fixed.
    subject : optional
        For ``"ml"``/``"map"``: one subject's ID (default every subject, each on its own).
    residual : dict, optional
        Residual error (a model file's ``[residual]`` form); default the model's.
    initial : dict, optional
        Initial typical values, ``{"CL": "4 L/h"}``.
    fix_residual : bool
        Keep the residual standard deviations at their initial values (FOCE-I).
    block : list of list of str, optional
        Population fits: random effects with a full covariance block (``[["CL", "V1"]]``,
        NONMEM's ``$OMEGA BLOCK``); their correlations are estimated (``FitResult.correlations``,
        labels ``"corr(CL,V1)"``).
    correlation : dict, optional
        Initial correlations within blocks, ``{"CL,V1": 0.3}``.
    fix : list of str, optional
        Population fits: quantities held at their initial values, by label (``"omega(Q)"``,
        ``"prop"``, ``"CL~WT"``); they are not estimated and have no SE.
    progress : bool, optional
        A progress bar of the outer iterations (default: when the output is a terminal).
    covariance : {"sandwich", "r", "s"} or None
        FOCE-I covariance step: ``R^-1 S R^-1`` (NONMEM's default, the default here), ``R^-1``
        or ``S^-1``; ``"none"`` to skip it. Individual fits: ``"observed"`` (Hessian, default)
        or ``"expected"`` information.
    read_options : dict, optional
        Passed to :func:`dmtpk.dataset.prepare_dataset` (``record_values``, ``outputs``,
        ``parameter_columns``).
    max_iter : int
        Outer iterations (FOCE-I); 0 evaluates the objective, modes and diagnostics at the
        initial estimates without minimising (NONMEM's ``MAXEVAL=0``), as does fixing every
        quantity.
    seed : int
        SAEM's random numbers.
    iterations : (int, int) or "auto"
        SAEM's exploration and smoothing iterations, or ``"auto"``: the exploration extended
        by 100 iterations at a time (from 200, up to 1,000) until it is stationary, then 100
        of smoothing (:data:`dmtpk.fit.saem.AUTO`).
    blq, lloq : optional
        Observations below the limit of quantification, by a flag column (1 = below) and/or
        the limit (a column or one value in the dataset's unit; default the flagged records'
        DV): they enter with Beal's M3 likelihood, the probability of lying below the limit.
    importance_samples : int
        Population fits: also compute the objective by importance sampling with this many
        samples per subject (seeded by ``seed``, default 0), ``FitResult.ofv_importance``.

    Returns
    -------
    FitResult

    Raises
    ------
    ValidationError
        Naming the argument: an unknown method or parameter, a dataset without observations,
        a non-positive initial value or variance, an objective that is not finite at the
        initial estimates (naming the subject).

    Warns
    -----
    FitWarning
        The optimiser did not converge; the covariance step failed (naming the parameter).
    """
    if method not in METHODS:
        raise ValidationError("method", f"unknown method {method!r}; expected one of "
                                        f"{METHODS}")
    if importance_samples and (isinstance(importance_samples, bool)
                               or not isinstance(importance_samples, (int, np.integer))
                               or importance_samples < 10):
        raise ValidationError("importance_samples", f"expected a whole number of at least 10, "
                                                    f"got {importance_samples!r}")
    model = load_model(model)
    t0 = time.perf_counter()
    max_iter = outer_iterations(max_iter)
    if method in ("focei", "saem"):
        if subject is not None:
            raise ValidationError("subject", "a population fit uses every subject; use "
                                             "method='ml' or 'map' for one")
        kind = "sandwich" if covariance is None else covariance
        if kind != "none" and kind not in COVARIANCE_KINDS:
            raise ValidationError("covariance", f"expected one of {COVARIANCE_KINDS} or "
                                                f"'none', got {covariance!r}")
        problem = build_problem(model, data, estimate=estimate, omega=omega, residual=residual,
                                initial=initial, fix_residual=fix_residual,
                                read_options=read_options, blq=blq, lloq=lloq, fix=fix,
                                block=block, correlation=correlation)
        if not problem.eta_names:
            raise ValidationError("omega", "a population fit needs at least one random effect "
                                           "(omega=[...], or the model's [variability]); to fit "
                                           "each subject on its own use method='ml'")
        check_differentiable(problem)
        cov_kind = None if kind == "none" else kind
        if method == "focei":
            out = focei(problem, covariance=cov_kind, max_iter=max_iter, progress=progress)
        else:
            if seed is None:
                raise ValidationError("seed", "SAEM draws random numbers: give seed=<int>")
            run = saem(problem, seed=seed, iterations=iterations)
            out = at_estimates(problem, run["theta"], run["omega"], run["sd"],
                               covariance=cov_kind)
            how = "automatic exploration, " if isinstance(iterations, str) else ""
            out.update(iterations=len(run["history"]), converged=run["converged"],
                       message=f"SAEM {how}{run['exploration']} + {run['smoothing']} "
                               f"iterations (seed {seed}): {run['message']}; objective and "
                               "covariance by FOCE-I at the estimates",
                       history=run["history"], history_labels=tuple(run["labels"]),
                       exploration=int(run["exploration"]), convergence_z=run["z"])
        if importance_samples:
            out["importance"] = _importance(problem, out, importance_samples, seed or 0)
        return _population_result(problem, out, time.perf_counter() - t0, method)
    kind = "observed" if covariance is None else covariance
    if method == "ml":
        names = estimate if estimate is not None else omega if omega is not None else \
            list((model.variability or {}).get("omega", {}))
        if isinstance(names, dict):
            names = list(names)
        problem = build_problem(model, data, estimate=[], omega=_ones(names),
                                residual=residual, initial=initial, fix_residual=True,
                                subject=subject, read_options=read_options, blq=blq,
                                lloq=lloq)
    else:
        problem = build_problem(model, data, estimate=[], omega=omega, residual=residual,
                                initial=initial, fix_residual=True, subject=subject,
                                read_options=read_options, blq=blq, lloq=lloq)
    if not problem.eta_names:
        raise ValidationError("estimate", "nothing to estimate: name the parameters")
    check_differentiable(problem)
    out = individual(problem, prior=method == "map", covariance=kind)
    return _individual_result(problem, out, method, time.perf_counter() - t0)


def _importance(problem, out, samples, seed):
    from .importance import importance_objective
    from .laplace import subject_objective
    theta, omega, sd = problem.unpack(out["x"], out["full0"], out["free"])
    _, h_tilde = subject_objective(problem, out["stencil"], theta, omega, sd, out["eta"])
    ofv, se = importance_objective(problem, theta, omega, sd, out["eta"], h_tilde,
                                   samples=int(samples), seed=seed)
    return float(ofv.sum()), se


def _ones(names):
    if isinstance(names, str):
        names = [v.strip() for v in names.split(",") if v.strip()]
    return {n: 1.0 for n in names}


def _ci(value, se):
    if not (se > 0 and value > 0):
        return (math.nan, math.nan)
    w = _Z95 * se / value
    return (value * math.exp(-w), value * math.exp(w))


def _diagnostics(problem: Problem, theta, omega, sd, eta, st: Stencil):
    """Per-observation PRED, IPRED, RES, IWRES, CWRES and the shrinkages."""
    y = problem.y
    ipred = st.f
    r_i, _, _ = problem.variance(ipred, sd)
    iwres = (y - ipred) / np.sqrt(r_i)
    zero = np.zeros_like(eta)
    pred = problem.predict(theta, zero[None])[0]
    cwres = np.full(y.size, np.nan)
    for i in range(problem.n_subjects):
        sel = np.flatnonzero(problem.obs_sub == i)
        a = st.a[:, sel]                                   # (p, n_i)
        mean = ipred[sel] - eta[i] @ a
        cov = a.T @ omega @ a + np.diag(r_i[sel])
        try:
            chol = np.linalg.cholesky(cov)
            cwres[sel] = np.linalg.solve(chol, y[sel] - mean)
        except np.linalg.LinAlgError:
            pass
    shrink = {}
    if eta.shape[0] > 1:
        sd_eta = eta.std(axis=0, ddof=1)
        for k, n in enumerate(problem.eta_names):
            shrink[n] = 100.0 * (1.0 - sd_eta[k] / math.sqrt(omega[k, k]))
    shrink["epsilon"] = 100.0 * (1.0 - float(np.std(iwres)))
    data = problem.prepared.data
    table = {"ID": data.item("ID")[problem.obs_rec], "TIME": data.item("TIME")[problem.obs_rec],
             "DV": y, "PRED": pred, "IPRED": ipred, "RES": y - pred, "IWRES": iwres,
             "CWRES": cwres,
             "OUTPUT": np.array([problem.outputs[k][0] for k in problem.obs_out])}
    for v in table.values():
        v.setflags(write=False)
    return MappingProxyType(table), MappingProxyType(shrink)


def _fitted_model(problem: Problem, theta_values: dict, omega: dict | None, sigma: dict | None,
                  how: str, correlations: dict | None = None):
    """The model with the estimates: typical values through ``with_parameters``, Ω and σ in
    its ``[variability]``/``[residual]``, and where they come from in its description; built
    from its mapping so that it validates and writes back as a model file."""
    from ..model.covariates import set_coefficient
    from ..model.spec import _thaw, model_from_dict
    exponents = {k: v for k, v in theta_values.items() if "~" in k}
    theta_values = {k: v for k, v in theta_values.items() if "~" not in k}
    model = problem.model.with_parameters(theta_values) if theta_values else problem.model
    raw = _thaw(model.raw)
    for label, value in exponents.items():
        set_coefficient(raw["covariates"], label, value)
    head = raw.setdefault("model", {})
    head["description"] = (head.get("description", "") + " " if head.get("description")
                           else "") + f"Estimates: {how}."
    if omega is not None:
        var = raw.setdefault("variability", {})
        var["omega"] = {k: float(v) for k, v in omega.items()}
        for key in ("cv", "correlation", "source", "where"):
            var.pop(key, None)
        if correlations:
            var["correlation"] = dict(correlations)
        raw["variability"] = var
    if sigma is not None:
        res = raw.get("residual", {}) or {}
        back = {v: k for k, v in SD_NAMES.items()}
        for name, value in sigma.items():
            out, _, short = name.rpartition(".")
            dest = res.setdefault(out, {}) if out else res
            dest[back[short]] = float(value)
            for key in ("source", "where"):
                dest.pop(key, None)
        raw["residual"] = res
    return model_from_dict(raw, path=model.path)


def _population_result(problem: Problem, out: dict, elapsed: float,
                       method: str = "focei") -> FitResult:
    theta, omega, sd = problem.unpack(out["x"], out["full0"], out["free"])
    labels_all = problem.labels()
    free = out["free"]
    labels = tuple(lab for lab, f in zip(labels_all, free) if f)
    full = out["full0"].copy()
    full[free] = out["x"]
    values_all = problem.natural(full)
    is_log = problem.is_log[free]
    cov = out["cov"]
    se = {lab: math.nan for lab in labels}
    corr = None
    cond = math.nan
    if cov is not None:
        sd_log = np.sqrt(np.clip(np.diag(cov), 0, None))
        vals = values_all[free]
        # Delta method: SE(v) = v SE(log v) for the log-scale entries; correlations through
        # the derivative of the correlation matrix in its coordinates.
        jac = np.diag(np.where(is_log, vals, 1.0))
        if problem.corr_names:
            nr = len(problem.corr_names)
            if free[-nr:].all():  # the correlations are the last free entries
                for k in range(nr):
                    e = np.zeros(full.size)
                    e[len(full) - nr + k] = 1e-6
                    d = (problem.natural(full + e) - problem.natural(full - e))[-nr:] / 2e-6
                    jac[len(vals) - nr:, len(vals) - nr + k] = d
        nat_cov = jac @ cov @ jac.T
        se = {lab: float(np.sqrt(max(v, 0.0))) for lab, v in zip(labels, np.diag(nat_cov))}
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = cov / np.outer(sd_log, sd_log)
        ev = np.linalg.eigvalsh(corr) if np.all(np.isfinite(corr)) else None
        cond = float(ev[-1] / ev[0]) if ev is not None and ev[0] > 0 else math.inf
    if out["r"] is not None:  # a covariance step was run
        check_covariance(cov, labels)
    if out.get("at_bound"):
        warnings.warn(f"{', '.join(out['at_bound'])} at the bound of its search range "
                      "(typical values within a factor 1000 of the initial ones, variances "
                      "1e-6-10, SDs 1e-5-10, exponents -10-10): the estimate and its SE are "
                      "not to be trusted",
                      FitWarning, stacklevel=3)
    if not out["converged"]:
        warnings.warn(f"{method.upper()} did not converge: {out['message']}", FitWarning,
                      stacklevel=3)
    est = dict(zip(labels_all, values_all))
    theta_d = {n: float(est[n]) for n in problem.names + problem.cov_names}
    omega_d = {n: float(est[f"omega({n})"]) for n in problem.eta_names}
    sigma_d = {n: float(est[n]) for n in problem.sd_names}
    corr_d = {n[5:-1]: float(est[n]) for n in problem.corr_names}
    table, shrink = _diagnostics(problem, theta, omega, sd, out["eta"], out["stencil"])
    ofv = float(out["ofv"].sum())
    n_obs = problem.n_obs
    k = len(labels)
    data = problem.prepared.data
    label = {"focei": "FOCE-I", "saem": "SAEM"}[method]
    how = (f"{label} fit to {data.path} ({problem.n_subjects} subjects, {n_obs} observations), "
           f"OFV {ofv:.3f}")
    return FitResult(
        method=method, ofv=ofv, ofv_with_constant=ofv + n_obs * _LOG_2PI,
        theta=MappingProxyType(theta_d), omega=MappingProxyType(omega_d), omega_matrix=omega,
        sigma=MappingProxyType(sigma_d), se=MappingProxyType(se),
        rse=MappingProxyType({lab: 100 * se[lab] / abs(est[lab]) if est[lab] else math.nan
                              for lab in labels}),
        ci=MappingProxyType({lab: _ci(est[lab], se[lab]) if lg else
                             (est[lab] - _Z95 * se[lab], est[lab] + _Z95 * se[lab])
                             for lab, lg in zip(labels, is_log)}),
        correlations=MappingProxyType(corr_d),
        covariance=cov, correlation=corr, labels=labels, shrinkage=shrink, ebes=out["eta"],
        subject_ids=problem.subject_ids, table=table,
        model=_fitted_model(problem, theta_d, omega_d, sigma_d, how, corr_d),
        n_obs=n_obs, n_subjects=problem.n_subjects, aic=ofv + n_obs * _LOG_2PI + 2 * k,
        bic=ofv + n_obs * _LOG_2PI + k * math.log(n_obs), condition_number=cond,
        iterations=out["iterations"], evaluations=out["evaluations"],
        converged=out["converged"], message=out["message"], elapsed=elapsed,
        ofv_importance=out.get("importance", (math.nan, math.nan))[0],
        ofv_importance_se=out.get("importance", (math.nan, math.nan))[1],
        history=out.get("history"), history_labels=out.get("history_labels", ()),
        exploration=out.get("exploration", 0),
        convergence_z=MappingProxyType(dict(out.get("convergence_z", {}))), problem=problem,
        estimates_vector=(theta, omega, sd),
        fixed=tuple(lab for lab, f in zip(labels_all, free) if not f))


def _individual_result(problem: Problem, out: dict, method: str, elapsed: float) -> FitResult:
    eta = out["eta"]
    names = problem.eta_names
    rows = problem.rows(problem.theta, eta)                     # (n_subjects, n_params)
    values = rows[:, problem.eta_pos]                             # (n_subjects, p)
    sd_eta = np.sqrt(np.clip(np.diagonal(out["cov"], axis1=1, axis2=2), 0, None))
    se_all = np.where(problem.eta_normal, sd_eta, values * sd_eta)
    one = problem.n_subjects == 1
    theta_d = {n: float(values[0, k]) if one else values[:, k] for k, n in enumerate(names)}
    se = {n: float(se_all[0, k]) if one else se_all[:, k] for k, n in enumerate(names)}
    rse = {n: 100 * se[n] / theta_d[n] for n in names}
    if one:
        ci = {n: (_ci(theta_d[n], se[n]) if not problem.eta_normal[k] else
                  (theta_d[n] - _Z95 * se[n], theta_d[n] + _Z95 * se[n]))
              for k, n in enumerate(names)}
    else:
        w = _Z95 * sd_eta
        lo = np.where(problem.eta_normal, values - w, values * np.exp(-w))
        hi = np.where(problem.eta_normal, values + w, values * np.exp(w))
        ci = {n: (lo[:, k], hi[:, k]) for k, n in enumerate(names)}
    conv = bool(np.all(out["converged"]))
    if not conv:
        bad = [problem.subject_ids[i] for i in np.flatnonzero(~out["converged"])]
        warnings.warn(f"{method.upper()} did not converge for subject(s) {bad[:5]}", FitWarning,
                      stacklevel=3)
    omega = np.diag(problem.omega0)
    table, shrink = _diagnostics(problem, problem.theta, omega, problem.sd0, eta,
                                 out["stencil"])
    if method == "ml":
        shrink = MappingProxyType({"epsilon": shrink["epsilon"]})
    ofv = float(out["ofv"].sum())
    n_obs = problem.n_obs
    k = len(names) * problem.n_subjects
    data = problem.prepared.data
    how = f"{method.upper()} fit to {data.path} ({problem.n_subjects} subject(s))"
    model = _fitted_model(problem, theta_d, None, None, how) if one else problem.model
    corr = None
    if one and np.all(np.isfinite(out["cov"][0])):
        s = np.sqrt(np.diag(out["cov"][0]))
        corr = out["cov"][0] / np.outer(s, s)
    return FitResult(
        method=method, ofv=ofv, ofv_with_constant=ofv + n_obs * _LOG_2PI,
        theta=MappingProxyType(theta_d), omega=MappingProxyType({}), omega_matrix=omega,
        sigma=MappingProxyType(dict(zip(problem.sd_names, map(float, problem.sd0)))),
        se=MappingProxyType(se), rse=MappingProxyType(rse), ci=MappingProxyType(ci),
        covariance=out["cov"][0] if one else out["cov"], correlation=corr, labels=names,
        shrinkage=shrink, ebes=eta, subject_ids=problem.subject_ids, table=table, model=model,
        n_obs=n_obs, n_subjects=problem.n_subjects, aic=ofv + n_obs * _LOG_2PI + 2 * k,
        bic=ofv + n_obs * _LOG_2PI + k * math.log(n_obs), condition_number=math.nan,
        iterations=0, evaluations=0, converged=conv,
        message="conditional modes converged" if conv else "not every subject converged",
        elapsed=elapsed, problem=problem,
        estimates_vector=(problem.theta, omega, problem.sd0))
