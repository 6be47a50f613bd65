"""Shared test configuration: hypothesis profiles and paths to the reference corpora."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
#: ../shared beside the project checkout (reference data, never copied into the project).
SHARED = ROOT.parent / "shared"


@pytest.fixture
def run_notebook(tmp_path, monkeypatch):
    """``run_notebook(path)``: the notebook executed in a fresh kernel of this interpreter, in
    a temporary working folder, returned with its outputs; a cell that raises raises
    CellExecutionError, naming the cell. Skips when nbformat, nbclient or ipykernel is
    missing."""
    nbformat = pytest.importorskip("nbformat", reason="notebook tests need nbformat")
    nbclient = pytest.importorskip("nbclient", reason="notebook tests need nbclient + ipykernel")
    pytest.importorskip("ipykernel", reason="notebook tests need ipykernel")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")

    def run(path):
        book = nbformat.read(path, as_version=4)
        nbclient.NotebookClient(book, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}}).execute()
        return book
    return run
