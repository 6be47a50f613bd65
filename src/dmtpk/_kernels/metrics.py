"""Per-subject metrics on the output grid and streaming histograms (compiled with Numba).

Grid metrics follow :mod:`dmtpk.metrics` on the output grid: Cmax and Tmax (first grid maximum),
AUC by linear-up/log-down; effect onset, offset and duration beyond a threshold with the
crossing times interpolated linearly between grid points (exact for the single-subject
``Result.metrics()``, grid-accurate here: use a grid fine enough for the durations you need).
"""

from __future__ import annotations

import math

import numpy as np

from .config import jit, jit_inline, jit_no_nan, jit_parallel, jit_vector, prange

#: Subjects per parallel task of :func:`grid_metrics` (scratch allocated once per block).
METRIC_BLOCK = 256

#: Largest u = (c0 - c1)/(c0 + c1) (a fall to c1/c0 = 0.82 over one interval) for which the
#: log-down trapezoid uses the series of :func:`_atanh_ratio`; beyond it, the logarithm.
LOG_SERIES_MAX = 0.1


@jit_inline
def _atanh_ratio(u2):
    """atanh(u)/u = 1 + u^2/3 + u^4/5 + ... for u^2 = ``u2`` <= 0.01, to u^16/17 (the first
    term left out, u^18/19, is below 1e-19).

    With u = (c0 - c1)/(c0 + c1), ln(c0/c1) = 2 atanh(u), so the log-down trapezoid
    (c0 - c1) dt / ln(c0/c1) equals the linear one, (c0 + c1) dt / 2, divided by this ratio:
    no logarithm for the gentle falls that make up most of a curve.
    """
    return 1.0 + u2 * (1.0 / 3.0 + u2 * (1.0 / 5.0 + u2 * (1.0 / 7.0 + u2 * (
        1.0 / 9.0 + u2 * (1.0 / 11.0 + u2 * (1.0 / 13.0 + u2 * (1.0 / 15.0 + u2 / 17.0)))))))


@jit_vector
def _exposure(t, c, out, term):
    """Cmax, Tmax and the linear-up/log-down AUC of one curve into ``out`` (3,); ``term``
    (n_times) is scratch. The interval terms are computed in a loop without calls or branches
    (the series of :func:`_atanh_ratio` for gentle falls, clamped elsewhere), which the
    compiler vectorises; the few steep falls then get the logarithm in a second pass."""
    imax = 0
    for k in range(1, t.size):
        if c[k] > c[imax]:
            imax = k
    out[0] = c[imax]
    out[1] = t[imax]
    m = t.size - 1
    for k in range(m):
        c0 = c[k]
        c1 = c[k + 1]
        s = c0 + c1
        down = c1 < c0 and c1 > 0.0
        u = (c0 - c1) / s if down else 0.0
        term[k] = 0.5 * s * (t[k + 1] - t[k]) / _atanh_ratio(min(u * u, LOG_SERIES_MAX ** 2))
    auc = 0.0
    for k in range(m):
        c0 = c[k]
        c1 = c[k + 1]
        if c1 < c0 and c1 > 0.0 and c0 - c1 >= LOG_SERIES_MAX * (c0 + c1):
            term[k] = (c0 - c1) * (t[k + 1] - t[k]) / math.log(c0 / c1)
        auc += term[k]
    out[2] = auc


@jit
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


@jit_parallel
def grid_metrics(t, conc, effects, thresholds, signs, out_exposure, out_effect):
    """Metrics of every subject: ``conc`` (n, n_times) ng/mL; ``effects`` (n, n_ep, n_times);
    writes ``out_exposure`` (n, 3) and ``out_effect`` (n, n_ep, 5); endpoints with a NaN
    threshold get NaN effect metrics."""
    n = conc.shape[0]
    n_blocks = (n + METRIC_BLOCK - 1) // METRIC_BLOCK
    for blk in prange(n_blocks):
        # The curve is copied into contiguous scratch so that _exposure, compiled for
        # contiguous input only, vectorises whatever the strides of ``conc``.
        curve = np.empty(t.size)
        term = np.empty(t.size)
        for i in range(blk * METRIC_BLOCK, min(n, (blk + 1) * METRIC_BLOCK)):
            for k in range(t.size):
                curve[k] = conc[i, k]
            _exposure(t, curve, out_exposure[i], term)
            for q in range(effects.shape[1]):
                if math.isnan(thresholds[q]):
                    for f in range(5):
                        out_effect[i, q, f] = math.nan
                else:
                    _effect(t, effects[i, q], thresholds[q], signs[q], out_effect[i, q])


@jit
def time_beyond(t, y, thr, s):
    """Total time (min) with s*(y - thr) > 0 on the grid, crossings interpolated."""
    out = np.empty(5)
    _effect(t, y, thr, s, out)
    return out[4]


@jit_parallel
def durations_beyond(t, y, thr, s, out):
    """:func:`time_beyond` of every row of ``y`` (n, n_times) into ``out`` (n,)."""
    for i in prange(y.shape[0]):
        out[i] = time_beyond(t, y[i], thr, s)


@jit
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


#: Columns a thread copies out of row-major input at a time (8 doubles: one cache line of a row).
HIST_GROUP = 8


@jit
def _count_nan(col):
    """Number of NaN values in ``col`` (an integer sum, which the compiler vectorises)."""
    nan = 0
    for i in range(col.size):
        nan += col[i] != col[i]
    return nan


@jit_inline
def _fine(v, c0, inv):
    """Fine bin index floor((v - c0) * inv), clamped to +-4e18: monotonic in v."""
    return np.int64(math.floor(min(max((v - c0) * inv, -4.0e18), 4.0e18)))


@jit_no_nan
def _fine_indices(col, c0, inv, fine):
    """:func:`_fine` of every value of ``col`` into ``fine``, in a loop the compiler vectorises
    (compiled with the no-NaN assumption: a NaN value gets an unspecified index, which the
    caller skips)."""
    for i in range(col.size):
        fine[i] = _fine(col[i], c0, inv)


@jit_parallel
def hist_add(x, center, width, level, counts, vmin, vmax, n_nan):
    """Add the rows of ``x`` (n, n_cols), any strides, to per-column histograms.

    Each value maps to the fine index f = floor((x - center) / width) of its column; at level L
    a bin holds the fine indices [b 2^L, (b + 1) 2^L), bins b in [-nb/2, nb/2). When values do
    not fit, the column's level rises (merging bin pairs, which is exact) just as far as needed,
    so a column ends at the lowest level that holds every value it has seen, and the counts do
    not depend on the order or grouping of the values. Threads own whole groups of
    :data:`HIST_GROUP` columns, copied out of the rows once (one cache line per row) while their
    ranges are found; each column then gets its fine indices in one vectorised pass, its level
    raised once (from the indices of its extremes), and its counts incremented. The result does
    not depend on the thread count either.
    """
    n, ncol = x.shape
    nb = counts.shape[1]
    half = nb // 2
    n_groups = (ncol + HIST_GROUP - 1) // HIST_GROUP
    for g in prange(n_groups):
        j0 = g * HIST_GROUP
        j1 = min(ncol, j0 + HIST_GROUP)
        scratch = np.empty((HIST_GROUP, n))
        fine = np.empty(n, dtype=np.int64)
        lo = np.full(HIST_GROUP, np.inf)
        hi = np.full(HIST_GROUP, -np.inf)
        for i in range(n):
            for j in range(j0, j1):
                v = x[i, j]
                scratch[j - j0, i] = v
                if v < lo[j - j0]:  # false for NaN
                    lo[j - j0] = v
                if v > hi[j - j0]:
                    hi[j - j0] = v
        for j in range(j0, j1):
            col = scratch[j - j0]
            nan = _count_nan(col)
            n_nan[j] += nan
            if nan == n:
                continue
            c0 = center[j]
            inv = 1.0 / width[j]
            vmin[j] = min(vmin[j], lo[j - j0])
            vmax[j] = max(vmax[j], hi[j - j0])
            _fine_indices(col, c0, inv, fine)
            # The column's extreme indices, from its extreme values (the index is monotonic):
            # the level that holds them holds every value of the column.
            f_lo = _fine(lo[j - j0], c0, inv)
            f_hi = _fine(hi[j - j0], c0, inv)
            lv = level[j]
            need = lv
            while (f_lo >> need) < -half or (f_hi >> need) >= half:
                need += 1
            lv = _raise_level(counts, j, lv, need)
            level[j] = lv
            if nan == 0:
                for i in range(n):
                    counts[j, (fine[i] >> lv) + half] += 1
            else:
                for i in range(n):
                    if col[i] == col[i]:
                        counts[j, (fine[i] >> lv) + half] += 1
