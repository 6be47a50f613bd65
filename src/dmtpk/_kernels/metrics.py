"""Per-subject metrics on the output grid and streaming histograms (compiled with Numba).

Grid metrics follow :mod:`dmtpk.metrics` on the output grid: Cmax and Tmax (first grid maximum),
AUC by linear-up/log-down; effect onset, offset and duration beyond a threshold with the
crossing times interpolated linearly between grid points (exact for the single-subject
``Result.metrics()``, grid-accurate here: use a grid fine enough for the durations you need).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

@njit(cache=True)
def _exposure(t, c, out):
    imax = 0
    for k in range(1, t.size):
        if c[k] > c[imax]:
            imax = k
    out[0] = c[imax]
    out[1] = t[imax]
    auc = 0.0
    for k in range(t.size - 1):
        dt = t[k + 1] - t[k]
        c0 = c[k]
        c1 = c[k + 1]
        if c1 < c0 and c1 > 0.0 and c0 > 0.0:
            auc += (c0 - c1) * dt / math.log(c0 / c1)
        else:
            auc += 0.5 * (c0 + c1) * dt
    out[2] = auc


@njit(cache=True)
def _effect(t, y, thr, s, out):
    """Onset, peak, time to peak, offset, duration of s*(y - thr) > 0 (s = +1 or -1)."""
    m = t.size
    ipk = 0
    for k in range(1, m):
        if s * y[k] > s * y[ipk]:
            ipk = k
    out[1] = y[ipk]
    out[2] = t[ipk]
    onset = math.nan
    offset = math.nan
    duration = 0.0
    g0 = s * (y[0] - thr)
    if g0 > 0.0:
        onset = t[0]
    start = t[0]
    for k in range(m - 1):
        ga = s * (y[k] - thr)
        gb = s * (y[k + 1] - thr)
        if (ga > 0.0) != (gb > 0.0):
            tc = t[k] + (t[k + 1] - t[k]) * ga / (ga - gb)
            if gb > 0.0:
                start = tc
                if math.isnan(onset):
                    onset = tc
            else:
                duration += tc - start
                offset = tc
    if s * (y[m - 1] - thr) > 0.0:
        duration += t[m - 1] - start
        offset = math.nan  # still beyond the threshold at the last time
    out[0] = onset
    out[3] = offset
    out[4] = duration


@njit(parallel=True, cache=True)
def grid_metrics(t, conc, effects, thresholds, signs, out_exposure, out_effect):
    """Metrics of every subject: ``conc`` (n, n_times) ng/mL; ``effects`` (n, n_ep, n_times);
    writes ``out_exposure`` (n, 3) and ``out_effect`` (n, n_ep, 5); endpoints with a NaN
    threshold get NaN effect metrics."""
    n = conc.shape[0]
    for i in prange(n):
        _exposure(t, conc[i], out_exposure[i])
        for q in range(effects.shape[1]):
            if math.isnan(thresholds[q]):
                for f in range(5):
                    out_effect[i, q, f] = math.nan
            else:
                _effect(t, effects[i, q], thresholds[q], signs[q], out_effect[i, q])


@njit(cache=True)
def time_beyond(t, y, thr, s):
    """Total time (min) with s*(y - thr) > 0 on the grid, crossings interpolated."""
    out = np.empty(5)
    _effect(t, y, thr, s, out)
    return out[4]


@njit(parallel=True, cache=True)
def durations_beyond(t, y, thr, s, out):
    """:func:`time_beyond` of every row of ``y`` (n, n_times) into ``out`` (n,)."""
    for i in prange(y.shape[0]):
        out[i] = time_beyond(t, y[i], thr, s)


@njit(cache=True)
def _raise_level(counts, j, lv, target):
    """Merge bin pairs of column j from level lv up to ``target``."""
    nb = counts.shape[1]
    half = nb // 2
    while lv < target:
        merged = np.zeros(nb, dtype=counts.dtype)
        for b in range(nb):
            merged[((b - half) >> 1) + half] += counts[j, b]
        counts[j, :] = merged
        lv += 1
    return lv


@njit(parallel=True, cache=True)
def hist_add_columns(xt, center, width, level, counts, vmin, vmax, n_nan):
    """Add values to per-column histograms; ``xt`` holds one column per row (n_cols, n),
    C-contiguous, so each column is read as one contiguous run.

    Each value maps to the fine index f = floor((x - center) / width) of its column; at level L
    a bin holds the fine indices [b 2^L, (b + 1) 2^L), bins b in [-nb/2, nb/2). A value that
    does not fit raises its column's level (merging bin pairs, which is exact) just as far as
    needed, so a column ends at the lowest level that holds every value it has seen, and the
    counts do not depend on the order or grouping of the values. Threads own whole columns, so
    the result does not depend on the thread count either.
    """
    ncol, n = xt.shape
    nb = counts.shape[1]
    half = nb // 2
    for j in prange(ncol):
        inv = 1.0 / width[j]
        c0 = center[j]
        lo = vmin[j]
        hi = vmax[j]
        lv = level[j]
        nan = 0
        for i in range(n):
            v = xt[j, i]
            if v != v:
                nan += 1
                continue
            if v < lo:
                lo = v
            if v > hi:
                hi = v
            q = math.floor((v - c0) * inv)
            f = np.int64(min(max(q, -4.0e18), 4.0e18))
            b = f >> lv
            if b < -half or b >= half:
                need = lv
                while (f >> need) < -half or (f >> need) >= half:
                    need += 1
                lv = _raise_level(counts, j, lv, need)
                b = f >> lv
            counts[j, b + half] += 1
        vmin[j] = lo
        vmax[j] = hi
        level[j] = lv
        n_nan[j] += nan

