r"""Adaptive stepping shared by the kernels' integrators: one tableau, one error norm, one
step-size factor.

- The Dormand-Prince 5(4) tableau (Hairer, Nørsett & Wanner, *Solving ODEs I*, 2nd ed.,
  sect. II.5, the coefficients of their DOPRI5 code): stages ``A``, the 5th-order weights
  (the last stage row ``A7*``, first same as last), the error weights ``E`` (5th minus 4th
  order) and the dense-output weights ``D`` of the 4th-order continuous extension. The record
  walker (:mod:`dmtpk._kernels.records`, one subject) and the lanes
  (:mod:`dmtpk._kernels.ode`, many subjects side by side) both step with it.
- :func:`error_norm`: the RMS norm of an error estimate, each component scaled by
  :math:`a_{tol} + r_{tol}\max(|y_0|, |y_1|)`; the record walker's DOPRI5 and ROS2
  (:mod:`dmtpk._kernels.ros2`) call it, the lanes compute the same sum across lanes inline.
- :func:`step_factor`: :math:`0.9\,e^{-1/(p+1)}` within [0.2, 5] after an accepted step and
  [0.2, 1] after a rejected one; the lanes use a vectorised evaluation of the same law
  (``ode._step_factors``, held to it by a test).
- :func:`dp_y2` ... :func:`dp_y7` and :func:`dp_error`: the Dormand-Prince stage states and
  the error estimate of one component, written once and inlined into the loops of the lanes
  (one step size per lane) and of the record walker.
"""

from __future__ import annotations

import math

from .config import jit, jit_inline

__all__ = ["A21", "A31", "A32", "A41", "A42", "A43", "A51", "A52", "A53", "A54", "A61", "A62",
           "A63", "A64", "A65", "A71", "A73", "A74", "A75", "A76", "E1", "E3", "E4", "E5", "E6",
           "E7", "D1", "D3", "D4", "D5", "D6", "D7", "SAFETY", "FAC_MIN", "FAC_MAX",
           "error_norm", "step_factor", "dp_y2", "dp_y3", "dp_y4", "dp_y5", "dp_y6", "dp_y7",
           "dp_error"]

# Dormand-Prince 5(4) tableau. Its nodes c = 1/5, 3/10, 4/5, 8/9, 1 enter the lanes through
# their absorption input (multiples of 1/90).
A21 = 1.0 / 5.0
A31, A32 = 3.0 / 40.0, 9.0 / 40.0
A41, A42, A43 = 44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0
A51, A52, A53, A54 = 19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0
A61, A62, A63, A64, A65 = (9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0,
                           -5103.0 / 18656.0)
A71, A73, A74, A75, A76 = (35.0 / 384.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0,
                           11.0 / 84.0)
E1, E3, E4, E5, E6, E7 = (71.0 / 57600.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0,
                          22.0 / 525.0, -1.0 / 40.0)
D1, D3, D4, D5, D6, D7 = (-12715105075.0 / 11282082432.0, 87487479700.0 / 32700410799.0,
                          -10690763975.0 / 1880347072.0, 701980252875.0 / 199316789632.0,
                          -1453857185.0 / 822651844.0, 69997945.0 / 29380423.0)

#: Step-size control: factor SAFETY e^(-1/(p + 1)), within [FAC_MIN, FAC_MAX] after an accepted
#: step and [FAC_MIN, 1] after a rejected one.
SAFETY, FAC_MIN, FAC_MAX = 0.9, 0.2, 5.0


@jit
def error_norm(err, y0, y1, rtol, atol):
    """RMS of ``err[i] / (atol + rtol max(|y0[i]|, |y1[i]|))`` over the components of ``err``
    (shape (n,); ``y0``, ``y1`` at least as long): the error of a step from y0 to y1 relative
    to the tolerances, accepted when at most 1."""
    s = 0.0
    for i in range(err.size):
        sc = atol + rtol * max(abs(y0[i]), abs(y1[i]))
        s += (err[i] / sc) ** 2
    return math.sqrt(s / err.size)


@jit_inline
def step_factor(en, exponent):
    """Step-size factor SAFETY en^-exponent (exponent 1/(order + 1)), within [FAC_MIN, FAC_MAX]
    after an accepted step (en <= 1; a zero norm counts as 1e-10) and [FAC_MIN, 1] after a
    rejected one."""
    if en <= 1.0:
        return min(FAC_MAX, max(FAC_MIN, SAFETY * max(en, 1e-10) ** -exponent))
    return min(1.0, max(FAC_MIN, SAFETY * en ** -exponent))



# The Dormand-Prince stage states and error estimate, one component at a time: written once,
# inlined into the lanes' loops (per lane step ``h``) and the record walker's (one step).

@jit_inline
def dp_y2(x, h, k1):
    """State of stage 2: x + h A21 k1."""
    return x + h * A21 * k1


@jit_inline
def dp_y3(x, h, k1, k2):
    """State of stage 3."""
    return x + h * (A31 * k1 + A32 * k2)


@jit_inline
def dp_y4(x, h, k1, k2, k3):
    """State of stage 4."""
    return x + h * (A41 * k1 + A42 * k2 + A43 * k3)


@jit_inline
def dp_y5(x, h, k1, k2, k3, k4):
    """State of stage 5."""
    return x + h * (A51 * k1 + A52 * k2 + A53 * k3 + A54 * k4)


@jit_inline
def dp_y6(x, h, k1, k2, k3, k4, k5):
    """State of stage 6."""
    return x + h * (A61 * k1 + A62 * k2 + A63 * k3 + A64 * k4 + A65 * k5)


@jit_inline
def dp_y7(x, h, k1, k3, k4, k5, k6):
    """State of stage 7, the 5th-order solution (first same as last)."""
    return x + h * (A71 * k1 + A73 * k3 + A74 * k4 + A75 * k5 + A76 * k6)


@jit_inline
def dp_error(h, k1, k3, k4, k5, k6, k7):
    """Error estimate of the step (5th- minus 4th-order solution)."""
    return h * (E1 * k1 + E3 * k3 + E4 * k4 + E5 * k5 + E6 * k6 + E7 * k7)
