r"""Michaelis–Menten elimination: the one nonlinear flux of the models, and its derivative.

The flux out of the central compartment at concentration :math:`C = x_c / V_1` (mg/L) is

.. math:: f(C) = \frac{V_{max}\,C}{K_M + C}, \qquad
          \frac{\partial f}{\partial C} = \frac{V_{max}\,K_M}{(K_M + C)^2}

(mg/min, and mg/min per mg/L; :math:`\partial f/\partial x_c` is the latter over :math:`V_1`).
It leaves ``central`` and enters ``eliminated`` (and, times FM and the molar-mass ratio, the
metabolite).

Pure functions of floats or arrays, with no Numba import: the SciPy engine calls them
uncompiled, the kernels compiled and inlined (:mod:`dmtpk._kernels.jitted`), so every engine
reads these lines.
"""

from __future__ import annotations

__all__ = ["mm_flux", "mm_dflux_dc", "mm_flux_amount"]


def mm_flux(c, vmax, km):
    """Michaelis–Menten elimination rate (mg/min) at concentration ``c`` (mg/L)."""
    return vmax * c / (km + c)


def mm_dflux_dc(c, vmax, km):
    """Derivative of :func:`mm_flux` with respect to the concentration (mg/min per mg/L)."""
    return vmax * km / (km + c) ** 2


def mm_flux_amount(x, vmax, kmv1):
    """:func:`mm_flux` from the central amount ``x`` (mg) and ``kmv1`` = KM V1 (mg):
    VMAX x / (KM V1 + x), the same rate up to rounding with one division instead of two.

    The form of the integrator's lanes, where the divisions are the costliest operations of the
    right-hand side (W3 116k against 103-109k subjects/s with the two-division form).
    """
    return vmax * x / (kmv1 + x)
