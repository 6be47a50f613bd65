r"""PD forms: the response to a driving concentration, for every engine.

Code 0 is linear, :math:`E = E_0 + \mathrm{SLOPE}\,C`; any other code is the Emax family

.. math:: E = E_0 \pm M\,\frac{r}{1 + r}, \qquad r = \left(\frac{C}{EC_{50}}\right)^{\gamma},

sign + for ``emax``, ``sigmoid_emax``, ``fractional_emax`` and - for the ``imax`` forms,
:math:`M = E_{max}`, or :math:`M = E_0 E_{max}` for the fractional forms (which are then
:math:`E_0 (1 \pm E_{max} r / (1 + r))`), :math:`\gamma = 1` for the forms without GAMMA.

A pure function of floats or arrays, with no Numba import: the single-subject engines call it
uncompiled on arrays (parameters may be arrays too, one per row), the population kernels
compiled and inlined on one concentration at a time (:func:`dmtpk._kernels.linear.pd_curve`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["pd_response", "pd_inverse"]


def pd_response(conc, code, sign, fractional, e0, emax, ec50, gamma, slope):
    """PD response at driver concentration ``conc`` (mg/L, array or scalar).

    ``code`` 0 is linear (:math:`E_0 + \\mathrm{SLOPE}\\,C`); any other code is the Emax family
    :math:`E_0 \\pm M\\,r/(1+r)`, :math:`r = (C/EC_{50})^\\gamma`, with :math:`M = E_{max}`
    or :math:`E_0 E_{max}` when ``fractional``. Negative concentrations (integrator round-off
    near zero) count as zero.
    """
    c = np.maximum(conc, 0.0)
    if code == 0:
        return e0 + slope * c
    r = (c / ec50) ** gamma
    m = emax * e0 if fractional else emax
    return e0 + sign * m * r / (1.0 + r)


def pd_inverse(effect, code, sign, fractional, e0, emax, ec50, gamma, slope):
    """The driver concentration (mg/L) at which :func:`pd_response` gives ``effect``: for the
    linear form :math:`(E - E_0)/\\mathrm{SLOPE}`; for the Emax family
    :math:`EC_{50}\\,(u/(1 - u))^{1/\\gamma}` with :math:`u = \\pm(E - E_0)/M`. NaN where the
    effect cannot be reached (at or beyond the asymptote :math:`E_0 \\pm M`, or on the wrong
    side of :math:`E_0`)."""
    e = np.asarray(effect, dtype=float)
    if code == 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            c = (e - e0) / slope
        return np.where(c >= 0, c, np.nan)
    m = emax * e0 if fractional else emax
    u = sign * (e - e0) / m
    ok = (u >= 0) & (u < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = ec50 * (np.where(ok, u, 0.0) / (1.0 - np.where(ok, u, 0.0))) ** (1.0 / gamma)
    return np.where(ok, c, np.nan)
