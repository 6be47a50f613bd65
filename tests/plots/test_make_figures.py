"""The documentation's figure script builds its figure from the package (three panels, with
the expected curves and band) and renders it."""

from __future__ import annotations

import io
import runpy
from pathlib import Path

from matplotlib.collections import PolyCollection

ROOT = Path(__file__).resolve().parents[2]


def test_tour_figure_renders_with_its_panels():
    script = runpy.run_path(str(ROOT / "scripts" / "make_figures.py"))  # not run as __main__
    fig = script["tour"]()
    conc, eff, band = fig.axes
    assert conc.get_yscale() == "log" and len(conc.get_lines()) == 3
    assert [t.get_text() for t in conc.get_legend().get_texts()] == list(script["REGIMENS"])
    assert eff.get_ylabel() == "intensity [rating 0-10]"
    assert sum(isinstance(c, PolyCollection) for c in band.collections) == 1
    assert len(band.get_lines()) == 1 + 12 + 1  # median, individuals, threshold
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
