"""A kernel hand-written for exactly workload W1, the ceiling the general engine is measured
against: two-compartment IV bolus + effect compartment + sigmoid Emax with GAMMA = 2, outputs
Cp (ng/mL), Ce (ng/mL) and the effect at the given times, written out with no generality."""

from __future__ import annotations

import math

from numba import njit, prange


@njit(parallel=True, cache=True)
def w1_kernel(cl, v1, q, v2, ke0, dose, ec50, emax, times, cp, ce, eff):
    n = cl.size
    for i in prange(n):
        k10 = cl[i] / v1[i]
        k12 = q[i] / v1[i]
        k21 = q[i] / v2[i]
        b = k10 + k12 + k21
        c = k10 * k21
        qq = -0.5 * (b + math.sqrt(b * b - 4.0 * c))
        l1 = qq
        l2 = c / qq
        k = ke0[i]
        a1 = dose / v1[i] * (l1 + k21) / (l1 - l2)
        a2 = dose / v1[i] * (l2 + k21) / (l2 - l1)
        # Ce = sum_j a_j * ke0/(ke0 + l_j) (e^{l_j t} - e^{-ke0 t})
        b1 = a1 * k / (k + l1)
        b2 = a2 * k / (k + l2)
        for j in range(times.size):
            t = times[j]
            e1 = math.exp(l1 * t)
            e2 = math.exp(l2 * t)
            ek = math.exp(-k * t)
            c_p = a1 * e1 + a2 * e2
            c_e = b1 * (e1 - ek) + b2 * (e2 - ek)
            cp[i, j] = c_p * 1000.0
            ce[i, j] = c_e * 1000.0
            x = c_e / ec50
            r = x * x
            eff[i, j] = emax * r / (1.0 + r)
