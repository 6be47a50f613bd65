"""Model.with_parameters and ``parameters=`` change the validated parameters and the compiled
parameter vector, never the model text: errors name the argument (``parameters.CL`` or the
keyword), not the model file; NumPy scalars are numbers; Quantities, strings and numbers in the
canonical unit are accepted. Numbers are checked against the one-compartment bolus solution
C(t) = D/V exp(-CL t / V)."""

from __future__ import annotations

import math

import numpy as np
import pint
import pytest

import dmtpk
from dmtpk.model import spec as spec_module
from dmtpk.model.spec import _thaw, model_from_dict

ONE_CPT = {
    "model": {"name": "one", "structure": "one_compartment", "routes": ["iv"]},
    "parameters": {"CL": "1.5 L/min", "V1": "10 L", "KE0": "0.5 1/min", "E0": 0, "EMAX": 10,
                   "EC50": "20 ng/mL", "GAMMA": 2},
    "effects": {"intensity": {"link": "effect_compartment", "model": "sigmoid_emax",
                              "parameters": {"KE0": "KE0", "E0": "E0", "EMAX": "EMAX",
                                             "EC50": "EC50", "GAMMA": "GAMMA"}}},
    "variability": {"omega": {"CL": 0.09}},
}


def _model(**changes):
    raw = _thaw(ONE_CPT)
    raw["parameters"].update(changes)
    return model_from_dict(raw, "/some/model/file.toml")


def _bolus_conc(cl, v, dose, t):
    """ng/mL of a one-compartment IV bolus."""
    return dose / v * np.exp(-cl / v * np.asarray(t)) * 1000.0


@pytest.mark.parametrize("value", [np.int64(3), np.int32(3), np.float64(3.0), np.float32(3.0),
                                   3, 3.0, "3 L/min", "180 L/h", "3000 mL/min"])
def test_numbers_numpy_scalars_strings_give_the_clearance(value):
    m = _model().with_parameters(CL=value)
    assert m.value("CL") == pytest.approx(3.0, rel=1e-12)
    t = [0.0, 1.0, 5.0]
    r = dmtpk.simulate(_model(), dmtpk.Bolus(20), t, parameters={"CL": value})
    np.testing.assert_allclose(r.concentration, _bolus_conc(3.0, 10.0, 20.0, t), rtol=1e-10)


def test_quantities_of_this_and_of_a_foreign_registry():
    m = _model()
    assert m.with_parameters(CL=dmtpk.ureg.Quantity(180, "L/h")).value("CL") == pytest.approx(3)
    foreign = pint.UnitRegistry()
    assert m.with_parameters(V1=foreign.Quantity(np.float32(12), "L")).value("V1") == 12.0
    assert m.with_parameters(EC50=dmtpk.ureg.Quantity(50, "nM")).value("EC50") == \
        pytest.approx(50e-9 * 188.27 * 1e3, rel=1e-12)


@pytest.mark.parametrize("value, error, expected", [
    ("10 L", dmtpk.UnitError, "L/min"),
    (-1, dmtpk.ValidationError, "positive"),
    (np.int64(0), dmtpk.ValidationError, "positive"),
    (float("nan"), dmtpk.ValidationError, "finite"),
    (np.float64("inf"), dmtpk.ValidationError, "finite"),
    ("abc", dmtpk.UnitError, "cannot read"),
    ([1, 2], dmtpk.ValidationError, "a number"),
    (np.array([1.0, 2.0]), dmtpk.ValidationError, "a number"),
    (True, dmtpk.ValidationError, "a number"),
    (None, dmtpk.ValidationError, "a number"),
    ({"value": 1}, dmtpk.ValidationError, "a number"),
])
def test_errors_name_the_argument_not_the_model_file(value, error, expected):
    m = _model()
    with pytest.raises(error, match=expected) as exc:
        m.with_parameters(CL=value)
    assert exc.value.field == "CL"
    assert "file.toml" not in str(exc.value)
    with pytest.raises(error, match=expected) as exc:
        dmtpk.simulate(m, dmtpk.Bolus(20), [0, 1], parameters={"CL": value})
    assert exc.value.field == "parameters.CL"
    assert "file.toml" not in str(exc.value)


@pytest.mark.parametrize("name, value, expected", [
    ("FOO", 1, "no parameter 'FOO'"),
    ("GAMMA", 0, "positive"),
    ("EC50", "-1 ng/mL", "positive"),
    ("KE0", "1 L", "1/min"),
])
def test_unknown_and_impossible_overrides(name, value, expected):
    m = _model()
    with pytest.raises(dmtpk.ValidationError, match=expected) as exc:
        dmtpk.simulate(m, dmtpk.Bolus(20), [0, 1], parameters={name: value})
    assert exc.value.field == f"parameters.{name}"


def test_fractions_and_logit_typical_values():
    raw = _thaw(dmtpk.load_model("eckernas2022_inhaled").raw)
    m = model_from_dict(raw, "inhaled.toml")
    with pytest.raises(dmtpk.ValidationError, match=r"\[0, 1\]") as exc:
        m.with_parameters(F_INH=np.float64(1.5))
    assert exc.value.field == "F_INH"
    raw["variability"]["omega"]["F_INH"] = 0.1
    raw["variability"].setdefault("distribution", {})["F_INH"] = "logit"
    logit = model_from_dict(raw, "inhaled.toml")
    with pytest.raises(dmtpk.ValidationError, match="strictly between 0 and 1") as exc:
        logit.with_parameters(F_INH=1.0)
    assert exc.value.field == "F_INH"
    assert logit.with_parameters(F_INH=0.5).value("F_INH") == 0.5


def test_parameters_must_be_a_mapping():
    for bad in (["CL", 3], "CL=3", 3):
        with pytest.raises(dmtpk.ValidationError, match="mapping") as exc:
            dmtpk.simulate(_model(), dmtpk.Bolus(20), [0, 1], parameters=bad)
        assert exc.value.field == "parameters"


def test_no_text_is_parsed_again(monkeypatch):
    m = _model()
    compiled = m.compiled

    def refuse(*args, **kwargs):
        raise AssertionError("with_parameters parsed the model again")

    monkeypatch.setattr(spec_module, "model_from_dict", refuse)
    new = m.with_parameters(CL=np.int64(3), V1="12 L")
    # the compiled model is the original's with its parameter vector changed
    assert new.compiled.layout is compiled.layout
    assert new.compiled.state_names == compiled.state_names
    expected = np.array(compiled.theta)
    expected[list(compiled.param_names).index("CL")] = 3.0
    expected[list(compiled.param_names).index("V1")] = 12.0
    np.testing.assert_array_equal(new.compiled.theta, expected)
    assert not new.compiled.theta.flags.writeable
    np.testing.assert_array_equal(m.compiled.theta, compiled.theta)  # original unchanged
    t = [0.0, 2.0, 7.0]
    r = dmtpk.simulate(new, dmtpk.Bolus(20), t)
    np.testing.assert_allclose(r.concentration, _bolus_conc(3.0, 12.0, 20.0, t), rtol=1e-10)


def test_raw_mapping_reads_back_to_the_same_vector():
    """The population chunks rebuild the structure from ``Model.raw``: it must say the same
    numbers, bit for bit."""
    m = dmtpk.load_model("eckernas2022").with_parameters(CL=np.float64(0.1) + 0.2,
                                                         EC50="47.3 nM", GAMMA=np.int64(3))
    again = model_from_dict(_thaw(m.raw), m.path)
    np.testing.assert_array_equal(again.compiled.theta, m.compiled.theta)


def test_print_marks_the_overridden_value():
    m = dmtpk.load_model("eckernas2022")
    new = m.with_parameters(CL="20 L/min")
    line = next(ln for ln in str(new).splitlines() if ln.strip().startswith("CL "))
    assert "SET BY with_parameters" in line and m.parameters["CL"].given in line
    twice = new.with_parameters(CL=21)
    assert twice.parameters["CL"].info["overridden"] == m.parameters["CL"].given


def test_population_uses_the_changed_typical_value():
    m = _model().with_parameters(CL=np.int64(3))
    t = np.linspace(0, 10, 11)
    pop = dmtpk.simulate_population(m, dmtpk.Bolus(20), t, n=2, seed=1, omega={})
    for i in range(2):
        np.testing.assert_allclose(pop.concentration[i], _bolus_conc(3.0, 10.0, 20.0, t),
                                   rtol=1e-9)
    assert math.isclose(pop.parameters["CL"][0], 3.0)


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_JUNK = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
                     | st.text(max_size=8) | st.sampled_from(["3 L/min", "1 L", "-2 L/min",
                                                              "nan L/min", "5 nM", "1e400"]),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=4), inner, max_size=2), max_leaves=5)


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(["CL", "V1", "EC50", "GAMMA", "E0", "FOO"]), value=_JUNK)
def test_any_override_is_accepted_or_refused_naming_it(name, value):
    m = _model()
    try:
        new = m.with_parameters({name: value})
    except dmtpk.ValidationError as exc:
        assert exc.field == f"parameters.{name}"
        return
    assert math.isfinite(new.value(name))
    assert new.compiled.theta[list(new.compiled.param_names).index(name)] == new.value(name)
