"""Result accessors take times with units: a Quantity in hours is hours, a string is read with
its unit, a bare number is minutes."""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk


@pytest.fixture(scope="module")
def result():
    return dmtpk.simulate("eckernas2022", dmtpk.Bolus("10 mg"), range(0, 121))


def test_quantities_and_strings_are_converted(result):
    minutes = result.concentration_at([6.0, 30.0])
    np.testing.assert_array_equal(result.concentration_at(dmtpk.ureg.Quantity([0.1, 0.5], "h")),
                                  result.concentration_at([6.0, 30.0]))
    np.testing.assert_array_equal(result.concentration_at("0.1 h"), minutes[:1])
    np.testing.assert_array_equal(result.concentration_at(["6 min", "0.5 h"]), minutes)
    np.testing.assert_array_equal(result.concentration_at(dmtpk.ureg.Quantity(30, "min")),
                                  minutes[1:])
    np.testing.assert_array_equal(result.effect_at("360 s"), result.effect_at(6.0))
    np.testing.assert_array_equal(result.at(np.int64(6)), result.at(6.0))
    # Unsorted times are fine for a lookup.
    np.testing.assert_array_equal(result.concentration_at([30.0, 6.0]), minutes[::-1])


def test_bad_times_name_the_argument(result):
    with pytest.raises(dmtpk.UnitError, match="t"):
        result.concentration_at("5 mg")
    with pytest.raises(dmtpk.ValidationError, match=r"t\[1\]"):
        result.concentration_at([1.0, float("nan")])
