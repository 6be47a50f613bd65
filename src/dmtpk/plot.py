"""Plots (matplotlib). Each function takes an optional ``ax`` (or builds its own figure) and
returns the Figure; no global pyplot state is touched, so figures are safe in scripts, notebooks
and servers alike. Labels carry units: time [min], concentrations [ng/mL], responses in the
endpoint's unit.

Single subject: :func:`concentration` (linear or log axis), :func:`concentration_lin_log`,
:func:`effect` (threshold and time beyond it shaded), :func:`hysteresis`,
:func:`result_overview`, :func:`compare`. Populations: :func:`population_bands` (percentile band,
median, optional individual curves), :func:`population_overview`, :func:`compare_bands`,
:func:`metric_distributions`. Across doses: :func:`dose_response`. Fits:
:func:`fit_diagnostics`, :func:`fit_individuals`, :func:`eta_distributions`, :func:`vpc`.
Target-controlled infusion: :func:`tci_schedule`. A design across a population:
:func:`population_view`.
"""

from __future__ import annotations

import numpy as np

from .catalogue import EXPOSURE_METRICS, METRICS, metric_label, metric_unit, split_metric_key

__all__ = ["concentration", "concentration_lin_log", "effect", "hysteresis", "result_overview",
           "compare", "population_bands", "population_overview", "compare_bands",
           "metric_distributions", "dose_response", "fit_diagnostics", "fit_individuals",
           "eta_distributions", "vpc", "tci_schedule", "population_view"]


def _axes(ax, ncols=1, figsize=(6.0, 4.0)):
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(1, ncols)


def concentration(result, ax=None, log: bool = False, label: str | None = None,
                  effect_site: bool = True):
    """Plasma (and effect-site) concentration against time."""
    fig, ax = _axes(ax)
    line, = ax.plot(result.time, result.concentration, label=label or "plasma")
    if effect_site and result.model.effects:
        for name, ce in result.effect_sites.items():
            ep = result.model.endpoint(name)
            if ep.link == "effect_compartment":
                ax.plot(result.time, ce, ls="--", color=line.get_color(),
                        label=f"effect site ({name})" if label is None else None)
    ax.set_xlabel("time [min]")
    ax.set_ylabel("concentration [ng/mL]")
    if log:
        ax.set_yscale("log")
    ax.legend(frameon=False)
    return fig


def effect(result, endpoint: str | None = None, ax=None, threshold: bool = True,
           label: str | None = None):
    """An endpoint's response against time, with its threshold and the time beyond it shaded."""
    fig, ax = _axes(ax)
    ep = result.model.endpoint(endpoint) if endpoint else result.model.effects[0]
    y = result.effects[ep.name]
    line, = ax.plot(result.time, y, label=label or ep.name)
    if threshold and ep.threshold is not None:
        ax.axhline(ep.threshold, color="0.5", lw=0.8, ls=":")
        beyond = (y > ep.threshold) if ep.sign > 0 else (y < ep.threshold)
        shade_label = None
        if label is None and beyond.any():
            m = result.metrics({ep.name: ep.threshold}).effects.get(ep.name)
            if m is not None and m.duration == m.duration:
                rel = ">" if ep.sign > 0 else "<"
                shade_label = f"{rel} {ep.threshold:g} for {m.duration:.3g} min"
        ax.fill_between(result.time, ep.threshold, y, where=beyond, alpha=0.2,
                        color=line.get_color(), lw=0, interpolate=True, label=shade_label)
    ax.set_xlabel("time [min]")
    ax.set_ylabel(f"{ep.name} [{ep.unit}]" if ep.unit else ep.name)
    ax.legend(frameon=False)
    return fig


def result_overview(result, log: bool = False):
    """Concentration on the left, the first endpoint's response on the right (if any)."""
    n = 2 if result.model.effects else 1
    fig, axes = _axes(None, ncols=n, figsize=(5.0 * n, 3.8))
    axes = list(axes) if n > 1 else [axes]
    concentration(result, ax=axes[0], log=log)
    if n > 1:
        effect(result, ax=axes[1])
    fig.suptitle(result.model.name)
    return fig


def compare(results, labels=None, endpoint: str | None = None, log: bool = False):
    """Several results (regimens or routes) on one figure: concentration and response panels."""
    labels = labels or [f"run {k + 1}" for k in range(len(results))]
    model = results[0].model
    n = 2 if model.effects else 1
    fig, axes = _axes(None, ncols=n, figsize=(5.5 * n, 4.0))
    axes = list(axes) if n > 1 else [axes]
    for r, label in zip(results, labels):
        concentration(r, ax=axes[0], log=log, label=label, effect_site=False)
        if n > 1:
            effect(r, endpoint=endpoint, ax=axes[1], label=label, threshold=False)
    if n > 1:
        ep = model.endpoint(endpoint) if endpoint else model.effects[0]
        if ep.threshold is not None:
            axes[1].axhline(ep.threshold, color="0.5", lw=0.8, ls=":", label="threshold")
        axes[1].legend(frameon=False, fontsize="small")
    axes[0].set_title("plasma")
    axes[0].legend(frameon=False, fontsize="small")
    fig.suptitle(model.name)
    return fig


def population_bands(result, output: str = "concentration", q=(5, 50, 95), individuals: int = 0,
                     ax=None, label: str | None = None, color=None):
    """Percentile band of a population (outer percentiles of ``q``) with the median line, and
    optionally the first ``individuals`` subjects' curves (``keep="all"`` only)."""
    fig, ax = _axes(ax)
    q = sorted(q)
    pct = result.percentiles(q, output)
    mid = len(q) // 2
    line, = ax.plot(result.time, pct[mid], color=color,
                    label=label or f"median ({result.n:,} subjects)")
    ax.fill_between(result.time, pct[0], pct[-1], color=line.get_color(), alpha=0.2, lw=0,
                    label=f"{q[0]:g}-{q[-1]:g}th percentile" if label is None else None)
    if individuals and result.keep == "all":
        curves = result._curves(output)
        for i in range(min(individuals, curves.shape[0])):
            ax.plot(result.time, curves[i], color=line.get_color(), lw=0.5, alpha=0.4)
    ax.set_xlabel("time [min]")
    if output == "concentration":
        ax.set_ylabel("plasma concentration [ng/mL]")
    elif output.startswith("effect_site:"):
        ax.set_ylabel("effect-site concentration [ng/mL]")
    elif output == "metabolite":
        ax.set_ylabel("metabolite concentration [ng/mL]")
    else:
        ep = result.model.endpoint(output)
        ax.set_ylabel(f"{ep.name} [{ep.unit}]" if ep.unit else ep.name)
        if ep.threshold is not None:
            ax.axhline(ep.threshold, color="0.5", lw=0.8, ls=":")
    ax.legend(frameon=False, fontsize="small")
    return fig


def compare_bands(results, labels, endpoint: str | None = None, q=(5, 50, 95)):
    """Several populations (regimens or routes): concentration and response bands side by
    side."""
    model = results[0].model
    n = 2 if model.effects else 1
    fig, axes = _axes(None, ncols=n, figsize=(5.5 * n, 4.0))
    axes = list(axes) if n > 1 else [axes]
    for r, label in zip(results, labels):
        population_bands(r, "concentration", q=q, ax=axes[0], label=label)
        if n > 1:
            ep = endpoint or model.effects[0].name
            population_bands(r, ep, q=q, ax=axes[1], label=label)
    axes[0].set_title(f"plasma, median and {q[0]:g}-{q[-1]:g}th percentiles")
    if n > 1:
        axes[1].set_title("response")
    fig.suptitle(model.name)
    return fig


def concentration_lin_log(result, effect_site: bool = True):
    """Plasma (and effect-site) concentration on a linear axis (left) and a log axis (right):
    the log axis shows the distribution and elimination phases as straight lines."""
    fig, axes = _axes(None, ncols=2, figsize=(10.0, 3.8))
    concentration(result, ax=axes[0], effect_site=effect_site)
    concentration(result, ax=axes[1], log=True, effect_site=effect_site)
    positive = result.concentration[result.concentration > 0]
    if positive.size:
        axes[1].set_ylim(bottom=max(positive.min(), positive.max() * 1e-4))
    axes[0].set_title("linear scale")
    axes[1].set_title("log scale")
    fig.suptitle(result.model.name)
    return fig


def hysteresis(result, endpoint: str | None = None, ax=None):
    """Response against plasma concentration (a loop: the effect lags the plasma) and against
    the effect-site concentration (one curve, the concentration-response relation)."""
    fig, ax = _axes(ax)
    ep = result.model.endpoint(endpoint) if endpoint else result.model.effects[0]
    y = result.effects[ep.name]
    line, = ax.plot(result.concentration, y, label="against plasma concentration")
    x = result.concentration
    # arrows in the direction of time, evenly spaced along the drawn path
    span = lambda v: (np.ptp(v) or 1.0)  # noqa: E731
    path = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x) / span(x),
                                                     np.diff(y) / span(y)))])
    if path[-1] > 0:
        for s in np.linspace(0.0, path[-1], 12)[1:-1]:
            i = min(int(np.searchsorted(path, s)), len(x) - 2)
            ax.annotate("", xy=(x[i + 1], y[i + 1]), xytext=(x[i], y[i]),
                        arrowprops={"arrowstyle": "->", "color": line.get_color(), "lw": 0.8})
    if ep.link == "effect_compartment":
        ax.plot(result.effect_sites[ep.name], y, ls="--", color="0.3",
                label="against effect-site concentration")
    ax.set_xlabel("concentration [ng/mL]")
    ax.set_ylabel(f"{ep.name} [{ep.unit}]" if ep.unit else ep.name)
    ax.legend(frameon=False, fontsize="small")
    return fig


def population_overview(result, q=(5, 50, 95), individuals: int = 0, endpoint=None):
    """One population: plasma concentration bands (left) and the endpoint's bands (right)."""
    model = result.model
    n = 2 if model.effects else 1
    fig, axes = _axes(None, ncols=n, figsize=(5.5 * n, 4.0))
    axes = list(axes) if n > 1 else [axes]
    population_bands(result, "concentration", q=q, individuals=individuals, ax=axes[0])
    if n > 1:
        ep = endpoint or model.effects[0].name
        population_bands(result, ep, q=q, individuals=individuals, ax=axes[1])
        axes[1].set_title("response")
    axes[0].set_title("plasma")
    fig.suptitle(f"{model.name}: {result.n:,} subjects, seed {result.seed}")
    return fig


def _metric_axis(model, key: str) -> str:
    """Axis label of a metric: the catalogue's label and unit ("intensity duration [min]"); a
    key not in the catalogue as it is."""
    if split_metric_key(key)[1] not in METRICS:
        return key
    unit = metric_unit(key, model)
    return f"{metric_label(key)} [{unit}]" if unit else metric_label(key)


def metric_distributions(results, metrics=None, labels=None, bins: int = 40, q=(5, 50, 95)):
    """Histograms of per-subject metrics (``keep="all"``), one panel per metric, with the
    median and the interval between the outer percentiles marked.

    Parameters
    ----------
    results : PopulationResult or sequence of PopulationResult
        Several populations are overlaid (same bins).
    metrics : sequence of str, optional
        Keys of ``result.metrics``: ``"cmax"``, ``"auc"``, ``"<endpoint>.duration"``...
        Default: Cmax and the first endpoint's duration beyond its threshold.
    labels : sequence of str, optional
    """
    results = list(results) if isinstance(results, (list, tuple)) else [results]
    labels = list(labels) if labels is not None else [None] * len(results)
    model = results[0].model
    if metrics is None:
        metrics = ["cmax"]
        if results[0].thresholds:
            metrics.append(f"{next(iter(results[0].thresholds))}.duration")
    for r in results:
        if r.keep != "all":
            from .errors import ValidationError
            raise ValidationError("keep", "metric distributions need per-subject metrics: "
                                          "simulate with keep='all'")
    fig, axes = _axes(None, ncols=len(metrics), figsize=(4.6 * len(metrics), 3.8))
    axes = list(np.atleast_1d(axes))
    for ax, key in zip(axes, metrics):
        data = [r.metrics[key] if key in r.metrics else
                r.metric(key.split(".")[-1], key.split(".")[0] if "." in key else None)
                for r in results]
        finite = [d[np.isfinite(d)] for d in data]
        allv = np.concatenate(finite) if finite else np.array([])
        edges = np.histogram_bin_edges(allv, bins=bins) if allv.size else bins
        for r, d, label in zip(results, finite, labels):
            never = 1.0 - d.size / r.n
            text = label or f"{r.n:,} subjects"
            if never > 0:
                text += f" ({never:.0%} never)"
            _, _, patches = ax.hist(d, bins=edges, alpha=0.5, label=text)
            if d.size:
                lo, mid, hi = np.percentile(d, sorted(q))
                color = patches[0].get_facecolor() if len(patches) else None
                ax.axvline(mid, color=color, lw=1.5)
                ax.axvspan(lo, hi, color=color, alpha=0.08, lw=0)
        ax.set_xlabel(_metric_axis(model, key))
        ax.set_ylabel("subjects")
        ax.legend(frameon=False, fontsize="small")
    fig.suptitle(f"{model.name}: median (line) and {q[0]:g}-{q[-1]:g}th percentiles (shaded)")
    return fig


def dose_response(doses, results, metric: str = "duration", endpoint: str | None = None,
                  q=(5, 50, 95), ax=None, label: str | None = None, dose_unit: str = "mg",
                  color=None):
    """A metric (default: the effect's duration beyond its threshold) against dose.

    Parameters
    ----------
    doses : sequence of float
        The dose of each result, in ``dose_unit`` (for the axis only).
    results : sequence of Result or PopulationResult
        One per dose. Typical-subject results give a line; populations give the median line and
        the band between the outer percentiles of ``q``.
    metric : str
        ``"cmax"``, ``"auc"``, ``"tmax"`` or an effect metric (``"duration"``, ``"peak"``,
        ``"onset"``...).
    """
    fig, ax = _axes(ax)
    doses = np.asarray(doses, dtype=float)
    results = list(results)
    model = results[0].model
    effect_metric = metric not in EXPOSURE_METRICS
    ep = None
    if effect_metric:
        ep = model.endpoint(endpoint) if endpoint else model.effects[0]
    key = f"{ep.name}.{metric}" if effect_metric else metric
    if all(hasattr(r, "metric_percentiles") for r in results):
        qs = sorted(q)
        pct = np.array([r.metric_percentiles(qs).get(key, np.full(len(qs), np.nan))
                        for r in results])
        mid = len(qs) // 2
        line, = ax.plot(doses, pct[:, mid], marker="o", color=color,
                        label=label or f"median ({results[0].n:,} subjects)")
        ax.fill_between(doses, pct[:, 0], pct[:, -1], color=line.get_color(), alpha=0.2, lw=0,
                        label=f"{qs[0]:g}-{qs[-1]:g}th percentile" if label is None else None)
    else:
        values = []
        for r in results:
            m = r.metrics()
            if effect_metric:
                e = m.effects.get(ep.name)
                values.append(np.nan if e is None else getattr(e, metric))
            else:
                values.append(getattr(m.exposure, metric))
        ax.plot(doses, values, marker="o", color=color, label=label or "typical subject")
    ax.set_xlabel(f"dose [{dose_unit}]")
    ax.set_ylabel(_metric_axis(model, key))
    if effect_metric and metric in METRICS and METRICS[metric].threshold \
            and ep.threshold is not None:
        rel = ">" if ep.sign > 0 else "<"
        thr = getattr(results[0], "thresholds", {}).get(ep.name, ep.threshold)
        ax.set_title(f"time with {ep.name} {rel} {thr:g}", fontsize="medium")
    ax.legend(frameon=False, fontsize="small")
    return fig


# -- fits ---------------------------------------------------------------------------------------

def _fit_unit(fit) -> str:
    labels = {o[0] for o in fit.problem.outputs}
    forms = {o[1] for o in fit.problem.outputs}
    unit = "ng/mL" if labels <= {"concentration", "metabolite"} else "output unit"
    return unit if forms == {"normal"} else f"{unit}, residual scale"


def fit_diagnostics(fit):
    """Observations against population (PRED) and individual (IPRED) predictions, CWRES
    against time and against PRED."""
    from matplotlib.figure import Figure
    t = fit.table
    fig = Figure(figsize=(9.0, 7.0), layout="constrained")
    axes = fig.subplots(2, 2)
    unit = _fit_unit(fit)
    for ax, key in zip(axes[0], ("PRED", "IPRED")):
        ax.scatter(t[key], t["DV"], s=6, alpha=0.5)
        lim = [np.nanmin([t[key], t["DV"]]), np.nanmax([t[key], t["DV"]])]
        ax.plot(lim, lim, color="k", lw=0.8)
        ax.set_xlabel(f"{key} [{unit}]")
        ax.set_ylabel(f"DV [{unit}]")
    time_unit = fit.problem.prepared.data.time_unit
    for ax, x, label in ((axes[1, 0], t["TIME"], f"time [{time_unit}]"),
                         (axes[1, 1], t["PRED"], f"PRED [{unit}]")):
        ax.scatter(x, t["CWRES"], s=6, alpha=0.5)
        for level in (-2, 0, 2):
            ax.axhline(level, color="0.5", lw=0.8, ls="-" if level == 0 else ":")
        ax.set_xlabel(label)
        ax.set_ylabel("CWRES")
    fig.suptitle(f"{fit.method.upper()} fit of {fit.model.name}: OFV {fit.ofv:.2f}")
    return fig


def fit_individuals(fit, subjects=None, ncols: int = 4):
    """Each subject's observations with its individual (and population) predictions; default
    the first 12 subjects."""
    from matplotlib.figure import Figure
    t = fit.table
    ids = list(dict.fromkeys(t["ID"].tolist()))
    chosen = ids[:12] if subjects is None else list(subjects)
    nrows = -(-len(chosen) // ncols)
    fig = Figure(figsize=(2.6 * ncols, 2.2 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, sid in zip(axes, chosen):
        sel = t["ID"] == sid
        order = np.argsort(t["TIME"][sel])
        ax.plot(t["TIME"][sel][order], t["IPRED"][sel][order], lw=1.2, label="IPRED")
        ax.plot(t["TIME"][sel][order], t["PRED"][sel][order], lw=0.8, ls="--", label="PRED")
        ax.scatter(t["TIME"][sel], t["DV"][sel], s=8, color="k", zorder=3)
        ax.set_title(f"ID {sid:g}", fontsize=9)
    for ax in axes[len(chosen):]:
        ax.set_visible(False)
    axes[0].legend(frameon=False, fontsize=7)
    return fig


def eta_distributions(fit):
    """Histograms of the EBEs of each random effect with the N(0, omega) density."""
    from matplotlib.figure import Figure
    names = fit.problem.eta_names
    fig = Figure(figsize=(2.8 * len(names), 2.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    for k, (ax, name) in enumerate(zip(axes, names)):
        e = fit.ebes[:, k]
        ax.hist(e, bins=20, density=True, alpha=0.6)
        sd = np.sqrt(fit.omega_matrix[k, k])
        x = np.linspace(-4 * sd, 4 * sd, 200)
        ax.plot(x, np.exp(-0.5 * (x / sd) ** 2) / (sd * np.sqrt(2 * np.pi)), color="k", lw=1)
        shr = fit.shrinkage.get(name)
        ax.set_title(f"eta({name})" + (f", shrinkage {shr:.0f} %" if shr is not None else ""),
                     fontsize=9)
    return fig


def saem_trajectories(fit, ncols: int = 4):
    """The SAEM estimates of every iteration (:attr:`dmtpk.fit.FitResult.history`), one panel
    per parameter, the end of the exploration phase marked, the final estimate dashed; the
    title states the convergence (:func:`dmtpk.fit.saem.convergence`)."""
    from matplotlib.figure import Figure
    labels = fit.history_labels
    nrows = -(-len(labels) // ncols)
    fig = Figure(figsize=(2.6 * min(ncols, len(labels)), 2.1 * nrows + 0.5),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, min(ncols, len(labels)), squeeze=False)).ravel()
    it = np.arange(1, fit.history.shape[0] + 1)
    for k, (ax, lab) in enumerate(zip(axes, labels)):
        ax.plot(it, fit.history[:, k], lw=0.9)
        ax.axvline(fit.exploration + 0.5, color="0.5", lw=0.8, ls=":")
        ax.axhline(fit.history[-1, k], color="k", lw=0.7, ls="--")
        ax.set_title(lab, fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes[len(labels):]:
        ax.set_visible(False)
    for ax in axes[-min(ncols, len(labels)):]:
        ax.set_xlabel("iteration", fontsize=8)
    state = "converged" if fit.converged else "NOT converged"
    fig.suptitle(f"SAEM trajectories ({state}; exploration {fit.exploration} iterations)",
                 fontsize=10)
    return fig


def vpc(v: dict, ax=None):
    """A visual predictive check from :meth:`dmtpk.fit.FitResult.vpc`: observed percentiles
    (lines) on the simulated 90 % intervals of the same percentiles (bands)."""
    fig, ax = _axes(ax, figsize=(6.5, 4.5))
    t = v["time"]
    for j, q in enumerate(v["q"]):
        sim = v["simulated"][:, j]
        ax.fill_between(t, sim[:, 0], sim[:, 2], alpha=0.25,
                        color="C1" if q == 50 else "C0", lw=0)
        ax.plot(t, v["observed"][:, j], color="k", lw=1.5 if q == 50 else 0.9,
                ls="-" if q == 50 else "--", label=f"observed P{q:g}")
    ax.set_yscale("log")
    ax.set_xlabel(f"time [{v.get('time_unit', 'dataset unit')}]")
    ax.set_ylabel(("prediction-corrected " if v["prediction_corrected"] else "") + v["output"])
    ax.legend(frameon=False, fontsize=8)
    return fig


def tci_schedule(res):
    """A TCI schedule (:class:`dmtpk.tci.TciResult`): the pump rate, and the predicted plasma and
    effect-site concentrations with the target."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(7.0, 5.0), layout="constrained")
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    step = res.time[1] - res.time[0] if res.time.size > 1 else 0.0
    t_end = np.append(res.time, res.time[-1] + step)
    ax1.step(t_end, np.append(res.rate, 0.0), where="post")
    ax1.set_ylabel("rate [mg/min]")
    given = res.bolus > 0
    if given.any():                                # boluses beyond the pump limit
        ax1b = ax1.twinx()
        ax1b.vlines(res.time[given], 0.0, res.bolus[given], color="C3", lw=2, label="bolus")
        ax1b.set_ylim(bottom=0.0)
        ax1b.set_ylabel("bolus [mg]", color="C3")
    ax2.plot(t_end, res.plasma, label="plasma")
    ax2.plot(t_end, res.effect_site, label="effect site")
    ax2.step(t_end, np.append(res.target, res.target[-1]), where="post", color="k", lw=0.8,
             ls="--", label=f"target ({res.site})")
    ax2.set_xlabel("time [min]")
    ax2.set_ylabel("concentration [ng/mL]")
    ax2.legend(frameon=False)
    return fig


def population_view(view):
    """A :class:`dmtpk.design.PopulationView`: shares inside, above and below the window over
    time; the distribution of time in the window; Cmax against its limit."""
    from matplotlib.figure import Figure
    fig = Figure(figsize=(10.0, 3.6), layout="constrained")
    a1, a2, a3 = fig.subplots(1, 3)
    a1.stackplot(view.time, view.below, view.inside, view.above,
                 labels=("below", "inside", "above"), alpha=0.8)
    a1.set_xlabel("time [min]")
    a1.set_ylabel("share of subjects")
    a1.set_title(f"window [{view.window[0]:g}, {view.window[1]:g}]", fontsize=9)
    a1.legend(frameon=False, fontsize=8, loc="upper right")
    a2.hist(view.time_in_window, bins=30)
    a2.set_xlabel("time in the window [min]")
    a2.set_ylabel("subjects")
    a3.hist(view.cmax, bins=30)
    if np.isfinite(view.cmax_limit):
        a3.axvline(view.cmax_limit, color="k", ls="--", lw=1)
    a3.set_xlabel("Cmax [ng/mL]")
    return fig


def design_result(res):
    """A :class:`dmtpk.design.DesignResult`: the typical subject's effect under the designed
    regimen, with the window shaded over its span and the design's parameters."""
    from matplotlib.figure import Figure

    from .simulate import simulate
    t0, t1 = res.span
    t = np.linspace(0.0, 1.5 * t1, 601)
    sim = simulate(res.model, res.regimen, t)
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.subplots()
    ep = res.model.endpoint(res.endpoint)
    ax.plot(t, sim.effects[res.endpoint], label="typical subject")
    ax.fill_between([t0, t1], res.window[0], res.window[1], color="0.85", lw=0,
                    label=f"window [{res.window[0]:g}, {res.window[1]:g}]")
    ax.set_xlabel("time [min]")
    ax.set_ylabel(f"{ep.name} [{ep.unit}]" if ep.unit else ep.name)
    title = ", ".join(f"{k} {v:.3g}" for k, v in res.values.items())
    if res.validation_share == res.validation_share:
        lo, hi = res.validation_ci
        title += f"; inside: {res.validation_share:.0%} ({lo:.0%}-{hi:.0%})"
    ax.set_title(title, fontsize=8)
    ax.legend(frameon=False)
    return fig
