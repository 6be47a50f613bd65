"""``simulate_population``: chunking, backends (Numba threads, Dask) and streaming summaries."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping

import numpy as np

from ..catalogue import EFFECT_METRICS, POPULATION_EXPOSURE_METRICS
from ..engines import check_tolerances
from ..errors import DmtpkError, ValidationError
from ..library import load_model
from ..regimen.events import Regimen, SteadyState, as_regimen
from ..regimen.table import EventTable
from ..units import times_to_canonical, to_canonical
from .chunk import (ChunkSpec, check_target, evaluate_target, individual, run_chunk,
                    solve_subjects, steady_records)
from .result import (GridWarning, PopulationResult, check_conditions, grid_note,
                     metric_columns, metric_keys)
from .summary import StreamingQuantiles
from .variability import build_covariates, build_residual, build_variability

__all__ = ["simulate_population", "BACKENDS", "connect_scheduler"]

BACKENDS = ("numba", "dask")
#: Subjects simulated first to fix the histogram grids of streamed summaries.
PILOT = 1024
DEFAULT_CHUNK = 65536
#: Subjects per step of a streamed summary on the local backend: a tile's curves (about 12 MB
#: for 3 outputs x 121 times) stay in the last-level cache between the kernel and the
#: histograms (tiles of 1,024 to 8,192 measured alike; the draws are made per chunk).
SUMMARY_TILE = 4096


def _minutes(v, field):
    return to_canonical(v, "time", field)


def _ngml(v, field):
    return to_canonical(v, "concentration", field) * 1000.0 if isinstance(v, str) or \
        hasattr(v, "units") else float(v)


def _build_spec(model, regimen, t, seed, omega, correlation, distribution, covariates, n,
                residual, thresholds, targets, rtol, atol, method) -> ChunkSpec:
    from .._kernels.linear import uniform_step
    regimen = as_regimen(regimen)
    steady = any(isinstance(ev, SteadyState) for ev in regimen)
    # A steady-state event stands for its dose in the event table (routes, per-kg checks); the
    # subjects then run through the record walker (steady_records).
    table = EventTable.from_regimen(_without_steady_state(regimen), model.routes)
    var = build_variability(model, omega, correlation, distribution)
    covs = build_covariates(model, covariates, n)
    weight_name = next((c.name for c in covs if c.name in ("WT", "BW")), None)
    if table.per_kg.any() and weight_name is None:
        raise ValidationError("covariates.WT", "the regimen has per-kg doses; give body weights "
                                               "(covariates={'WT': ...})")
    res = build_residual(model, residual)
    compiled = model.compiled
    if method not in ("auto", "closed_form", "ode"):
        raise ValidationError("method", f"unknown method {method!r}; expected 'auto', "
                                        "'closed_form' or 'ode'")
    if method == "closed_form" and not model.is_linear:
        raise ValidationError("method", "the closed form needs a linear model")
    linear = model.is_linear and method != "ode"
    inh = table.route == 1
    extra, dor = [], np.zeros(len(table), dtype=np.int64)
    for r in np.flatnonzero(inh & ~np.isnan(table.ka)):
        if table.ka[r] not in extra:
            extra.append(float(table.ka[r]))
        dor[r] = 1 + extra.index(table.ka[r])
    if isinstance(thresholds, Mapping):
        for name in thresholds:
            model.endpoint(name)  # an unknown endpoint is named as before
    thr = model.check_thresholds(thresholds)  # a mapping of endpoints to finite numbers
    th = np.array([float(thr.get(ep.name, ep.threshold if ep.threshold is not None else np.nan))
                   for ep in model.effects])
    signs = np.array([float(ep.sign) for ep in model.effects])
    rows, ep_row = compiled.output_rows()
    ep_names = tuple(ep.name for ep in model.effects)
    if targets is not None and not isinstance(targets, Mapping):
        raise ValidationError("targets", f"expected a mapping of named targets, e.g. "
                                         f"{{'responders': {{'above': 5, 'for_at_least': "
                                         f"'10 min'}}}}, got {targets!r}")
    tg = {}
    for name, tgt in (targets or {}).items():
        check_conditions(tgt, f"targets.{name}.")
        tg[name] = check_target(name, dict(tgt), ep_names, _minutes, _ngml)
    return ChunkSpec(
        seed=int(seed), times=t, h=uniform_step(t), theta=np.array(compiled.theta),
        param_names=compiled.param_names, var=var, covariates=tuple(covs), residual=res,
        linear=linear, layout=np.array(compiled.layout), mass_ratio=compiled.mass_ratio,
        route_pos=compiled.route_positions(),
        mm_pos=np.array([compiled.param["VMAX"], compiled.param["KM"]], dtype=np.int64),
        ep=compiled.endpoint_array(), rows=rows, ep_row=ep_row,
        row_names=tuple(int(r) for r in rows), ep_names=ep_names,
        table={k: np.array(v) for k, v in table.to_dict().items()},
        depot_of_row=dor, extra_kas=np.array(extra, dtype=float),
        n_states=compiled.n_states + len(extra), thresholds=th, signs=signs,
        rtol=float(rtol), atol=float(atol), compiled=compiled, targets=tg,
        weight_name=weight_name, records=steady_records(regimen, compiled, t) if steady else None)


def _without_steady_state(regimen):
    """The regimen with each steady-state event replaced by its dose."""
    return Regimen(tuple(ev.event if isinstance(ev, SteadyState) else ev for ev in regimen))


_POSITIVE_KINDS = ("clearance", "volume", "rate", "concentration", "rate_constant")


def _replicate_thetas(model, seed, replicates, uncertainty) -> np.ndarray:
    """Typical values of each replicate trial, shape (replicates, n_params): theta drawn from
    N(theta_hat, Sigma) on the natural scale in canonical units (NONMEM's NSUBPROBLEMS with
    uncertainty), replicate r from its own generator (child (1, r) of the seed). A draw outside a
    parameter's domain (a non-positive clearance, volume, rate or concentration; a fraction
    outside [0, 1]) is redrawn, deterministically, up to 1000 times."""
    from .sampling import replicate_generator
    theta = np.array(model.compiled.theta)
    names = list(model.parameters)
    if uncertainty is None:
        return np.repeat(theta[None, :], replicates, axis=0)
    if isinstance(uncertainty, dict):
        unames = list(uncertainty)
        cov = np.diag([float(uncertainty[k]) for k in unames])
    else:
        unames, cov = list(uncertainty[0]), np.asarray(uncertainty[1], dtype=float)
    for k in unames:
        if k not in names:
            raise ValidationError(f"uncertainty.{k}", f"model {model.name!r} has no parameter "
                                                      f"{k!r}")
    if cov.shape != (len(unames), len(unames)) or not np.all(np.isfinite(cov)) \
            or not np.allclose(cov, cov.T):
        raise ValidationError("uncertainty", "needs a finite symmetric covariance matrix of "
                                             f"shape ({len(unames)}, {len(unames)})")
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValidationError("uncertainty", "the covariance of theta is not positive "
                                             "definite") from None
    pos = [names.index(k) for k in unames]
    out = np.repeat(theta[None, :], replicates, axis=0)
    for r in range(replicates):
        rng = replicate_generator(seed, r)
        for _ in range(1000):
            draw = theta[pos] + chol @ rng.standard_normal(len(pos))
            ok = all((model.parameters[k].kind not in _POSITIVE_KINDS or v > 0)
                     and (k not in ("F_INH", "FM") or 0.0 <= v <= 1.0)
                     for k, v in zip(unames, draw))
            if ok:
                break
        else:
            raise ValidationError("uncertainty", "no admissible theta in 1000 draws: the "
                                                 "uncertainty is too wide for the parameters' "
                                                 "domains")
        out[r, pos] = draw
    return out


def _output_names(spec: ChunkSpec) -> list[str]:
    names = []
    for code in spec.rows:
        names.append("concentration" if code == 0 else "metabolite" if code == 1
                     else f"effect_site:{spec.ep_names[code - 2]}")
    return names


def _summary_columns(spec, chunk):
    """Columns streamed into summaries: each output at each time, and the metrics."""
    cols = {}
    for r, name in enumerate(_output_names(spec)):
        cols[name] = chunk["conc"][:, r, :]
    for k, name in enumerate(spec.ep_names):
        cols[name] = chunk["effects"][:, k, :]
        if f"effect_site:{name}" not in cols:  # direct link: the driving plasma concentration
            cols[f"effect_site:{name}"] = chunk["conc"][:, spec.ep_row[k], :]
    cols["_metrics"] = _metric_columns(spec, chunk)
    return cols


def _metric_columns(spec, chunk):
    return np.stack(metric_columns(chunk["exposure"], chunk["effect_metrics"], spec.thresholds),
                    axis=1)


def _feed(summ, spec, chunk):
    """Add a chunk's columns (:func:`_summary_columns`) to the summaries, read in place."""
    for name, cols in _summary_columns(spec, chunk).items():
        summ[name].add(cols)


def _metric_index(spec):
    return {k: j for j, k in enumerate(metric_keys(spec.ep_names, spec.thresholds))}


def _chunks(n, chunk_size):
    return [(s, min(n, s + chunk_size)) for s in range(0, n, chunk_size)]


def summarise_chunk(spec, start, stop, pilots) -> dict:
    """Run a chunk and reduce it to summaries (used by the Dask workers)."""
    chunk = run_chunk(spec, start, stop)
    summ = {}
    for name, cols in _summary_columns(spec, chunk).items():
        sq = StreamingQuantiles.__new__(StreamingQuantiles)
        sq.__dict__.update({k: (v.copy() if isinstance(v, np.ndarray) else v)
                            for k, v in pilots[name].__dict__.items()})
        sq.add(cols)
        summ[name] = sq
    return {"summaries": summ, "targets": {k: int(v.sum()) for k, v in chunk["targets"].items()},
            "n_fallback": chunk["n_fallback"]}


def progress_bar(total, enabled, unit: str = "subj", desc: str = "dmtpk population"):
    """A tqdm bar of ``total`` steps, or None: ``enabled`` False, or None (the default of the
    public functions) when the output is not a terminal or there is one step only."""
    if enabled is False or (enabled is None and not (total > 1 and sys.stderr.isatty())):
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency; stay quiet without it
        return None
    return tqdm(total=total, unit=unit, unit_scale=unit == "subj", desc=desc)


def simulate_population(model, regimen, times, n: int, seed: int, backend: str = "numba",
                        keep: str = "all", chunk_size: int | None = None, covariates=None,
                        residual=False, omega=None, correlation=None, distribution=None,
                        thresholds=None, targets=None, method: str = "auto", rtol: float = 1e-7,
                        atol: float = 1e-12, progress: bool | None = None, client=None,
                        n_workers: int = 2, replicates: int = 1,
                        uncertainty=None) -> PopulationResult:
    """Simulate a virtual population.

    Parameters
    ----------
    model : str, path or Model
    regimen : Bolus, Infusion, Inhalation or Regimen
        Weight-based doses (``"0.3 mg/kg"``) follow each subject's body weight.
    times : array-like
        Output times (min), sorted; a uniform grid is fastest.
    n : int
        Number of subjects.
    seed : int
        Seed; subjects are keyed by position, so results do not depend on chunk size, thread
        count or backend.
    backend : {"numba", "dask"}
        Local Numba threads, or chunks on a ``dask.distributed`` cluster (``client``, or a
        local cluster of ``n_workers`` processes).
    keep : {"all", "summary"}
        Per-subject arrays, or streamed percentile summaries in bounded memory.
    chunk_size : int, optional
        Subjects per chunk (default 65536).
    covariates : dict, optional
        Per covariate (``"WT"``): one value, n values, or a distribution (see
        :func:`~dmtpk.population.variability.build_covariates`).
    residual : bool or dict
        Residual error on observations: True for the model file's ``[residual]``, a dict to
        replace it, False (default) for none. Noise-free predictions are always kept.
    omega, correlation, distribution
        Replace the model's variability (see :func:`build_variability`).
    thresholds : dict, optional
        Threshold per endpoint for the effect metrics (default: the model file's).
    targets : dict, optional
        Named targets for :meth:`PopulationResult.attainment`, counted as chunks stream, e.g.
        ``{"strong": {"endpoint": "intensity", "above": 7, "for_at_least": "15 min"}}``.
    method : {"auto", "closed_form", "ode"}
        Closed form for linear models (default), or the compiled integrator.
    rtol, atol : float
        Integrator tolerances (ODE engine; atol in mg, or mg/L for effect compartments). At the
        default rtol 1e-7 the kernel agrees with SciPy's solve_ivp at rtol 1e-12 to about 1e-7
        relative on the benchmark's Michaelis-Menten workload (measured 9e-8), ten times inside
        the 1e-6 the engines are held to.
    progress : bool, optional
        Progress bar (tqdm); by default shown only in a terminal when there are several
        chunks.
    replicates : int
        Replicated trials (NONMEM's NSUBPROBLEMS): ``replicates`` trials of ``n`` subjects each,
        subject ``i`` in trial ``i // n`` (``PopulationResult.replicate``); summaries pool them.
    uncertainty : dict or (names, matrix), optional
        Uncertainty of the typical values: variances by parameter name, or a full covariance,
        on the natural scale in canonical units; each trial draws its own typical values
        (``PopulationResult.replicate_parameters``).

    Returns
    -------
    PopulationResult
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValidationError("n", f"must be a positive whole number of subjects, got {n!r}")
    if isinstance(replicates, bool) or not isinstance(replicates, (int, np.integer)) \
            or replicates < 1:
        raise ValidationError("replicates", f"must be a positive whole number of trials, got "
                              f"{replicates!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationError("seed", f"must be a non-negative integer, got {seed!r}")
    if backend not in BACKENDS:
        raise ValidationError("backend", f"unknown backend {backend!r}; expected one of "
                                         f"{BACKENDS}")
    if keep not in ("all", "summary"):
        raise ValidationError("keep", f"must be 'all' or 'summary', got {keep!r}")
    chunk_size = DEFAULT_CHUNK if chunk_size is None else chunk_size
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ValidationError("chunk_size", f"must be a positive integer, got {chunk_size!r}")
    n_per, replicates = int(n), int(replicates)
    n, seed, chunk_size = n_per * replicates, int(seed), int(chunk_size)
    model = load_model(model)
    rtol, atol = check_tolerances(rtol, atol)
    t = times_to_canonical(times)
    # warns once outside the model's fitted range
    model.check_regimen(_without_steady_state(as_regimen(regimen)))
    note = grid_note(model, t)
    if note is not None:
        import warnings
        warnings.warn(note, GridWarning, stacklevel=2)
    spec = _build_spec(model, regimen, t, seed, omega, correlation, distribution, covariates, n,
                       residual, thresholds, targets, rtol, atol, method)
    if replicates > 1 or uncertainty is not None:
        reps = _replicate_thetas(model, seed, replicates, uncertainty)
        spec = ChunkSpec(**{**spec.__dict__, "theta_reps": reps, "n_per": n_per})
    _check_memory(spec, n, keep)
    chunks = _chunks(n, chunk_size)
    bar = progress_bar(n, progress)
    try:
        if keep == "all":
            full, parts = _run_all(spec, n, chunks, backend, client, n_workers, bar)
            outputs = _collect_all(spec, full, parts)
        else:
            outputs = _run_summary(spec, n, chunks, backend, client, n_workers, bar)
    finally:
        if bar is not None:
            bar.close()
    replicate_parameters = {} if spec.theta_reps is None else \
        {nm: spec.theta_reps[:, j] for j, nm in enumerate(spec.param_names)}
    return PopulationResult(
        model=model, time=t, n=n, seed=seed, engine="closed_form" if spec.linear else "ode",
        keep=keep, spec=spec,
        thresholds={nm: float(v) for nm, v in zip(spec.ep_names, spec.thresholds)
                    if not np.isnan(v)},
        replicate=np.arange(n) // n_per, replicate_parameters=replicate_parameters, **outputs)


def connect_scheduler(address: str):
    """A ``dask.distributed`` client of the scheduler at ``address`` (for ``client=``).

    Parameters
    ----------
    address : str
        The scheduler's address, e.g. ``"tcp://host:8786"``.

    Returns
    -------
    dask.distributed.Client
        The caller closes it.

    Raises
    ------
    DmtpkError
        dask.distributed is not installed, or the scheduler does not answer within 10 s.
    """
    try:
        from dask.distributed import Client
    except ImportError:
        raise DmtpkError("the dask backend needs dask.distributed: pip install "
                         "'dmtpk[dask]'") from None
    try:
        return Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise DmtpkError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


def _dask_client(client, n_workers):
    if client is not None:
        return client, None
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("backend='dask' needs dask.distributed: pip install 'dmtpk[dask]'") \
            from None
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address=":0")
    # The cluster's scheduler runs in this process and times every garbage collection from a
    # gc callback; a Ctrl-C that lands in that callback is swallowed ("Exception ignored in
    # gc callback") and the run goes on. Without the timing, the interrupt reaches the run.
    from distributed.gc import disable_gc_diagnosis
    disable_gc_diagnosis(force=True)
    return Client(cluster), cluster


def _physical_memory() -> float:
    """Bytes of physical memory (inf where the system does not say)."""
    import os
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):  # pragma: no cover - non-POSIX
        return math.inf


def _check_memory(spec, n, keep) -> None:
    """Refuse, before any allocation, a run whose arrays cannot fit in physical memory: the
    kept curves (``keep="all"``) or the per-subject replicate index (8 bytes a subject, the
    one array a streamed run keeps)."""
    per_subject = 8.0 * (1 if keep == "summary"
                         else (spec.rows.size + spec.ep.shape[0]) * spec.times.size + 8)
    need = per_subject * n
    have = _physical_memory()
    if need > have:
        what = "the per-subject index" if keep == "summary" else "curves kept for every subject"
        raise ValidationError("n", f"{n:,} subjects need {need / 2**30:.3g} GiB ({what}), "
                                   f"more than this machine's {have / 2**30:.3g} GiB: "
                                   + ("run fewer subjects per call" if keep == "summary"
                                      else "use keep='summary' or fewer subjects or times"))


def _allocate(spec, n, metrics=True):
    m = spec.times.size
    n_ep = spec.ep.shape[0]
    out = {"conc": np.empty((n, spec.rows.size, m)), "effects": np.empty((n, n_ep, m))}
    if metrics:
        out.update(exposure=np.empty((n, len(POPULATION_EXPOSURE_METRICS))),
                   effect_metrics=np.empty((n, n_ep, len(EFFECT_METRICS))))
    return out


def _run_all(spec, n, chunks, backend, client, n_workers, bar):
    """Every subject into preallocated arrays (chunks of the Numba backend write in place)."""
    full = _allocate(spec, n, metrics=False)  # metrics come on demand from the curves
    parts = []
    if backend == "numba":
        for s, e in chunks:
            views = {k: v[s:e] for k, v in full.items()}
            parts.append(_slim(run_chunk(spec, s, e, out=views, metrics=False)))
            if bar is not None:
                bar.update(e - s)
        return full, parts
    cl, own = _dask_client(client, n_workers)
    try:
        spec_f = cl.scatter(spec, broadcast=True)
        futures = [cl.submit(run_chunk, spec_f, s, e, None, False, pure=False)
                   for s, e in chunks]
        for f, (s, e) in zip(futures, chunks):
            part = f.result()
            for k in full:
                full[k][s:e] = part[k]
            parts.append(_slim(part))
            if bar is not None:
                bar.update(e - s)
        return full, parts
    finally:
        if own is not None:
            cl.close()
            own.close()


def _slim(part):
    """A chunk's result without the arrays already copied into the full ones."""
    return {k: v for k, v in part.items() if k not in ("conc", "effects", "exposure",
                                                      "effect_metrics")}


def _collect_all(spec, full, parts) -> dict:
    """The per-subject fields of a ``keep="all"`` :class:`PopulationResult`, from the full
    arrays and the chunks' other parts."""
    cat = (lambda key: np.concatenate([p[key] for p in parts]))
    conc = full["conc"]
    eff = full["effects"]
    names = _output_names(spec)
    theta = cat("theta")
    observations = None
    if spec.residual is not None:
        observations = {nm: np.concatenate([p["observations"][nm] for p in parts])
                        for nm in spec.residual.names}
    return dict(
        concentration=conc[:, 0, :],
        metabolite_concentration=(conc[:, names.index("metabolite"), :]
                                  if "metabolite" in names else None),
        effects={ep: eff[:, k, :] for k, ep in enumerate(spec.ep_names)},
        effect_sites={ep: conc[:, spec.ep_row[k], :] for k, ep in enumerate(spec.ep_names)},
        parameters={nm: theta[:, j] for j, nm in enumerate(spec.param_names)},
        covariates={k: np.concatenate([p["covariates"][k] for p in parts])
                    for k in parts[0]["covariates"]},
        observations=observations,
        target_counts={nm: int(sum(p["targets"][nm].sum() for p in parts))
                       for nm in spec.targets},
        n_fallback=sum(p["n_fallback"] for p in parts))


def _run_summary(spec, n, chunks, backend, client, n_workers, bar) -> dict:
    """The fields of a ``keep="summary"`` :class:`PopulationResult`: the streamed summaries,
    the target counts and the number of subjects solved by the exact engine."""
    pilot_chunk = run_chunk(spec, 0, min(PILOT, n))
    pilots = {name: StreamingQuantiles(cols, max_count=n)
              for name, cols in _summary_columns(spec, pilot_chunk).items()}
    counts = {nm: 0 for nm in spec.targets}
    n_fallback = 0
    if backend == "numba":
        summ = pilots
        # Each chunk's individual parameters are drawn at once; the subjects then go through
        # the kernel, the metrics and the histograms in tiles of SUMMARY_TILE, in reused
        # row-major buffers that stay in the processor's cache from one step to the next.
        tile = min(SUMMARY_TILE, max(e - s for s, e in chunks))
        buf = _allocate(spec, tile)
        for s, e in chunks:
            theta, _, weight, _, _ = individual(spec, s, e)
            for a in range(0, e - s, tile):
                b = min(e - s, a + tile)
                part = solve_subjects(spec, s + a, theta[a:b], weight[a:b],
                                      out={k: v[:b - a] for k, v in buf.items()})
                _feed(summ, spec, part)
                for nm, tgt in spec.targets.items():
                    counts[nm] += int(evaluate_target(spec, tgt, part["conc"],
                                                      part["effects"]).sum())
                n_fallback += part["n_fallback"]
            if bar is not None:
                bar.update(e - s)
    else:
        cl, own = _dask_client(client, n_workers)
        try:
            spec_f = cl.scatter(spec, broadcast=True)
            pil_f = cl.scatter(pilots, broadcast=True)
            futures = [cl.submit(summarise_chunk, spec_f, s, e, pil_f, pure=False)
                       for s, e in chunks]
            summ = None
            for f, (s, e) in zip(futures, chunks):
                part = f.result()
                if summ is None:
                    summ = part["summaries"]
                else:
                    for name, sq in part["summaries"].items():
                        summ[name].merge(sq)
                for nm, c in part["targets"].items():
                    counts[nm] += c
                n_fallback += part["n_fallback"]
                if bar is not None:
                    bar.update(e - s)
        finally:
            if own is not None:
                cl.close()
                own.close()
    summ["_metric_index"] = _metric_index(spec)
    return dict(summaries=summ, target_counts=counts, n_fallback=n_fallback)
