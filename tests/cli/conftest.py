"""Helpers for the command-line tests: run ``dmtpk`` in a subprocess, load models quietly."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import dmtpk
from dmtpk.model.spec import ModelValidityWarning

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, cwd=None, timeout=300):
    """``python -m dmtpk ARGS`` in a subprocess (the installed console script's code path)."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "dmtpk", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def quiet(fn, *args, **kwargs):
    """Call the Python API with the model-validity warnings silenced: the reference runs
    simulate an unfitted route (inhaled) or an administration outside the fitted data
    (infusion) on purpose, exactly as the command line does; the command line reports those
    warnings itself, which the tests check on its stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ModelValidityWarning)
        return fn(*args, **kwargs)


def load(name):
    return quiet(dmtpk.load_model, name)


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def parse_table(stdout: str, header_start: str = "metric") -> dict:
    """The printed metric table as {label: [cells]} (cells split on two or more spaces)."""
    out, inside = {}, False
    for line in stdout.splitlines():
        if line.startswith(header_start):
            inside = True
            continue
        elif inside and (not line.strip() or line.startswith(("regimen:", "written:"))):
            inside = False
        elif inside:
            cells = re.split(r"\s{2,}", line.strip())
            out[cells[0]] = cells[1:]
    return out


@pytest.fixture
def workdir(tmp_path):
    return tmp_path
