"""Plots (matplotlib). Each function takes an optional ``ax`` and returns the Figure; no global
pyplot state is touched."""

from __future__ import annotations

__all__ = ["concentration", "effect", "result_overview", "compare", "population_bands",
           "compare_bands"]


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
        ax.fill_between(result.time, ep.threshold, y, where=beyond, alpha=0.2,
                        color=line.get_color(), lw=0)
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
