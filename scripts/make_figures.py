"""Regenerate the figures of the documentation (docs/figures/) from the package itself.

    python scripts/make_figures.py            # writes docs/figures/tour.png

Everything is seeded, so a rerun with the same versions gives the same figure.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import dmtpk
from dmtpk import plot
from dmtpk.model.spec import ModelValidityWarning

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "docs" / "figures"

REGIMENS = {
    "IV bolus 20 mg fumarate": dmtpk.Bolus("20 mg", salt="fumarate"),
    "IV 16 mg + 1.4 mg/min x 30 min": dmtpk.Bolus("16 mg", salt="fumarate")
    + dmtpk.Infusion(rate="1.4 mg/min", duration="30 min", salt="fumarate"),
    "inhaled 60 mg": dmtpk.Inhalation("60 mg"),
}


def tour() -> Figure:
    """The tour's figure: three routes for the typical subject, and a population."""
    with warnings.catch_warnings():
        # the inhaled route is an assumption and the infusion an extrapolation: stated in the
        # figure's caption (docs/tour.md)
        warnings.simplefilter("ignore", ModelValidityWarning)
        model = dmtpk.load_model("eckernas2022_inhaled")
        times = np.linspace(0.0, 60.0, 481)
        typical = {k: dmtpk.simulate(model, r, times) for k, r in REGIMENS.items()}
        pop = dmtpk.simulate_population(model, REGIMENS["IV 16 mg + 1.4 mg/min x 30 min"],
                                        times, n=5000, seed=1)
    fig = Figure(figsize=(15.0, 4.2), layout="constrained")
    conc, eff, band = fig.subplots(1, 3)
    for label, r in typical.items():
        plot.concentration(r, ax=conc, log=True, label=label, effect_site=False)
        plot.effect(r, ax=eff, label=label, threshold=False)
    conc.set_ylim(0.5, 100)
    conc.set_title("plasma, typical subject (log scale)")
    eff.axhline(model.effects[0].threshold, color="0.5", lw=0.8, ls=":")
    eff.set_title("intensity rating, typical subject")
    plot.population_bands(pop, "intensity", ax=band, individuals=12)
    band.set_title("bolus + infusion: 5,000 subjects")
    fig.suptitle(f"dmtpk: DMT routes on {model.name} (inhaled absorption assumed, not fitted)")
    return fig


def main() -> int:
    FIGURES.mkdir(parents=True, exist_ok=True)
    out = FIGURES / "tour.png"
    tour().savefig(out, dpi=100, metadata={"Software": None})
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
