"""Shared helpers for the model-library tests: quiet loading and a fresh warning registry."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import dmtpk
from dmtpk.model.spec import ModelValidityWarning, reset_validity_warnings

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
MODEL_FILES = sorted(MODELS.glob("*.toml"))
#: ../shared beside the checkout; read in place, never copied into the project.
SHARED = ROOT.parent / "shared"
LITERATURE = SHARED / "literature" / "dmt_pkpd.md"


@pytest.fixture(autouse=True)
def fresh_validity_warnings():
    """Each test sees every validity warning again (they are issued once per process)."""
    reset_validity_warnings()
    yield
    reset_validity_warnings()


def load_quietly(name):
    """Load a shipped model without the validity warnings (tested on their own elsewhere)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelValidityWarning)
        return dmtpk.load_model(name)


def quietly(fn, *args, **kwargs):
    """Call ``fn`` with validity warnings silenced (for simulations outside the fitted range on
    purpose, e.g. the paper's 1 and 4 mg doses)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelValidityWarning)
        return fn(*args, **kwargs)
