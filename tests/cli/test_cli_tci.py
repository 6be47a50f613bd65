"""``dmtpk tci``: the CSV's schedule is the Python API's (same call, written with full
precision), the limit warning and bad options are one line on stderr naming the option."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from dmtpk.tci import tci

from .conftest import load, quiet, run_cli


def _csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], np.array(rows[1:], dtype=float)


def test_effect_site_schedule_equals_the_api(tmp_path):
    out, fig = tmp_path / "schedule.csv", tmp_path / "schedule.png"
    r = run_cli("tci", "eckernas2022", "--target", "20 ng/mL", "--site", "effect", "--until",
                "20 min", "--out", out, "--plot", fig)
    assert r.returncode == 0, r.stderr
    assert "effect targeting of the typical subject, 120 updates every 10 s" in r.stdout
    header, data = _csv(out)
    assert header[:3] == ["time_min", "rate_mg_per_min", "bolus_mg"]
    api = quiet(tci, load("eckernas2022"), "20 ng/mL", "20 min", site="effect")
    assert np.array_equal(data[:, 0], api.time)
    assert np.array_equal(data[:, 1], api.rate)          # repr round-trips exactly
    assert fig.stat().st_size > 0
    again = run_cli("tci", "eckernas2022", "--target", "20 ng/mL", "--until", "20 min",
                    "--out", out)
    assert again.returncode == 2 and "--out" in again.stderr    # exists, no --force


def test_population_and_effect_level_options(tmp_path):
    out = tmp_path / "pop.csv"
    r = run_cli("tci", "eckernas2022", "--endpoint", "intensity", "--target", "6", "--until",
                "5 min", "--n", "50", "--seed", "2", "--quantile", "0.9", "--out", out)
    assert r.returncode == 0, r.stderr
    api = quiet(tci, load("eckernas2022"), 6, "5 min", effect=True, endpoint="intensity",
                n=50, seed=2, quantile=0.9)
    assert np.array_equal(_csv(out)[1][:, 1], api.rate)


def test_limit_warning_names_the_option():
    r = run_cli("tci", "eckernas2022", "--target", "20 ng/mL", "--until", "2 min",
                "--max-rate", "5 mg/min")
    assert r.returncode == 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dmtpk: warning: --max-rate: the plasma "
                                                   "target cannot be reached")


@pytest.mark.parametrize("args, option", [
    (["--target", "20 mg", "--until", "5 min"], "--target"),
    (["--target", "20 ng/mL", "--until", "0 min"], "--until"),
    (["--target", "20 ng/mL", "--until", "5 min", "--interval", "-1 s"], "--interval"),
    (["--target", "20 ng/mL", "--until", "5 min", "--max-rate", "0 mg/min"], "--max-rate"),
    (["--target", "20 ng/mL", "--until", "5 min", "--max-rate", "1 mg/min",
      "--max-bolus", "1 L"], "--max-bolus"),
    (["--target", "20 ng/mL", "--until", "5 min", "--max-bolus", "1 mg"],
     "--max-bolus: is the bolus beyond the pump limit: give --max-rate"),
    (["--endpoint", "intensity", "--target", "12", "--until", "5 min"], "--target"),
    (["--endpoint", "nope", "--target", "5", "--until", "5 min"], "--endpoint"),
    (["--target", "20 ng/mL", "--until", "5 min", "--quantile", "0.5"], "--quantile"),
    (["--target", "20 ng/mL", "--until", "5 min", "--n", "50", "--quantile", "2"],
     "--quantile"),
    (["--target", "20 ng/mL", "--until", "5 min", "--n", "1"], "--n"),
    (["--target", "20 ng/mL", "--until", "5 min", "--out", "x.txt"], "--out"),
    (["--target", "20 ng/mL", "--until", "5 min", "--site", "brain"], "--site"),
])
def test_bad_options_exit_2_with_one_line(args, option, tmp_path):
    r = run_cli("tci", "eckernas2022", *args, cwd=tmp_path)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0], r.stderr
    assert "Traceback" not in r.stderr
