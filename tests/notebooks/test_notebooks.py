"""Every teaching notebook in notebooks/ runs top to bottom: a cell that raises fails the test.

Executed with nbclient in a fresh kernel of this interpreter, in a temporary working folder
(anything a notebook writes stays there). The notebooks are stored without outputs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
#: Budget per notebook (s): the run must stay short enough for the test suite.
BUDGET = 120


def test_there_are_at_least_four_notebooks():
    assert len(NOTEBOOKS) >= 4, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_without_outputs(path):
    book = json.loads(path.read_text(encoding="utf-8"))
    for cell in book["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, run_notebook):
    start = time.perf_counter()
    book = run_notebook(path)
    elapsed = time.perf_counter() - start
    assert elapsed < BUDGET, f"{path.name} took {elapsed:.0f} s"
    images = sum("image/png" in out.get("data", {}) for cell in book.cells
                 if cell.cell_type == "code" for out in cell.get("outputs", []))
    assert images >= 3, f"{path.name} showed {images} figures"
