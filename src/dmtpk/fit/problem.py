"""What a fit estimates, from which observations, with which residual error.

A :class:`Problem` holds the prepared dataset (records resolved once), the observation records
and their values on the residual error's scale, and the map between the optimiser's vector
``x`` and the model's quantities:

* typical values θ of the estimated parameters, as ``log θ`` (all are positive);
* the variances ω² of the random effects (diagonal Ω), as ``log ω²``;
* the residual standard deviations, as ``log σ``;
* estimated coefficients of the model's covariate effects, as they are: the exponent of a
  power law (``"CL~WT"``, :math:`P = \theta (X/X_{ref})^e`), the slope of a linear effect
  (``"CL~WT"``, :math:`P = \theta (1 + e (X - X_{ref}))`) or the factor of a level of a
  categorical one (``"CL~SEX[2]"``, :math:`P = \theta e`); see :mod:`dmtpk.model.covariates`.

The parameter vector that the solver sees is the model's compiled vector followed by the
coefficients of every covariate term the dataset triggers (:attr:`Problem.theta`).

Random effects are log-normal (``P = θ exp(η)``) or normal (``P = θ + η``) as the model's
``[variability] distribution`` says. Each observed output (plasma concentration, metabolite,
an endpoint) has its own residual error; its variance is :math:`R = a^2 + b^2 f^2` for the
additive, proportional and combined forms (on the scale of the observation), :math:`\\sigma^2`
on the log scale for the exponential form (log-transform-both-sides) and on the logit scale
for a bounded rating. Concentrations are compared in ng/mL.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from ..dataset import prepare_dataset
from ..errors import DmtpkError, ValidationError
from ..library import load_model
from ..units import MG_PER_L_TO_NG_PER_ML

__all__ = ["Problem", "build_problem", "SD_NAMES"]

#: Short names of the residual standard deviations (``"prop"``, ``"add"``, ``"exp"``,
#: ``"logit"``), prefixed by the output for outputs other than plasma DMT
#: (``"intensity.logit"``).
SD_NAMES = {"proportional": "prop", "additive": "add", "exponential": "exp",
            "logit_additive": "logit"}
_DEFAULT_OMEGA = 0.1


@dataclass(frozen=True, eq=False)
class Problem:
    """A fitting problem (see the module docstring for the parameterisation).

    Attributes
    ----------
    model : Model
    prepared : PreparedDataset
    names : tuple of str
        Estimated typical values.
    theta : ndarray, shape (n_params,)
        The model's parameter vector (canonical units) with the initial estimates in.
    theta_pos : ndarray of int64, shape (n_theta,)
        Positions of ``names`` in ``theta``.
    eta_names : tuple of str
        Parameters with a random effect.
    eta_pos : ndarray of int64, shape (n_eta,)
    eta_normal : ndarray of bool, shape (n_eta,)
        Normal (additive) random effect, else log-normal.
    omega0 : ndarray, shape (n_eta,)
        Initial variances.
    sd_names : tuple of str
        Residual standard deviations (see :data:`SD_NAMES`).
    sd0 : ndarray, shape (n_sd,)
    errors : tuple of ResidualError
        One per entry of ``outputs``, its residual error as given.
    outputs : tuple of (label, form, add index, prop index, lower, upper)
        One per observed output: the form (``"normal"``, ``"log"``, ``"logit"``) and the
        positions in ``sd_names`` of its additive (or log/logit) and proportional SDs (-1 if
        absent).
    obs_rec, obs_sub, obs_out : ndarray of int64, shape (n_obs,)
        Record, subject and output (index into ``outputs``) of each observation.
    y : ndarray, shape (n_obs,)
        Observations on their residual scale (ng/mL; log or logit for those forms).
    to_output : ndarray, shape (n_obs,)
        Factor from the dataset's prediction to the output's unit.
    subject_ids : tuple
    n_params : int
        Length of the model's parameter vector; ``theta[n_params:]`` are the coefficients of
        the covariate terms (:attr:`PreparedDataset.covariate_terms` order).
    cov_names : tuple of str
        Estimated covariate coefficients (``"CL~WT"``, ``"CL~SEX[2]"``; see
        :mod:`dmtpk.model.covariates`).
    cov_pos : ndarray of int64
        Their positions in ``theta``.
    cov_forms : tuple of str
        Their forms (``"power"``, ``"linear"``, ``"categorical"``).
    fixed : frozenset of str
        Labels (:meth:`labels`) held at their initial values.
    blocks : tuple of tuple of int
        Random effects (indices) with a full covariance block; the others are independent.
    corr_names, corr_pairs, corr0
        Labels (``"corr(CL,V1)"``), index pairs and initial unconstrained coordinates of the
        correlations within blocks.
    censored : ndarray of bool, shape (n_obs,), or None
        Observations below the limit of quantification (Beal's M3 likelihood); None when
        there are none.
    lloq : ndarray, shape (n_obs,), or None
        The limit of every censored observation on its residual scale (NaN elsewhere).
    """

    model: object
    prepared: object
    names: tuple
    theta: np.ndarray
    theta_pos: np.ndarray
    eta_names: tuple
    eta_pos: np.ndarray
    eta_normal: np.ndarray
    omega0: np.ndarray
    sd_names: tuple
    sd0: np.ndarray
    outputs: tuple
    obs_rec: np.ndarray
    obs_sub: np.ndarray
    obs_out: np.ndarray
    y: np.ndarray
    to_output: np.ndarray
    subject_ids: tuple
    n_params: int = 0
    errors: tuple = ()
    fixed: frozenset = frozenset()
    blocks: tuple = ()
    corr_names: tuple = ()
    corr_pairs: tuple = ()
    corr0: np.ndarray = field(default_factory=lambda: np.zeros(0))
    cov_names: tuple = ()
    cov_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    cov_forms: tuple = ()
    censored: np.ndarray | None = None
    lloq: np.ndarray | None = None

    @property
    def n_subjects(self) -> int:
        return self.prepared.n_subjects

    @property
    def n_obs(self) -> int:
        return self.y.size

    def rows(self, theta: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Individual parameters, shape eta.shape[:-1] + (n_params,), from the full parameter
        vector ``theta`` and random effects ``eta`` (shape (..., n_subjects, n_eta))."""
        out = np.empty(eta.shape[:-1] + (self.n_params,))
        out[...] = theta[:self.n_params]
        for k, p in enumerate(self.eta_pos):
            if self.eta_normal[k]:
                out[..., p] += eta[..., k]
            else:
                out[..., p] *= np.exp(eta[..., k])
        return out

    def predict(self, theta: np.ndarray, eta: np.ndarray) -> np.ndarray:
        """Predictions at the observations on the residual scale, shape eta.shape[:-2] +
        (n_obs,), for ``eta`` of shape (m, n_subjects, n_eta) (``m`` sets at once)."""
        rows = self.rows(theta, eta)
        base = theta[:self.n_params]
        # Parameters that overflow or leave their support (a far step of an optimiser) give
        # NaN predictions for that subject, without reaching the solver.
        log_pos = self.eta_pos[~self.eta_normal]
        bad = ~np.all(np.isfinite(rows), axis=-1) | np.any(rows[..., log_pos] <= 0, axis=-1)
        if bad.any():
            rows = np.where(bad[..., None], base, rows)
        exps = theta[self.n_params:] if theta.size > self.n_params else None
        rec = self.prepared.theta_records(rows, exps)
        linear = [t[1] for t in self.prepared.covariate_terms if t[2] != "power"]
        if linear and exps is not None:
            # A linear (or categorical) coefficient far out can make a parameter non-positive
            # on some record: that subject's predictions are NaN.
            neg = np.any(rec[..., linear] <= 0, axis=-1)
            if neg.any():
                bad = bad | np.logical_or.reduceat(neg, self.prepared.starts[:-1], axis=-1)
                rec = np.where(neg[..., None], self.prepared.theta_records(
                    np.broadcast_to(base, rows.shape)), rec)
        pred = self.prepared.predict(rec)[..., self.obs_rec] * self.to_output
        if bad.any():
            pred = np.where(bad[..., self.obs_sub], np.nan, pred)
        return self.transform(pred)

    def transform(self, f: np.ndarray) -> np.ndarray:
        """Values (output units) on each output's residual scale
        (:meth:`ResidualError.centre <dmtpk.model.residual.ResidualError.centre>`)."""
        out = f
        for k, (_, form, _, _, _, _) in enumerate(self.outputs):
            if form == "normal":
                continue
            sel = self.obs_out == k
            if out is f:
                out = f.copy()
            out[..., sel] = self.errors[k].centre(f[..., sel])
        return out

    def variance(self, f: np.ndarray, sd: np.ndarray):
        """Residual variance R and dR/df at predictions ``f`` (residual scale), for the SDs
        ``sd`` (shape (n_sd,))."""
        big_a = np.zeros(self.n_obs)
        big_b = np.zeros(self.n_obs)
        for k, (_, form, ia, ib, _, _) in enumerate(self.outputs):
            sel = self.obs_out == k
            if ia >= 0:
                big_a[sel] = sd[ia] ** 2
            if ib >= 0:
                big_b[sel] = sd[ib] ** 2
        r = big_a + big_b * f * f
        return r, 2.0 * big_b * f, 2.0 * big_b

    # -- the optimiser's vector ----------------------------------------------------------------

    @property
    def _sizes(self):
        return (len(self.names), len(self.eta_names), len(self.sd_names), len(self.cov_names),
                len(self.corr_names))

    @property
    def is_log(self) -> np.ndarray:
        """Which entries of the full vector are logarithms (typical values, variances, SDs;
        not the exponents nor the correlations' unconstrained coordinates)."""
        nt, ne, ns, nc, nr = self._sizes
        return np.concatenate([np.ones(nt + ne + ns, dtype=bool), np.zeros(nc + nr, bool)])

    def correlation(self, zc) -> np.ndarray:
        """The correlation matrix of the random effects (n_eta, n_eta) from the unconstrained
        coordinates of each block (canonical partial correlations, tanh)."""
        c = np.eye(len(self.eta_names))
        k0 = 0
        for block in self.blocks:
            m = len(block)
            w = _chol_corr(zc[k0:k0 + m * (m - 1) // 2], m)
            k0 += m * (m - 1) // 2
            c[np.ix_(block, block)] = w @ w.T
        return c

    def omega_matrix(self, variances, zc) -> np.ndarray:
        sd = np.sqrt(variances)
        return self.correlation(zc) * np.outer(sd, sd)

    def start(self):
        """(full vector at the initial estimates, free mask, lower and upper bounds on the free
        entries). Bounds: typical values within a factor 1000 of their initial values,
        variances in [1e-6, 10], SDs in [1e-5, 10], exponents and linear coefficients in
        [-10, 10], categorical factors in [1e-3, 1e3], correlation coordinates in [-5, 5]
        (|partial correlation| < 0.9999)."""
        nt, ne, ns, nc, nr = self._sizes
        full0 = np.concatenate([np.log(self.theta[self.theta_pos]), np.log(self.omega0),
                                np.log(self.sd0), self.theta[self.cov_pos], self.corr0])
        free = np.array([lab not in self.fixed for lab in self.labels()], dtype=bool)
        big = math.log(1000.0)
        cat = np.array([f == "categorical" for f in self.cov_forms], dtype=bool)
        low = np.concatenate([full0[:nt] - big, np.full(ne, math.log(1e-6)),
                              np.full(ns, math.log(1e-5)), np.where(cat, 1e-3, -10.0),
                              np.full(nr, -5.0)])
        high = np.concatenate([full0[:nt] + big, np.full(ne, math.log(10.0)),
                               np.full(ns, math.log(10.0)), np.where(cat, 1e3, 10.0),
                               np.full(nr, 5.0)])
        return full0, free, low[free], high[free]

    def natural(self, full) -> np.ndarray:
        """The full vector on the natural scale: exp of the logarithms, the exponents, and the
        correlations themselves for the correlation coordinates."""
        out = np.where(self.is_log, np.exp(np.where(self.is_log, full, 0.0)), full)
        nr = len(self.corr_names)
        if nr:
            c = self.correlation(full[-nr:])
            out[-nr:] = [c[i, j] for i, j in self.corr_pairs]
        return out

    def unpack(self, x, full0, free):
        """(parameter vector with the exponents, Ω (n_eta, n_eta), SDs (n_sd,)) from ``x``;
        ``full0`` is the full vector in which the free entries are replaced."""
        z = full0.copy()
        z[free] = x
        nt, ne, ns, nc, nr = self._sizes
        theta = self.theta.copy()
        theta[self.theta_pos] = np.exp(z[:nt])
        theta[self.cov_pos] = z[nt + ne + ns:nt + ne + ns + nc]
        omega = self.omega_matrix(np.exp(z[nt:nt + ne]), z[nt + ne + ns + nc:])
        return theta, omega, np.exp(z[nt + ne:nt + ne + ns])

    def labels(self) -> list:
        """Names of the entries of the full vector: typical values, ``omega(P)``, SDs,
        exponents, correlations ``corr(P,Q)``."""
        return (list(self.names) + [f"omega({n})" for n in self.eta_names]
                + list(self.sd_names) + list(self.cov_names) + list(self.corr_names))


def _label_key(label: str) -> tuple:
    """A covariate coefficient's label compared with the covariate's name in any case."""
    pname, _, rest = label.partition("~")
    return pname.strip(), rest.strip().upper().replace(" ", "")


def _chol_corr(z, m) -> np.ndarray:
    """Cholesky factor of an m x m correlation matrix from m(m-1)/2 unconstrained numbers
    (canonical partial correlations tanh(z), row by row): positive definite for any z."""
    w = np.zeros((m, m))
    w[0, 0] = 1.0
    k = 0
    for i in range(1, m):
        rest = 1.0
        for j in range(i):
            r = math.tanh(z[k])
            k += 1
            w[i, j] = r * math.sqrt(rest)
            rest -= w[i, j] ** 2
        w[i, i] = math.sqrt(max(rest, 0.0))
    return w


def _corr_coordinates(c) -> np.ndarray:
    """Inverse of :func:`_chol_corr` for a positive definite correlation matrix ``c``."""
    w = np.linalg.cholesky(c)
    m = c.shape[0]
    out = []
    for i in range(1, m):
        rest = 1.0
        for j in range(i):
            r = w[i, j] / math.sqrt(rest)
            out.append(math.atanh(max(min(r, 1 - 1e-12), -1 + 1e-12)))
            rest -= w[i, j] ** 2
    return np.array(out)


def _names(value, field, allowed, what) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    out = []
    for v in value:
        if not isinstance(v, str):
            raise ValidationError(field, f"expected parameter names, got {v!r}")
        if v not in allowed:
            raise ValidationError(f"{field}.{v}", f"{what} has no parameter {v!r} (it has "
                                                  f"{', '.join(allowed)})")
        if v in out:
            raise ValidationError(f"{field}.{v}", "is named twice")
        out.append(v)
    return out


def _positive(v, field) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)) \
            or not v > 0:
        raise ValidationError(field, f"must be a positive number, got {v!r}")
    return float(v)


def build_problem(model, data, *, estimate=None, omega=None, residual=None, initial=None,
                  fix_residual=False, subject=None, read_options=None, blq=None,
                  lloq=None, fix=None, block=None, correlation=None) -> Problem:
    """A :class:`Problem` from a model, a dataset and what to estimate.

    Parameters
    ----------
    model : str, path or Model
    data : NonmemDataset
    estimate : list of str or str, optional
        Typical values to estimate (``["CL", "V1"]`` or ``"CL,V1"``); default those with a
        random effect.
    omega : list of str, str or dict, optional
        Parameters with a random effect (diagonal Ω): names, with initial variances from the
        model's ``[variability]`` (0.1 where it has none), or ``{"CL": 0.1, ...}``. Default the
        model's ``[variability]``.
    residual : dict, optional
        Residual error in the form of a model file's ``[residual]`` (``{"proportional": 0.2}``);
        default the model's. Its standard deviations are estimated unless ``fix_residual``.
    initial : dict, optional
        Initial typical values (Quantity, string or canonical number).
    block : list of list of str, optional
        Random effects with a full covariance (NONMEM's ``$OMEGA BLOCK``): ``[["CL", "V1"]]``.
    correlation : dict, optional
        Initial correlations within blocks, ``{"CL,V1": 0.3}`` (default 0).
    fix : list of str, optional
        Estimated quantities held at their initial values, by label: ``"omega(Q)"``,
        ``"prop"``, ``"CL~WT"``, a typical value.
    subject : optional
        One subject's ID: a fit of that subject alone.
    read_options : dict, optional
        Passed to :func:`~dmtpk.dataset.prepare_dataset` (``record_values``, ``outputs``,
        ``parameter_columns``, ...).
    blq : str, optional
        Column flagging observations below the limit of quantification (1 = below; they enter
        with Beal's M3 likelihood; DV may be missing on them).
    lloq : str or float, optional
        The limit: a column or one value, in the dataset's concentration unit (or the
        endpoint's unit). With ``blq``, default the flagged records' DV (NONMEM's convention);
        without it, every observation with DV below the limit (or missing) is censored.

    Raises
    ------
    ValidationError
        Naming the argument: an unknown parameter, a non-positive initial value or variance,
        a model without residual error, an output without one; a dataset without observations.
    """
    from ..population.variability import build_residual
    model = load_model(model)
    params = list(model.parameters)
    if initial:
        if not isinstance(initial, dict):
            raise ValidationError("initial", f"expected a mapping of parameter names to values, "
                                             f"got {initial!r}")
        for name, value in initial.items():
            try:
                model = model.with_parameters(**{name: value})
            except DmtpkError as exc:
                raise ValidationError(f"initial.{name}", str(exc).split(": ", 1)[-1]) from None
    spec = dict(model.variability or {})
    model_omega = dict(spec.get("omega", {}) or {})
    for name, cv in dict(spec.get("cv", {}) or {}).items():
        model_omega[name] = math.log1p(float(cv) ** 2)
    dists = dict(spec.get("distribution", {}) or {})
    if omega is None:
        omega = model_omega
    if isinstance(omega, dict):
        eta_names = _names(list(omega), "omega", params, f"model {model.name!r}")
        omega0 = [_positive(omega[n], f"omega.{n}") for n in eta_names]
    else:
        eta_names = _names(omega, "omega", params, f"model {model.name!r}")
        omega0 = [_positive(model_omega.get(n, _DEFAULT_OMEGA), f"omega.{n}")
                  for n in eta_names]
    for n in eta_names:
        if dists.get(n, "lognormal") not in ("lognormal", "normal"):
            raise ValidationError(f"omega.{n}", f"a {dists[n]} random effect cannot be "
                                                "estimated yet (log-normal and normal can)")
    if isinstance(estimate, str):
        estimate = [v.strip() for v in estimate.split(",") if v.strip()]
    cov_wanted = [v for v in (estimate or []) if isinstance(v, str) and "~" in v]
    names = _names([v for v in estimate if v not in cov_wanted], "estimate", params,
                   f"model {model.name!r}") if estimate is not None else list(eta_names)
    compiled = model.compiled
    theta = np.asarray(compiled.theta, dtype=float).copy()
    pnames = list(compiled.param_names)
    for n in names:
        if not theta[pnames.index(n)] > 0:
            raise ValidationError(f"initial.{n}", f"the initial value of {n} must be positive "
                                                  f"(typical values are estimated on the log "
                                                  f"scale), got {theta[pnames.index(n)]:g}")
    res = build_residual(model, residual if residual is not None else True)
    if res is None or not res.outputs:
        raise ValidationError("residual", f"model {model.name!r} has no [residual] section; "
                                          "give residual={'proportional': 0.2} or similar")

    if subject is not None:
        from ..dataset.simulate import _subject_slice
        sl = _subject_slice(data, subject)
        data = _subject_data(data, sl)
    prepared = prepare_dataset(model, data, **dict(read_options or {}))
    evid = data.item("EVID")
    mdv = data.item("MDV")
    dv = data.item("DV")
    flag = np.zeros(len(data), dtype=bool)
    if blq is not None:
        if not isinstance(blq, str) or not any(c.upper() == blq.upper() for c in data.columns):
            raise ValidationError("blq", f"{data.path} has no column {blq!r}")
        flag = data.values[data._column(blq)] == 1
    limit = None
    if lloq is not None:
        if isinstance(lloq, str):
            if not any(c.upper() == lloq.upper() for c in data.columns):
                raise ValidationError("lloq", f"{data.path} has no column {lloq!r}")
            limit = np.asarray(data.values[data._column(lloq)], dtype=float)
        else:
            limit = np.full(len(data), _positive(lloq, "lloq"))
        if blq is None:
            flag = (evid == 0) & ~(mdv == 1) & (np.isnan(dv) | (dv < limit))
    elif blq is not None:
        limit = dv.copy()
    sample = (evid == 0) & ~(mdv == 1)
    obs = np.flatnonzero(sample & (~np.isnan(dv) | flag))
    if obs.size == 0:
        raise ValidationError("data", f"{data.path} has no observations (records with EVID 0, "
                                      "MDV 0 and a DV)")
    labels = prepared.labels[prepared.code[obs]]
    sd_names, sd0, outputs, errors = [], [], [], []
    obs_out = np.empty(obs.size, dtype=np.int64)
    to_output = np.ones(obs.size)
    for label in dict.fromkeys(labels.tolist()):
        err = res.outputs.get(label)
        if err is None:
            raise ValidationError("residual", f"the dataset observes {label} but the residual "
                                              f"error model has no entry for it (it has "
                                              f"{', '.join(res.outputs)})")
        prefix = "" if label == "concentration" else f"{label}."
        idx = {}
        for key, short in SD_NAMES.items():
            value = getattr(err, key)
            if value > 0:
                idx[key] = len(sd_names)
                sd_names.append(prefix + short)
                sd0.append(value)
        form = {"exponential": "log", "logit": "logit"}.get(err.form, "normal")
        ia = idx.get("additive", idx.get("exponential", idx.get("logit_additive", -1)))
        outputs.append((label, form, ia, idx.get("proportional", -1), err.lower, err.upper))
        errors.append(err)
        sel = labels == label
        obs_out[sel] = len(outputs) - 1
        if label in ("concentration", "metabolite"):
            to_output[sel] = MG_PER_L_TO_NG_PER_ML / prepared.to_data_conc
    terms = prepared.covariate_terms
    known = {_label_key(t[0]): k for k, t in enumerate(terms)}
    cov_pos, cov_names, cov_forms = [], [], []
    for label in cov_wanted:
        key = known.get(_label_key(label))
        if key is None:
            raise ValidationError(f"estimate.{label}", f"no covariate effect {label} applies: "
                                  f"the model's [covariates] need it (a coefficient, the "
                                  f"exponent 0 to start from none) and the dataset the "
                                  f"column (applied here: "
                                  f"{', '.join(t[0] for t in terms) or 'none'})")
        cov_pos.append(len(theta) + key)
        cov_names.append(terms[key][0])
        cov_forms.append(terms[key][2])
    exps0 = [t[3] for t in terms]
    theta = np.concatenate([theta, exps0])
    cens = flag[obs] if flag[obs].any() else None
    y = np.where(flag[obs], np.nan, dv[obs]) * to_output
    lim = None
    if cens is not None:
        lim = np.where(cens, limit[obs], np.nan) * to_output
        bad = np.flatnonzero(cens & ~(lim > 0))
        if bad.size:
            i = int(obs[bad[0]])
            raise data.error(i, data.standard.get("DV", "DV") if blq is not None and lloq is None
                             else str(lloq), "a censored observation needs a positive limit "
                                             f"of quantification, got {limit[i]!r}")
    problem = Problem(
        model=model, prepared=prepared, names=tuple(names), theta=theta,
        theta_pos=np.array([pnames.index(n) for n in names], dtype=np.int64),
        eta_names=tuple(eta_names),
        eta_pos=np.array([pnames.index(n) for n in eta_names], dtype=np.int64),
        eta_normal=np.array([dists.get(n, "lognormal") == "normal" for n in eta_names], dtype=bool),
        omega0=np.array(omega0), sd_names=tuple(sd_names), sd0=np.array(sd0),
        outputs=tuple(outputs),
        obs_rec=obs, obs_sub=prepared.subject_of[obs], obs_out=obs_out, y=y,
        to_output=to_output, subject_ids=tuple(sid for sid, _ in data.subjects()),
        censored=cens, lloq=lim, n_params=len(pnames), errors=tuple(errors),
        cov_names=tuple(cov_names), cov_forms=tuple(cov_forms),
        cov_pos=np.array(cov_pos, dtype=np.int64))
    yt = problem.transform(y)
    if cens is not None:
        object.__setattr__(problem, "lloq", np.where(cens, problem.transform(
            np.where(cens, lim, 1.0)), np.nan))
        counts = np.bincount(problem.obs_sub, ~cens, problem.n_subjects)
        if not counts.all():
            sid = problem.subject_ids[int(np.flatnonzero(counts == 0)[0])]
            warnings.warn(f"subject {sid!r}: every observation is below the limit of "
                          "quantification", UserWarning, stacklevel=3)
    bad = np.flatnonzero(~np.isfinite(yt) & (~cens if cens is not None else True))
    if bad.size:
        i = int(obs[bad[0]])
        raise data.error(i, data.standard.get("DV", "DV"),
                         f"observation {dv[i]:g} lies outside the support of its residual "
                         f"error ({outputs[obs_out[bad[0]]][1]} scale)")
    object.__setattr__(problem, "y", yt)
    if block:
        _set_blocks(problem, block, correlation)
    elif correlation:
        raise ValidationError("correlation", "correlations need a block: block=[['CL', 'V1']]")
    fix = [] if not fix else [fix] if isinstance(fix, str) else list(fix)
    labels = problem.labels()
    for lab in fix:
        if lab not in labels:
            raise ValidationError(f"fix.{lab}", f"is not estimated (estimated: "
                                                f"{', '.join(labels)})")
    if fix_residual:
        fix += list(sd_names)
    object.__setattr__(problem, "fixed", frozenset(fix))
    return problem


def _set_blocks(problem, block, correlation) -> None:
    names = list(problem.eta_names)
    if isinstance(block, (list, tuple)) and block and all(isinstance(b, str) for b in block):
        block = [block]
    blocks, seen = [], set()
    for k, b in enumerate(block):
        if not isinstance(b, (list, tuple)) or len(b) < 2:
            raise ValidationError(f"block.{k}", f"a block names two or more random effects, "
                                                f"got {b!r}")
        for n in b:
            if n not in names:
                raise ValidationError(f"block.{n}", f"has no random effect (omega: "
                                                    f"{', '.join(names)})")
            if n in seen:
                raise ValidationError(f"block.{n}", "is in two blocks")
            seen.add(n)
        blocks.append(tuple(names.index(n) for n in b))
    corr = dict(correlation or {})
    c = np.eye(len(names))
    for key, r in corr.items():
        pair = [v.strip() for v in str(key).split(",")]
        if len(pair) != 2 or not all(v in names for v in pair):
            raise ValidationError(f"correlation.{key}", "expected 'P,Q' with both in a block")
        i, j = names.index(pair[0]), names.index(pair[1])
        if not any(i in b and j in b for b in blocks):
            raise ValidationError(f"correlation.{key}", "the two random effects are not in one "
                                                        "block")
        if isinstance(r, bool) or not isinstance(r, numbers.Real) or not -1 < r < 1:
            raise ValidationError(f"correlation.{key}", f"expected a number in (-1, 1), got "
                                                        f"{r!r}")
        c[i, j] = c[j, i] = float(r)
    z, labels, pairs = [], [], []
    for b in blocks:
        sub = c[np.ix_(b, b)]
        try:
            z.extend(_corr_coordinates(sub))
        except np.linalg.LinAlgError:
            raise ValidationError("correlation", "the initial correlations are not positive "
                                                 "definite") from None
        for i in range(1, len(b)):
            for j in range(i):
                labels.append(f"corr({names[b[j]]},{names[b[i]]})")
                pairs.append((b[i], b[j]))
    object.__setattr__(problem, "blocks", tuple(blocks))
    object.__setattr__(problem, "corr_names", tuple(labels))
    object.__setattr__(problem, "corr_pairs", tuple(pairs))
    object.__setattr__(problem, "corr0", np.array(z))


def _subject_data(data, sl):
    """One subject's records as a dataset of their own (rows still name the file's rows)."""
    from types import MappingProxyType
    return replace(data, values=MappingProxyType({k: v[sl] for k, v in data.values.items()}),
                   rows=data.rows[sl],
                   text=MappingProxyType({k: v[sl] for k, v in data.text.items()}),
                   id_values=None if data.id_values is None else data.id_values[sl])
