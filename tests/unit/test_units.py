"""Units at the edge of the package: doses, times, salts, molar quantities, error messages.

Every expected number below is computed by hand from the constants stated here (molar masses of
DMT base and fumaric acid), never read back from dmtpk.
"""

from __future__ import annotations

import math

import numpy as np
import pint
import pytest

import dmtpk
from dmtpk.model.spec import model_from_dict
from dmtpk.units import times_to_canonical, to_canonical

# Independent constants (g/mol): C12H16N2 and C4H4O4.
M_DMT = 188.27
M_FUMARIC = 116.07
FRACTION_FUMARATE = M_DMT / (M_DMT + M_FUMARIC)  # 1:1 salt, 304.34 g/mol
FRACTION_HEMIFUMARATE = M_DMT / (M_DMT + M_FUMARIC / 2)  # 2:1 salt, 246.305 g per mol DMT

REL = 1e-12


@pytest.fixture(scope="module")
def foreign():
    """A pint registry that is not dmtpk's."""
    return pint.UnitRegistry()


# --------------------------------------------------------------------------------------------
# Same dose, many spellings
# --------------------------------------------------------------------------------------------

def _twenty_mg_spellings(foreign):
    return [
        "20 mg",
        20,
        20.0,
        "20000 ug",
        "0.02 g",
        dmtpk.ureg.Quantity(20, "mg"),
        dmtpk.ureg.Quantity(0.02, "g"),
        foreign.Quantity(20, "mg"),
        foreign.Quantity(20000, "ug"),
    ]


def test_foreign_registry_is_really_foreign(foreign):
    assert foreign is not dmtpk.ureg
    q = foreign.Quantity(20, "mg")
    assert q._REGISTRY is not dmtpk.ureg.get()


def test_same_dose_to_canonical(foreign):
    for spelling in _twenty_mg_spellings(foreign):
        value = to_canonical(spelling, "amount", "dose")
        assert isinstance(value, float)
        assert value == pytest.approx(20.0, rel=REL), spelling


def test_same_dose_bolus(foreign):
    doses = [dmtpk.Bolus(s).dose for s in _twenty_mg_spellings(foreign)]
    for s, d in zip(_twenty_mg_spellings(foreign), doses):
        assert d == pytest.approx(20.0, rel=REL), s
    # and the events built from them are interchangeable in a regimen
    for s in _twenty_mg_spellings(foreign):
        b = dmtpk.Bolus(s)
        assert b.per_kg is False
        assert b.salt == "base"


def test_same_dose_simulates_identically(foreign):
    times = [0, 1, 5, 20]
    ref = dmtpk.simulate("eckernas2022", dmtpk.Bolus(20), times).concentration
    for s in ("20 mg", "20000 ug", dmtpk.ureg.Quantity(20, "mg"), foreign.Quantity(20, "mg")):
        c = dmtpk.simulate("eckernas2022", dmtpk.Bolus(s), times).concentration
        np.testing.assert_allclose(c, ref, rtol=1e-12, atol=0)


def test_dmtpk_ureg_is_the_application_registry():
    assert dmtpk.ureg is pint.get_application_registry()


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------

def test_hour_equals_sixty_minutes(foreign):
    spellings = ["1 h", "1 hour", "60 min", "3600 s", 60, 60.0,
                 dmtpk.ureg.Quantity(1, "h"), foreign.Quantity(1, "hour"),
                 foreign.Quantity(3600, "s")]
    for s in spellings:
        assert to_canonical(s, "time", "at") == pytest.approx(60.0, rel=REL), s
    assert dmtpk.Bolus(1, at="1 h").at == dmtpk.Bolus(1, at="60 min").at == 60.0


def test_times_quantity_arrays(foreign):
    expected = np.array([0.0, 60.0, 120.0])
    for times in (dmtpk.ureg.Quantity([0, 1, 2], "h"),
                  foreign.Quantity(np.array([0.0, 1.0, 2.0]), "hour"),
                  ["0 min", "1 h", "7200 s"],
                  [0, "60 min", dmtpk.ureg.Quantity(2, "h")],
                  np.array([0, 60, 120]),
                  [0, 60, 120],
                  range(0, 121, 60)):
        out = times_to_canonical(times)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, expected, rtol=REL, atol=0)


def test_equal_consecutive_times_are_allowed():
    np.testing.assert_array_equal(times_to_canonical([0, 1, 1, 2]), [0.0, 1.0, 1.0, 2.0])


# --------------------------------------------------------------------------------------------
# Salts
# --------------------------------------------------------------------------------------------

def test_salt_fractions_by_hand():
    # 20 mg of the 1:1 fumarate: 20 * 188.27 / 304.34
    assert dmtpk.Bolus("20 mg", salt="fumarate").dose == pytest.approx(20 * 188.27 / 304.34,
                                                                       rel=REL)
    assert dmtpk.Bolus("20 mg", salt="fumarate").dose == pytest.approx(20 * FRACTION_FUMARATE,
                                                                       rel=REL)
    # 2:1 salt: 188.27 / (188.27 + 116.07 / 2) = 188.27 / 246.305
    assert dmtpk.Bolus("20 mg", salt="hemifumarate").dose == pytest.approx(
        20 * 188.27 / 246.305, rel=REL)
    assert dmtpk.Bolus("20 mg", salt="hemifumarate").dose == pytest.approx(
        20 * FRACTION_HEMIFUMARATE, rel=REL)
    assert dmtpk.Bolus("20 mg", salt="base").dose == 20.0
    # by hand: 20 * 188.27 / 304.34 = 12.37235 mg. (The Bolus docstring in regimen/events.py
    # shows 12.3722, which is a typo in the docstring, not in the computation.)
    assert round(dmtpk.Bolus("20 mg", salt="fumarate").dose, 4) == 12.3723


def test_package_molar_masses_match_literature():
    from dmtpk import units
    assert units.DMT_MOLAR_MASS == M_DMT
    assert units.FUMARIC_ACID_MOLAR_MASS == M_FUMARIC
    assert units.SALT_BASE_FRACTION["fumarate"] == pytest.approx(FRACTION_FUMARATE, rel=REL)
    assert units.SALT_BASE_FRACTION["hemifumarate"] == pytest.approx(FRACTION_HEMIFUMARATE,
                                                                     rel=REL)


def test_salt_applies_to_every_event_type():
    inf = dmtpk.Infusion(rate="1 mg/min", duration="10 min", salt="fumarate")
    assert inf.rate == pytest.approx(FRACTION_FUMARATE, rel=REL)
    assert inf.dose == pytest.approx(10 * FRACTION_FUMARATE, rel=REL)
    assert inf.duration == pytest.approx(10.0, rel=REL)
    inf2 = dmtpk.Infusion(dose="30 mg", duration="15 min", salt="hemifumarate")
    assert inf2.dose == pytest.approx(30 * FRACTION_HEMIFUMARATE, rel=REL)
    assert inf2.rate == pytest.approx(2 * FRACTION_HEMIFUMARATE, rel=REL)
    inh = dmtpk.Inhalation("60 mg", salt="fumarate")
    assert inh.dose == pytest.approx(60 * FRACTION_FUMARATE, rel=REL)


def test_salt_applies_to_per_kg_doses():
    b = dmtpk.Bolus("0.3 mg/kg", salt="fumarate")
    assert b.per_kg is True
    assert b.dose == pytest.approx(0.3 * FRACTION_FUMARATE, rel=REL)


def test_unknown_salt_is_rejected_naming_the_field():
    with pytest.raises(dmtpk.ValidationError, match=r"Bolus\.salt") as exc:
        dmtpk.Bolus("20 mg", salt="citrate")
    assert "citrate" in str(exc.value)
    with pytest.raises(dmtpk.ValidationError, match=r"Infusion\.salt"):
        dmtpk.Infusion(dose=10, duration=5, salt="hcl")


# --------------------------------------------------------------------------------------------
# Molar amounts and concentrations
# --------------------------------------------------------------------------------------------

def test_molar_doses():
    expected = 100e-6 * 188.27 * 1000  # mol * g/mol * mg/g = 18.827 mg
    assert expected == pytest.approx(18.827, rel=REL)
    for s in ("100 umol", "100000 nmol", "0.1 mmol", dmtpk.ureg.Quantity(100, "umol")):
        assert dmtpk.Bolus(s).dose == pytest.approx(expected, rel=REL), s
    assert dmtpk.Inhalation("100 umol").dose == pytest.approx(expected, rel=REL)


def test_molar_rates_and_per_kg():
    inf = dmtpk.Infusion(rate="1 umol/min", duration=10)
    assert inf.rate == pytest.approx(1e-6 * 188.27 * 1000, rel=REL)
    assert inf.dose == pytest.approx(10e-6 * 188.27 * 1000, rel=REL)
    b = dmtpk.Bolus("1 umol/kg")
    assert b.per_kg is True
    assert b.dose == pytest.approx(1e-6 * 188.27 * 1000, rel=REL)


def test_molar_dose_of_a_salt_is_moles_of_dmt():
    expected = 100e-6 * 188.27 * 1000  # one DMT per fumarate: 18.827 mg base
    assert dmtpk.Bolus("100 umol", salt="fumarate").dose == pytest.approx(expected, rel=1e-9)


def _pd_model(ec50, molar_mass=None):
    head = {"name": "t", "structure": "one_compartment", "elimination": "linear",
            "routes": ["iv"]}
    if molar_mass is not None:
        head["molar_mass"] = molar_mass
    return model_from_dict({
        "model": head,
        "parameters": {"CL": "1 L/min", "V1": "10 L", "E0": 0, "EMAX": 1, "EC50": ec50},
        "effects": {"e": {"link": "direct", "model": "emax",
                          "parameters": {"E0": "E0", "EMAX": "EMAX", "EC50": "EC50"}}},
    })


def test_molar_concentration_in_a_model():
    expected = 94.7e-9 * 188.27 * 1000  # mol/L * g/mol * mg/g = mg/L
    assert _pd_model("94.7 nM").value("EC50") == pytest.approx(expected, rel=REL)
    assert _pd_model("0.0947 uM").value("EC50") == pytest.approx(expected, rel=REL)
    assert _pd_model("94.7 nmol/L").value("EC50") == pytest.approx(expected, rel=REL)
    # mass concentrations are taken as they are: 20 ng/mL = 0.02 mg/L
    assert _pd_model("20 ng/mL").value("EC50") == pytest.approx(0.02, rel=REL)


def test_shipped_model_ec50_from_nanomolar():
    # eckernas2022.toml states EC50 = "94.7 nM"
    m = dmtpk.load_model("eckernas2022")
    assert m.parameters["EC50"].given == "94.7 nM"
    assert m.value("EC50") == pytest.approx(94.7e-9 * 188.27 * 1000, rel=REL)


def test_model_molar_mass_overrides_dmt():
    # 100 nM of a 200 g/mol drug: 100e-9 * 200 * 1000 mg/L
    m = _pd_model("100 nM", molar_mass="200 g/mol")
    assert m.molar_mass == 200.0
    assert m.value("EC50") == pytest.approx(100e-9 * 200 * 1000, rel=REL)


def test_michaelis_menten_km_molar():
    m = model_from_dict({
        "model": {"name": "mm", "structure": "one_compartment", "elimination": "michaelis_menten",
                  "routes": ["iv"]},
        "parameters": {"VMAX": "10 umol/min", "KM": "2 uM", "V1": "10 L"},
    })
    assert m.value("KM") == pytest.approx(2e-6 * 188.27 * 1000, rel=REL)
    assert m.value("VMAX") == pytest.approx(10e-6 * 188.27 * 1000, rel=REL)


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------

def test_error_hierarchy():
    assert issubclass(dmtpk.UnitError, dmtpk.ValidationError)
    assert issubclass(dmtpk.ValidationError, ValueError)
    assert issubclass(dmtpk.UnitError, ValueError)
    assert issubclass(dmtpk.ValidationError, dmtpk.DmtpkError)


@pytest.mark.parametrize("value, kind, given, expected", [
    ("5 min", "amount", "min", "mg"),
    ("20 mg", "time", "mg", "min"),
    ("20 mg", "clearance", "mg", "L/min"),
    ("3 kg", "volume", "kg", "L"),
    ("2 s", "weight", "s", "kg"),
])
def test_wrong_dimension_names_argument_unit_and_expected(value, kind, given, expected):
    with pytest.raises(dmtpk.UnitError) as exc:
        to_canonical(value, kind, "my_arg")
    msg = str(exc.value)
    assert exc.value.field == "my_arg"
    assert msg.startswith("my_arg")
    assert given in msg.split("expected")[0], msg
    assert expected in msg.split("expected")[-1], msg


def test_wrong_dimension_on_events_names_the_field():
    with pytest.raises(dmtpk.UnitError) as exc:
        dmtpk.Bolus("5 min")
    msg = str(exc.value)
    assert exc.value.field == "Bolus.dose"
    assert "5 min" in msg and "mg" in msg
    with pytest.raises(dmtpk.UnitError) as exc:
        dmtpk.Bolus(1, at="3 mg")
    assert exc.value.field == "Bolus.at"
    assert "mg" in str(exc.value) and "min" in str(exc.value)
    with pytest.raises(dmtpk.UnitError) as exc:
        dmtpk.Infusion(dose=10, duration="10 mg")
    assert exc.value.field == "Infusion.duration"
    with pytest.raises(dmtpk.UnitError) as exc:
        dmtpk.Infusion(rate="1 mg", duration=10)
    assert exc.value.field == "Infusion.rate"
    assert "mg/min" in str(exc.value)
    with pytest.raises(dmtpk.UnitError) as exc:
        dmtpk.Inhalation(10, ka="2 min")
    assert exc.value.field == "Inhalation.ka"
    with pytest.raises(dmtpk.UnitError) as exc:
        dmtpk.Bolus(1).every("2 mg", times=2)
    assert exc.value.field == "interval"


def test_wrong_dimension_weight_in_simulate():
    with pytest.raises(dmtpk.UnitError) as exc:
        dmtpk.simulate("eckernas2022", dmtpk.Bolus("0.3 mg/kg"), [0, 1], weight="70 L")
    assert exc.value.field == "weight"
    assert "kg" in str(exc.value)


def test_molar_error_message_mentions_molar_equivalent():
    with pytest.raises(dmtpk.UnitError, match="molar"):
        to_canonical("5 min", "amount", "dose", molar_mass=188.27)


@pytest.mark.parametrize("text", ["20 blorps", "twenty mg", "", "20 mg +", "5 * * mg"])
def test_unreadable_strings(text):
    with pytest.raises(dmtpk.UnitError) as exc:
        to_canonical(text, "amount", "dose")
    assert exc.value.field == "dose"
    assert repr(text) in str(exc.value)


def test_unreadable_string_on_events():
    with pytest.raises(dmtpk.UnitError, match=r"Bolus\.dose"):
        dmtpk.Bolus("20 blorps")
    with pytest.raises(dmtpk.UnitError, match=r"Inhalation\.at"):
        dmtpk.Inhalation(10, at="soon")


def test_a_unitless_string_is_not_an_amount():
    # bare numbers are canonical, but a string must carry its unit
    with pytest.raises(dmtpk.UnitError, match="dose"):
        to_canonical("20", "amount", "dose")


@pytest.mark.parametrize("value", [None, True, [1, 2], object()])
def test_non_numeric_values(value):
    with pytest.raises(dmtpk.ValidationError, match="^dose"):
        to_canonical(value, "amount", "dose")


def test_array_quantity_where_a_scalar_is_expected():
    with pytest.raises(dmtpk.ValidationError, match="^dose"):
        to_canonical(dmtpk.ureg.Quantity([1, 2], "mg"), "amount", "dose")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan mg", "inf mg"])
def test_non_finite_scalars(value):
    with pytest.raises(dmtpk.ValidationError, match=r"^dose.*finite"):
        to_canonical(value, "amount", "dose")


# --------------------------------------------------------------------------------------------
# times_to_canonical
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("times, index", [
    ([0, 1, math.nan], 2),
    (np.array([0.0, math.nan, 2.0]), 1),
    ([0, 1, 2, math.inf], 3),
    ([math.nan], 0),
])
def test_times_reject_non_finite(times, index):
    with pytest.raises(dmtpk.ValidationError) as exc:
        times_to_canonical(times)
    assert exc.value.field == f"times[{index}]"
    assert "finite" in str(exc.value)


@pytest.mark.parametrize("times, index", [
    ([0, -1, 2], 1),
    (np.array([-0.5, 1.0]), 0),
    (["0 min", "-1 h"], 1),
])
def test_times_reject_negative(times, index):
    with pytest.raises(dmtpk.ValidationError) as exc:
        times_to_canonical(times)
    assert exc.value.field == f"times[{index}]"
    assert "negative" in str(exc.value)


def test_times_reject_negative_quantity_array():
    with pytest.raises(dmtpk.ValidationError) as exc:
        times_to_canonical(dmtpk.ureg.Quantity([0, -1], "h"))
    assert exc.value.field == "times[1]"
    assert "-60" in str(exc.value)


@pytest.mark.parametrize("times, index", [
    ([0, 5, 3], 2),
    ([0, 5, 5, 3, 10], 3),
    ([2, 1], 1),
    (["1 h", "30 min"], 1),
])
def test_times_reject_unsorted(times, index):
    with pytest.raises(dmtpk.ValidationError) as exc:
        times_to_canonical(times)
    assert exc.value.field == f"times[{index}]"
    assert "sorted" in str(exc.value)


def test_times_field_name_is_used():
    with pytest.raises(dmtpk.ValidationError) as exc:
        times_to_canonical([0, 2, 1], field="sample_times")
    assert exc.value.field == "sample_times[2]"


def test_times_other_rejections():
    with pytest.raises(dmtpk.ValidationError, match="^times.*empty"):
        times_to_canonical([])
    with pytest.raises(dmtpk.ValidationError, match="^times"):
        times_to_canonical("0 min")
    with pytest.raises(dmtpk.ValidationError, match="^times"):
        times_to_canonical(np.zeros((2, 2)))
    with pytest.raises(dmtpk.UnitError, match="^times"):
        times_to_canonical(dmtpk.ureg.Quantity([0, 1], "mg"))
    with pytest.raises(dmtpk.UnitError, match=r"^times\[1\]"):
        times_to_canonical([0, "1 mg"])


def test_simulate_rejects_bad_times():
    b = dmtpk.Bolus(20)
    with pytest.raises(dmtpk.ValidationError, match=r"times\[2\]"):
        dmtpk.simulate("eckernas2022", b, [0, 5, 1])
    with pytest.raises(dmtpk.ValidationError, match=r"times\[0\]"):
        dmtpk.simulate("eckernas2022", b, [-1, 5])
    with pytest.raises(dmtpk.ValidationError, match=r"times\[1\]"):
        dmtpk.simulate("eckernas2022", b, [0, math.nan])
