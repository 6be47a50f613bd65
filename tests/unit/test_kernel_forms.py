"""The Michaelis-Menten flux and the PD forms, each written once, against formulas typed here.

Every engine reads :mod:`dmtpk._kernels.elimination` and :mod:`dmtpk._kernels.pd`: uncompiled
(single-subject engines, on scalars and arrays) and compiled by Numba (the population and record
kernels, through :mod:`dmtpk._kernels.jitted`). Expected values: (1) the formulas of the design
page typed out below (VMAX C/(KM + C), its derivative VMAX KM/(KM + C)^2, E0 + SLOPE C,
E0 +- M C^g/(EC50^g + C^g) with M = EMAX or E0 EMAX); (2) a central finite difference for the
derivative; (3) compiled and uncompiled runs of the same function agree (bit for bit where the
same IEEE operations run, to 1e-13 where a power goes through different libm paths).
"""

from __future__ import annotations

import numpy as np
import pytest

from dmtpk._kernels.elimination import mm_dflux_dc, mm_flux, mm_flux_amount
from dmtpk._kernels.pd import pd_response

numba = pytest.importorskip("numba")

VMAX, KM, V1 = 0.5, 0.2, 10.0  # mg/min, mg/L, L: the benchmark's W3 model
CONC = np.array([0.0, 1e-9, 1e-3, 0.05, 0.2, 0.7, 3.0, 250.0])  # mg/L


# --- Michaelis-Menten elimination --------------------------------------------------------------

def test_flux_is_the_formula():
    for c in CONC:
        assert mm_flux(c, VMAX, KM) == pytest.approx(VMAX * c / (KM + c), rel=1e-15, abs=0)
    assert mm_flux(KM, VMAX, KM) == pytest.approx(VMAX / 2)  # half of VMAX at C = KM
    assert mm_flux(1e12, VMAX, KM) == pytest.approx(VMAX)  # saturates at VMAX
    np.testing.assert_allclose(mm_flux(CONC, VMAX, KM), VMAX * CONC / (KM + CONC), rtol=1e-15,
                               atol=0)


def test_derivative_is_the_formula_and_the_finite_difference():
    expected = VMAX * KM / (KM + CONC) ** 2
    np.testing.assert_allclose(mm_dflux_dc(CONC, VMAX, KM), expected, rtol=1e-15, atol=0)
    assert mm_dflux_dc(0.0, VMAX, KM) == pytest.approx(VMAX / KM)  # first-order limit CL/V1
    for c in CONC[2:]:
        h = 1e-6 * c
        fd = (mm_flux(c + h, VMAX, KM) - mm_flux(c - h, VMAX, KM)) / (2 * h)
        assert mm_dflux_dc(c, VMAX, KM) == pytest.approx(fd, rel=1e-7)


def test_amount_form_agrees_with_the_concentration_form():
    """The lanes' one-division form VMAX x/(KM V1 + x) is the same rate to rounding."""
    x = CONC * V1
    np.testing.assert_allclose(mm_flux_amount(x, VMAX, KM * V1), mm_flux(x / V1, VMAX, KM),
                               rtol=4e-16, atol=0)
    rng = np.random.default_rng(3)
    vmax, km, v1 = rng.lognormal(0, 1, (3, 1000))
    x = rng.lognormal(0, 3, 1000)
    np.testing.assert_allclose(mm_flux_amount(x, vmax, km * v1), mm_flux(x / v1, vmax, km),
                               rtol=1e-15, atol=0)


def test_flux_compiled_equals_uncompiled():
    from dmtpk._kernels import jitted
    for c in CONC:
        assert jitted.mm_flux(c, VMAX, KM) == mm_flux(c, VMAX, KM)
        assert jitted.mm_flux_amount(c * V1, VMAX, KM * V1) == mm_flux_amount(c * V1, VMAX,
                                                                             KM * V1)
        # Python's ** 2 is libm's pow, Numba's a product: equal to the last bit or one off.
        assert jitted.mm_dflux_dc(c, VMAX, KM) == pytest.approx(mm_dflux_dc(c, VMAX, KM),
                                                                rel=3e-16, abs=0)


# --- PD forms ----------------------------------------------------------------------------------

E0, EMAX, EC50, GAMMA, SLOPE = 2.0, 8.0, 0.02, 2.5, 150.0  # EC50 in mg/L, SLOPE per mg/L
# (name, code, sign, fractional, gamma, the response typed out from the design page)
FORMS = [
    ("linear", 0, 1, False, 1.0, lambda c: E0 + SLOPE * c),
    ("emax", 1, 1, False, 1.0, lambda c: E0 + EMAX * c / (EC50 + c)),
    ("sigmoid_emax", 1, 1, False, GAMMA,
     lambda c: E0 + EMAX * c ** GAMMA / (EC50 ** GAMMA + c ** GAMMA)),
    ("sigmoid_emax_2", 1, 1, False, 2.0, lambda c: E0 + EMAX * c ** 2 / (EC50 ** 2 + c ** 2)),
    ("imax", 1, -1, False, 1.0, lambda c: E0 - EMAX * c / (EC50 + c)),
    ("sigmoid_imax", 1, -1, False, GAMMA,
     lambda c: E0 - EMAX * c ** GAMMA / (EC50 ** GAMMA + c ** GAMMA)),
    ("fractional_emax", 1, 1, True, GAMMA,
     lambda c: E0 * (1 + EMAX * c ** GAMMA / (EC50 ** GAMMA + c ** GAMMA))),
    ("fractional_imax", 1, -1, True, GAMMA,
     lambda c: E0 * (1 - 0.5 * c ** GAMMA / (EC50 ** GAMMA + c ** GAMMA))),
]


def _args(code, sign, fractional, gamma, name):
    emax = 0.5 if name == "fractional_imax" else EMAX  # an inhibition of at most 50 %
    return code, sign, fractional, E0, emax, EC50, gamma, SLOPE


@pytest.mark.parametrize("name, code, sign, fractional, gamma, formula", FORMS,
                         ids=[f[0] for f in FORMS])
def test_pd_forms_are_the_formulas(name, code, sign, fractional, gamma, formula):
    args = _args(code, sign, fractional, gamma, name)
    np.testing.assert_allclose(pd_response(CONC, *args), formula(CONC), rtol=1e-13, atol=0)
    for c in CONC:
        assert pd_response(c, *args) == pytest.approx(formula(c), rel=1e-13, abs=0)
    # Negative concentrations (round-off near zero) count as zero: the baseline.
    assert pd_response(-1e-12, *args) == pytest.approx(E0, rel=1e-15)
    if code:
        half = E0 + sign * (args[4] * (E0 if fractional else 1.0)) / 2
        assert pd_response(EC50, *args) == pytest.approx(half, rel=1e-14)  # C = EC50


def test_pd_parameters_may_be_arrays():
    """One parameter row per output row, as the single-subject engines pass them."""
    e0 = np.array([0.0, 1.0, 2.0])
    ec50 = np.array([0.01, 0.02, 0.04])
    gamma = np.array([1.0, 2.0, 3.0])
    c = np.array([0.02, 0.02, 0.02])
    r = (c / ec50) ** gamma
    np.testing.assert_allclose(pd_response(c, 1, 1, False, e0, 10.0, ec50, gamma, 0.0),
                               e0 + 10.0 * r / (1 + r), rtol=1e-15)


@pytest.mark.parametrize("name, code, sign, fractional, gamma, formula", FORMS,
                         ids=[f[0] for f in FORMS])
def test_pd_compiled_equals_uncompiled(name, code, sign, fractional, gamma, formula):
    """The kernels' twin on scalars and the curve kernel against the uncompiled function on
    arrays: bit for bit for the linear form and GAMMA 1 or 2 (the same operations), to 1e-13
    otherwise (libm's pow inside Numba, NumPy's own power)."""
    from dmtpk._kernels import jitted
    from dmtpk._kernels.linear import pd_curve
    args = _args(code, sign, fractional, gamma, name)
    conc = np.concatenate([np.linspace(-1e-12, 0.1, 51), CONC])
    exact = gamma in (1.0, 2.0)
    ref = pd_response(conc, *args)
    one = np.array([jitted.pd_response(c, *args) for c in conc])
    _, _, _, e0, emax, ec50, g, slope = args
    curve = np.empty_like(conc)
    pd_curve(conc, code, sign, e0, emax * e0 if fractional else emax, ec50, g, slope, curve)
    for got in (one, curve):
        if exact:
            assert np.array_equal(got, ref)
        else:
            np.testing.assert_allclose(got, ref, rtol=1e-13, atol=0)


def test_endpoint_pd_values():
    """PD values of an endpoint from the parameter vector, in the curve kernel's units (EC50 in
    ng/mL, SLOPE per ng/mL), absent ones at their neutral value."""
    from dmtpk._kernels import linear as lk
    theta = np.array([0.8, 0.5, 0.02, 1.7, 3.0])
    ep = np.full((2, 11), -1, dtype=np.int64)
    ep[0, [lk.EP_CODE, lk.EP_SIGN, lk.EP_FRACTIONAL]] = (1, -1, 1)
    ep[0, [lk.EP_E0, lk.EP_EMAX, lk.EP_EC50, lk.EP_GAMMA, lk.EP_SLOPE]] = range(5)
    ep[1, [lk.EP_CODE, lk.EP_SIGN, lk.EP_FRACTIONAL]] = (1, 1, 0)
    got = lk.endpoint_pd(theta, ep, 0)
    assert got == pytest.approx((0.8, 0.4, 20.0, 1.7, 0.003), rel=1e-15)
    assert lk.endpoint_pd(theta, ep, 1) == (0.0, 0.0, 1.0, 1.0, 0.0)
