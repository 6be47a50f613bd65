"""Scenario files: the shipped example validates, and a file maps onto the same regimens as the
Python API."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import dmtpk
from dmtpk.scenario import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]


def test_example_scenario_validates():
    sc = load_scenario(ROOT / "scripts" / "routes.toml")
    assert [a.label for a in sc.arms] == ["IV bolus 20 mg fumarate",
                                          "IV 16 mg + 1.4 mg/min x 30 min (fumarate)",
                                          "inhaled 60 mg"]
    assert sc.n == 5000 and sc.seed == 1 and sc.keep == "summary"
    np.testing.assert_array_equal(sc.times, np.linspace(0, 60, 241))
    assert set(sc.outputs) == {"metrics", "curves", "plot"}
    assert all(p.parent == ROOT / "scripts" for p in sc.outputs.values())


def test_events_map_onto_the_api_values():
    sc = scenario_from_dict({
        "scenario": {"model": "eckernas2022"},
        "regimens": [{"label": "x", "events": [
            {"type": "bolus", "dose": "16 mg", "salt": "fumarate"},
            {"type": "infusion", "rate": "1.4 mg/min", "duration": "30 min",
             "salt": "fumarate"},
            {"type": "bolus", "dose": 2, "at": "40 min", "every": "5 min", "times": 3},
        ]}],
    })
    expected = (dmtpk.Bolus("16 mg", salt="fumarate")
                + dmtpk.Infusion(rate="1.4 mg/min", duration="30 min", salt="fumarate")
                + dmtpk.Bolus(2, at=40).every(5, times=3))
    assert sc.arms[0].regimen == expected
    assert sc.n is None  # no [population]: the typical subject
