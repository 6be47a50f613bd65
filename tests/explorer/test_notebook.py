"""The explorer as a notebook widget: ``notebooks/06_dosing_explorer.ipynb`` executed in a fresh
kernel renders the widget (Panel's output, not a text repr) and its cells, which move the
controls from code, assert that the widget's numbers are the API's (``dmtpk.simulate``,
``dmtpk.simulate_population``); a failing assertion fails the execution."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "06_dosing_explorer.ipynb"


def test_widget_renders_and_agrees_with_the_api(run_notebook):
    pytest.importorskip("panel", reason='the explorer needs Panel: pip install "dmtpk[explore]"')
    book = run_notebook(NOTEBOOK)  # a failing assertion in a cell fails here
    widget_cell = next(c for c in book.cells if c.cell_type == "code"
                       and c.source.rstrip().endswith("app"))
    kinds = {k for out in widget_cell.outputs for k in out.get("data", {})}
    assert "application/vnd.holoviews_exec.v0+json" in kinds, kinds
    text = "".join(out.get("text", "") for c in book.cells if c.cell_type == "code"
                   for out in c.outputs)
    assert "widget Cmax" in text and "must not be negative" in text
