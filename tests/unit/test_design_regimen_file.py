"""A designed regimen written as scenario events (``regimen_to_mappings``) reads back
(``regimen_from_mappings``) as the same events, every float to the bit: the scenario file
``dmtpk design --out`` writes runs exactly the designed regimen."""

from __future__ import annotations

import pytest

import dmtpk
from dmtpk.regimen.mapping import regimen_from_mappings, regimen_to_mappings


def _fields(regimen):
    return [(type(e).__name__, {k: getattr(e, k) for k in ("dose", "rate", "duration", "at",
                                                            "per_kg", "f", "ka", "lag")
                                if hasattr(e, k)}) for e in regimen.events]


def test_round_trip_to_the_bit():
    reg = (dmtpk.Bolus(7.224596316120321) + dmtpk.Infusion(rate=0.9481234567891234,
                                                         duration=23.1, at=0.1)
           + dmtpk.Infusion(rate=1 / 3, duration=10 / 3, at=23.2)
           + dmtpk.Inhalation(32.6, at=8.9, f=0.31, ka="2.5 1/min", lag="0.2 min")
           + dmtpk.Bolus("0.2 mg/kg", at=40))
    back = regimen_from_mappings(regimen_to_mappings(reg))
    assert _fields(back) == _fields(reg)


def test_a_steady_state_dose_has_no_event_form():
    reg = dmtpk.Bolus(10).every("12 h", times=3, steady_state=True)
    with pytest.raises(dmtpk.ValidationError, match="regimen"):
        regimen_to_mappings(reg)
