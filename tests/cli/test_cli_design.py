"""``dmtpk design``: the designed regimen as a table, a scenario file that ``dmtpk run`` runs
with it, and mistakes as one line naming the option, exit code 2."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import dmtpk
from dmtpk.cli import main
from dmtpk.scenario import load_scenario, run_scenario

ARGS = ["design", "eckernas2022", "--window", "6,8", "--for", "20 min", "--fix",
        "duration=25 min", "--bound", "bolus=0 mg:30 mg", "--bound", "rate=0:3"]


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return dmtpk.load_model("eckernas2022")


def _run(argv):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dmtpk.model.sections.ModelValidityWarning)
        return main(argv)


def test_typical_design_table_and_scenario_file(tmp_path, capsys, model):
    """The scenario file holds the designed regimen exactly (every digit): simulated
    independently on a 0.01-min grid it keeps intensity in 6-8 over 5-25 min (1e-3, the
    design's 0.1-min grid), and ``dmtpk run`` runs it."""
    out, png = tmp_path / "design.toml", tmp_path / "design.png"
    assert _run(ARGS + ["--out", str(out), "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "design on eckernas2022: intensity in [6, 8] over 5-25 min" in text
    assert "bolus" in text and "rate" in text and "total dose" in text
    assert png.stat().st_size > 0
    sc = load_scenario(out)
    assert [a.label for a in sc.arms] == ["designed"] and sc.n is None
    reg = sc.arms[0].regimen
    assert [type(e).__name__ for e in reg.events] == ["Bolus", "Infusion"]
    assert reg.events[1].duration == 25.0
    t = np.arange(5.0, 25.0 + 1e-9, 0.01)
    e = dmtpk.simulate(model, reg, t).effects["intensity"]
    assert np.all((e >= 6 - 1e-3) & (e <= 8 + 1e-3))
    from dmtpk.design import design
    direct = design(model, (6, 8), ("5 min", "25 min"), fixed={"duration": 25},
                    bounds={"bolus": ("0 mg", "30 mg"), "rate": (0, 3)})
    assert reg.events[0].dose == direct.values["bolus"]
    assert reg.events[1].rate == direct.values["rate"]
    assert _run(["run", str(out)]) == 0
    assert "regimen: designed" in capsys.readouterr().out


def test_population_design_writes_a_population_scenario(tmp_path, capsys):
    out = tmp_path / "pop.toml"
    argv = ARGS + ["--population", "200", "--share", "0.2", "--seed", "3", "--out", str(out)]
    assert _run(argv) == 0
    text = capsys.readouterr().out
    assert "share inside (fresh population)" in text and "95 % CI" in text
    sc = load_scenario(out)
    assert (sc.n, sc.seed) == (800, 4)          # the fresh population: 4 x 200, seed + 1
    assert "of a fresh population inside" in sc.description
    res = run_scenario(sc, progress=False)
    assert res.is_population and list(res.runs) == ["designed"]
    # That population's share inside 6-8 over 5-25 min is the reported one.
    t = np.arange(0.0, 25.0 + 0.05, 0.1)
    pop = dmtpk.simulate_population(res.model, sc.arms[0].regimen, t, n=800, seed=4)
    e = pop.effects["intensity"][:, t >= 5 - 1e-9]
    share = np.mean(np.all((e >= 6) & (e <= 8), axis=1))
    assert f"{share:.1%} of a fresh population inside" in sc.description
    # An existing output is kept without --force.
    assert _run(argv) == 2
    assert "--out" in capsys.readouterr().err


@pytest.mark.parametrize("extra, option", [
    (["--window", "8,6"], "--window"),
    (["--window", "6"], "--window"),
    (["--share", "0.5"], "--share"),
    (["--bound", "bolus=3"], "--bound"),
    (["--bound", "speed=0:1"], "--bound speed"),
    (["--fix", "rate=2 mg/min", "--max-rate", "1 mg/min"], "--max-rate"),
    (["--max-dose", "5 mg", "--bound", "bolus=10:20"], "--max-dose"),
    (["--above", "9"], "--above"),
    (["--for", "-3 min"], "--for"),
    (["--out", "x.csv"], "--out"),
])
def test_mistakes_name_the_option(extra, option, capsys):
    argv = ["design", "eckernas2022", "--window", "6,8", "--for", "20 min"]
    for k in range(0, len(extra), 2):
        if extra[k] in argv:
            argv[argv.index(extra[k]) + 1] = extra[k + 1]
        else:
            argv += extra[k:k + 2]
    assert _run(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"error: {option}" in err[0], err
