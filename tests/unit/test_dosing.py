"""Dose resolution has one home, :mod:`dmtpk._kernels.dosing`.

Reference: the NONMEM rules worked by hand (F scales the amount; a data rate fixes the rate,
so the duration is amount / rate; RATE = -1 / -2 take the model's rate / duration), with
numbers chosen so that every product and quotient is exact in binary floating point. The
compiled twins are checked against the pure functions, and the kernel modules' source against
resolving a dose themselves.
"""

from __future__ import annotations

import ast
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dmtpk
from dmtpk._kernels import dosing
from dmtpk._kernels.dosing import (DOSE_BAD_F, DOSE_BAD_LAG, DOSE_BAD_RATE, DOSE_NO_MODEL_DURATION,
                                   DOSE_NO_MODEL_RATE, DOSE_OK, resolve_dose, table_record)

KERNELS = Path(dmtpk.__file__).resolve().parent / "_kernels"
NAN = math.nan

# (amt, rate, f, lag, mrate, mdur, scale) -> (status, amount, rate, duration, lag)
CASES = [
    ((10.0, 0.0, 0.5, 0.0, NAN, NAN, 1.0), (DOSE_OK, 5.0, 0.0, 0.0, 0.0)),          # bolus
    ((10.0, 2.0, 0.5, 1.5, NAN, NAN, 1.0), (DOSE_OK, 5.0, 2.0, 2.5, 1.5)),          # rate
    ((10.0, -1.0, 0.5, 0.0, 4.0, NAN, 1.0), (DOSE_OK, 5.0, 4.0, 1.25, 0.0)),        # R model
    ((10.0, -2.0, 0.5, 0.0, NAN, 2.0, 1.0), (DOSE_OK, 5.0, 2.5, 2.0, 0.0)),         # D model
    ((0.25, 0.0, 0.5, 0.0, NAN, NAN, 64.0), (DOSE_OK, 8.0, 0.0, 0.0, 0.0)),         # per kg
    ((0.25, 0.125, 1.0, 0.0, NAN, NAN, 64.0), (DOSE_OK, 16.0, 8.0, 2.0, 0.0)),      # per kg
    ((10.0, 0.0, 0.0, 0.0, NAN, NAN, 1.0), (DOSE_OK, 0.0, 0.0, 0.0, 0.0)),          # F = 0
]
BAD = [
    ((10.0, 0.0, -0.1, 0.0, NAN, NAN, 1.0), DOSE_BAD_F),
    ((10.0, 0.0, NAN, 0.0, NAN, NAN, 1.0), DOSE_BAD_F),
    ((10.0, 0.0, 1.0, -1.0, NAN, NAN, 1.0), DOSE_BAD_LAG),
    ((10.0, 0.0, 1.0, math.inf, NAN, NAN, 1.0), DOSE_BAD_LAG),
    ((10.0, -1.0, 1.0, 0.0, NAN, NAN, 1.0), DOSE_NO_MODEL_RATE),
    ((10.0, -1.0, 1.0, 0.0, 0.0, NAN, 1.0), DOSE_NO_MODEL_RATE),
    ((10.0, -2.0, 1.0, 0.0, NAN, -3.0, 1.0), DOSE_NO_MODEL_DURATION),
    ((10.0, -3.0, 1.0, 0.0, NAN, NAN, 1.0), DOSE_BAD_RATE),
]


@pytest.mark.parametrize("args, want", CASES)
def test_resolved_doses_follow_the_rules(args, want):
    assert resolve_dose(*args) == want


@pytest.mark.parametrize("args, status", BAD)
def test_undefined_doses_have_a_status(args, status):
    assert resolve_dose(*args)[0] == status


def test_event_table_records():
    """An event-table infusion keeps its duration (F scales the rate); NaN F and lag are the
    model's inhaled values for an inhaled record, 1 and 0 for an IV one."""
    # amt 12 mg over 4 min into the depot, F_INH 0.5, lag 0.75 min.
    got = resolve_dose(*table_record(12.0, 3.0, 4.0, 1, NAN, NAN, False, 0.5, 0.75, 70.0))
    assert got == (DOSE_OK, 6.0, 1.5, 4.0, 0.75)
    got = resolve_dose(*table_record(12.0, 0.0, 0.0, 0, NAN, NAN, False, 0.5, 0.75, 70.0))
    assert got == (DOSE_OK, 12.0, 0.0, 0.0, 0.0)
    # Per kg: 0.25 mg/kg for 64 kg; a record's own F overrides the model's.
    got = resolve_dose(*table_record(0.25, 0.0, 0.0, 1, 0.25, NAN, True, 0.5, 0.0, 64.0))
    assert got == (DOSE_OK, 4.0, 0.0, 0.0, 0.0)


def test_compiled_twins_equal_the_pure_functions():
    from dmtpk._kernels import jitted
    for args, _ in CASES + BAD:
        assert jitted.resolve_dose(*args) == resolve_dose(*args)
    rec = (12.0, 3.0, 4.0, 1, NAN, NAN, True, 0.5, 0.75, 70.0)
    got, want = jitted.table_record(*rec), table_record(*rec)
    assert [g for g in got if g == g] == [w for w in want if w == w]  # NaN-free entries


def test_dosing_imports_no_numba():
    code = "import dmtpk._kernels.dosing, sys; print('numba' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": str(KERNELS.parents[1])})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False"]


#: Per-record dosing values; in a kernel they may only be read as arguments of the resolution.
DOSING_ARRAYS = {"ev_f", "ev_lag", "ev_perkg", "mrate", "mdur"}


def test_no_kernel_resolves_a_dose_itself():
    """Outside ``dosing.py``, every read of a record's F, lag, per-kg flag or modelled
    rate/duration is an argument of ``table_record`` or ``resolve_dose``."""
    for path in sorted(KERNELS.glob("*.py")):
        if path.name in ("dosing.py", "__init__.py"):
            continue
        tree = ast.parse(path.read_text())
        allowed = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("table_record", "resolve_dose"):
                allowed |= {id(a) for a in node.args}
        for node in ast.walk(tree):
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) \
                    and node.value.id in DOSING_ARRAYS:
                assert id(node) in allowed, f"{path.name}:{node.lineno} reads {node.value.id}"
        assert "record_values" not in path.read_text(), path.name
    assert set(dosing.__all__) >= {"resolve_dose", "table_record"}
