"""Textbook closed-form PK/PD solutions, written from scratch in plain numpy.

These functions are the *independent* reference against which ``dmtpk`` is tested: nothing here
imports or mirrors ``dmtpk`` code (no system matrix, no eigendecomposition, no matrix exponential).
Each is the formula as printed in the pharmacokinetics textbooks, with its usual parameterisation
by micro-constants (``k10 = CL/V1``, ``k12 = Q/V1``, ``k21 = Q/V2``, ``k13 = Q3/V1``,
``k31 = Q3/V3``).

Units are whatever the caller uses consistently; the tests use mg, L, min, so concentrations
come out in mg/L (multiply by 1000 for ng/mL).

References
----------
.. [GP] Gibaldi M, Perrier D. *Pharmacokinetics*, 2nd ed. New York: Marcel Dekker; 1982.
   Ch. 1 (one-compartment model: IV bolus, zero-order infusion, first-order absorption),
   ch. 2 (multicompartment models: two- and three-compartment IV bolus by macro-constants),
   ch. 7 (nonlinear, Michaelis-Menten, pharmacokinetics).
.. [RT] Rowland M, Tozer TN. *Clinical Pharmacokinetics and Pharmacodynamics: Concepts and
   Applications*, 4th ed. Lippincott Williams & Wilkins; 2011.
.. [Bat] Bateman H. The solution of a system of differential equations occurring in the theory of
   radioactive transformations. *Proc Camb Philos Soc* 1910;15:423-427.
.. [She] Sheiner LB, Stanski DR, Vozeh S, Miller RD, Ham J. Simultaneous modeling of
   pharmacokinetics and pharmacodynamics: application to d-tubocurarine. *Clin Pharmacol Ther*
   1979;25:358-371 (the effect compartment).
.. [HS] Holford NHG, Sheiner LB. Understanding the dose-effect relationship: clinical application
   of pharmacokinetic-pharmacodynamic models. *Clin Pharmacokinet* 1981;6:429-453 (Emax and
   sigmoid Emax / Hill models).
.. [TX] Tang S, Xiao Y. One-compartment model with Michaelis-Menten elimination kinetics and
   therapeutic window: an analytical approach. *J Pharmacokinet Pharmacodyn* 2007;34:807-827
   (the Lambert-W solution of the one-compartment Michaelis-Menten bolus).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "one_cmt_bolus", "one_cmt_infusion", "two_cmt_macro", "two_cmt_bolus", "three_cmt_macro",
    "three_cmt_bolus", "bateman", "effect_cmt_one_cmt_bolus", "effect_cmt_peak_time",
    "sigmoid_emax", "inverse_sigmoid_emax", "mm_one_cmt_bolus", "mm_one_cmt_bolus_auc",
    "lambert_w0",
]


def _exp_difference(k1, k2, tau):
    r""":math:`e^{-k_1\tau} - e^{-k_2\tau}` without cancellation: :math:`-e^{-k_1\tau}
    \mathrm{expm1}(-(k_2 - k_1)\tau)` for :math:`k_2 > k_1` (and the mirror image otherwise,
    so that the expm1 argument is never positive and cannot overflow)."""
    if k2 >= k1:
        return -np.exp(-k1 * tau) * np.expm1(-(k2 - k1) * tau)
    return np.exp(-k2 * tau) * np.expm1(-(k1 - k2) * tau)


def _after(t, t0):
    """(mask t >= t0, elapsed time t - t0 clipped at 0) as float arrays."""
    t = np.asarray(t, dtype=float)
    return t >= t0, np.maximum(t - t0, 0.0)


# ------------------------------------------------------------------------------------------------
# One compartment
# ------------------------------------------------------------------------------------------------

def one_cmt_bolus(t, dose, v, k, t0=0.0):
    r"""One-compartment IV bolus, :math:`C = \frac{D}{V} e^{-k (t - t_0)}` for :math:`t \ge t_0`.

    [GP]_ ch. 1, eq. for intravenous bolus (first-order elimination); zero before the dose.
    The value at :math:`t = t_0` is the post-dose value :math:`D/V`.
    """
    on, tau = _after(t, t0)
    return np.where(on, dose / v * np.exp(-k * tau), 0.0)


def one_cmt_infusion(t, rate, duration, v, k, t0=0.0):
    r"""One-compartment zero-order infusion, rate :math:`R` over :math:`T` from :math:`t_0`.

    During the infusion (:math:`0 \le \tau = t - t_0 \le T`)
    :math:`C = \frac{R}{k V}\,(1 - e^{-k\tau})`; after it
    :math:`C = \frac{R}{k V}\,(1 - e^{-kT})\, e^{-k(\tau - T)}` ([GP]_ ch. 1, constant-rate
    intravenous infusion; [RT]_ ch. 10).
    """
    t = np.asarray(t, dtype=float)
    tau = t - t0
    css = rate / (k * v)
    during = css * (1.0 - np.exp(-k * np.clip(tau, 0.0, duration)))
    end = css * (1.0 - np.exp(-k * duration))
    after = end * np.exp(-k * np.maximum(tau - duration, 0.0))
    return np.where(tau < 0, 0.0, np.where(tau <= duration, during, after))


def bateman(t, dose, v, k, ka, f=1.0, lag=0.0, t0=0.0):
    r"""One-compartment first-order absorption (the Bateman function).

    .. math:: C = \frac{F D\, k_a}{V (k_a - k)} \left(e^{-k\tau} - e^{-k_a\tau}\right),
              \qquad \tau = t - t_0 - t_{lag} \ge 0,

    zero before the lag has elapsed ([Bat]_; [GP]_ ch. 1, first-order absorption with lag time).
    When :math:`k_a = k` the textbook limit :math:`C = \frac{F D}{V} k\,\tau\,e^{-k\tau}` is used.

    The difference of exponentials is evaluated as
    :math:`-e^{-k\tau}\,\mathrm{expm1}(-(k_a - k)\tau)`, the same quantity without the
    cancellation that costs ~eps/((k_a - k)\tau) relative accuracy when :math:`k_a \approx k`.
    """
    on, tau = _after(t, t0 + lag)
    if ka == k:
        c = f * dose / v * k * tau * np.exp(-k * tau)
    else:
        c = f * dose * ka / (v * (ka - k)) * _exp_difference(k, ka, tau)
    return np.where(on, c, 0.0)


# ------------------------------------------------------------------------------------------------
# Two and three compartments (IV bolus into the central compartment)
# ------------------------------------------------------------------------------------------------

def two_cmt_macro(k10, k12, k21):
    r"""Hybrid rate constants :math:`\alpha > \beta` of the two-compartment model.

    .. math:: \alpha, \beta = \tfrac12\left[(k_{12}+k_{21}+k_{10})
              \pm \sqrt{(k_{12}+k_{21}+k_{10})^2 - 4 k_{21} k_{10}}\right]

    ([GP]_ ch. 2).
    """
    s = k10 + k12 + k21
    disc = np.sqrt(s * s - 4.0 * k21 * k10)
    return 0.5 * (s + disc), 0.5 * (s - disc)


def two_cmt_bolus(t, dose, v1, k10, k12, k21, t0=0.0):
    r"""Two-compartment IV bolus, :math:`C = A e^{-\alpha t} + B e^{-\beta t}` with

    .. math:: A = \frac{D}{V_1}\frac{\alpha - k_{21}}{\alpha - \beta}, \qquad
              B = \frac{D}{V_1}\frac{k_{21} - \beta}{\alpha - \beta}

    ([GP]_ ch. 2).
    """
    alpha, beta = two_cmt_macro(k10, k12, k21)
    a = dose / v1 * (alpha - k21) / (alpha - beta)
    b = dose / v1 * (k21 - beta) / (alpha - beta)
    on, tau = _after(t, t0)
    return np.where(on, a * np.exp(-alpha * tau) + b * np.exp(-beta * tau), 0.0)


def three_cmt_macro(k10, k12, k21, k13, k31):
    r"""Hybrid rate constants :math:`\alpha > \beta > \gamma` of the three-compartment model.

    They are the roots of the characteristic cubic
    :math:`\lambda^3 - a_2\lambda^2 + a_1\lambda - a_0 = 0` with

    .. math:: a_2 = k_{10}+k_{12}+k_{13}+k_{21}+k_{31}, \quad
              a_1 = k_{10}k_{21} + k_{10}k_{31} + k_{21}k_{31} + k_{21}k_{13} + k_{31}k_{12},
              \quad a_0 = k_{10}k_{21}k_{31}

    ([GP]_ ch. 2), taken in closed form by Viète's trigonometric method for three real roots
    (the cubic of a mammillary model always has three distinct positive roots for distinct
    distribution rate constants).
    """
    a2 = k10 + k12 + k13 + k21 + k31
    a1 = k10 * k21 + k10 * k31 + k21 * k31 + k21 * k13 + k31 * k12
    a0 = k10 * k21 * k31
    # lambda^3 + a lambda^2 + b lambda + c = 0 with a = -a2, b = a1, c = -a0; lambda = x - a/3.
    a, b, c = -a2, a1, -a0
    p = b - a * a / 3.0
    q = 2.0 * a ** 3 / 27.0 - a * b / 3.0 + c
    m = 2.0 * np.sqrt(-p / 3.0)
    theta = np.arccos(np.clip(3.0 * q / (p * m), -1.0, 1.0)) / 3.0
    roots = [m * np.cos(theta - 2.0 * np.pi * j / 3.0) - a / 3.0 for j in range(3)]
    alpha, beta, gamma = sorted(roots, reverse=True)
    return alpha, beta, gamma


def three_cmt_bolus(t, dose, v1, k10, k12, k21, k13, k31, t0=0.0):
    r"""Three-compartment IV bolus, :math:`C = A e^{-\alpha t} + B e^{-\beta t} + C e^{-\gamma t}`.

    Coefficients by the standard formula ([GP]_ ch. 2)

    .. math:: A = \frac{D}{V_1}\frac{(k_{21}-\alpha)(k_{31}-\alpha)}{(\beta-\alpha)(\gamma-\alpha)},
              \quad
              B = \frac{D}{V_1}\frac{(k_{21}-\beta)(k_{31}-\beta)}{(\alpha-\beta)(\gamma-\beta)},
              \quad
              C = \frac{D}{V_1}\frac{(k_{21}-\gamma)(k_{31}-\gamma)}{(\alpha-\gamma)(\beta-\gamma)}.
    """
    al, be, ga = three_cmt_macro(k10, k12, k21, k13, k31)
    d = dose / v1
    ca = d * (k21 - al) * (k31 - al) / ((be - al) * (ga - al))
    cb = d * (k21 - be) * (k31 - be) / ((al - be) * (ga - be))
    cg = d * (k21 - ga) * (k31 - ga) / ((al - ga) * (be - ga))
    on, tau = _after(t, t0)
    return np.where(on, ca * np.exp(-al * tau) + cb * np.exp(-be * tau) + cg * np.exp(-ga * tau),
                    0.0)


# ------------------------------------------------------------------------------------------------
# Effect compartment and Emax models
# ------------------------------------------------------------------------------------------------

def effect_cmt_one_cmt_bolus(t, dose, v, k, ke0, t0=0.0):
    r"""Effect-site concentration after a one-compartment IV bolus ([She]_):

    .. math:: C_e = \frac{D}{V}\frac{k_{e0}}{k_{e0} - k}\left(e^{-k\tau} - e^{-k_{e0}\tau}\right),

    the Bateman function with :math:`k_a \to k_{e0}` driven by plasma. At :math:`k_{e0} = k` the
    limit :math:`C_e = \frac{D}{V} k\,\tau\,e^{-k\tau}` is used. The difference of exponentials
    is evaluated without cancellation, as in :func:`bateman`.
    """
    on, tau = _after(t, t0)
    if ke0 == k:
        ce = dose / v * k * tau * np.exp(-k * tau)
    else:
        ce = dose / v * ke0 / (ke0 - k) * _exp_difference(k, ke0, tau)
    return np.where(on, ce, 0.0)


def effect_cmt_peak_time(k, ke0):
    r"""Time of the effect-site peak after a one-compartment bolus,
    :math:`t_{peak} = \ln(k_{e0}/k)/(k_{e0} - k)` (set :math:`dC_e/dt = 0` in
    :func:`effect_cmt_one_cmt_bolus`; [She]_), and :math:`1/k` in the limit :math:`k_{e0} = k`."""
    if ke0 == k:
        return 1.0 / k
    return np.log(ke0 / k) / (ke0 - k)


def sigmoid_emax(c, e0, emax, ec50, gamma, sign=+1):
    r"""Sigmoid Emax (Hill) model ([HS]_):
    :math:`E = E_0 \pm E_{max}\,C^\gamma / (EC_{50}^\gamma + C^\gamma)`; ``sign=-1`` gives the
    sigmoid Imax form."""
    c = np.maximum(np.asarray(c, dtype=float), 0.0)
    return e0 + sign * emax * c ** gamma / (ec50 ** gamma + c ** gamma)


def inverse_sigmoid_emax(e, e0, emax, ec50, gamma, sign=+1):
    r"""Concentration at which the sigmoid Emax model gives response ``e`` ([HS]_):

    .. math:: C = EC_{50} \left(\frac{\Delta}{E_{max} - \Delta}\right)^{1/\gamma},
              \qquad \Delta = \pm(E - E_0),

    defined for :math:`0 < \Delta < E_{max}` (NaN otherwise: the response is never reached).
    """
    delta = sign * (np.asarray(e, dtype=float) - e0)
    ok = (delta > 0) & (delta < emax)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = ec50 * (delta / (emax - delta)) ** (1.0 / gamma)
    return np.where(ok, c, np.nan)


# ------------------------------------------------------------------------------------------------
# Michaelis-Menten elimination, one compartment
# ------------------------------------------------------------------------------------------------

def lambert_w0(x):
    """Principal branch of the Lambert W function for x >= 0 (plain numpy, Halley iteration).

    Solves :math:`w e^w = x`; converges to machine precision in a handful of steps from the
    starting value ``log1p(x)`` (a standard choice for x >= 0).
    """
    x = np.asarray(x, dtype=float)
    w = np.log1p(x)
    for _ in range(100):
        ew = np.exp(w)
        f = w * ew - x
        wp1 = w + 1.0
        step = f / (ew * wp1 - (w + 2.0) * f / (2.0 * wp1))
        w = w - step
        if np.all(np.abs(step) <= 4e-16 * np.maximum(1.0, np.abs(w))):
            break
    return w


def mm_one_cmt_bolus(t, dose, v, vmax, km, t0=0.0):
    r"""One-compartment IV bolus with Michaelis-Menten elimination
    :math:`V\,dC/dt = -V_{max} C/(K_M + C)`.

    Integrating ([GP]_ ch. 7) gives :math:`K_M \ln(C_0/C) + C_0 - C = (V_{max}/V)\,t`, whose
    explicit solution is ([TX]_)

    .. math:: C(t) = K_M\, W_0\!\left(\frac{C_0}{K_M}
              \exp\!\left(\frac{C_0 - (V_{max}/V)\,t}{K_M}\right)\right),
              \qquad C_0 = D/V.

    To stay in floating-point range the argument is formed in logs: :math:`W_0(e^u)` with
    :math:`u = \ln(C_0/K_M) + (C_0 - V_{max}t/V)/K_M`; for large u, W is found by Newton on
    :math:`w + \ln w = u`.
    """
    on, tau = _after(t, t0)
    c0 = dose / v
    u = np.log(c0 / km) + (c0 - vmax / v * tau) / km
    small = u < 500.0
    w = np.empty_like(u)
    w[small] = lambert_w0(np.exp(u[small]))
    if np.any(~small):  # w + ln w = u, Newton from w = u - ln u
        ub = u[~small]
        wb = ub - np.log(ub)
        for _ in range(50):
            wb = wb - (wb + np.log(wb) - ub) / (1.0 + 1.0 / wb)
        w[~small] = wb
    return np.where(on, km * w, 0.0)


def mm_one_cmt_bolus_auc(dose, v, vmax, km):
    r"""Total AUC (0 to infinity) of a one-compartment Michaelis-Menten bolus ([GP]_ ch. 7):

    .. math:: AUC = \frac{C_0}{V_{max}/V}\left(K_M + \frac{C_0}{2}\right), \qquad C_0 = D/V.

    AUC/dose rises linearly with dose, the textbook sign of saturable elimination.
    """
    c0 = dose / v
    return c0 / (vmax / v) * (km + c0 / 2.0)
