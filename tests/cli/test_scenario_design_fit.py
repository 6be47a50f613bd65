"""Scenario files with a design problem (``[design]``) and a fit step (``[fit]``): what they
run is checked against the same API calls made directly and against independent numbers (the
designed regimen re-simulated on a finer grid; the fit against the values the data were
simulated from), and every mistake names the file and the key."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest

import dmtpk
from dmtpk.cli import main
from dmtpk.scenario import ScenarioError, load_scenario, run_scenario

DESIGN = """\
[scenario]
model = "eckernas2022"
until = "30 min"

[design]
window = [6, 8]
for = "20 min"
fixed = { duration = "25 min" }
bounds = { bolus = ["0 mg", "30 mg"], rate = ["0 mg/min", "3 mg/min"] }
{extra}
[outputs]
design = "design.csv"
metrics = "metrics.csv"
"""

MODEL = """\
[model]
name = "one_cpt"
routes = ["iv"]
structure = "one_compartment"
elimination = "linear"

[parameters]
CL = "5 L/h"
V1 = "60 L"

[variability]
omega = { CL = 0.2, V1 = 0.2 }

[residual]
exponential = 0.2
"""

FIT = """\
[scenario]
model = "m.toml"

[fit]
data = "d.csv"
time_unit = "h"
estimate = ["CL", "V1"]
omega = ["CL", "V1"]

[outputs]
fitted_model = "fitted.toml"
"""


def _quiet(f, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dmtpk.model.sections.ModelValidityWarning)
        return f(*args, **kwargs)


def _write(tmp_path, text, name="s.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_design_scenario_runs_the_design_and_the_designed_regimen(tmp_path, capsys):
    """The [design] table gives the regimen design() gives for the same arguments; the
    scenario simulates it (label "designed") and writes its parameters; re-simulated on a
    0.01-min grid it keeps intensity in 6-8 over 5-25 min (1e-3: the design's 0.1-min
    grid)."""
    path = _write(tmp_path, DESIGN.replace("{extra}", ""))
    assert _quiet(main, ["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "regimen: designed" in out and "design: " in out
    with open(tmp_path / "design.csv", newline="") as fh:
        rows = {r["parameter"]: r["value"] for r in csv.DictReader(fh)}
    model = _quiet(dmtpk.load_model, "eckernas2022")
    direct = _quiet(dmtpk.design, model, (6, 8), ("5 min", "25 min"),
                    fixed={"duration": "25 min"},
                    bounds={"bolus": ("0 mg", "30 mg"), "rate": ("0 mg/min", "3 mg/min")})
    assert float(rows["bolus"]) == direct.values["bolus"]
    assert float(rows["rate"]) == direct.values["rate"]
    assert rows["share_fresh_population"] == ""          # typical subject: no population
    t = np.arange(5.0, 25.0 + 1e-9, 0.01)
    e = dmtpk.simulate(model, direct.regimen, t).effects["intensity"]
    assert np.all((e >= 6 - 1e-3) & (e <= 8 + 1e-3))
    with open(tmp_path / "metrics.csv", newline="") as fh:
        assert {r["regimen"] for r in csv.DictReader(fh)} == {"designed"}


def test_population_design_scenario_reports_the_fresh_share(tmp_path):
    extra = 'population = 200\nseed = 2\nshare = 0.2\nvalidation = 400\nlabel = "pta"\n'
    text = DESIGN.replace("{extra}", extra) + "\n[population]\nn = 300\nseed = 9\n"
    res = _quiet(run_scenario, _write(tmp_path, text), progress=False)
    d = res.sections["design"]
    assert list(res.runs) == ["pta"] and res.runs["pta"].n == 300
    t = np.arange(0.0, 25.0 + 0.05, 0.1)
    pop = _quiet(dmtpk.simulate_population, res.model, d.regimen, t, n=400, seed=3)
    e = pop.effects["intensity"][:, t >= 5 - 1e-9]
    assert d.validation_share == pytest.approx(np.mean(np.all((e >= 6) & (e <= 8), axis=1)))
    assert any("of a fresh population inside" in line for line in res.section_lines())


@pytest.fixture
def fit_files(tmp_path):
    """Twelve subjects simulated from CL 4 L/h, V1 70 L (log-normal, SD 0.3) with 15 %
    exponential error."""
    rng = np.random.default_rng(1)
    lines = ["ID,TIME,AMT,EVID,MDV,DV"]
    for i in range(1, 13):
        cl, v = 4 * np.exp(0.3 * rng.standard_normal()), 70 * np.exp(0.3 * rng.standard_normal())
        lines.append(f"{i},0,10,1,1,.")
        for t in (0.5, 1, 2, 4, 8, 12, 24):
            c = 10_000 / v * np.exp(-cl / v * t) * np.exp(0.15 * rng.standard_normal())
            lines.append(f"{i},{t},0,0,0,{float(c)!r}")
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "m.toml").write_text(MODEL)
    return tmp_path


def test_fit_scenario_writes_the_fitted_model(fit_files, capsys):
    """The [fit] step equals dmtpk.fit on the same dataset and options, lands near the
    simulation's CL 4 L/h and V1 70 L (30 %: twelve subjects with 30 % IIV), and its fitted
    model is written and becomes the scenario's model."""
    path = _write(fit_files, FIT)
    assert main(["run", str(path)]) == 0
    assert "FOCEI fit of one_cpt" in capsys.readouterr().out
    fitted = dmtpk.load_model(fit_files / "fitted.toml")
    data = dmtpk.read_nonmem(fit_files / "d.csv", time_unit="h")
    direct = dmtpk.fit(dmtpk.load_model(fit_files / "m.toml"), data, estimate=["CL", "V1"],
                       omega=["CL", "V1"], progress=False)
    for k in ("CL", "V1"):
        assert fitted.parameters[k].value == pytest.approx(direct.model.parameters[k].value,
                                                           rel=1e-9)
    assert fitted.parameters["CL"].value * 60 == pytest.approx(4.0, rel=0.3)
    assert fitted.parameters["V1"].value == pytest.approx(70.0, rel=0.3)
    res = run_scenario(load_scenario(path))
    assert res.model.parameters["CL"].value == fitted.parameters["CL"].value
    assert res.runs == {}


def test_fit_scenario_passes_the_iteration_counts(fit_files, capsys):
    """``max_iter = 0`` in [fit]: the fitted model keeps the model file's values (the
    objective is evaluated, not minimised), as ``dmtpk.fit(..., max_iter=0)``; SAEM's
    ``iterations`` reach the fit."""
    path = _write(fit_files, FIT.replace('omega = ["CL", "V1"]',
                                         'omega = ["CL", "V1"]\nmax_iter = 0'))
    assert main(["run", str(path)]) == 0
    assert "max_iter=0" in capsys.readouterr().out
    start = dmtpk.load_model(fit_files / "m.toml")
    fitted = dmtpk.load_model(fit_files / "fitted.toml")
    assert fitted.parameters["CL"].value == pytest.approx(start.parameters["CL"].value,
                                                          rel=1e-12)
    path = _write(fit_files, FIT.replace('omega = ["CL", "V1"]', 'omega = ["CL", "V1"]\n'
                                         'method = "saem"\nseed = 2\niterations = [30, 20]'))
    assert main(["run", str(path), "--force"]) == 0
    assert "SAEM 30 + 20 iterations (seed 2)" in capsys.readouterr().out


def test_fit_scenario_report_folder_is_rewritten_with_force(fit_files, capsys):
    path = _write(fit_files, FIT.replace('fitted_model = "fitted.toml"', 'report = "rep"'))
    assert main(["run", str(path)]) == 0
    assert (fit_files / "rep" / "parameters.csv").is_file()
    assert main(["run", str(path)]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["run", str(path), "--force"]) == 0


@pytest.mark.parametrize("change, key", [
    (("window = [6, 8]", "window = [8, 6]"), "design.window"),
    (("window = [6, 8]", ""), "design.window"),
    (('for = "20 min"', 'for = "-2 min"'), "design.for"),
    (('for = "20 min"', 'for = "20 mg"'), "design.for"),
    (("fixed = {", "speed = 3\nfixed = {"), "design"),
    (('bolus = ["0 mg", "30 mg"]', 'speed = [0, 1]'), "design.bounds.speed"),
    (('bolus = ["0 mg", "30 mg"]', 'bolus = ["0 mg/min", "30 mg"]'), "design.bounds.bolus"),
    ((("{extra}", 'max_total_dose = "1 mg"'), ('"0 mg/min", "3', '"1 mg/min", "3')),
     "design.max_total_dose"),
    (("{extra}", "share = 0.5"), "design.share"),
    (('design = "design.csv"', 'design = "design.txt"'), "outputs.design"),
    (('design = "design.csv"', 'fitted_model = "f.toml"'), "outputs.fitted_model"),
])
def test_design_mistakes_name_the_file_and_key(tmp_path, change, key):
    text = DESIGN
    for old, new in (change if isinstance(change[0], tuple) else (change,)):
        text = text.replace(old, new)
    text = text.replace("{extra}", "")
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        _quiet(run_scenario, load_scenario(path), progress=False)
    assert info.value.key == key and str(path) in str(info.value)


@pytest.mark.parametrize("change, key", [
    (('data = "d.csv"', 'data = "missing.csv"'), "fit.data"),
    (('time_unit = "h"', 'time_unit = "kg"'), "fit.time_unit"),
    (('time_unit = "h"', ''), "fit.time_unit"),
    (('estimate = ["CL", "V1"]', 'estimate = ["KA"]'), "fit.estimate.KA"),
    (('estimate = ["CL", "V1"]', 'estimate = 3'), "fit.estimate"),
    (('omega = ["CL", "V1"]', 'method = "magic"'), "fit.method"),
    (('omega = ["CL", "V1"]', 'colour = "red"'), "fit"),
    (('omega = ["CL", "V1"]', 'iterations = [200]'), "fit.iterations"),
    (('omega = ["CL", "V1"]', 'iterations = "fast"'), "fit.iterations"),
    (('omega = ["CL", "V1"]', 'max_iter = -1'), "fit.max_iter"),
])
def test_fit_mistakes_name_the_file_and_key(fit_files, change, key):
    path = _write(fit_files, FIT.replace(*change))
    with pytest.raises(ScenarioError) as info:
        run_scenario(load_scenario(path), progress=False)
    assert info.value.key == key and str(path) in str(info.value)
