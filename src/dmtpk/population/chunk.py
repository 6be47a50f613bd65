"""One chunk of subjects: draws, individual parameters, kernel, fallbacks, metrics.

:func:`run_chunk` is a pure function of a :class:`ChunkSpec` (plain arrays and values, picklable
for Dask workers) and the subject range, so every backend computes a subject identically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..catalogue import EFFECT_METRICS, POPULATION_EXPOSURE_METRICS
from ..errors import SolverError, ValidationError
from ..units import MG_PER_L_TO_NG_PER_ML
from .sampling import draw_subjects
from .variability import apply_covariate, apply_residual, individual_parameters

__all__ = ["ChunkSpec", "run_chunk", "solve_subjects", "evaluate_target"]


@dataclass(frozen=True, eq=False)
class ChunkSpec:
    """Everything a chunk needs: the draws' specification, the compiled model's arrays and
    layout, the output grid and the dosing (an event table, or for a regimen with a steady-state
    dose the NONMEM record template of :func:`steady_records`); picklable for Dask workers."""

    seed: int
    times: np.ndarray
    h: float
    theta: np.ndarray
    param_names: tuple
    var: object                 # Variability
    covariates: tuple           # CovariateSpec
    residual: object            # ResidualModel or None
    linear: bool
    layout: np.ndarray
    mass_ratio: float
    route_pos: np.ndarray
    mm_pos: np.ndarray
    ep: np.ndarray
    rows: np.ndarray
    ep_row: np.ndarray
    row_names: tuple
    ep_names: tuple
    table: dict                 # event table columns
    depot_of_row: np.ndarray
    extra_kas: np.ndarray
    n_states: int
    thresholds: np.ndarray
    signs: np.ndarray
    rtol: float
    atol: float
    compiled: object            # CompiledModel: states, parameters, outputs (exact fallback)
    targets: dict = field(default_factory=dict)
    weight_name: str | None = None
    theta_reps: np.ndarray | None = None  # (replicates, n_params) typical values per trial
    n_per: int = 0                        # subjects per replicate trial
    records: dict | None = None  # a regimen with a steady-state dose: its record template

    def __reduce__(self):
        # The compiled model holds read-only mappings (which do not pickle): sent as plain
        # fields and rebuilt on the worker.
        fields = dict(self.__dict__)
        c = fields.pop("compiled")
        plain = {k: _plain(v) for k, v in c.__dict__.items()}
        return _rebuild_spec, (fields, plain)


def _plain(value):
    """Read-only mappings (also inside tuples) as dicts."""
    if isinstance(value, MappingProxyType):
        return dict(value)
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value


def _frozen(value):
    """The inverse of :func:`_plain`."""
    if isinstance(value, dict):
        return MappingProxyType(value)
    if isinstance(value, tuple):
        return tuple(_frozen(v) for v in value)
    return value


def _rebuild_spec(fields: dict, compiled: dict) -> ChunkSpec:
    from ..model.compiled import CompiledModel
    c = {k: _frozen(v) for k, v in compiled.items()}
    for k in ("theta", "layout"):
        c[k] = np.array(c[k])
        c[k].setflags(write=False)
    return ChunkSpec(**fields, compiled=CompiledModel(**c))


def _times_transpose(z, chol):
    """``z @ chol.T`` (n, k) without BLAS: a BLAS call wakes its thread pool, whose threads then
    spin and take the cores from the compiled kernels that follow (measured: a third of the
    time of a streamed summary). ``chol`` is small (k x k). Each column is written once from
    its first non-zero term (no zero-filled array to add to: the same values, one pass less)."""
    out = np.empty((z.shape[0], chol.shape[0]))
    for j in range(chol.shape[0]):
        nz = np.flatnonzero(chol[j])
        if nz.size == 0:
            out[:, j] = 0.0
            continue
        np.multiply(z[:, nz[0]], chol[j, nz[0]], out=out[:, j])
        for k in nz[1:]:
            out[:, j] += z[:, k] * chol[j, k]
    return out


def individual(spec: ChunkSpec, start: int, stop: int):
    """Individual parameters (stop-start, n_params), covariates by name, body weight, draws."""
    names = [r for r in (spec.residual.names if spec.residual else ())]
    draws = draw_subjects(spec.seed, start, stop, spec.var.n_eta, spec.covariates, names,
                          spec.times.size, spec.var.n_occ)
    eta = _times_transpose(draws["z"], spec.var.chol) if spec.var.n_eta \
        else np.zeros((stop - start, 0))
    kappa = _times_transpose(draws["z_occ"], spec.var.occ_chol) if spec.var.n_occ else None
    typical = spec.theta if spec.theta_reps is None else \
        spec.theta_reps[np.arange(start, stop) // spec.n_per]
    theta = individual_parameters(typical, spec.var, eta, kappa)
    cov_values = {}
    for cs in spec.covariates:
        if cs.kind == "fixed":
            x = np.full(stop - start, cs.values[0])
        elif cs.kind == "values":
            x = cs.values[start:stop].astype(float)
        else:
            x = draws["cov"][cs.name]
        cov_values[cs.name] = x
        apply_covariate(theta, cs, x)
    weight = cov_values.get(spec.weight_name) if spec.weight_name else None
    if weight is None:
        weight = np.full(stop - start, np.nan)
    return theta, cov_values, weight, eta, draws


def _fallback(spec, theta_row, w, compiled):
    """Solve one subject with the exact single-subject engine (near-equal poles)."""
    from ..engines import solve
    from ..engines.resolve import resolve_events
    from ..regimen.table import EventTable
    table = EventTable(**{k: np.array(v) for k, v in spec.table.items()})
    f_inh, lag, ka = compiled.route_parameters(theta_row)
    resolved = resolve_events(table, f_inh, lag, ka, None if not np.isfinite(w) else float(w))
    traj, _ = solve(compiled, theta_row, resolved, float(spec.times[-1]), method="analytic")
    return _curves(compiled, spec.rows, traj(spec.times), theta_row)


def _curves(compiled, rows, states, theta):
    """The kernels' outputs from states (..., n_times, n_states) and their parameters (one
    vector, or (..., 1, n_params)): the concentration rows (ng/mL; codes of
    :meth:`~dmtpk.model.compiled.CompiledModel.output_rows`) and each endpoint's response,
    shapes (..., n_rows, n_times) and (..., n_endpoints, n_times)."""
    conc = compiled.concentrations(states, theta)
    eps = compiled.endpoint_outputs(states, theta)
    out = []
    for code in rows:
        if code == 0:
            out.append(conc["parent"])
        elif code == 1:
            out.append(conc["metabolite"])
        else:
            out.append(eps[code - 2][0])
    shape = states.shape[:-1]
    curves = np.stack([np.broadcast_to(c, shape) for c in out], axis=-2) * MG_PER_L_TO_NG_PER_ML
    effects = np.stack([np.broadcast_to(r, shape) for _, r in eps], axis=-2) if eps else \
        np.zeros(shape[:-1] + (0,) + shape[-1:])
    return curves, effects


#: Structural parameters that must be positive for a subject to be simulated (as the closed
#: form and the lanes require).
_POSITIVE_ROLES = ("CL", "V1", "Q", "V2", "Q3", "V3", "VMAX", "KM", "KA", "M_CL", "M_V")


def steady_records(regimen, compiled, times) -> dict:
    """The record template of a regimen with a steady-state dose, for every subject of a
    population: :func:`~dmtpk.regimen.records.regimen_records` with output records at
    ``times`` (min), built once with a body weight of 1 kg and placeholder inhaled F and lag,
    and the masks that make one subject's records from it (:func:`subject_records`).

    Returns
    -------
    dict of ndarray
        The :data:`~dmtpk.regimen.records.RECORD_FIELDS`, and ``per_kg`` (records whose amount
        and rate scale with the body weight), ``model_f`` and ``model_lag`` (dose records into
        the depot that take the subject's ``F_INH`` and ``TLAG_INH``), ``output`` (the record of
        each output time, in the order of ``times``).
    """
    from ..regimen.events import Inhalation, SteadyState, as_regimen
    from ..regimen.records import regimen_records
    regimen = as_regimen(regimen)
    idx = compiled.index
    rec = regimen_records(regimen, central=idx["central"], depot=idx["depot"],
                          n_states=compiled.n_states, times=times, f_inhaled=1.0,
                          lag_inhaled=0.0, weight=1.0, linear=compiled.linear)
    # Dose records come in the order of a stable sort of the events by time.
    events = [ev.event if isinstance(ev, SteadyState) else ev for ev in regimen]
    order = sorted(range(len(events)), key=lambda i: events[i].at)
    n_rec = rec["time"].size
    per_kg = np.zeros(n_rec, dtype=bool)
    model_f = np.zeros(n_rec, dtype=bool)
    model_lag = np.zeros(n_rec, dtype=bool)
    for row, i in zip(np.flatnonzero(rec["evid"] == 1), order):
        ev = events[i]
        per_kg[row] = ev.per_kg
        if isinstance(ev, Inhalation):
            model_f[row] = ev.f is None
            model_lag[row] = ev.lag is None
    output = np.empty(np.size(times), dtype=np.int64)
    output[np.argsort(np.asarray(times), kind="stable")] = np.flatnonzero(rec["evid"] == 2)
    return {**rec, "per_kg": per_kg, "model_f": model_f, "model_lag": model_lag,
            "output": output}


def _records_population(spec, theta, weight, conc, eff, status) -> None:
    """Curves of the subjects ``theta`` (n, n_params) through the compiled record walker, each
    subject its own copy of the record template (its weight, F_INH and TLAG_INH applied):
    exact steady states for linear models, iterated ones for Michaelis-Menten models.
    ``status`` gets 0, or 2 for a subject whose parameters cannot be simulated."""
    from ..engines.records import solve_records_batch
    c = spec.compiled
    rec = spec.records
    n = theta.shape[0]
    r = rec["time"].size
    ok = np.all(np.isfinite(theta), axis=1)
    for role in _POSITIVE_ROLES:
        if c.param[role] >= 0:
            ok &= theta[:, c.param[role]] > 0
    for role in ("F_INH", "TLAG_INH"):
        if c.param[role] >= 0:
            ok &= theta[:, c.param[role]] >= 0
    status[:] = np.where(ok, 0, 2)
    if not ok.all():
        return  # reported by the caller, naming the first such subject
    theta_rec = np.repeat(theta, r, axis=0)
    amt = np.tile(rec["amt"], n)
    rate = np.tile(rec["rate"], n)
    if rec["per_kg"].any():
        scale = np.where(rec["per_kg"][None, :], weight[:, None], 1.0).ravel()
        amt *= scale
        rate = np.where(rate > 0, rate * scale, rate)
    f = np.tile(rec["f"], (n, 1))
    lag = np.tile(rec["lag"], (n, 1))
    d = c.index["depot"]
    for mask, role, dest in ((rec["model_f"], "F_INH", f), (rec["model_lag"], "TLAG_INH", lag)):
        if mask.any() and c.param[role] >= 0:
            dest[:, d] = np.where(np.tile(mask, n), theta_rec[:, c.param[role]], dest[:, d])
    tile = {k: np.tile(rec[k], n) for k in ("time", "evid", "target", "ss", "ii", "addl")}
    idx = c.index
    states = solve_records_batch(
        theta_rec, c.layout, c.mass_ratio, np.arange(n + 1, dtype=np.int64) * r, tile["time"],
        tile["evid"], amt, rate, tile["target"], tile["ss"], tile["ii"], tile["addl"], f, lag,
        accumulators=c.accumulators, mm=None if c.linear else c.mm_parameters(theta_rec),
        rtol=spec.rtol, atol=spec.atol, central=idx["central"], eliminated=idx["eliminated"],
        metabolite=idx["metabolite"], system_matrix=c.system_matrix)
    at_times = states.reshape(n, r, -1)[:, rec["output"], :]
    curves, effects = _curves(c, spec.rows, at_times, theta[:, None, :])
    conc[...] = curves
    eff[...] = effects
    bad = ~np.all(np.isfinite(curves), axis=(1, 2))
    status[bad] = 2


def solve_subjects(spec: ChunkSpec, start: int, theta: np.ndarray, weight: np.ndarray,
                   out: dict | None = None, metrics: bool = True) -> dict:
    """Curves (and, with ``metrics``, per-subject metrics) of the subjects whose individual
    parameters are ``theta`` (n, n_params), subject ``start`` first: the compiled kernel, the
    exact engine for subjects the closed form cannot take, and clear errors for invalid
    parameters or failed solves (subjects named by their position).

    Returns a dict with ``conc``, ``effects``, ``n_fallback`` and, with ``metrics``,
    ``exposure`` and ``effect_metrics``, as :func:`run_chunk`; ``out`` may hold preallocated
    arrays for them.
    """
    from .._kernels.metrics import grid_metrics
    n = theta.shape[0]
    theta = np.ascontiguousarray(theta)  # one subject's parameters side by side in memory
    t = spec.times
    n_ep = spec.ep.shape[0]
    out = out or {}
    conc = out.get("conc")
    if conc is None:
        conc = np.empty((n, spec.rows.size, t.size))
    eff = out.get("effects")
    if eff is None:
        eff = np.empty((n, n_ep, t.size))
    status = np.empty(n, dtype=np.int64)
    tb = spec.table
    if spec.records is not None:
        fail = np.zeros(n)
        _records_population(spec, theta, weight, conc, eff, status)
    elif spec.linear:
        from .._kernels.linear import linear_population
        linear_population(theta, weight, spec.layout, spec.mass_ratio, spec.route_pos, spec.ep,
                          spec.rows, spec.ep_row, tb["time"], tb["amt"], tb["rate"], tb["dur"],
                          tb["route"], tb["f"], tb["lag"], tb["ka"], tb["evid"], tb["per_kg"],
                          t, spec.h, conc, eff, status)
        fail = np.zeros(n)
    else:
        from .._kernels.ode import ode_population
        fail = np.empty(n)
        ode_population(theta, weight, spec.layout, spec.mass_ratio, spec.route_pos, spec.mm_pos,
                       spec.ep, spec.rows, spec.ep_row, tb["time"], tb["amt"], tb["rate"],
                       tb["dur"], tb["route"], tb["f"], tb["lag"], tb["evid"], tb["per_kg"],
                       spec.depot_of_row, spec.extra_kas, spec.n_states, t, spec.rtol,
                       spec.atol, conc, eff, status, fail)
    bad = np.flatnonzero(status == 2)
    if bad.size:
        i = bad[0]
        vals = ", ".join(f"{nm}={theta[i, k]:.4g}" for k, nm in enumerate(spec.param_names))
        raise ValidationError("parameters", f"subject {start + i} has invalid individual "
                                            f"parameters ({vals}); {bad.size} subject(s) in "
                                            f"this chunk. Check the variability model "
                                            f"(a normal eta can make a positive parameter "
                                            f"negative)")
    failed = np.flatnonzero(status >= 3)
    if failed.size:
        i = failed[0]
        why = "step size underflow" if status[i] == 3 else "too many steps"
        raise SolverError(f"the integrator failed ({why}); {failed.size} subject(s) in this "
                          "chunk", time=float(fail[i]), subject=int(start + i))
    degenerate = np.flatnonzero(status == 1)
    if degenerate.size:
        compiled = spec.compiled
        for i in degenerate:
            conc[i], eff[i] = _fallback(spec, theta[i], weight[i], compiled)
    result = {"conc": conc, "effects": eff, "n_fallback": int(degenerate.size)}
    if metrics:
        exposure = out.get("exposure")
        if exposure is None:
            exposure = np.empty((n, len(POPULATION_EXPOSURE_METRICS)))
        emetrics = out.get("effect_metrics")
        if emetrics is None:
            emetrics = np.empty((n, n_ep, len(EFFECT_METRICS)))
        grid_metrics(t, conc[:, 0, :], eff, spec.thresholds, spec.signs, exposure, emetrics)
        result.update(exposure=exposure, effect_metrics=emetrics)
    return result


def run_chunk(spec: ChunkSpec, start: int, stop: int, out: dict | None = None,
              metrics: bool = True) -> dict:
    """Simulate subjects ``start`` to ``stop - 1``.

    Returns a dict with ``conc`` (n, n_rows, n_times) in ng/mL, ``effects`` (n, n_ep, n_times),
    ``theta`` (n, n_params), ``covariates``, ``exposure`` (n, 3: the
    :data:`~dmtpk.catalogue.POPULATION_EXPOSURE_METRICS`), ``effect_metrics`` (n, n_ep, 5: the
    :data:`~dmtpk.catalogue.EFFECT_METRICS`), ``observations`` (by output name, when residual
    error is on) and ``targets`` (by name, boolean per subject). ``out`` may hold preallocated
    arrays for ``conc``, ``effects``, ``exposure`` and ``effect_metrics`` (C-contiguous, first
    axis the chunk's subjects), which are then filled in place. With ``metrics=False`` the
    per-subject metrics are left out (``keep="all"`` computes them on demand from the curves).
    """
    theta, cov_values, weight, eta, draws = individual(spec, start, stop)
    out = solve_subjects(spec, start, theta, weight, out, metrics)
    out.update(theta=theta, covariates=cov_values)
    conc, eff = out["conc"], out["effects"]
    if spec.residual is not None:
        obs = {}
        for name, entry in spec.residual.outputs.items():
            if name == "concentration":
                pred = conc[:, 0, :]
            elif name == "metabolite":
                pred = conc[:, 1, :]
            else:
                pred = eff[:, spec.ep_names.index(name), :]
            obs[name] = apply_residual(pred, entry, draws["eps"][name])
        out["observations"] = obs
    out["targets"] = {name: evaluate_target(spec, tgt, conc, eff)
                      for name, tgt in spec.targets.items()}
    return out


def evaluate_target(spec, target: dict, conc: np.ndarray, eff: np.ndarray) -> np.ndarray:
    """Boolean per subject: every condition of ``target`` holds (see
    :meth:`PopulationResult.attainment`)."""
    from .._kernels.metrics import durations_beyond
    ok = np.ones(conc.shape[0], dtype=bool)
    t = spec.times
    if "cmax_below" in target:
        ok &= conc[:, 0, :].max(axis=1) < target["cmax_below"]
    if "cmax_above" in target:
        ok &= conc[:, 0, :].max(axis=1) > target["cmax_above"]
    if "endpoint" in target:
        k = spec.ep_names.index(target["endpoint"])
        y = np.ascontiguousarray(eff[:, k, :])
        if "above" in target:
            thr, s = target["above"], 1.0
        else:
            thr, s = target["below"], -1.0
        dur = np.empty(conc.shape[0])
        durations_beyond(t, y, thr, s, dur)
        need = target.get("for_at_least", 0.0)
        ok &= (dur >= need) & (dur > 0) if need > 0 else dur > 0
        if "for_at_most" in target:
            ok &= dur <= target["for_at_most"]
    return ok


def check_target(name: str, target: dict, ep_names, to_minutes, to_ngml) -> dict:
    """Validate and convert a target's conditions to canonical numbers (minutes, ng/mL)."""
    allowed = {"endpoint", "above", "below", "for_at_least", "for_at_most", "cmax_below",
               "cmax_above"}
    bad = set(target) - allowed
    if bad:
        raise ValidationError(f"targets.{name}", f"unknown condition {sorted(bad)[0]!r}; "
                                                 f"expected some of {sorted(allowed)}")
    out = {}
    if "endpoint" in target or "above" in target or "below" in target:
        ep = target.get("endpoint", ep_names[0] if ep_names else None)
        if ep not in ep_names:
            raise ValidationError(f"targets.{name}.endpoint", f"unknown endpoint {ep!r}; have "
                                                              f"{list(ep_names)}")
        if ("above" in target) == ("below" in target):
            raise ValidationError(f"targets.{name}", "give exactly one of above and below")
        out["endpoint"] = ep
        key = "above" if "above" in target else "below"
        v = float(target[key])
        if not math.isfinite(v):
            raise ValidationError(f"targets.{name}.{key}", "must be finite")
        out[key] = v
        for k in ("for_at_least", "for_at_most"):
            if k in target:
                out[k] = to_minutes(target[k], f"targets.{name}.{k}")
    for k in ("cmax_below", "cmax_above"):
        if k in target:
            out[k] = to_ngml(target[k], f"targets.{name}.{k}")
    if not out:
        raise ValidationError(f"targets.{name}", "has no condition")
    return out
