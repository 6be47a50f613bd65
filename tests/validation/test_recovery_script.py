"""``validation/schoemaker_recovery.py`` on the quick files: it runs, prints each estimate over
its design value, and for Oral_2CPT's omega(Q) (0.161, outside 30 % of 0.09: see
``test_fit_recovery.py``) the profile-likelihood check, with exit status 0."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from test_schoemaker_truth import CORPUS

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not (CORPUS / "Bolus_2CPTMM.csv").exists(),
    reason=f"Schoemaker 2019 datasets not found at {CORPUS}")


def script():
    spec = importlib.util.spec_from_file_location(
        "schoemaker_recovery", ROOT / "validation" / "schoemaker_recovery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_recovery_script_checks_the_criteria(capsys):
    mod = script()
    assert "Bolus_2CPT" not in mod.FILES and len(mod.FILES) == 11
    assert mod.main(["--corpus", str(CORPUS), "--files", "Bolus_1CPT", "Oral_2CPT"]) == 0
    out = capsys.readouterr().out
    assert out.count("estimate / design") == 2
    assert "omega(Q) 0.161 is outside 30 % of 0.09" in out
    assert "inside the 95 % profile-likelihood interval" in out
    assert out.rstrip().endswith("criteria met")
