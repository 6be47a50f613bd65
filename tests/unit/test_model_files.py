"""Model files: malformed TOML is rejected naming the file and the key; shipped models load and
simulate; load_model by name; Model.with_parameters."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import dmtpk
from dmtpk.model.spec import model_from_dict

ROOT = Path(__file__).resolve().parents[2]
MODEL_FILES = sorted((ROOT / "models").glob("*.toml"))

BASE = """\
[model]
name = "t"
structure = "two_compartment"
elimination = "linear"
routes = ["iv", "inhaled"]

[parameters]
CL = "1.5 L/min"
V1 = "10 L"
Q = "2 L/min"
V2 = "20 L"
KA = "3 1/min"
F_INH = 0.4
TLAG_INH = "0 min"
KE0 = "0.5 1/min"
E0 = 0
EMAX = 10
EC50 = "20 ng/mL"
GAMMA = 2

[effects.intensity]
link = "effect_compartment"
model = "sigmoid_emax"
parameters = { KE0 = "KE0", E0 = "E0", EMAX = "EMAX", EC50 = "EC50", GAMMA = "GAMMA" }
unit = "score"
threshold = 3

[variability]
omega = { CL = 0.09 }
"""

MM_BASE = BASE.replace('elimination = "linear"', 'elimination = "michaelis_menten"').replace(
    'CL = "1.5 L/min"', 'VMAX = "2 mg/min"\nKM = "0.5 mg/L"').replace(
    "omega = { CL = 0.09 }", "omega = { VMAX = 0.09 }")


def _edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"test setup: {old!r} must occur once"
    return text.replace(old, new)


def _write(tmp_path: Path, text: str, name: str = "model.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _expect_file_error(path: Path, key: str) -> str:
    with pytest.raises(dmtpk.ModelFileError) as exc:
        dmtpk.load_model(path)
    err = exc.value
    msg = str(err)
    assert isinstance(err, ValueError)
    assert err.key == key, msg
    assert str(path.resolve()) in msg, msg
    assert Path(err.path) == path.resolve()
    if key:
        assert f"[{key}]" in msg, msg
    return msg


# --------------------------------------------------------------------------------------------
# The base files are valid
# --------------------------------------------------------------------------------------------

def test_base_file_is_valid(tmp_path):
    m = dmtpk.load_model(_write(tmp_path, BASE))
    assert m.name == "t"
    assert m.structure == "two_compartment"
    assert m.routes == ("iv", "inhaled")
    # canonical units, by hand
    assert m.value("CL") == pytest.approx(1.5)
    assert m.value("EC50") == pytest.approx(0.02)  # 20 ng/mL = 0.02 mg/L
    assert m.value("F_INH") == pytest.approx(0.4)
    assert [e.name for e in m.effects] == ["intensity"]
    assert m.effects[0].threshold == 3.0
    assert m.variability["omega"]["CL"] == pytest.approx(0.09)


def test_mm_base_file_is_valid(tmp_path):
    m = dmtpk.load_model(_write(tmp_path, MM_BASE))
    assert m.elimination == "michaelis_menten"
    assert not m.is_linear
    assert m.value("VMAX") == pytest.approx(2.0)
    assert m.value("KM") == pytest.approx(0.5)


def test_load_model_path_as_string(tmp_path):
    path = _write(tmp_path, BASE)
    assert dmtpk.load_model(str(path)).name == "t"


# --------------------------------------------------------------------------------------------
# Malformed files
# --------------------------------------------------------------------------------------------

MALFORMED = {
    "missing_model_section": (
        lambda s: "[parameters]" + s.split("[parameters]", 1)[1], "model"),
    "missing_V2": (lambda s: _edit(s, 'V2 = "20 L"\n', ""), "parameters.V2"),
    "missing_KA_for_inhaled": (lambda s: _edit(s, 'KA = "3 1/min"\n', ""), "parameters.KA"),
    "missing_F_INH_for_inhaled": (lambda s: _edit(s, "F_INH = 0.4\n", ""), "parameters.F_INH"),
    "CL_wrong_dimension": (lambda s: _edit(s, 'CL = "1.5 L/min"', 'CL = "10 L"'),
                           "parameters.CL"),
    "V1_wrong_dimension": (lambda s: _edit(s, 'V1 = "10 L"', 'V1 = "10 L/min"'),
                           "parameters.V1"),
    "CL_without_unit": (lambda s: _edit(s, 'CL = "1.5 L/min"', "CL = 1.5"), "parameters.CL"),
    "EC50_without_unit": (lambda s: _edit(s, 'EC50 = "20 ng/mL"', "EC50 = 20"),
                          "parameters.EC50"),
    "CL_unreadable": (lambda s: _edit(s, 'CL = "1.5 L/min"', 'CL = "1.5 blorps"'),
                      "parameters.CL"),
    "unknown_structure": (lambda s: _edit(s, '"two_compartment"', '"four_compartment"'),
                          "model.structure"),
    "missing_structure": (lambda s: _edit(s, 'structure = "two_compartment"\n', ""),
                          "model.structure"),
    "unknown_elimination": (lambda s: _edit(s, '"linear"', '"zero_order"'),
                            "model.elimination"),
    "unknown_route": (lambda s: _edit(s, '["iv", "inhaled"]', '["iv", "rectal"]'),
                      "model.routes"),
    "empty_routes": (lambda s: _edit(s, '["iv", "inhaled"]', "[]"), "model.routes"),
    "missing_name": (lambda s: _edit(s, 'name = "t"\n', ""), "model.name"),
    "unknown_model_key": (lambda s: _edit(s, 'name = "t"\n', 'name = "t"\ncolour = "red"\n'),
                          "model.colour"),
    "Q3_on_two_compartment": (lambda s: _edit(s, 'V2 = "20 L"\n', 'V2 = "20 L"\nQ3 = "1 L/min"\n'),
                              "parameters.Q3"),
    "V3_on_two_compartment": (lambda s: _edit(s, 'V2 = "20 L"\n', 'V2 = "20 L"\nV3 = "5 L"\n'),
                              "parameters.V3"),
    "unused_parameter": (lambda s: _edit(s, "GAMMA = 2\n", "GAMMA = 2\nFOO = 1\n"),
                         "parameters.FOO"),
    "omega_unknown_parameter": (lambda s: _edit(s, "omega = { CL = 0.09 }",
                                                "omega = { CL = 0.09, CLX = 0.1 }"),
                                "variability.omega.CLX"),
    "omega_negative": (lambda s: _edit(s, "omega = { CL = 0.09 }", "omega = { CL = -0.09 }"),
                       "variability.omega.CL"),
    "omega_not_a_number": (lambda s: _edit(s, "omega = { CL = 0.09 }", 'omega = { CL = "x" }'),
                           "variability.omega.CL"),
    "correlation_above_one": (
        lambda s: _edit(s, "omega = { CL = 0.09 }",
                        'omega = { CL = 0.09, V1 = 0.04 }\ncorrelation = { "CL,V1" = 1.2 }'),
        "variability.correlation.CL,V1"),
    "correlation_below_minus_one": (
        lambda s: _edit(s, "omega = { CL = 0.09 }",
                        'omega = { CL = 0.09, V1 = 0.04 }\ncorrelation = { "CL,V1" = -1.01 }'),
        "variability.correlation.CL,V1"),
    "correlation_without_omega": (
        lambda s: _edit(s, "omega = { CL = 0.09 }",
                        'omega = { CL = 0.09 }\ncorrelation = { "CL,V1" = 0.5 }'),
        "variability.correlation.CL,V1"),
    "correlation_not_positive_definite": (
        # correlation matrix [[1, .9, .9], [.9, 1, -.9], [.9, -.9, 1]] has determinant
        # 0.19 - 2 * 0.9 * 1.71 < 0, so it is not a correlation matrix.
        lambda s: _edit(s, "omega = { CL = 0.09 }",
                        "omega = { CL = 0.09, V1 = 0.04, Q = 0.16 }\n"
                        'correlation = { "CL,V1" = 0.9, "CL,Q" = 0.9, "V1,Q" = -0.9 }'),
        "variability.correlation"),
    "endpoint_unknown_parameter": (lambda s: _edit(s, 'EC50 = "EC50"', 'EC50 = "EC5O"'),
                                   "effects.intensity.parameters.EC50"),
    "endpoint_missing_KE0": (lambda s: _edit(s, 'KE0 = "KE0", E0', "E0"),
                             "effects.intensity.parameters.KE0"),
    "endpoint_missing_GAMMA": (lambda s: _edit(s, ', GAMMA = "GAMMA" }', " }"),
                               "effects.intensity.parameters.GAMMA"),
    "endpoint_unknown_role": (lambda s: _edit(s, 'GAMMA = "GAMMA" }',
                                              'GAMMA = "GAMMA", SLOPE = "E0" }'),
                              "effects.intensity.parameters.SLOPE"),
    "endpoint_unknown_link": (lambda s: _edit(s, '"effect_compartment"', '"telepathic"'),
                              "effects.intensity.link"),
    "endpoint_unknown_pd_model": (lambda s: _edit(s, '"sigmoid_emax"', '"hyperbolic"'),
                                  "effects.intensity.model"),
    "endpoint_uses_pk_parameter": (lambda s: _edit(s, 'EC50 = "EC50"', 'EC50 = "CL"'),
                                   "effects.intensity.parameters.EC50"),
    "endpoint_bad_threshold": (lambda s: _edit(s, "threshold = 3", 'threshold = "high"'),
                               "effects.intensity.threshold"),
    "unknown_section": (lambda s: s + "\n[foo]\nbar = 1\n", "foo"),
    "F_INH_above_one": (lambda s: _edit(s, "F_INH = 0.4", "F_INH = 1.2"), "parameters.F_INH"),
    "F_INH_negative": (lambda s: _edit(s, "F_INH = 0.4", "F_INH = -0.1"), "parameters.F_INH"),
    "CL_negative": (lambda s: _edit(s, 'CL = "1.5 L/min"', 'CL = "-1.5 L/min"'),
                    "parameters.CL"),
    "CL_zero": (lambda s: _edit(s, 'CL = "1.5 L/min"', 'CL = "0 L/min"'), "parameters.CL"),
    "V1_negative": (lambda s: _edit(s, 'V1 = "10 L"', 'V1 = "-10 L"'), "parameters.V1"),
    "EC50_zero": (lambda s: _edit(s, 'EC50 = "20 ng/mL"', 'EC50 = "0 ng/mL"'),
                  "parameters.EC50"),
    "TLAG_negative": (lambda s: _edit(s, 'TLAG_INH = "0 min"', 'TLAG_INH = "-1 min"'),
                      "parameters.TLAG_INH"),
    "parameter_inline_table_without_value": (
        lambda s: _edit(s, 'CL = "1.5 L/min"', 'CL = { source = "x" }'), "parameters.CL"),
    "bad_molar_mass": (lambda s: _edit(s, 'name = "t"\n', 'name = "t"\nmolar_mass = "188 L"\n'),
                       "model.molar_mass"),
    "missing_parameters_section": (
        lambda s: s.split("[parameters]")[0] + "[effects.intensity]"
        + s.split("[effects.intensity]")[1], "parameters"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_file(tmp_path, case):
    mutate, key = MALFORMED[case]
    text = mutate(BASE)
    assert text != BASE
    msg = _expect_file_error(_write(tmp_path, text, f"{case}.toml"), key)
    assert msg  # non-empty


def test_missing_model_section_text_really_lacks_it():
    text = MALFORMED["missing_model_section"][0](BASE)
    assert "[model]" not in text and "[parameters]" in text


def test_missing_parameters_section_text_really_lacks_it():
    text = MALFORMED["missing_parameters_section"][0](BASE)
    assert "[parameters]" not in text and "[model]" in text


def test_wrong_dimension_message_names_given_and_expected_units(tmp_path):
    path = _write(tmp_path, _edit(BASE, 'CL = "1.5 L/min"', 'CL = "10 L"'))
    msg = _expect_file_error(path, "parameters.CL")
    assert "10 l" in msg.lower()
    assert "L/min" in msg


def test_without_unit_message_suggests_a_unit(tmp_path):
    path = _write(tmp_path, _edit(BASE, 'CL = "1.5 L/min"', "CL = 1.5"))
    msg = _expect_file_error(path, "parameters.CL")
    assert "unit" in msg
    assert "L/min" in msg


def test_unknown_values_are_quoted(tmp_path):
    msg = _expect_file_error(
        _write(tmp_path, _edit(BASE, '"two_compartment"', '"four_compartment"')),
        "model.structure")
    assert "four_compartment" in msg and "two_compartment" in msg
    msg = _expect_file_error(
        _write(tmp_path, _edit(BASE, '["iv", "inhaled"]', '["iv", "rectal"]'), "r.toml"),
        "model.routes")
    assert "rectal" in msg


@pytest.mark.parametrize("bad", ["CL = \n", "[parameters\n", "CL = \"1 L/min\nV1 = 2\n",
                                 "x = 1\nx = 2\n"])
def test_invalid_toml_syntax(tmp_path, bad):
    path = _write(tmp_path, BASE + "\n" + bad)
    msg = _expect_file_error(path, "")
    assert "TOML" in msg


def test_missing_file(tmp_path):
    path = tmp_path / "does_not_exist.toml"
    msg = _expect_file_error(path, "")
    assert "not found" in msg


# Michaelis-Menten specifics

def test_mm_missing_vmax(tmp_path):
    path = _write(tmp_path, _edit(MM_BASE, 'VMAX = "2 mg/min"\n', ""))
    msg = _expect_file_error(path, "parameters.VMAX")
    assert "Michaelis" in msg


def test_mm_with_cl(tmp_path):
    path = _write(tmp_path, _edit(MM_BASE, 'KM = "0.5 mg/L"\n', 'KM = "0.5 mg/L"\nCL = "1 L/min"\n'))
    _expect_file_error(path, "parameters.CL")


def test_mm_km_wrong_dimension(tmp_path):
    path = _write(tmp_path, _edit(MM_BASE, 'KM = "0.5 mg/L"', 'KM = "0.5 mg"'))
    _expect_file_error(path, "parameters.KM")


def test_dict_models_name_dict_as_path():
    with pytest.raises(dmtpk.ModelFileError) as exc:
        model_from_dict({"parameters": {}})
    assert exc.value.path == "<dict>"
    assert exc.value.key == "model"
    assert str(exc.value).startswith("<dict>: [model]")


def test_model_file_error_is_not_validation_error(tmp_path):
    path = _write(tmp_path, _edit(BASE, "F_INH = 0.4", "F_INH = 1.2"))
    with pytest.raises(dmtpk.ModelFileError) as exc:
        dmtpk.load_model(path)
    assert isinstance(exc.value, dmtpk.DmtpkError)


# --------------------------------------------------------------------------------------------
# Shipped models
# --------------------------------------------------------------------------------------------

def test_models_folder_is_not_empty():
    assert MODEL_FILES, "no models/*.toml found"


def test_list_models_matches_models_folder():
    assert dmtpk.list_models() == sorted(p.stem for p in MODEL_FILES)


def _typical_regimens(route):
    if route == "iv":
        return [dmtpk.Bolus("20 mg"), dmtpk.Infusion(dose="20 mg", duration="10 min"),
                dmtpk.Bolus(16) + dmtpk.Infusion(rate="1.4 mg/min", duration="30 min")]
    if route == "inhaled":
        return [dmtpk.Inhalation("40 mg"), dmtpk.Inhalation("15 mg") + dmtpk.Inhalation(
            "60 mg", at="10 min")]
    raise AssertionError(f"no typical regimen for route {route!r}")


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_shipped_model_loads_and_simulates(path):
    by_name = dmtpk.load_model(path.stem)
    by_path = dmtpk.load_model(path)
    assert by_name.name == by_path.name == path.stem
    assert by_name.routes and set(by_name.routes) <= {"iv", "inhaled"}
    for name, p in by_name.parameters.items():
        assert math.isfinite(p.value), name
    times = np.linspace(0.0, 60.0, 121)
    for route in by_name.routes:
        for regimen in _typical_regimens(route):
            r = dmtpk.simulate(by_name, regimen, times)
            c = r.concentration
            assert c.shape == times.shape
            assert np.all(np.isfinite(c))
            assert c.min() >= -1e-9 * c.max()
            assert c.max() > 0
            for name, e in r.effects.items():
                assert e.shape == times.shape and np.all(np.isfinite(e)), name
            m = r.metrics()
            assert m.exposure.cmax > 0


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_shipped_model_iv_bolus_initial_concentration(path):
    """C(0) after an IV bolus is dose / V1 (by hand: mg/L * 1000 = ng/mL)."""
    model = dmtpk.load_model(path.stem)
    if "iv" not in model.routes:
        pytest.skip("no IV route")
    r = dmtpk.simulate(model, dmtpk.Bolus("20 mg"), [0.0])
    assert r.concentration[0] == pytest.approx(20.0 / model.value("V1") * 1000.0, rel=1e-12)


def test_unknown_model_name_lists_shipped_models():
    with pytest.raises(dmtpk.ValidationError) as exc:
        dmtpk.load_model("nope")
    msg = str(exc.value)
    assert exc.value.field == "model"
    assert "nope" in msg
    for name in dmtpk.list_models():
        assert name in msg


def test_load_model_returns_a_model_as_is():
    m = dmtpk.load_model("eckernas2022")
    assert dmtpk.load_model(m) is m
    with pytest.raises(dmtpk.ValidationError, match="^model"):
        dmtpk.load_model(42)


# --------------------------------------------------------------------------------------------
# with_parameters
# --------------------------------------------------------------------------------------------

def test_with_parameters_returns_new_model(tmp_path):
    m = dmtpk.load_model(_write(tmp_path, BASE))
    new = m.with_parameters(CL="20 L/min")
    assert new is not m
    assert isinstance(new, dmtpk.Model)
    assert new.value("CL") == 20.0
    assert m.value("CL") == pytest.approx(1.5)  # original unchanged
    assert m.raw["parameters"]["CL"] == "1.5 L/min"
    for name in m.parameters:
        if name != "CL":
            assert new.value(name) == m.value(name), name


def test_with_parameters_shipped_model_unchanged():
    m = dmtpk.load_model("eckernas2022")
    cl = m.value("CL")
    new = m.with_parameters(CL="20 L/min")
    assert new.value("CL") == 20.0
    assert m.value("CL") == cl
    assert dmtpk.load_model("eckernas2022").value("CL") == cl
    # the simulation reflects the change
    times = [0.0, 5.0, 10.0]
    assert not np.allclose(dmtpk.simulate(new, dmtpk.Bolus(20), times).concentration,
                           dmtpk.simulate(m, dmtpk.Bolus(20), times).concentration)


def test_with_parameters_units_and_numbers(tmp_path):
    m = dmtpk.load_model(_write(tmp_path, BASE))
    assert m.with_parameters(CL="1200 L/h").value("CL") == pytest.approx(20.0)
    assert m.with_parameters(CL=20).value("CL") == pytest.approx(20.0)
    assert m.with_parameters(CL=2.5).value("CL") == pytest.approx(2.5)
    assert m.with_parameters(F_INH=0.7).value("F_INH") == pytest.approx(0.7)
    assert m.with_parameters(EC50="94.7 nM").value("EC50") == pytest.approx(
        94.7e-9 * 188.27 * 1000)
    both = m.with_parameters(CL="3 L/min", V1="30 L")
    assert (both.value("CL"), both.value("V1")) == (3.0, 30.0)


def test_with_parameters_inline_table_keeps_provenance():
    m = dmtpk.load_model("eckernas2022")
    new = m.with_parameters(CL="20 L/min")
    assert new.parameters["CL"].info.get("source") == m.parameters["CL"].info.get("source")


def test_with_parameters_rejects_unknown_and_invalid(tmp_path):
    m = dmtpk.load_model(_write(tmp_path, BASE))
    with pytest.raises(dmtpk.ValidationError) as exc:
        m.with_parameters(FOO=1)
    assert exc.value.field == "FOO"
    with pytest.raises(ValueError, match="CL"):
        m.with_parameters(CL="10 L")
    with pytest.raises(ValueError, match="F_INH"):
        m.with_parameters(F_INH=1.5)


def test_simulate_parameters_override_leaves_model_alone():
    m = dmtpk.load_model("eckernas2022")
    cl = m.value("CL")
    r = dmtpk.simulate(m, dmtpk.Bolus(20), [0, 1], parameters={"CL": "20 L/min"})
    assert r.model.value("CL") == 20.0
    assert m.value("CL") == cl


def test_with_parameters_accepts_quantity():
    m = dmtpk.load_model("eckernas2022")
    assert m.with_parameters(CL=dmtpk.ureg.Quantity(20, "L/min")).value("CL") == 20.0
