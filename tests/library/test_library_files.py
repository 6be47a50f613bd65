"""Every file in models/ loads, compiles and simulates each of its routes and endpoints with a
typical regimen; every number carries its provenance; the files ship in the wheel; the library
table in models/README.md lists every model."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import pytest

import dmtpk
from dmtpk.model.spec import NotFittedWarning

from .conftest import MODEL_FILES, MODELS, ROOT, load_quietly, quietly

NAMES = [p.stem for p in MODEL_FILES]


def test_library_is_not_empty_and_matches_list_models():
    # the minimum: the 2022 IV model, the 2023 EEG model and an inhaled variant
    assert {"eckernas2022", "eckernas2023_eeg", "eckernas2022_inhaled"} <= set(NAMES)
    assert dmtpk.list_models() == NAMES


def _typical(model, route):
    """A typical regimen inside the fitted range: 14 mg DMT fumarate IV bolus (within 7-20 mg),
    40 mg inhaled (within the 15-60 mg the inhaled assumptions were chosen against)."""
    if route == "iv":
        return dmtpk.Bolus(model.to_base("14 mg"))
    return dmtpk.Inhalation("40 mg")


@pytest.mark.parametrize("name", NAMES)
def test_every_route_and_endpoint_simulates(name):
    model = load_quietly(name)
    c = model.compiled
    assert len(c.theta) == len(model.parameters)
    times = np.linspace(0.0, 60.0, 241)
    for route in model.routes:
        regimen = _typical(model, route)
        findings = quietly(model.check_regimen, regimen)
        if model.validity[route].fitted:
            assert findings == [], findings  # typical regimens lie inside the fitted range
        r = quietly(dmtpk.simulate, model, regimen, times)
        assert np.all(np.isfinite(r.concentration)) and r.concentration.max() > 0
        assert r.concentration.min() >= -1e-9 * r.concentration.max()
        if model.metabolite is not None:
            m = r.metabolite_concentration
            assert np.all(np.isfinite(m)) and m.max() > 0
        assert set(r.effects) == {e.name for e in model.effects}
        for ep in model.effects:
            e = r.effects[ep.name]
            assert e.shape == times.shape and np.all(np.isfinite(e)), ep.name
            base = model.value(ep.roles["E0"]) if "E0" in ep.roles else 0.0
            # the drug moves every endpoint away from its baseline, in the endpoint's direction
            moved = ep.sign * (e - base)
            assert moved.max() > 0 and moved.min() >= -1e-12 * abs(base) - 1e-15, ep.name
            assert abs(e[-1] - base) < abs(e).max(), ep.name  # and it wears off


@pytest.mark.parametrize("name", NAMES)
def test_every_number_has_provenance(name):
    model = load_quietly(name)
    keys = {s["key"] for s in model.sources}
    assert model.sources and all(s.get("doi") for s in model.sources)
    for pname, p in model.parameters.items():
        if "assumption" in p.info:
            assert len(p.info["assumption"]) > 20, pname
        else:
            assert p.info.get("source") in keys and p.info.get("where"), pname
    assert model.variability.get("omega") is not None
    raw = model.raw
    for section in ("variability", "residual"):
        if section in raw:
            assert raw[section].get("source") in keys, section
    assert model.dose_form is not None and model.dose_form.info.get("source") in keys


@pytest.mark.parametrize("name", NAMES)
def test_every_route_states_its_validity(name):
    model = load_quietly(name)
    assert model.population
    assert set(model.validity) == set(model.routes)
    for route, v in model.validity.items():
        assert v.dose is not None and 0 < v.dose[0] <= v.dose[1], route
        assert v.administration
        if not v.fitted:
            assert "assum" in v.why


def test_assumed_parameters_are_exactly_the_inhaled_ones():
    """Only the inhaled route's KA, F_INH and TLAG_INH are assumptions in the library; they carry
    no literature source of their own but name the effect data they were chosen to match."""
    for name in NAMES:
        model = load_quietly(name)
        assumed = {p for p, v in model.parameters.items() if "assumption" in v.info}
        expected = {"KA", "F_INH", "TLAG_INH"} if "inhaled" in model.routes else set()
        assert assumed == expected, name
        if "inhaled" in model.routes:
            assert model.validity["inhaled"].fitted is False


def test_inhaled_model_warns_once_that_it_is_not_fitted():
    with pytest.warns(NotFittedWarning, match="eckernas2022_inhaled.*inhaled route is not fitted"):
        dmtpk.load_model("eckernas2022_inhaled")
    # once per process: a second load is silent (warnings are errors in this suite)
    dmtpk.load_model("eckernas2022_inhaled")


@pytest.mark.parametrize("name", NAMES)
def test_describe_shows_structure_parameters_sources_and_validity(name):
    model = load_quietly(name)
    text = model.describe()
    assert str(model) == text
    assert text.startswith(name)
    for pname, p in model.parameters.items():
        assert pname in text and p.given in text, pname
    for s in model.sources:
        assert s["key"] in text and s["doi"] in text
    for ep in model.effects:
        assert f"Endpoint {ep.name}: {ep.model}" in text
    assert "Fitted to:" in text and model.population in text
    assert "second-hand" in text  # every shipped model rests on second-hand values
    if "inhaled" in model.routes:
        assert "NOT FITTED TO DATA" in text and "ASSUMPTION" in text
    if model.variability.get("occasion"):
        assert "Between-occasion variability" in text


def test_models_ship_in_the_wheel():
    """The wheel maps models/ to dmtpk/models (the built wheel's contents are checked in
    tests/integration/test_packaging.py); every model file is there to be shipped."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = cfg["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert include.get("models") == "dmtpk/models"
    for path in MODEL_FILES:
        tomllib.loads(path.read_text(encoding="utf-8"))  # valid TOML, UTF-8


def test_readme_table_lists_every_model_and_the_gallimore_status():
    text = (MODELS / "README.md").read_text(encoding="utf-8")
    for name in NAMES:
        assert f"`{name}`" in text, name
    assert "Gallimore" in text


def test_molar_masses_are_the_stated_ones():
    # section 5 of the literature file: DMT base 188.27 g/mol; IAA C10H9NO2 from standard
    # atomic weights: 10*12.011 + 9*1.008 + 14.007 + 2*15.999 = 175.187 g/mol
    for name in NAMES:
        model = load_quietly(name)
        assert model.molar_mass == pytest.approx(188.27)
        if model.metabolite is not None:
            assert model.metabolite.molar_mass == pytest.approx(
                10 * 12.011 + 9 * 1.008 + 14.007 + 2 * 15.999, abs=0.005)
    assert math.isclose(dmtpk.units.DMT_MOLAR_MASS, 188.27)
