r"""The model system as a pure function of the parameter vector.

``fill_system`` writes the matrix :math:`A(\theta)` of the linear part of a compiled model; the
layout of states and parameters is an int64 array (see :data:`LAYOUT_FIELDS`), so one function
serves every model and compiles once with Numba. It runs uncompiled for single subjects and
compiled inside population kernels. The nonlinear part of the system, Michaelis–Menten
elimination, is :mod:`dmtpk._kernels.elimination`; the PD forms are :mod:`dmtpk._kernels.pd`.
"""

from __future__ import annotations

import numpy as np

#: Meaning of the leading entries of the layout array; each is a state index or a position in
#: theta, -1 when absent. After them: the number of endpoints, then per endpoint
#: (effect-compartment state, driver 0 parent / 1 metabolite, position of KE0).
LAYOUT_FIELDS = ("n_states", "depot", "central", "peripheral_1", "peripheral_2", "metabolite",
                 "eliminated", "metabolite_eliminated", "linear",
                 "CL", "V1", "Q", "V2", "Q3", "V3", "KA", "M_CL", "M_V", "FM")
_N = len(LAYOUT_FIELDS)
(L_NSTATES, L_DEPOT, L_CENTRAL, L_P1, L_P2, L_METAB, L_ELIM, L_ELIM_M, L_LINEAR,
 P_CL, P_V1, P_Q, P_V2, P_Q3, P_V3, P_KA, P_MCL, P_MV, P_FM) = range(_N)
L_NENDPOINTS = _N


def fill_system(theta, layout, mass_ratio, depot_kas, a):
    """Write :math:`A(\\theta)` into ``a`` (shape (n, n), n = n_states + extra depots).

    Parameters
    ----------
    theta : float64[:]
        Parameter values in canonical units (L, L/min, 1/min).
    layout : int64[:]
        State and parameter positions (:data:`LAYOUT_FIELDS`, then endpoints).
    mass_ratio : float
        Metabolite mass formed per mg of parent eliminated, per unit FM.
    depot_kas : float64[:]
        Absorption rate constants of the depots in use, the model's own depot first; extra
        depots are states ``n_states, n_states + 1, ...``. Empty: the model's KA.
    a : float64[:, :]
        Output, overwritten.
    """
    a[:, :] = 0.0
    n_states = layout[L_NSTATES]
    c = layout[L_CENTRAL]
    e = layout[L_ELIM]
    v1 = theta[layout[P_V1]]
    k10 = 0.0
    if layout[L_LINEAR] == 1:
        k10 = theta[layout[P_CL]] / v1
    a[c, c] -= k10
    a[e, c] += k10
    for j in range(2):
        p = layout[L_P1 + j]
        if p < 0:
            continue
        q = theta[layout[P_Q + 2 * j]]
        v = theta[layout[P_V2 + 2 * j]]
        a[c, c] -= q / v1
        a[p, c] += q / v1
        a[p, p] -= q / v
        a[c, p] += q / v
    d0 = layout[L_DEPOT]
    if d0 >= 0:
        ka = theta[layout[P_KA]] if depot_kas.size == 0 else depot_kas[0]
        a[d0, d0] -= ka
        a[c, d0] += ka
        for k in range(1, depot_kas.size):
            d = n_states + k - 1
            a[d, d] -= depot_kas[k]
            a[c, d] += depot_kas[k]
    m = layout[L_METAB]
    vm = 1.0
    if m >= 0:
        vm = theta[layout[P_MV]]
        km_el = theta[layout[P_MCL]] / vm
        a[m, c] += theta[layout[P_FM]] * mass_ratio * k10
        a[m, m] -= km_el
        a[layout[L_ELIM_M], m] += km_el
    n_ep = layout[L_NENDPOINTS]
    for i in range(n_ep):
        s = layout[L_NENDPOINTS + 1 + 3 * i]
        if s < 0:
            continue
        ke0 = theta[layout[L_NENDPOINTS + 3 + 3 * i]]
        if layout[L_NENDPOINTS + 2 + 3 * i] == 0:
            a[s, c] += ke0 / v1
        else:
            a[s, m] += ke0 / vm
        a[s, s] -= ke0


def layout_size(n_endpoints: int) -> int:
    """Length of a layout array with ``n_endpoints`` endpoints."""
    return _N + 1 + 3 * n_endpoints


def empty_layout(n_endpoints: int):
    out = np.full(layout_size(n_endpoints), -1, dtype=np.int64)
    out[L_NENDPOINTS] = n_endpoints
    return out
