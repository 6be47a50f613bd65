"""Regimens from mappings (dmtpk.regimen.mapping): the event tables of scenario files."""

from __future__ import annotations

import pytest

from dmtpk import Bolus, Infusion, Inhalation, ValidationError
from dmtpk.regimen import Regimen, event_from_mapping, regimen_from_mappings


def test_each_event_type_builds_its_event():
    assert event_from_mapping({"type": "bolus", "dose": "20 mg"}) == Regimen((Bolus("20 mg"),))
    assert event_from_mapping({"type": "infusion", "rate": "1 mg/min", "duration": "5 min"}) \
        == Regimen((Infusion(rate="1 mg/min", duration="5 min"),))
    assert event_from_mapping({"type": "inhalation", "dose": "60 mg", "f": 0.3}) \
        == Regimen((Inhalation("60 mg", f=0.3),))


def test_every_and_times_repeat_the_event():
    r = event_from_mapping({"type": "bolus", "dose": 5.0, "every": "10 min", "times": 3})
    assert r == Bolus(5.0).every("10 min", times=3)


def test_the_mapping_itself_is_not_changed():
    spec = {"type": "bolus", "dose": 5.0, "every": "10 min", "times": 2}
    event_from_mapping(spec)
    assert spec == {"type": "bolus", "dose": 5.0, "every": "10 min", "times": 2}


@pytest.mark.parametrize("spec, field, text", [
    ("bolus", "ev", "a table with a 'type'"),
    ({"type": "pill", "dose": 1.0}, "ev.type", "expected one of"),
    ({"type": "bolus", "dose": 1.0, "rate": 1.0}, "ev", "unknown key(s) ['rate']"),
    ({"type": "bolus"}, "ev", "a bolus needs a dose"),
    ({"type": "infusion", "dose": 1.0}, "ev", "two of dose, rate and duration"),
    ({"type": "bolus", "dose": -1.0}, "ev", "dose"),
    ({"type": "bolus", "dose": 1.0, "every": "5 min"}, "ev", "give both 'every'"),
])
def test_mistakes_name_the_entry(spec, field, text):
    with pytest.raises(ValidationError) as info:
        event_from_mapping(spec, "ev")
    assert info.value.field == field
    assert text in str(info.value)


def test_a_list_of_events_is_one_regimen_in_order():
    r = regimen_from_mappings([{"type": "bolus", "dose": 16.0},
                               {"type": "infusion", "rate": 1.4, "duration": 30.0}])
    assert r == Bolus(16.0) + Infusion(rate=1.4, duration=30.0)


@pytest.mark.parametrize("events", [None, [], {"type": "bolus", "dose": 1.0}])
def test_a_regimen_needs_a_list_of_events(events):
    with pytest.raises(ValidationError) as info:
        regimen_from_mappings(events, "arm.events")
    assert info.value.field == "arm.events"


def test_an_event_of_a_list_is_named_by_its_position():
    with pytest.raises(ValidationError) as info:
        regimen_from_mappings([{"type": "bolus", "dose": 1.0}, {"type": "bolus"}], "events")
    assert info.value.field == "events[2]"
