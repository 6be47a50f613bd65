"""User mistakes: one line on stderr, exit code 2, no traceback, nothing written.

Most cases call ``dmtpk.cli.main`` in-process (fast; an uncaught exception would fail the test
with its traceback); a few run the real console entry in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from dmtpk.cli import main
from dmtpk.scenario import write_atomic

from .conftest import run_cli

SIM = ("simulate", "eckernas2022", "--route", "iv", "--dose", "10 mg")
POP = ("population", "eckernas2022", "--route", "iv", "--dose", "10 mg", "--n", "50",
       "--seed", "1")

MISTAKES = {
    "no command": (),
    "unknown command": ("fly",),
    "models show without a name": ("models", "show"),
    "models show unknown model": ("models", "show", "nosuchmodel"),
    "simulate without a model": ("simulate", "--route", "iv", "--dose", "10 mg"),
    "unknown model": ("simulate", "nosuchmodel", "--route", "iv", "--dose", "10 mg"),
    "unknown route": ("simulate", "eckernas2022", "--route", "oral", "--dose", "10 mg"),
    "route the model lacks": ("simulate", "eckernas2022", "--route", "inhaled", "--dose", "10"),
    "missing dose": ("simulate", "eckernas2022", "--route", "iv"),
    "dose in a wrong unit": ("simulate", "eckernas2022", "--route", "iv", "--dose", "20 L"),
    "unknown unit": ("simulate", "eckernas2022", "--route", "iv", "--dose", "20 zorkmids"),
    "negative dose": ("simulate", "eckernas2022", "--route", "iv", "--dose", "-5 mg"),
    "unknown salt": SIM + ("--salt", "sulfate"),
    "rate with a bolus": SIM + ("--rate", "1 mg/min"),
    "infusion with one of three": ("simulate", "eckernas2022", "--route", "infusion", "--rate",
                                   "1 mg/min"),
    "zero infusion duration": ("simulate", "eckernas2022", "--route", "infusion", "--rate",
                               "1 mg/min", "--duration", "0 min"),
    "every without times": SIM + ("--every", "10 min"),
    "zero interval": SIM + ("--every", "0 min", "--times", "2"),
    "negative loading bolus": ("simulate", "eckernas2022", "--route", "infusion", "--rate",
                               "1 mg/min", "--duration", "3 min", "--bolus", "-1 mg"),
    "negative dose time": SIM + ("--at", "-1 min"),
    "until not a time": SIM + ("--until", "10 mg"),
    "until not a whole number of steps": SIM + ("--until", "10.1 min"),
    "negative step": SIM + ("--step", "-1 min"),
    "threshold for an unknown endpoint": SIM + ("--threshold", "mood=3"),
    "threshold not a number": SIM + ("--threshold", "high"),
    "output folder missing": SIM + ("--out", "no/such/folder/r.csv"),
    "output not csv": SIM + ("--out", "r.txt"),
    "plot not an image": SIM + ("--plot", "r.csv"),
    "same file twice": SIM + ("--out", "r.csv", "--plot", "r.csv"),
    "population without n": ("population", "eckernas2022", "--route", "iv", "--dose", "10 mg",
                             "--seed", "1"),
    "population n zero": POP[:-4] + ("--n", "0", "--seed", "1"),
    "population n not a number": POP[:-4] + ("--n", "many", "--seed", "1"),
    "negative seed": POP[:-2] + ("--seed", "-1"),
    "unknown backend": POP + ("--backend", "spark"),
    "scheduler without dask": POP + ("--scheduler", "tcp://127.0.0.1:1"),
    "individuals without keep all": POP + ("--individuals", "5"),
    "run a missing file": ("run", "no-such-scenario.toml"),
}


@pytest.mark.parametrize("argv", list(MISTAKES.values()), ids=list(MISTAKES))
def test_user_mistake_is_one_line_and_exit_code_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("dmtpk"), err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing written, no temp file


SCENARIOS = {
    "invalid toml": "[scenario\nmodel = 1",
    "no scenario table": "[[regimens]]\nevents = [{ type = 'bolus', dose = '1 mg' }]\n",
    "unknown table": "[scenario]\nmodel = 'eckernas2022'\n[extras]\na = 1\n",
    "unknown key": "[scenario]\nmodel = 'eckernas2022'\ncolour = 'red'\n",
    "no regimens": "[scenario]\nmodel = 'eckernas2022'\n",
    "unknown model": "[scenario]\nmodel = 'nosuch'\n[[regimens]]\n"
                     "events = [{ type = 'bolus', dose = '1 mg' }]\n",
    "unknown event type": "[scenario]\nmodel = 'eckernas2022'\n[[regimens]]\n"
                          "events = [{ type = 'pill', dose = '1 mg' }]\n",
    "bolus without dose": "[scenario]\nmodel = 'eckernas2022'\n[[regimens]]\n"
                          "events = [{ type = 'bolus' }]\n",
    "unknown event key": "[scenario]\nmodel = 'eckernas2022'\n[[regimens]]\n"
                         "events = [{ type = 'bolus', dose = '1 mg', speed = 2 }]\n",
    "dose in a wrong unit": "[scenario]\nmodel = 'eckernas2022'\n[[regimens]]\n"
                            "events = [{ type = 'bolus', dose = '1 L' }]\n",
    "duplicate labels": "[scenario]\nmodel = 'eckernas2022'\n"
                        "[[regimens]]\nlabel = 'a'\nevents = [{ type = 'bolus', dose = 1 }]\n"
                        "[[regimens]]\nlabel = 'a'\nevents = [{ type = 'bolus', dose = 2 }]\n",
    "route the model lacks": "[scenario]\nmodel = 'eckernas2022'\n[[regimens]]\n"
                             "events = [{ type = 'inhalation', dose = '60 mg' }]\n",
    "population without seed": "[scenario]\nmodel = 'eckernas2022'\n[population]\nn = 10\n"
                               "[[regimens]]\nevents = [{ type = 'bolus', dose = 1 }]\n",
    "population n not whole": "[scenario]\nmodel = 'eckernas2022'\n[population]\nn = 1.5\n"
                              "seed = 1\n[[regimens]]\nevents = [{ type = 'bolus', dose = 1 }]\n",
    "bad percentiles": "[scenario]\nmodel = 'eckernas2022'\n[population]\nn = 10\nseed = 1\n"
                       "percentiles = [50, 5, 95]\n"
                       "[[regimens]]\nevents = [{ type = 'bolus', dose = 1 }]\n",
    "threshold unknown endpoint": "[scenario]\nmodel = 'eckernas2022'\nthresholds = { mood = 3 }"
                                  "\n[[regimens]]\nevents = [{ type = 'bolus', dose = 1 }]\n",
    "output not csv": "[scenario]\nmodel = 'eckernas2022'\n[[regimens]]\n"
                      "events = [{ type = 'bolus', dose = 1 }]\n[outputs]\nmetrics = 'm.txt'\n",
    "output folder missing": "[scenario]\nmodel = 'eckernas2022'\n[[regimens]]\n"
                             "events = [{ type = 'bolus', dose = 1 }]\n[outputs]\n"
                             "metrics = 'nowhere/m.csv'\n",
}


@pytest.mark.parametrize("text", list(SCENARIOS.values()), ids=list(SCENARIOS))
def test_scenario_mistake_is_one_line_naming_the_file(text, capsys, tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code = main(["run", str(path)])
    _, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dmtpk: error: "), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]


def test_messages_name_the_command_line_option(capsys):
    assert main(list(MISTAKES["dose in a wrong unit"])) == 2
    assert capsys.readouterr().err.startswith("dmtpk: error: --dose: got '20 L'")
    assert main(list(MISTAKES["zero infusion duration"])) == 2
    assert capsys.readouterr().err.startswith("dmtpk: error: --duration: must be positive")


def test_mistakes_in_a_real_process_have_no_traceback(tmp_path):
    for argv in (MISTAKES["dose in a wrong unit"], MISTAKES["unknown route"],
                 MISTAKES["output folder missing"]):
        proc = run_cli(*argv, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr


def test_help_exits_zero(capsys):
    assert main(["--help"]) == 0
    assert "simulate" in capsys.readouterr().out


# -- atomic writes ------------------------------------------------------------------------------

def test_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    target = tmp_path / "out.csv"

    def half_then_fail(tmp):
        with open(tmp, "w") as fh:
            fh.write("time [min],Cp [ng/mL]\n0,")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, half_then_fail)
    assert list(tmp_path.iterdir()) == []


def test_failed_overwrite_keeps_the_old_file(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old\n")

    def fail(tmp):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, fail, force=True)
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def _start_long_run(tmp_path):
    """A population run of about a minute, writing three outputs at the end."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dmtpk", "population", "eckernas2022", "--route", "iv", "--dose",
         "10 mg", "--n", "2000000", "--seed", "1", "--out", "summary.csv", "--bands",
         "bands.csv", "--plot", "bands.png"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # printed once the inputs are checked, before simulating
    while line and not line.startswith("times:"):
        line = proc.stdout.readline()
    if not line.startswith("times:"):
        _, err = proc.communicate(timeout=30)
        pytest.fail(f"the run did not start: {err}")
    time.sleep(1.0)
    if proc.poll() is not None:
        proc.communicate(timeout=30)
        pytest.fail("the run finished before it could be interrupted")
    return proc


@pytest.mark.slow
def test_run_killed_mid_way_leaves_no_output_file(tmp_path):
    proc = _start_long_run(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # also closes the pipes
    assert proc.returncode == -signal.SIGKILL
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_run_terminated_mid_way_exits_130_and_leaves_nothing(tmp_path):
    proc = _start_long_run(tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1].startswith("dmtpk: interrupted")
    assert list(tmp_path.iterdir()) == []
