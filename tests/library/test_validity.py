"""Validity ranges: simulating outside the routes, administrations or doses a model was fitted
to warns once per model and range, naming both; inside them it is silent."""

from __future__ import annotations

import inspect
import warnings

import pytest

import dmtpk
from dmtpk.model.spec import (ModelValidityWarning, NotFittedWarning, OutOfRangeWarning,
                              reset_validity_warnings)

from .conftest import load_quietly


@pytest.fixture
def model():
    return load_quietly("eckernas2022")


def _recorded(fn, *args, **kwargs):
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    return out, [w for w in rec if issubclass(w.category, ModelValidityWarning)]


def test_inside_the_range_is_silent(model):
    # fitted to single IV boluses of 7-20 mg DMT fumarate (section 2.5/2.6)
    for mg in ("7 mg", "14 mg", "20 mg"):
        found, rec = _recorded(model.check_regimen, dmtpk.Bolus(model.to_base(mg)))
        assert found == [] and rec == [], mg
    # the same doses stated with the package's 1:1 salt conversion
    found, rec = _recorded(model.check_regimen, dmtpk.Bolus("20 mg", salt="fumarate"))
    assert found == [] and rec == []


@pytest.mark.parametrize("mg", ["1 mg", "4 mg", "25 mg"])
def test_dose_outside_warns_naming_model_and_range(model, mg):
    with pytest.warns(OutOfRangeWarning) as rec:
        found = model.check_regimen(dmtpk.Bolus(model.to_base(mg)))
    msg = str(rec[0].message)
    assert "eckernas2022" in msg and "7 mg to 20 mg DMT fumarate" in msg
    assert f"{mg} DMT fumarate" in msg  # the dose as the paper would state it
    assert found == [msg]


def test_warned_once_per_model_and_range(model):
    with pytest.warns(OutOfRangeWarning):
        model.check_regimen(dmtpk.Bolus(model.to_base("1 mg")))
    # the same range again, another dose: found, but not warned a second time
    found, rec = _recorded(model.check_regimen, dmtpk.Bolus(model.to_base("30 mg")))
    assert len(found) == 1 and rec == []
    # another range of the same model (administration) still warns once
    infusion = dmtpk.Infusion(rate=model.to_base("1.4 mg/min"), duration="30 min")
    with pytest.warns(OutOfRangeWarning, match="bolus data only; an IV infusion"):
        model.check_regimen(infusion)
    found, rec = _recorded(model.check_regimen, infusion)
    assert len(found) == 1 and rec == []
    # another model keeps its own record
    eeg = load_quietly("eckernas2023_eeg")
    with pytest.warns(OutOfRangeWarning, match="eckernas2023_eeg"):
        eeg.check_regimen(dmtpk.Bolus(eeg.to_base("1 mg")))
    reset_validity_warnings()
    with pytest.warns(OutOfRangeWarning):
        model.check_regimen(dmtpk.Bolus(model.to_base("1 mg")))


def test_bolus_plus_infusion_checks_each_event(model):
    regimen = dmtpk.Bolus(model.to_base("16 mg")) + dmtpk.Infusion(
        rate=model.to_base("1.4 mg/min"), duration="60 min")
    with pytest.warns(OutOfRangeWarning) as rec:
        found = model.check_regimen(regimen)
    assert len(found) == 1 and "infusion" in found[0]  # the 16 mg bolus is inside 7-20 mg
    assert len(rec) == 1


def test_per_kg_doses_use_the_weight(model):
    # Strassman's 0.2 mg/kg fumarate at 70 kg = 14 mg fumarate: inside; 0.4 mg/kg = 28 mg: not
    inside = dmtpk.Bolus(model.to_base("0.2 mg/kg"))
    outside = dmtpk.Bolus(model.to_base("0.4 mg/kg"))
    assert _recorded(model.check_regimen, inside, weight=70.0) == ([], [])
    assert _recorded(model.check_regimen, outside) == ([], [])  # no weight: not compared
    with pytest.warns(OutOfRangeWarning, match="28 mg DMT fumarate"):
        model.check_regimen(outside, weight=70.0)


def test_inhaled_route_not_fitted(tmp_path):
    with pytest.warns(NotFittedWarning, match="not fitted to data") as rec:
        m = dmtpk.load_model("eckernas2022_inhaled")
    assert "KA, F_INH and TLAG_INH" in str(rec[0].message)
    # simulating the route does not repeat it; a dose outside 15-60 mg still warns once
    found, rec = _recorded(m.check_regimen, dmtpk.Inhalation("40 mg"))
    assert len(found) == 1 and rec == []
    with pytest.warns(OutOfRangeWarning, match="15 mg to 60 mg DMT base"):
        m.check_regimen(dmtpk.Inhalation("100 mg"))
    # its IV route is the fitted 2022 model: same range as eckernas2022
    assert m.validity["iv"].dose == load_quietly("eckernas2022").validity["iv"].dose


def test_warning_classes_are_user_warnings():
    assert issubclass(OutOfRangeWarning, UserWarning)
    assert issubclass(NotFittedWarning, UserWarning)
    assert not issubclass(OutOfRangeWarning, NotFittedWarning)


def test_route_the_model_lacks_raises(model):
    with pytest.raises(dmtpk.ValidationError, match="inhaled"):
        dmtpk.simulate(model, dmtpk.Inhalation("40 mg"), [0, 1])


_WIRED = "check_regimen" in inspect.getsource(dmtpk.simulate)


@pytest.mark.skipif(not _WIRED, reason="dmtpk.simulate does not call Model.check_regimen yet")
def test_simulate_warns_outside_the_range(model):
    with pytest.warns(OutOfRangeWarning, match="eckernas2022.*7 mg to 20 mg"):
        dmtpk.simulate(model, dmtpk.Bolus(model.to_base("1 mg")), [0, 1, 2])
