"""Human-readable description of a model (``print(model)``, ``Model.describe()``)."""

from __future__ import annotations

import math
from types import MappingProxyType

from .sections import _RESIDUAL_KEYS

def _provenance(info, sources) -> str:
    if "overridden" in info:
        rest = _provenance({k: v for k, v in info.items() if k != "overridden"}, sources)
        return f"SET BY with_parameters (the file gives {info['overridden']}: {rest})"
    if "assumption" in info:
        return f"ASSUMPTION: {info['assumption']}"
    parts = []
    if "source" in info:
        parts.append(str(info["source"]))
        hand = next((s.get("second_hand") for s in sources if s.get("key") == info["source"]),
                    None)
        if hand:
            parts.append("second-hand")
    if "where" in info:
        parts.append(str(info["where"]))
    if "note" in info:
        parts.append(f"note: {info['note']}")
    return "; ".join(parts) if parts else "no source given"


def hill_share_below_one(m, name: str, omega2: float | None = None,
                         dist: str | None = None) -> float | None:
    """Share of subjects whose Hill coefficient ``name`` (a GAMMA role) is below 1: the normal
    CDF of the eta at which it crosses 1, for log-normal or normal IIV of variance ``omega2``
    (default: the model file's); None when ``name`` is no Hill coefficient with such IIV."""
    var = m.variability
    if omega2 is None:
        omega2 = var.get("omega", {}).get(name)
        dist = var.get("distribution", {}).get(name, "lognormal")
    if omega2 is None or not omega2 > 0 or dist not in ("lognormal", "normal") \
            or not any(ep.roles.get("GAMMA") == name for ep in m.effects):
        return None
    theta = m.value(name)
    z = (math.log(1.0 / theta) if dist == "lognormal" else 1.0 - theta) / math.sqrt(omega2)
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _hill_below_one(m, name, omega2, dist) -> str:
    share = hill_share_below_one(m, name) if omega2 is not None else None
    if share is None:
        return ""
    return (f"; {100 * share:.1f} % of subjects get a Hill coefficient below 1 (a flatter "
            "concentration-response than a simple Emax)")


def describe(m) -> str:
    """Text description: structure, parameters with units and sources, variability, residual
    error, dose form, validity and sources (``Model.describe()``)."""
    n = m.n_compartments
    lines = [f"{m.name}: {m.description}" if m.description else m.name, ""]
    lines.append(f"Structure: {n} compartment{'s' if n > 1 else ''}, {m.elimination} "
                 f"elimination; routes: {', '.join(m.routes)}")
    if m.metabolite is not None:
        r = m.metabolite.roles
        lines.append(f"Metabolite: {m.metabolite.name} ({m.metabolite.molar_mass:g} g/mol), "
                     f"formed from the parent's elimination with fraction {r['FM']} "
                     f"(mole for mole); CL = {r['CL']}, V = {r['V']}")
    for ep in m.effects:
        roles = ", ".join(f"{k} = {v}" for k, v in ep.roles.items())
        link = "effect compartment" if ep.link == "effect_compartment" else "direct"
        lines.append(f"Endpoint {ep.name}: {ep.model}, {link}, driven by the {ep.driver} "
                     f"[{ep.unit}]; {roles}")
    lines += ["", "Parameters (as written; source):"]
    width = max((len(k) for k in m.parameters), default=4)
    for name, p in m.parameters.items():
        lines.append(f"  {name:<{width}}  {p.given:<14}  {_provenance(p.info, m.sources)}")
    var = m.variability
    if var.get("omega") or var.get("cv"):
        lines += ["", "Inter-individual variability (variance of eta):"]
        dist = var.get("distribution", {})
        for name, w in {**var.get("omega", {}), **var.get("cv", {})}.items():
            kind = "cv" if name in var.get("cv", {}) else "omega^2"
            d = dist.get(name, "lognormal")
            extra = f", lambda = {var['boxcox'][name]:g}" if d == "boxcox" else ""
            lines.append(f"  {name:<{width}}  {kind} = {w:g} ({d}{extra})"
                         + _hill_below_one(m, name, w if kind == "omega^2" else None, d))
        for pair, rho in var.get("correlation", {}).items():
            lines.append(f"  correlation {pair} = {rho:g}")
        occ = var.get("occasion")
        if occ:
            lines.append("Between-occasion variability (variance of kappa):")
            for name, w in occ["omega"].items():
                lines.append(f"  {name:<{width}}  omega^2 = {w:g}")
    res = m.residual
    if res:
        lines += ["", "Residual error:"]
        top = {k: v for k, v in res.items() if not isinstance(v, (dict, MappingProxyType))}
        if top:
            lines.append("  plasma DMT: " + ", ".join(f"{k} {v:g}" for k, v in top.items()))
        for k, v in res.items():
            if isinstance(v, (dict, MappingProxyType)):
                lines.append(f"  {k}: " + ", ".join(f"{a} {b:g}" for a, b in v.items()
                                                    if a in _RESIDUAL_KEYS))
    f = m.dose_form
    if f is not None and f.salt != "base":
        lines += ["", f"Dose form of the data: {f.label}; {f.nmol_per_mg:.1f} nmol DMT per mg "
                      f"(base fraction {f.base_fraction:.4f}); {_provenance(f.info, m.sources)}"]
    if m.validity:
        lines += ["", f"Fitted to: {m.population}"]
        for v in m.validity.values():
            if v.fitted:
                rng = v.dose_given or "dose range not stated"
                lines.append(f"  {v.route}: {', '.join(v.administration)}; {rng}"
                             + (f"; {v.data}" if v.data else ""))
            else:
                lines.append(f"  {v.route}: NOT FITTED TO DATA: {v.why}")
    if m.sources:
        lines += ["", "Sources:"]
        for s in m.sources:
            lines.append(f"  [{s.get('key', '?')}] {s['citation']}{_reference(s)}")
            if s.get("second_hand"):
                lines.append(f"      second-hand: {s['second_hand']}")
    if m.comparisons:
        lines += ["", "Compared against (no number taken from these):"]
        for s in m.comparisons:
            lines.append(f"  [{s.get('key', '?')}] {s['citation']}{_reference(s)}")
            if s.get("where"):
                lines.append(f"      reports: {s['where']}")
    return "\n".join(lines)


def _reference(s) -> str:
    """The DOI (or URL) of a source or comparison as printed after its citation, or ""."""
    return f" doi:{s['doi']}" if s.get("doi") else (f" {s['url']}" if s.get("url") else "")
