"""The shared system function compiles with Numba and gives the same matrix as the Python run.

The population kernels call ``fill_system`` compiled; the single-subject engines call it
uncompiled. Expected values: (1) the compiled run must equal the interpreted run bit for bit
(same IEEE operations in the same order); (2) the matrix of a hand-written two-compartment model
with depot and effect compartment, written out entry by entry below from the model equations.
"""

from __future__ import annotations

import numpy as np
import pytest

import dmtpk
from dmtpk._kernels.pd import pd_response
from dmtpk._kernels.system import fill_system
from dmtpk.model.spec import model_from_dict

numba = pytest.importorskip("numba")


def _model():
    return model_from_dict({
        "model": {"name": "k", "structure": "two_compartment", "routes": ["iv", "inhaled"]},
        "parameters": {"CL": "1.5 L/min", "V1": "10 L", "Q": "2 L/min", "V2": "20 L",
                       "KA": "3 1/min", "F_INH": 0.4, "KE0": "0.5 1/min", "E0": 0, "EMAX": 10,
                       "EC50": "20 ng/mL", "GAMMA": 2},
        "effects": {"e": {"link": "effect_compartment", "model": "sigmoid_emax",
                          "parameters": {"KE0": "KE0", "E0": "E0", "EMAX": "EMAX",
                                         "EC50": "EC50", "GAMMA": "GAMMA"}}},
    })


def test_matrix_by_hand():
    c = _model().compiled
    assert c.state_names == ("depot", "central", "peripheral_1", "ce_e", "eliminated")
    k10, k12, k21, ka, ke0 = 1.5 / 10, 2 / 10, 2 / 20, 3.0, 0.5
    expected = np.array([
        [-ka, 0, 0, 0, 0],
        [ka, -(k10 + k12), k21, 0, 0],
        [0, k12, -k21, 0, 0],
        [0, ke0 / 10, 0, -ke0, 0],
        [0, k10, 0, 0, 0],
    ])
    np.testing.assert_allclose(c.system_matrix(c.theta), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", dmtpk.list_models() + ["hand"])
def test_compiled_equals_interpreted(name):
    c = (_model() if name == "hand" else dmtpk.load_model(name)).compiled
    fast = numba.njit(fill_system)
    kas = np.array([1.0, 2.5]) if c.index["depot"] >= 0 else np.zeros(0)
    n = c.n_states + max(0, kas.size - 1)
    a_py = np.empty((n, n))
    a_nb = np.empty((n, n))
    fill_system(np.array(c.theta), c.layout, c.mass_ratio, kas, a_py)
    fast(np.array(c.theta), c.layout, c.mass_ratio, kas, a_nb)
    assert np.array_equal(a_py, a_nb)


def test_pd_response_compiles():
    fast = numba.njit(pd_response)
    conc = np.linspace(-1e-12, 0.1, 50)
    for args in [(1, 1, False, 0.0, 10.0, 0.02, 2.0, 0.0), (1, -1, True, 0.8, 1.0, 0.0133, 3.66, 0.0),
                 (0, 1, False, 70.0, 0.0, 1.0, 1.0, 150.0)]:
        # Numba's and NumPy's pow may differ in the last bit (different libm paths): 1e-13.
        np.testing.assert_allclose(fast(conc, *args), pd_response(conc, *args), rtol=1e-13,
                                   atol=0)
    # Independent values: sigmoid Emax at C = EC50 is half of EMAX; the inhibitory fractional
    # form at C = IC50 is E0 * (1 - IMAX/2); linear is E0 + SLOPE * C.
    assert pd_response(0.02, 1, 1, False, 0.0, 10.0, 0.02, 2.0, 0.0) == pytest.approx(5.0)
    assert pd_response(0.0133, 1, -1, True, 0.8, 1.0, 0.0133, 3.66, 0.0) == pytest.approx(0.4)
    assert pd_response(0.1, 0, 1, False, 70.0, 0.0, 1.0, 1.0, 150.0) == pytest.approx(85.0)
