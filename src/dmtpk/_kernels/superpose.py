r"""Superposed unit responses of a linear system, reduced to per-subject extrema.

A linear model's output under doses given at several times is the sum of its unit responses,
scaled and shifted: :math:`y_i(t_k) = \sum_j w_j\,u_{c_j, i}(t_{k - s_j})` (no term before its
shift). Regimen design judges many candidate regimens on the same subjects; only each
subject's extrema are needed, so the sum is never stored: one pass per subject over its
unit-response rows.
"""

from __future__ import annotations

import numpy as np

from .config import jit

__all__ = ["superposed_extrema"]


@jit
def superposed_extrema(units, key, weight, shift, first, lowest, highest, peak):
    """Extrema of superposed unit responses, per subject.

    Parameters
    ----------
    units : ndarray, shape (n_units, n, m)
        Unit responses of ``n`` subjects on a uniform grid of ``m`` times.
    key, shift : ndarray of int64, shape (n_terms,)
        Unit response and shift (grid steps, >= 0) of each term.
    weight : ndarray, shape (n_terms,)
        Its scale (the dose or rate).
    first : int
        First grid index of the span over which ``lowest`` and ``highest`` are taken.
    lowest, highest, peak : ndarray, shape (n,)
        Written: minimum and maximum of the sum over ``t_first..t_{m-1}``, and its maximum
        over the whole grid. The terms are added in their order, starting from 0.
    """
    n, m = units.shape[1], units.shape[2]
    for i in range(n):
        acc = np.zeros(m)
        for j in range(key.size):
            k = shift[j]
            w = weight[j]
            for t in range(k, m):          # contiguous: vectorises
                acc[t] += w * units[key[j], i, t - k]
        lo = np.inf
        hi = -np.inf
        pk = -np.inf
        for t in range(m):
            v = acc[t]
            if v > pk:
                pk = v
            if t >= first:
                if v < lo:
                    lo = v
                if v > hi:
                    hi = v
        lowest[i] = lo
        highest[i] = hi
        peak[i] = pk
