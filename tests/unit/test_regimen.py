"""Dose events, regimens, the event table and its resolution for one subject.

Expected values are worked out by hand from the doses, rates and times written in each test.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import dmtpk
from dmtpk import Bolus, EventTable, Infusion, Inhalation, Regimen
from dmtpk.model.spec import model_from_dict
from dmtpk.engines.resolve import resolve_events
from dmtpk.regimen import ResolvedEvents

IV_ONLY = "eckernas2022"


def _field_error(exc_type, field, fn, *args, **kwargs):
    """Call fn, expect exc_type whose field is ``field`` and whose message starts with it."""
    with pytest.raises(exc_type) as exc:
        fn(*args, **kwargs)
    assert isinstance(exc.value, ValueError)
    assert exc.value.field == field, str(exc.value)
    assert str(exc.value).startswith(f"{field}:"), str(exc.value)
    return str(exc.value)


def _inhaled_model():
    return model_from_dict({
        "model": {"name": "t", "structure": "two_compartment", "elimination": "linear",
                  "routes": ["iv", "inhaled"]},
        "parameters": {"CL": "1.5 L/min", "V1": "10 L", "Q": "2 L/min", "V2": "20 L",
                       "KA": "3 1/min", "F_INH": 0.4, "TLAG_INH": "0 min"},
    })


# --------------------------------------------------------------------------------------------
# Rejected inputs
# --------------------------------------------------------------------------------------------

BAD_AMOUNTS = [-1, -1e-9, "-5 mg", math.nan, math.inf, -math.inf, "nan mg", "inf mg"]


@pytest.mark.parametrize("dose", BAD_AMOUNTS)
def test_bolus_bad_dose(dose):
    _field_error(dmtpk.ValidationError, "Bolus.dose", Bolus, dose)


@pytest.mark.parametrize("dose", BAD_AMOUNTS)
def test_inhalation_bad_dose(dose):
    _field_error(dmtpk.ValidationError, "Inhalation.dose", Inhalation, dose)


@pytest.mark.parametrize("dose", BAD_AMOUNTS + [0, "-0.3 mg/kg"])
def test_infusion_bad_dose(dose):
    _field_error(dmtpk.ValidationError, "Infusion.dose", Infusion, dose=dose, duration=10)


@pytest.mark.parametrize("rate", [0, -1, "-2 mg/min", math.nan, math.inf, "nan mg/min"])
def test_infusion_bad_rate(rate):
    _field_error(dmtpk.ValidationError, "Infusion.rate", Infusion, rate=rate, duration=10)


@pytest.mark.parametrize("duration", [0, -1, "0 min", "-1 h", math.nan, math.inf])
def test_infusion_bad_duration(duration):
    _field_error(dmtpk.ValidationError, "Infusion.duration", Infusion, dose=10,
                 duration=duration)
    _field_error(dmtpk.ValidationError, "Infusion.duration", Infusion, rate=1,
                 duration=duration)


BAD_TIMES = [-1, "-1 min", math.nan, math.inf, "inf h"]


@pytest.mark.parametrize("at", BAD_TIMES)
def test_bad_event_times(at):
    _field_error(dmtpk.ValidationError, "Bolus.at", Bolus, 1, at=at)
    _field_error(dmtpk.ValidationError, "Infusion.at", Infusion, dose=1, duration=1, at=at)
    _field_error(dmtpk.ValidationError, "Inhalation.at", Inhalation, 1, at=at)


@pytest.mark.parametrize("kwargs", [{}, {"dose": 10}, {"rate": 1}, {"duration": 5},
                                    {"dose": 10, "at": 5}])
def test_infusion_needs_two_of_three(kwargs):
    msg = _field_error(dmtpk.ValidationError, "Infusion", Infusion, **kwargs)
    assert "two of dose, rate and duration" in msg


def test_infusion_inconsistent_triple():
    msg = _field_error(dmtpk.ValidationError, "Infusion", Infusion, dose=10, rate=1, duration=5)
    assert "10" in msg and "5" in msg


def test_infusion_consistent_triple_accepted():
    inf = Infusion(dose=10, rate="0.5 mg/min", duration="20 min")
    assert (inf.dose, inf.rate, inf.duration) == (10.0, 0.5, 20.0)
    inf = Infusion(dose="60 mg", rate="30 mg/h", duration="2 h")
    assert inf.dose == pytest.approx(60.0)
    assert inf.rate == pytest.approx(0.5)
    assert inf.duration == pytest.approx(120.0)


def test_infusion_per_kg_mixing_rejected():
    _field_error(dmtpk.ValidationError, "Infusion.rate", Infusion, dose="0.3 mg/kg",
                 rate="1 mg/min")
    _field_error(dmtpk.ValidationError, "Infusion.rate", Infusion, dose="10 mg",
                 rate="0.01 mg/kg/min")


def test_infusion_derives_the_third_quantity():
    a = Infusion(dose=10, duration=5)
    assert (a.dose, a.rate, a.duration) == (10.0, 2.0, 5.0)
    b = Infusion(rate="2 mg/min", duration="1 h")
    assert (b.dose, b.rate, b.duration) == (120.0, 2.0, 60.0)
    c = Infusion(dose=10, rate="0.5 mg/min")
    assert (c.dose, c.rate, c.duration) == (10.0, 0.5, 20.0)
    d = Infusion(dose="1 mg/kg", rate="0.1 mg/kg/min")
    assert d.per_kg is True
    assert d.duration == pytest.approx(10.0)


@pytest.mark.parametrize("f", [-0.1, 1.5, math.nan, math.inf])
def test_inhalation_bad_f(f):
    _field_error(dmtpk.ValidationError, "Inhalation.f", Inhalation, 10, f=f)


def test_inhalation_bad_ka_and_lag():
    _field_error(dmtpk.ValidationError, "Inhalation.ka", Inhalation, 10, ka=0)
    _field_error(dmtpk.ValidationError, "Inhalation.ka", Inhalation, 10, ka="-1 1/min")
    _field_error(dmtpk.ValidationError, "Inhalation.lag", Inhalation, 10, lag=-1)
    _field_error(dmtpk.ValidationError, "Inhalation.lag", Inhalation, 10, lag=math.nan)


def test_inhalation_valid_overrides():
    ev = Inhalation("10 mg", f=0.25, ka="6 1/h", lag="30 s")
    assert ev.f == 0.25
    assert ev.ka == pytest.approx(0.1)
    assert ev.lag == pytest.approx(0.5)
    assert Inhalation(10, f=0).f == 0.0
    assert Inhalation(10, f=1).f == 1.0


@pytest.mark.parametrize("interval", [0, -5, "0 h", math.nan, math.inf])
def test_every_bad_interval(interval):
    _field_error(dmtpk.ValidationError, "interval", Bolus(1).every, interval, times=2)


@pytest.mark.parametrize("times", [0, -1, 2.0, True, "3"])
def test_every_bad_times(times):
    _field_error(dmtpk.ValidationError, "times", Bolus(1).every, 10, times=times)


@pytest.mark.parametrize("addl", [-1, 1.0, "2"])
def test_every_bad_addl(addl):
    _field_error(dmtpk.ValidationError, "addl", Bolus(1).every, 10, addl=addl)


def test_every_needs_exactly_one_count():
    _field_error(dmtpk.ValidationError, "every", Bolus(1).every, 10)
    _field_error(dmtpk.ValidationError, "every", Bolus(1).every, 10, times=2, addl=1)


def test_regimen_rejects_non_events():
    _field_error(dmtpk.ValidationError, "regimen[1]", Regimen, (Bolus(1), "x"))
    _field_error(dmtpk.ValidationError, "regimen[0]", Regimen, (3.0,))
    # a plain list given to simulate goes through the same check
    _field_error(dmtpk.ValidationError, "regimen[1]", dmtpk.simulate, IV_ONLY,
                 [Bolus(1), 5], [0, 1])
    _field_error(dmtpk.ValidationError, "regimen", dmtpk.simulate, IV_ONLY, "20 mg", [0, 1])
    with pytest.raises(TypeError):
        Bolus(1) + 5  # noqa: B018


def test_empty_regimen_rejected():
    _field_error(dmtpk.ValidationError, "regimen", EventTable.from_regimen, Regimen())


def test_unknown_route_for_model():
    msg = _field_error(dmtpk.ValidationError, "regimen[0]", dmtpk.simulate, IV_ONLY,
                       Inhalation("40 mg"), [0, 1, 2])
    assert "inhaled" in msg
    msg = _field_error(dmtpk.ValidationError, "regimen[1]", dmtpk.simulate, IV_ONLY,
                       Bolus(10) + Inhalation("40 mg", at=5), [0, 1, 2])
    assert "inhaled" in msg
    _field_error(dmtpk.ValidationError, "regimen[2]", EventTable.from_regimen,
                 Bolus(1) + Infusion(dose=1, duration=1) + Inhalation(1), ("iv",))


# --------------------------------------------------------------------------------------------
# Per-kg dosing
# --------------------------------------------------------------------------------------------

def test_per_kg_without_weight():
    msg = _field_error(dmtpk.ValidationError, "weight", dmtpk.simulate, IV_ONLY,
                       Bolus("0.3 mg/kg"), [0, 1, 2])
    assert "regimen[0]" in msg
    msg = _field_error(dmtpk.ValidationError, "weight", dmtpk.simulate, IV_ONLY,
                       Bolus(5) + Infusion(dose="0.1 mg/kg", duration=10), [0, 1, 2])
    assert "regimen[1]" in msg


@pytest.mark.parametrize("weight", [0, -70, "-70 kg", "0 kg"])
def test_per_kg_bad_weight(weight):
    _field_error(dmtpk.ValidationError, "weight", dmtpk.simulate, IV_ONLY,
                 Bolus("0.3 mg/kg"), [0, 1, 2], weight=weight)


@pytest.mark.parametrize("weight", [70, "70 kg", "70000 g", dmtpk.ureg.Quantity(70, "kg")])
def test_per_kg_with_weight_equals_absolute(weight):
    times = np.linspace(0, 30, 31)
    per_kg = dmtpk.simulate(IV_ONLY, Bolus("0.3 mg/kg"), times, weight=weight)
    absolute = dmtpk.simulate(IV_ONLY, Bolus(0.3 * 70), times)
    np.testing.assert_allclose(per_kg.concentration, absolute.concentration, rtol=1e-12,
                               atol=0)
    np.testing.assert_allclose(per_kg.effect, absolute.effect, rtol=1e-12, atol=1e-15)


def test_per_kg_infusion_with_weight_equals_absolute():
    times = np.linspace(0, 40, 41)
    per_kg = dmtpk.simulate(IV_ONLY, Infusion(rate="0.02 mg/kg/min", duration=20), times,
                            weight=80)
    absolute = dmtpk.simulate(IV_ONLY, Infusion(rate=0.02 * 80, duration=20), times)
    np.testing.assert_allclose(per_kg.concentration, absolute.concentration, rtol=1e-12,
                               atol=0)


def test_absolute_dose_ignores_weight():
    times = [0, 1, 5]
    a = dmtpk.simulate(IV_ONLY, Bolus(20), times, weight=50)
    b = dmtpk.simulate(IV_ONLY, Bolus(20), times)
    np.testing.assert_array_equal(a.concentration, b.concentration)


# --------------------------------------------------------------------------------------------
# Composition and repetition
# --------------------------------------------------------------------------------------------

def test_plus_composes_in_order():
    a, b, c = Bolus(1), Infusion(dose=2, duration=4, at=3), Bolus(5, at=1)
    r = a + b
    assert isinstance(r, Regimen)
    assert r.events == (a, b)
    r2 = r + c
    assert r2.events == (a, b, c)
    assert r.events == (a, b)  # unchanged
    assert (a + (b + c)).events == (a, b, c)
    assert ((a + b) + (c + a)).events == (a, b, c, a)
    assert len(r2) == 3
    assert list(r2) == [a, b, c]


def test_sum_of_events_and_regimens():
    a, b, c = Bolus(1), Bolus(2, at=10), Inhalation(3, at=20)
    r = sum([a, b, c])
    assert isinstance(r, Regimen)
    assert r.events == (a, b, c)
    assert sum([a + b, Regimen((c,))]).events == (a, b, c)
    assert r.routes == {"iv", "inhaled"}


def test_every_times_and_addl():
    r = Bolus(10).every("1 h", times=3)
    assert [ev.at for ev in r] == [0.0, 60.0, 120.0]
    assert all(ev.dose == 10.0 for ev in r)
    assert Bolus(10).every(60, addl=2) == r
    assert Bolus(10, at=5).every(30, times=1).events == (Bolus(10, at=5),)
    assert Bolus(10, at=5).every(30, addl=0).events == (Bolus(10, at=5),)


def test_every_repeats_whole_regimen():
    base = Bolus(1) + Infusion(rate=1, duration=5, at=2)
    r = base.every(30, times=2)
    assert [type(ev).__name__ for ev in r] == ["Bolus", "Infusion", "Bolus", "Infusion"]
    assert [ev.at for ev in r] == [0.0, 2.0, 30.0, 32.0]
    inf = r.events[3]
    assert (inf.dose, inf.rate, inf.duration) == (5.0, 1.0, 5.0)


def test_every_keeps_event_settings():
    r = Inhalation("20 mg", at=1, f=0.3, ka=2, lag=0.5, salt="fumarate").every(15, times=2)
    second = r.events[1]
    assert second.at == 16.0
    assert (second.f, second.ka, second.lag, second.salt) == (0.3, 2.0, 0.5, "fumarate")
    assert second.dose == r.events[0].dose


def test_shifted():
    r = (Bolus(1) + Bolus(2, at=3)).shifted("1 h")
    assert [ev.at for ev in r] == [60.0, 63.0]


def test_immutability():
    b = Bolus(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.dose = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.at = 2
    inf = Infusion(dose=1, duration=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        inf.rate = 5
    inh = Inhalation(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        inh.f = 0.5
    r = b + inf
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.events = ()
    assert isinstance(r.events, tuple)
    # every/shifted return new objects, leaving the original alone
    b.every(10, times=3)
    b.shifted(5)
    assert b.at == 0.0
    table = EventTable.from_regimen(r)
    with pytest.raises(dataclasses.FrozenInstanceError):
        table.time = np.zeros(3)
    with pytest.raises(ValueError):
        table.amt[0] = 99.0


def test_events_are_hashable_values():
    assert Bolus("20 mg") == Bolus(20)
    assert hash(Bolus("20 mg")) == hash(Bolus(20))
    assert Bolus(20) != Bolus(20, at=1)


# --------------------------------------------------------------------------------------------
# EventTable
# --------------------------------------------------------------------------------------------

def test_table_one_row_per_bolus_two_per_infusion():
    r = Bolus(5, at=10) + Infusion(rate=2, duration=10, at=0) + Inhalation(20, at=3) \
        + Inhalation(8, at=4, f=0.5, lag=1, ka=2)
    t = EventTable.from_regimen(r)
    assert len(t) == 5
    np.testing.assert_array_equal(t.time, [0.0, 3.0, 4.0, 10.0, 10.0])
    np.testing.assert_array_equal(t.evid, [1, 1, 1, 1, 9])
    np.testing.assert_array_equal(t.event, [1, 2, 3, 0, 1])
    np.testing.assert_array_equal(t.route, [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(t.amt, [20.0, 20.0, 8.0, 5.0, 20.0])
    np.testing.assert_array_equal(t.rate, [2.0, 0.0, 0.0, 0.0, 2.0])
    np.testing.assert_array_equal(t.dur, [10.0, 0.0, 0.0, 0.0, 10.0])
    # IV records: f = 1, lag = 0; inhalation without override: NaN (= the model's value)
    np.testing.assert_array_equal(t.f[[0, 3, 4]], 1.0)
    np.testing.assert_array_equal(t.lag[[0, 3, 4]], 0.0)
    assert np.isnan(t.f[1]) and np.isnan(t.lag[1]) and np.isnan(t.ka[1])
    assert (t.f[2], t.lag[2], t.ka[2]) == (0.5, 1.0, 2.0)
    assert not t.per_kg.any()
    assert t.time.dtype == np.float64 and t.evid.dtype == np.int64


def test_table_infusion_end_row():
    t = EventTable.from_regimen(Infusion(dose=30, duration="15 min", at="2 min"))
    assert len(t) == 2
    np.testing.assert_array_equal(t.evid, [dmtpk.regimen.EVID_DOSE,
                                           dmtpk.regimen.EVID_INFUSION_END])
    np.testing.assert_array_equal(t.evid, [1, 9])
    np.testing.assert_array_equal(t.time, [2.0, 17.0])
    np.testing.assert_array_equal(t.rate, [2.0, 2.0])
    np.testing.assert_array_equal(t.dur, [15.0, 15.0])


def test_table_sorted_by_time_whatever_the_event_order():
    r = Bolus(1, at=50) + Bolus(2, at=5) + Infusion(dose=1, duration=100, at=20) \
        + Bolus(3, at=0)
    t = EventTable.from_regimen(r)
    assert np.all(np.diff(t.time) >= 0)
    np.testing.assert_array_equal(t.time, [0.0, 5.0, 20.0, 50.0, 120.0])
    np.testing.assert_array_equal(t.event, [3, 1, 2, 0, 2])
    np.testing.assert_array_equal(t.amt, [3.0, 2.0, 1.0, 1.0, 1.0])


def test_table_single_event_and_per_kg():
    t = EventTable.from_regimen(Bolus("0.3 mg/kg"))
    assert len(t) == 1
    assert t.per_kg[0]
    assert t.amt[0] == pytest.approx(0.3)
    d = t.to_dict()
    assert set(d) >= {"time", "amt", "rate", "dur", "route", "f", "lag", "ka", "evid",
                      "per_kg", "event"}
    d["amt"][0] = 5.0  # a copy
    assert t.amt[0] == pytest.approx(0.3)


# --------------------------------------------------------------------------------------------
# ResolvedEvents
# --------------------------------------------------------------------------------------------

def test_resolve_mixed_regimen():
    r = Bolus(5, at=10) + Infusion(rate=2, duration=10, at=0) + Inhalation(20, at=3) \
        + Inhalation(8, at=4, f=0.5, lag=1, ka=2)
    res = resolve_events(EventTable.from_regimen(r), f_inhaled=0.4, lag_inhaled=0.5,
                         ka_inhaled=3.0)
    assert isinstance(res, ResolvedEvents)
    # effective times: infusion 0 (end 10), inhalation 3 + 0.5, inhalation 4 + 1, bolus 10
    np.testing.assert_allclose(res.breaks, [0.0, 3.5, 5.0, 10.0], rtol=0, atol=1e-15)
    # inputs: central, depot with the model's KA (3), depot with the event's KA (2)
    np.testing.assert_array_equal(res.depot_kas, [3.0, 2.0])
    expected_jumps = np.array([[0.0, 0.0, 0.0],
                               [0.0, 20 * 0.4, 0.0],
                               [0.0, 0.0, 8 * 0.5],
                               [5.0, 0.0, 0.0]])
    expected_rates = np.array([[2.0, 0.0, 0.0],
                               [2.0, 0.0, 0.0],
                               [2.0, 0.0, 0.0],
                               [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(res.jumps, expected_jumps, rtol=1e-15, atol=0)
    np.testing.assert_allclose(res.rates, expected_rates, rtol=1e-15, atol=0)
    # everything delivered: 2*10 + 5 + 8 + 4
    assert res.total_input == pytest.approx(20 + 5 + 8 + 4, rel=1e-14)
    np.testing.assert_allclose(res.input_until([0.0, 3.0, 3.5, 5.0, 7.5, 10.0, 50.0]),
                               [0.0, 6.0, 7.0 + 8.0, 10.0 + 12.0, 15.0 + 12.0,
                                20.0 + 12.0 + 5.0, 37.0], rtol=1e-14)


def test_resolve_overlapping_infusions_add():
    r = Infusion(rate=1, duration=10, at=0) + Infusion(rate=3, duration=10, at=5)
    res = resolve_events(EventTable.from_regimen(r))
    np.testing.assert_array_equal(res.breaks, [0.0, 5.0, 10.0, 15.0])
    np.testing.assert_array_equal(res.rates[:, 0], [1.0, 4.0, 3.0, 0.0])
    np.testing.assert_array_equal(res.jumps, 0.0)
    assert res.depot_kas.size == 0
    assert res.total_input == pytest.approx(10 + 30)
    np.testing.assert_allclose(res.input_until([5.0, 7.5, 10.0, 15.0, 100.0]),
                               [5.0, 7.5 + 2.5 * 3, 10.0 + 15.0, 40.0, 40.0])


def test_resolve_nested_and_back_to_back_infusions():
    # one infusion inside another, and a third starting exactly when the first ends
    r = Infusion(rate=1, duration=20, at=0) + Infusion(rate=2, duration=5, at=5) \
        + Infusion(rate=4, duration=10, at=20)
    res = resolve_events(EventTable.from_regimen(r))
    np.testing.assert_array_equal(res.breaks, [0.0, 5.0, 10.0, 20.0, 30.0])
    np.testing.assert_array_equal(res.rates[:, 0], [1.0, 3.0, 1.0, 4.0, 0.0])
    assert res.total_input == pytest.approx(20 + 10 + 40)


def test_resolve_simultaneous_boluses_add():
    r = Bolus(2, at=5) + Bolus(3, at=5) + Bolus(1)
    res = resolve_events(EventTable.from_regimen(r))
    np.testing.assert_array_equal(res.breaks, [0.0, 5.0])
    np.testing.assert_array_equal(res.jumps[:, 0], [1.0, 5.0])


def test_resolve_per_kg_scaling():
    r = Bolus("0.3 mg/kg") + Infusion(dose="1 mg/kg", duration=10, at=5) + Bolus(2, at=1)
    table = EventTable.from_regimen(r)
    res = resolve_events(table, weight=70.0)
    np.testing.assert_array_equal(res.breaks, [0.0, 1.0, 5.0, 15.0])
    np.testing.assert_allclose(res.jumps[:, 0], [0.3 * 70, 2.0, 0.0, 0.0], rtol=1e-14)
    np.testing.assert_allclose(res.rates[:, 0], [0.0, 0.0, 7.0, 0.0], rtol=1e-14)
    _field_error(dmtpk.ValidationError, "weight", resolve_events, table)
    _field_error(dmtpk.ValidationError, "weight", resolve_events, table, weight=0.0)
    _field_error(dmtpk.ValidationError, "weight", resolve_events, table, weight=math.nan)


def test_resolve_inhaled_per_kg_with_bioavailability():
    res = resolve_events(EventTable.from_regimen(Inhalation("1 mg/kg", at=2)),
                         f_inhaled=0.2, lag_inhaled=0.25, ka_inhaled=1.0, weight=60.0)
    np.testing.assert_allclose(res.breaks, [2.25])
    np.testing.assert_allclose(res.jumps, [[0.0, 1 * 60 * 0.2]], rtol=1e-14)
    np.testing.assert_array_equal(res.depot_kas, [1.0])


def test_resolve_inhalation_without_ka_rejected():
    table = EventTable.from_regimen(Inhalation(10))
    _field_error(dmtpk.ValidationError, "KA", resolve_events, table, 0.5, 0.0, math.nan)
    # an event-level KA is enough
    res = resolve_events(EventTable.from_regimen(Inhalation(10, ka=2)), 0.5, 0.0, math.nan)
    np.testing.assert_array_equal(res.depot_kas, [2.0])
    np.testing.assert_allclose(res.jumps, [[0.0, 5.0]])


def test_resolve_uses_model_route_parameters_in_simulate():
    """The whole inhaled dose times F_INH ends up in the body (mass balance, by hand)."""
    model = _inhaled_model()
    res = dmtpk.simulate(model, Inhalation("40 mg") + Inhalation("10 mg", at=5, f=1.0),
                         [0, 10]).events
    assert res.total_input == pytest.approx(40 * 0.4 + 10 * 1.0, rel=1e-14)
    np.testing.assert_array_equal(res.depot_kas, [3.0])


def test_every_rejects_bool_addl():
    _field_error(dmtpk.ValidationError, "addl", Bolus(1).every, 10, addl=True)


@pytest.mark.parametrize("text", ["10", "0.3", "5 1/min"])
def test_unitless_or_non_mass_strings_are_not_per_kg_doses(text):
    """pint reads "10" and "mg/kg" alike as dimensionless; a per-weight dose needs a unit that
    divides by a mass, so these are refused instead of being read as mg/kg."""
    with pytest.raises(dmtpk.UnitError, match="Bolus.dose"):
        dmtpk.Bolus(text)


def test_per_kg_rate_needs_a_mass_in_the_denominator():
    with pytest.raises(dmtpk.UnitError, match="Infusion.rate"):
        dmtpk.Infusion(rate="5 1/min", duration=10)
    assert dmtpk.Infusion(rate="0.02 mg/kg/min", duration=10).per_kg is True


def test_regimen_describe_in_words():
    reg = (dmtpk.Bolus("20 mg", salt="fumarate") + dmtpk.Infusion(rate=1.0, duration=30, at=1)
           + dmtpk.Inhalation("0.2 mg/kg", at=5))
    # 20 mg fumarate x 188.27/304.34 = 12.372 mg base (4 significant figures: 12.37).
    assert dmtpk.Regimen(reg.events).describe() == (
        "IV bolus 12.37 mg + IV infusion 1 mg/min for 30 min at 1 min + inhaled 0.2 mg/kg at 5 min")


@pytest.mark.parametrize("kw,field", [({"rate": 1e300, "duration": 1e300}, "Infusion.dose"),
                                      ({"dose": 1e-300, "rate": 1e300}, "Infusion.duration"),
                                      ({"dose": 1e300, "duration": 1e-300}, "Infusion.rate")])
def test_infusion_derived_values_must_be_finite_and_positive(kw, field):
    """A value derived from the other two overflows to infinity or underflows to zero: refused
    like a given one, naming the derived field."""
    with pytest.raises(dmtpk.ValidationError, match=field):
        dmtpk.Infusion(**kw)
