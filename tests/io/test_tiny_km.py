"""Michaelis-Menten elimination at a tiny KM (1e-8 mg/L: zero-order elimination until the
central compartment is empty). The flux uses max(C, 0), so round-off below zero cannot reverse
it: concentrations stay at zero to round-off in every engine, and the amounts add up."""

from __future__ import annotations

import numpy as np
import pytest

from dataset_helpers import obs, records
from dmtpk import simulate_dataset
from dmtpk.model.spec import model_from_dict


@pytest.mark.parametrize("method", ["dopri5", "scipy"])
def test_tiny_km_keeps_concentrations_non_negative(method):
    model = model_from_dict({
        "model": {"name": "mm", "structure": "one_compartment", "routes": ["iv"],
                  "elimination": "michaelis_menten"},
        "parameters": {"VMAX": "20 mg/h", "KM": "1e-8 mg/L", "V1": "20 L"}})
    times = np.linspace(0.1, 2.0, 40)
    res = simulate_dataset(model, records([(1, 0.0, 1, 10.0, 0, 1, 0, 0, 0)]
                                          + obs(1, times, cmt=1)), method=method)
    conc = res.concentration[1:]
    assert conc.min() > -1e-9  # ng/mL: round-off, not -1000
    # Zero order: 10 mg at 20 mg/h is gone after 0.5 h (analytic, KM -> 0).
    expected = np.maximum(10.0 - 20.0 * times, 0.0) / 20.0 * 1000.0
    np.testing.assert_allclose(conc, expected, atol=1e-3)
    np.testing.assert_allclose(res.states[1:].sum(axis=1), 10.0, rtol=1e-9)
