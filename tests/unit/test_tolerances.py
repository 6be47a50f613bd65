"""Integrator tolerances are checked at every entry point: a negative, zero, NaN or infinite
rtol/atol is refused naming the argument (a negative one made the population integrator
return negative concentrations)."""

from __future__ import annotations

import pytest

import dmtpk

BAD = [-1e-7, 0.0, float("nan"), float("inf"), "1e-7", True]


@pytest.mark.parametrize("name", ["rtol", "atol"])
@pytest.mark.parametrize("value", BAD)
def test_bad_tolerances_are_refused_everywhere(name, value):
    calls = [
        lambda: dmtpk.simulate("eckernas2022", dmtpk.Bolus(10), [0, 1], **{name: value}),
        lambda: dmtpk.simulate_population("eckernas2022_inhaled", dmtpk.Inhalation(60), [0, 1],
                                          n=4, seed=1, **{name: value}),
        lambda: dmtpk.simulate_dataset("eckernas2022", dmtpk.io.dataset_from_records(
            {"ID": [1, 1], "TIME": [0, 1], "EVID": [1, 0], "AMT": [10, 0], "DV": [".", "."]},
            time_unit="min"), **{name: value}),
    ]
    for call in calls:
        with pytest.raises(dmtpk.ValidationError, match=name):
            call()


def test_an_unknown_ode_method_is_refused_by_name():
    """It used to fail inside solve_ivp as a SolverError with the method's class dump."""
    import dmtpk
    with pytest.raises(dmtpk.ValidationError, match="ode_method.*RK99.*LSODA"):
        dmtpk.simulate("eckernas2022", dmtpk.Bolus(10), [0, 1], method="scipy",
                       ode_method="RK99")
