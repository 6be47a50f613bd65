"""Sizes the command line cannot fit are refused before any allocation, and a huge number of
doses costs nothing when they fall after the end: each case runs in a subprocess under an
address-space limit (RLIMIT_AS) and a time limit."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import numpy as np
import pytest

import dmtpk
from dmtpk.cli import main
from dmtpk.scenario import (MAX_DOSES, MAX_KEEP_ALL_BYTES, MAX_SUMMARY_SUBJECTS, doses_needed,
                            load_scenario)

from .conftest import load, quiet, read_csv

#: Address space the child may use: a plain run needs under 600 MiB; 1e6 doses expanded up
#: front needed more than 600 MiB resident.
LIMIT = 1024 * 2**20
#: Seconds a case may take: a plain run takes about 1 s, the 1e6 doses took 13 s without
#: the limit; generous, as the machine may be shared.
SECONDS = 30.0

IV = ("eckernas2022", "--route", "iv", "--dose", "10 mg")


def _limited_run(*args, cwd):
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (LIMIT, LIMIT))
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="2")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dmtpk", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120, preexec_fn=limit)
    return proc, time.perf_counter() - start


RUNS = {
    "simulate, 1e6 doses after the end": ("simulate", *IV, "--every", "10 min", "--times",
                                          1_000_000),
    "simulate, 1e12 doses after the end": ("simulate", *IV, "--every", "10 min", "--times",
                                           10**12, "--out", "r.csv"),
    "population, 1e6 doses after the end": ("population", *IV, "--n", 200, "--seed", 1,
                                            "--every", "10 min", "--times", 1_000_000),
    "infusion with loading bolus, 1e9 doses": ("simulate", "eckernas2022", "--route",
                                               "infusion", "--rate", "1 mg/min", "--duration",
                                               "5 min", "--bolus", "2 mg", "--every",
                                               "10 min", "--times", 10**9),
}

REFUSED = {
    "1e6 doses before the end": (("simulate", *IV, "--every", "0.001 min", "--times",
                                  1_000_000), "--times"),
    "keep all of 1e7 subjects": (("population", *IV, "--n", 10**7, "--seed", 1, "--keep",
                                  "all"), "--keep"),
    "keep all of 1e5 subjects on 1e6 times": (("population", *IV, "--n", 10**5, "--seed", 1,
                                               "--keep", "all", "--until", "1000 min",
                                               "--step", "0.001 min"), "--keep"),
    "summary of 1e12 subjects": (("population", *IV, "--n", 10**12, "--seed", 1), "--n"),
    "summary of 2**63 subjects": (("population", *IV, "--n", 2**63, "--seed", 1), "--n"),
}


@pytest.mark.parametrize("argv", list(RUNS.values()), ids=list(RUNS))
def test_huge_times_after_the_end_run_quickly_in_bounded_memory(argv, tmp_path):
    proc, seconds = _limited_run(*argv, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert seconds < SECONDS, seconds


@pytest.mark.parametrize("argv,option", list(REFUSED.values()), ids=list(REFUSED))
def test_sizes_that_cannot_fit_are_refused_in_one_line(argv, option, tmp_path):
    proc, seconds = _limited_run(*argv, "--out", "out.csv", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dmtpk: error: {option}: "), proc.stderr
    assert seconds < SECONDS, seconds
    assert list(tmp_path.iterdir()) == []


def test_the_stated_limits_are_in_the_messages(capsys):
    main(["population", *IV, "--n", str(MAX_SUMMARY_SUBJECTS + 1), "--seed", "1"])
    assert f"at most {MAX_SUMMARY_SUBJECTS:,}" in capsys.readouterr().err
    main(["population", *IV, "--n", "10000000", "--seed", "1", "--keep", "all"])
    assert f"at most {MAX_KEEP_ALL_BYTES / 2**30:g} GiB" in capsys.readouterr().err
    main(["simulate", *IV, "--every", "0.001 min", "--times", "1000000"])
    assert f"at most {MAX_DOSES:,}" in capsys.readouterr().err


def test_scenario_file_with_a_huge_times_runs_quickly(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text("[scenario]\nmodel = 'eckernas2022'\n[[regimens]]\nlabel = 'daily'\n"
                    "events = [{ type = 'bolus', dose = '10 mg', every = '10 min', "
                    "times = 1000000000 }]\n[outputs]\ncurves = 'c.csv'\n")
    proc, seconds = _limited_run("run", path, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert seconds < SECONDS
    sc = load_scenario(path)
    assert len(sc.arms[0].regimen.events) == doses_needed(0.0, 10.0, 10**9, 60.0) == 8


@pytest.mark.parametrize("every,times", [("0.01 min", 1_000_000), ("1e-300 min", 2**63 - 1)])
def test_scenario_file_with_too_many_doses_names_the_file_and_regimen(tmp_path, capsys, every,
                                                                      times):
    path = tmp_path / "s.toml"
    path.write_text("[scenario]\nmodel = 'eckernas2022'\nuntil = '1000 min'\nstep = '1 min'\n"
                    "[[regimens]]\nevents = [{ type = 'bolus', dose = '10 mg', "
                    f"every = '{every}', times = {times} }}]\n")
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"dmtpk: error: {path}: [regimens[1].events[1].times] ")
    assert f"at most {MAX_DOSES:,}" in err and err.count("\n") == 1


# -- the doses left out change nothing ----------------------------------------------------------

@pytest.mark.parametrize("every,at,until", [("10 min", "0 min", "60 min"),
                                             ("7 min", "3 min", "60 min"),
                                             ("15 min", "0 min", "45 min"),  # a dose at the end
                                             ("1 min", "59.5 min", "60 min")])
def test_simulated_doses_give_the_outputs_of_the_whole_regimen(tmp_path, every, at, until):
    """The command line's curves with 50 doses asked for equal the Python API's with all 50
    doses built (the API is the independent reference: it expands every dose)."""
    out = tmp_path / "r.csv"
    code = quiet(main, ["simulate", *IV, "--every", every, "--times", "50", "--at", at,
                        "--until", until, "--out", str(out)])
    assert code == 0
    model = load("eckernas2022")
    times = np.arange(0.0, float(until.split()[0]) + 0.125, 0.25)
    full = quiet(dmtpk.simulate, model, dmtpk.Bolus("10 mg", at=at).every(every, times=50),
                 times)
    header, rows = read_csv(out)
    data = np.array(rows, dtype=float)
    np.testing.assert_array_equal(data[:, 0], times)
    np.testing.assert_allclose(data[:, 1], full.concentration, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data[:, -1], full.effect, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("first,interval,times,end,expected", [
    (0.0, 10.0, 10**12, 60.0, 8), (0.0, 10.0, 3, 60.0, 3), (61.0, 1.0, 100, 60.0, 1),
    (0.0, 0.1, 10**6, 60.0, 602), (59.999, 1.0, 5, 60.0, 2), (0.0, 60.0, 2, 60.0, 2)])
def test_doses_needed(first, interval, times, end, expected):
    # the count of k >= 0 with first + k * interval <= end, plus one, at most times
    by_hand = min(times, sum(1 for k in range(10**4) if first + k * interval <= end) + 1) \
        if first <= end else 1
    assert doses_needed(first, interval, times, end) == expected == by_hand
