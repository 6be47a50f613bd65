"""The ``dmtpk`` subcommands end to end, in a subprocess: outputs exist, parse, and match the
Python API's own numbers for the same inputs."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

import dmtpk

from .conftest import load, parse_table, quiet, read_csv, run_cli

TIMES = np.linspace(0.0, 60.0, 241)  # the command line's default grid: 0-60 min every 0.25 min
PNG = b"\x89PNG\r\n\x1a\n"


def _metrics_flat(result):
    m = result.metrics()
    out = dict(m.exposure.as_dict())
    for name, e in m.effects.items():
        for k in ("onset", "peak", "time_to_peak", "offset", "duration"):
            out[f"{name}.{k}"] = getattr(e, k)
    return out


def test_models_lists_every_shipped_model_with_routes_and_sources():
    proc = run_cli("models")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["model", "routes", "endpoints", "sources"]
    for name in dmtpk.list_models():
        row = next(line for line in lines if line.split()[0] == name)
        model = load(name)
        for route in model.routes:
            assert route in row
        assert any(str(s.get("year", "")) in row for s in model.sources)


def test_models_show_prints_parameters_units_variability_and_citations():
    proc = run_cli("models", "show", "eckernas2022")
    assert proc.returncode == 0, proc.stderr
    model = load("eckernas2022")
    with open(model.path, "rb") as fh:  # the file itself is the reference
        raw_file = tomllib.load(fh)
    text = proc.stdout
    for name, raw in raw_file["parameters"].items():
        value = raw["value"] if isinstance(raw, dict) else raw
        line = next(ln for ln in text.splitlines() if ln.split()[:1] == [name])
        assert str(value) in line  # the value as written, with its unit
    for eta in raw_file["variability"]["omega"]:
        assert any(ln.split()[:1] == [eta] and "omega" in ln for ln in text.splitlines())
    for src in raw_file["sources"]:  # each source by its DOI, or its key where it has none
        assert src.get("doi", src["key"]) in text


def test_simulate_iv_bolus_matches_the_api(tmp_path):
    out, png = tmp_path / "result.csv", tmp_path / "result.png"
    proc = run_cli("simulate", "eckernas2022", "--route", "iv", "--dose", "20 mg", "--salt",
                   "fumarate", "--out", out, "--plot", png)
    assert proc.returncode == 0, proc.stderr
    ref = dmtpk.simulate(load("eckernas2022"), dmtpk.Bolus("20 mg", salt="fumarate"), TIMES)

    header, rows = read_csv(out)
    assert header == list(ref.to_dataframe().columns)
    data = np.array(rows, dtype=float)
    np.testing.assert_array_equal(data[:, 0], TIMES)
    np.testing.assert_allclose(data[:, 1], ref.concentration, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(data[:, -1], ref.effect, rtol=1e-12, atol=1e-12)

    table = parse_table(proc.stdout)
    expected = _metrics_flat(ref)
    labels = {"cmax": "Cmax", "tmax": "Tmax", "auc": "AUC", "half_life": "t1/2 terminal",
              "intensity.onset": "intensity onset (> 5)", "intensity.peak": "intensity peak",
              "intensity.time_to_peak": "intensity time to peak",
              "intensity.offset": "intensity offset (> 5)",
              "intensity.duration": "intensity duration (> 5)"}
    for key, label in labels.items():
        value = float(table[label][0])
        assert value == pytest.approx(expected[key], rel=1e-3, abs=1e-3), key
    assert table["Cmax"][1] == "ng/mL" and table["intensity duration (> 5)"][1] == "min"
    assert png.read_bytes()[:8] == PNG


def test_simulate_bolus_plus_infusion_and_threshold(tmp_path):
    proc = run_cli("simulate", "eckernas2022", "--route", "infusion", "--bolus", "16 mg",
                   "--rate", "1.4 mg/min", "--duration", "30 min", "--salt", "fumarate",
                   "--threshold", "intensity=3", "--until", "90 min", "--step", "0.5 min")
    assert proc.returncode == 0, proc.stderr
    regimen = (dmtpk.Bolus("16 mg", salt="fumarate")
               + dmtpk.Infusion(rate="1.4 mg/min", duration="30 min", salt="fumarate"))
    ref = quiet(dmtpk.simulate, load("eckernas2022"), regimen, np.linspace(0, 90, 181))
    m = ref.metrics({"intensity": 3})
    table = parse_table(proc.stdout)
    assert float(table["intensity duration (> 3)"][0]) == pytest.approx(
        m.effects["intensity"].duration, rel=1e-3)
    assert float(table["AUC"][0]) == pytest.approx(m.exposure.auc, rel=1e-3)
    # the extrapolation (the model was fitted to boluses only) is one warning line
    warning_lines = [ln for ln in proc.stderr.splitlines() if ln]
    assert warning_lines and all(ln.startswith("dmtpk: warning: ") for ln in warning_lines)


def test_simulate_inhaled_reports_the_unfitted_route_in_one_line():
    proc = run_cli("simulate", "eckernas2022_inhaled", "--route", "inhaled", "--dose", "60 mg")
    assert proc.returncode == 0, proc.stderr
    ref = quiet(dmtpk.simulate, load("eckernas2022_inhaled"), dmtpk.Inhalation("60 mg"), TIMES)
    table = parse_table(proc.stdout)
    assert float(table["Tmax"][0]) == pytest.approx(ref.metrics().exposure.tmax, rel=1e-3)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dmtpk: warning: ") and "not fitted" in lines[0]


def test_population_matches_the_api(tmp_path):
    out, bands, png = tmp_path / "summary.csv", tmp_path / "bands.csv", tmp_path / "bands.png"
    proc = run_cli("population", "eckernas2022_inhaled", "--route", "inhaled", "--dose", "60 mg",
                   "--n", 3000, "--seed", 7, "--out", out, "--bands", bands, "--plot", png)
    assert proc.returncode == 0, proc.stderr
    ref = quiet(dmtpk.simulate_population, load("eckernas2022_inhaled"),
                dmtpk.Inhalation("60 mg"), TIMES, n=3000, seed=7, keep="summary")
    pct = ref.metric_percentiles([5, 50, 95])

    header, rows = read_csv(out)
    # "never reached" and "still beyond at the end" (a censored offset) are told apart and the
    # streamed percentiles carry their accuracy (#13 item 16); the table had one "share
    # without" column before.
    assert header == ["regimen", "metric", "unit", "p5", "p50", "p95", "share never reached",
                      "share still beyond at end", "accuracy"]
    got = {r[1]: np.array(r[3:6], dtype=float) for r in rows}
    assert set(got) == set(pct)
    for key, values in pct.items():
        np.testing.assert_allclose(got[key], values, rtol=1e-12, err_msg=key)

    table = parse_table(proc.stdout)
    assert float(table["intensity duration (> 5)"][0]) == pytest.approx(
        pct["intensity.duration"][1], rel=1e-3)
    lo, hi = (float(v) for v in table["Cmax"][1].split(" - "))
    assert (lo, hi) == (pytest.approx(pct["cmax"][0], rel=1e-3),
                        pytest.approx(pct["cmax"][2], rel=1e-3))

    header, rows = read_csv(bands)
    conc = np.array([r[3:] for r in rows if r[1] == "concentration"], dtype=float)
    np.testing.assert_array_equal(conc[:, 0], TIMES)
    np.testing.assert_allclose(conc[:, 1:].T, ref.percentiles([5, 50, 95]), rtol=1e-12)
    assert png.read_bytes()[:8] == PNG


def test_population_keep_all_with_individual_curves(tmp_path):
    png = tmp_path / "ind.png"
    proc = run_cli("population", "eckernas2022", "--route", "iv", "--dose", "20 mg", "--salt",
                   "fumarate", "--n", 500, "--seed", 3, "--keep", "all", "--individuals", 10,
                   "--plot", png)
    assert proc.returncode == 0, proc.stderr
    ref = dmtpk.simulate_population(load("eckernas2022"), dmtpk.Bolus("20 mg", salt="fumarate"),
                                    TIMES, n=500, seed=3)
    table = parse_table(proc.stdout)
    assert float(table["AUC"][0]) == pytest.approx(np.median(ref.metric("auc")), rel=1e-3)
    assert png.read_bytes()[:8] == PNG


SCENARIO = """
[scenario]
name = "two_schemes"
description = "bolus vs bolus + infusion"
model = "eckernas2022"
until = "45 min"
step = "0.5 min"
thresholds = {{ intensity = 4 }}
{population}
[[regimens]]
label = "bolus"
events = [{{ type = "bolus", dose = "20 mg", salt = "fumarate" }}]

[[regimens]]
label = "bolus + infusion"
events = [
  {{ type = "bolus", dose = "16 mg", salt = "fumarate" }},
  {{ type = "infusion", rate = "1.4 mg/min", duration = "20 min", salt = "fumarate" }},
]

[outputs]
metrics = "out/metrics.csv"
curves = "out/curves.csv"
plot = "out/compare.png"
"""

REGIMENS = {
    "bolus": lambda: dmtpk.Bolus("20 mg", salt="fumarate"),
    "bolus + infusion": lambda: (dmtpk.Bolus("16 mg", salt="fumarate") + dmtpk.Infusion(
        rate="1.4 mg/min", duration="20 min", salt="fumarate")),
}


def test_run_scenario_typical_subject(tmp_path):
    (tmp_path / "out").mkdir()
    path = tmp_path / "study.toml"
    path.write_text(SCENARIO.format(population=""))
    proc = run_cli("run", path, cwd="/")  # outputs are relative to the scenario file
    assert proc.returncode == 0, proc.stderr
    times = np.linspace(0, 45, 91)
    header, rows = read_csv(tmp_path / "out" / "metrics.csv")
    assert header == ["regimen", "metric", "unit", "value"]
    for label, make in REGIMENS.items():
        ref = quiet(dmtpk.simulate, load("eckernas2022"), make(), times)
        m = ref.metrics({"intensity": 4})
        got = {r[1]: float(r[3]) for r in rows if r[0] == label}
        assert got["intensity.duration"] == pytest.approx(m.effects["intensity"].duration,
                                                          rel=1e-12)
        assert got["cmax"] == pytest.approx(m.exposure.cmax, rel=1e-12)
    header, rows = read_csv(tmp_path / "out" / "curves.csv")
    assert header[:3] == ["regimen", "time [min]", "Cp [ng/mL]"]
    assert len(rows) == 2 * times.size
    assert (tmp_path / "out" / "compare.png").read_bytes()[:8] == PNG


def test_run_scenario_population_is_reproducible_and_matches_the_api(tmp_path):
    (tmp_path / "out").mkdir()
    path = tmp_path / "study.toml"
    path.write_text(SCENARIO.format(population="[population]\nn = 1500\nseed = 11\n"))
    proc = run_cli("run", path)
    assert proc.returncode == 0, proc.stderr
    times = np.linspace(0, 45, 91)
    _, rows = read_csv(tmp_path / "out" / "metrics.csv")
    for label, make in REGIMENS.items():
        ref = quiet(dmtpk.simulate_population, load("eckernas2022"), make(), times, n=1500,
                    seed=11, keep="summary", thresholds={"intensity": 4})
        pct = ref.metric_percentiles([5, 50, 95])
        got = {r[1]: np.array(r[3:6], dtype=float) for r in rows if r[0] == label}
        np.testing.assert_allclose(got["intensity.duration"], pct["intensity.duration"],
                                   rtol=1e-12)
    first = (tmp_path / "out" / "metrics.csv").read_bytes()
    again = run_cli("run", path, "--force")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "out" / "metrics.csv").read_bytes() == first


def test_existing_output_is_kept_without_force_and_replaced_with_it(tmp_path):
    out = tmp_path / "result.csv"
    out.write_text("keep me\n")
    args = ("simulate", "eckernas2022", "--route", "iv", "--dose", "10 mg", "--out", out)
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"dmtpk: error: --out: {out}: exists; use "
                                                "--force to overwrite it"]
    assert out.read_text() == "keep me\n"
    proc = run_cli(*args, "--force")
    assert proc.returncode == 0, proc.stderr
    assert out.read_text().startswith("time [min],")


def test_demo_writes_its_plot(tmp_path):
    png = tmp_path / "dmtpk-demo.png"
    proc = run_cli("demo", "--plot", png, "--force", "--n", 300)
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == PNG
    assert "inhaled 60 mg" in proc.stdout


@pytest.fixture(scope="module")
def dask_scheduler():
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       protocol="tcp", host="127.0.0.1", dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


@pytest.mark.slow
def test_population_on_a_dask_scheduler_matches_the_local_run(tmp_path, dask_scheduler):
    out = tmp_path / "summary.csv"
    proc = run_cli("population", "eckernas2022", "--route", "iv", "--dose", "20 mg", "--salt",
                   "fumarate", "--n", 2000, "--seed", 4, "--backend", "dask", "--scheduler",
                   dask_scheduler, "--out", out)
    assert proc.returncode == 0, proc.stderr
    ref = dmtpk.simulate_population(load("eckernas2022"), dmtpk.Bolus("20 mg", salt="fumarate"),
                                    TIMES, n=2000, seed=4, keep="summary")
    pct = ref.metric_percentiles([5, 50, 95])
    _, rows = read_csv(out)
    got = {r[1]: np.array(r[3:6], dtype=float) for r in rows}
    for key in ("cmax", "auc", "intensity.duration"):
        np.testing.assert_allclose(got[key], pct[key], rtol=1e-12, err_msg=key)


def test_simulate_per_kg_dose_with_body_weight():
    proc = run_cli("simulate", "eckernas2022", "--route", "iv", "--dose", "0.15 mg/kg",
                   "--weight", "80 kg")
    assert proc.returncode == 0, proc.stderr
    ref = dmtpk.simulate(load("eckernas2022"), dmtpk.Bolus("0.15 mg/kg"), TIMES, weight="80 kg")
    table = parse_table(proc.stdout)
    assert float(table["Cmax"][0]) == pytest.approx(ref.metrics().exposure.cmax, rel=1e-3)
