"""The explorer's numbers (:mod:`dmtpk.explorer.compute`, no web library) are the public API's:
for every route the metrics equal :func:`dmtpk.simulate` + :meth:`Result.metrics` on another
grid, the population's share equals :meth:`PopulationResult.attainment`, the exported scenario
file run by :func:`dmtpk.run_scenario` gives the same numbers, and each bad control value is a
:class:`dmtpk.ValidationError` naming that control.

Metrics are root-found (Cmax on events and refined maxima, onset and offset by bracketing), so
they do not depend on the output grid: 1e-6 relative allows for the root finders' tolerances.
AUC is the trapezoidal rule on the output grid, so it is compared on the page's grid.
"""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

import dmtpk
from dmtpk.explorer.compute import (OUTPUT_POINTS, Controls, build_regimen, explore_view,
                                    figure_png, regimen_events, scenario_text)

TIMES = np.arange(0.0, 60.0 + 1e-9, 0.1)
INHALED = "eckernas2022_inhaled"

CASES = {
    "iv": (Controls(dose=20, salt="fumarate"), "eckernas2022",
           dmtpk.Bolus("20 mg", salt="fumarate")),
    "infusion": (Controls(route="infusion", dose=16, rate=1.4, duration=30, salt="fumarate"),
                 "eckernas2022",
                 dmtpk.Bolus("16 mg", salt="fumarate")
                 + dmtpk.Infusion(rate="1.4 mg/min", duration="30 min", salt="fumarate")),
    "infusion-only": (Controls(route="infusion", dose=0, rate=1.0, duration=20, salt="base"),
                      "eckernas2022", dmtpk.Infusion(rate="1 mg/min", duration="20 min")),
    "inhaled": (Controls(model=INHALED, route="inhaled", dose=60, salt="base"), INHALED,
                dmtpk.Inhalation("60 mg")),
    "inhalations": (Controls(model=INHALED, route="inhalations", dose=20, count=3, interval=8,
                             salt="base"), INHALED,
                    dmtpk.Inhalation("20 mg").every("8 min", times=3)),
    "per-kg": (Controls(dose=0.25, dose_unit="mg/kg", weight=80, salt="base"), "eckernas2022",
               dmtpk.Bolus("20 mg")),
}


def _metrics(model, regimen, weight=70.0):
    return dmtpk.simulate(model, regimen, TIMES, weight=weight).metrics()


@pytest.mark.parametrize("case", CASES)
def test_metrics_are_the_api_metrics(case):
    controls, model, regimen = CASES[case]
    view = explore_view(controls)
    m = _metrics(model, regimen, weight=controls.weight)
    for key in ("cmax", "tmax"):
        assert view.metrics[key] == pytest.approx(getattr(m.exposure, key), rel=1e-6, abs=1e-9)
    # AUC is the trapezoidal rule on the output grid (NCA): the API on the page's grid
    page_grid = np.linspace(0.0, controls.until, OUTPUT_POINTS)
    auc = dmtpk.simulate(model, regimen, page_grid, weight=controls.weight).metrics().exposure.auc
    assert view.metrics["auc"] == pytest.approx(auc, rel=1e-12)
    for name, e in m.effects.items():
        for key in ("onset", "peak", "duration"):
            assert view.metrics[name][key] == pytest.approx(getattr(e, key), rel=1e-6), key
    assert view.result.time.size == OUTPUT_POINTS


def test_population_share_is_the_api_attainment():
    c = Controls(route="infusion", dose=16, rate=1.4, duration=30, population=True, n=500,
                 seed=7, for_at_least=20)
    view = explore_view(c)
    pop = dmtpk.simulate_population("eckernas2022", CASES["infusion"][2],
                                    np.linspace(0, 60, OUTPUT_POINTS), n=500, seed=7,
                                    covariates={"WT": 70.0})
    assert view.shares["intensity"] == pop.attainment(endpoint="intensity", above=5.0,
                                                      for_at_least=20.0)
    np.testing.assert_array_equal(view.durations["intensity"], pop.metric("duration",
                                                                          "intensity"))
    np.testing.assert_array_equal(view.bands["concentration"],
                                  pop.percentiles((5, 50, 95), "concentration"))


@pytest.mark.parametrize("case", ["iv", "infusion", "inhalations", "per-kg"])
def test_exported_scenario_reproduces_the_view(case, tmp_path):
    controls, model, regimen = CASES[case]
    controls = controls.with_values(population=True, n=200, seed=3)
    path = tmp_path / "explored.toml"
    path.write_text(scenario_text(controls), encoding="utf-8")
    res = dmtpk.run_scenario(dmtpk.load_scenario(path))
    view = explore_view(controls)
    (run,) = res.runs.values()
    np.testing.assert_allclose(run.time, view.result.time, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(run.concentration, view.population.concentration)
    # the typical subject: the scenario's regimen simulates to the page's metrics
    (events,) = tomllib.loads(path.read_text())["regimens"]
    again = dmtpk.simulate(model, dmtpk.regimen.regimen_from_mappings(events["events"]), TIMES,
                           weight=controls.weight).metrics()
    assert again.exposure.cmax == pytest.approx(view.metrics["cmax"], rel=1e-9)


def test_events_are_the_scenario_format():
    c = Controls(route="infusion", dose=16, rate=1.4, duration=30, salt="fumarate")
    assert regimen_events(c) == [
        {"type": "bolus", "dose": "16 mg", "salt": "fumarate"},
        {"type": "infusion", "rate": "1.4 mg/min", "duration": "30 min", "salt": "fumarate"}]
    assert build_regimen(c) == CASES["infusion"][2]


@pytest.mark.parametrize("changes, field, words", [
    (dict(dose=-5), "dose", "must not be negative"),
    (dict(dose=float("nan")), "dose", "finite"),
    (dict(route="infusion", infusion_dose=10), "infusion_dose", "rate x duration"),
    (dict(route="infusion", duration=0), "duration", "duration"),
    (dict(route="infusion", rate=-1), "rate", "must be positive"),
    (dict(route="inhaled"), "route", "no inhaled route"),
    (dict(model=INHALED, route="inhalations", count=0), "count", "at least 1"),
    (dict(model=INHALED, route="inhalations", count=2, interval=0), "interval", "greater"),
    (dict(model=INHALED, route="inhalations", count=10**6), "count", "at most 100,000"),
    (dict(weight=0), "weight", "greater than 0"),
    (dict(thresholds={"mood": 3}), "threshold", "no endpoint 'mood'"),
    (dict(until=-1), "until", "greater than 0"),
    (dict(population=True, n=0), "n", "at least 1"),
    (dict(population=True, n=10**6), "n", "at most"),
    (dict(population=True, seed=-1), "seed", "at least 0"),
    (dict(population=True, for_at_least=-2), "for_at_least", "at least 0"),
    (dict(model="no_such_model"), "model", "no_such_model"),
    (dict(dose_unit="g/day"), "dose_unit", "expected one of"),
])
def test_a_bad_control_is_named(changes, field, words):
    with pytest.raises(dmtpk.DmtpkError) as info:
        explore_view(Controls(**changes))
    assert getattr(info.value, "field", "model") == field
    assert words in str(info.value)


def test_validity_warnings_are_returned_not_hidden():
    view = explore_view(Controls(route="infusion", dose=16))
    assert any("extrapolation" in w for w in view.warnings)
    assert explore_view(Controls(dose=14, salt="fumarate")).warnings == ()


def test_figure_png_is_a_png():
    pytest.importorskip("matplotlib")
    for c in (Controls(), Controls(population=True, n=100)):
        assert figure_png(c)[:8] == b"\x89PNG\r\n\x1a\n"


def test_widget_takes_a_model_object_and_names_an_unknown_control():
    pytest.importorskip("panel", reason='the explorer needs Panel: pip install "dmtpk[explore]"')
    model = dmtpk.load_model("eckernas2022").with_parameters(CL="2 L/min")
    app = dmtpk.explore(model, dose=20)
    expected = dmtpk.simulate(model, dmtpk.Bolus("20 mg", salt="fumarate"),
                              TIMES).metrics().exposure.auc
    assert app.view.metrics["auc"] == pytest.approx(expected, rel=1e-3)  # grid AUC
    assert app.widgets["model"].value is model
    app.widgets["model"].value = "eckernas2022"  # the library's model, from the list
    assert app.view.metrics["auc"] < expected  # its CL is larger
    with pytest.raises(dmtpk.ValidationError, match="dosage: is not a control"):
        dmtpk.explore("eckernas2022", dosage=20)
    with pytest.raises(dmtpk.DmtpkError, match="no_such_model"):
        dmtpk.explore("no_such_model")
