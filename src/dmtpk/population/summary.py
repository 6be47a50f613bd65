"""Streaming summaries: percentiles of many columns without holding all subjects.

Each column (an output at one time, or a per-subject metric) has a histogram of ``n_bins``
bins on a grid fixed by a pilot of the first subjects: fine width ``w0`` = pilot range /
``n_bins``, centred on the pilot's mid-range. Bins double in width (merging pairs) only when a
value falls outside, so the counts are the same whatever the order or grouping of subjects
(chunk size, threads, backend). A percentile is read from the cumulative counts with linear
interpolation inside its bin and clamped to the exact minimum and maximum seen.

Accuracy (stated and tested): a streamed percentile lies within one bin width
(:attr:`StreamingQuantiles.bin_width`) of ``numpy.percentile`` of the same values (linear
method); NaN values (a metric that does not exist for a subject, e.g. the onset of an effect
never reached) are counted apart and left out.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["StreamingQuantiles", "N_BINS"]

N_BINS = 4096


class StreamingQuantiles:
    """Histogram-based percentiles of ``n_cols`` columns fed in chunks of rows."""

    def __init__(self, pilot: np.ndarray, n_bins: int = N_BINS, max_count: int | None = None):
        """Histograms on a grid fixed by ``pilot`` (n_rows, n_cols). ``max_count``, the most
        values a column will receive, lets the counts be 32-bit when it is below 2**31 (half
        the memory traffic of the binning); by default they are 64-bit."""
        from .._kernels.metrics import hist_add  # Numba, imported only when used
        self._add = hist_add
        pilot = np.asarray(pilot, dtype=float)
        with warnings.catch_warnings():  # an all-NaN column (a metric nobody has) is fine
            warnings.simplefilter("ignore", RuntimeWarning)
            lo = np.nanmin(np.where(np.isfinite(pilot), pilot, np.nan), axis=0) \
                if pilot.size else np.zeros(pilot.shape[1])
            hi = np.nanmax(np.where(np.isfinite(pilot), pilot, np.nan), axis=0) \
                if pilot.size else np.zeros(pilot.shape[1])
        lo = np.where(np.isfinite(lo), lo, 0.0)
        hi = np.where(np.isfinite(hi), hi, 0.0)
        span = hi - lo
        floor = np.maximum(np.abs(lo), np.abs(hi)) * 1e-9 + 1e-12
        self.n_bins = int(n_bins)
        self.center = 0.5 * (lo + hi)
        self.width = np.maximum(span, floor) / self.n_bins
        self.level = np.zeros(pilot.shape[1], dtype=np.int64)
        small = max_count is not None and max_count < 2 ** 31
        self.counts = np.zeros((pilot.shape[1], self.n_bins),
                               dtype=np.int32 if small else np.int64)
        self.vmin = np.full(pilot.shape[1], np.inf)
        self.vmax = np.full(pilot.shape[1], -np.inf)
        self.n_nan = np.zeros(pilot.shape[1], dtype=np.int64)

    def add(self, rows: np.ndarray) -> None:
        """Add a chunk, shape (n_rows, n_cols); any strides (a view into row-major curves is
        read in place)."""
        rows = np.asarray(rows, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != self.counts.shape[0]:
            raise ValueError(f"expected rows of {self.counts.shape[0]} columns, got shape "
                             f"{rows.shape}")
        if rows.shape[0]:
            self._add(rows, self.center, self.width, self.level, self.counts, self.vmin,
                      self.vmax, self.n_nan)

    def merge(self, other: "StreamingQuantiles") -> None:
        """Add another summary with the same pilot grid (as built on another worker)."""
        for j in range(self.counts.shape[0]):
            target = max(self.level[j], other.level[j])
            a = _to_level(self.counts[j], self.level[j], target)
            b = _to_level(other.counts[j], other.level[j], target)
            self.counts[j] = a + b
            self.level[j] = target
        self.vmin = np.minimum(self.vmin, other.vmin)
        self.vmax = np.maximum(self.vmax, other.vmax)
        self.n_nan += other.n_nan

    @property
    def count(self) -> np.ndarray:
        """Non-NaN values per column."""
        return self.counts.sum(axis=1)

    @property
    def bin_width(self) -> np.ndarray:
        """Current bin width of each column (the accuracy bound of its percentiles)."""
        return self.width * (2.0 ** self.level)

    def percentiles(self, q) -> np.ndarray:
        """Percentiles ``q`` (0-100) of every column, shape (len(q), n_cols)."""
        from .result import check_percentiles
        q = check_percentiles(q)
        out = np.full((q.size, self.counts.shape[0]), np.nan)
        half = self.n_bins // 2
        for j in range(self.counts.shape[0]):
            n = self.counts[j].sum()
            if n == 0:
                continue
            cum = np.cumsum(self.counts[j])
            bw = self.bin_width[j]
            for i, qi in enumerate(q):
                rank = qi / 100.0 * (n - 1)  # 0-based position, numpy's linear method
                b = int(np.searchsorted(cum, rank, side="right"))
                before = cum[b - 1] if b > 0 else 0
                frac = (rank - before + 0.5) / self.counts[j, b]
                lo = self.center[j] + (b - half) * bw
                value = lo + min(max(frac, 0.0), 1.0) * bw
                out[i, j] = min(max(value, self.vmin[j]), self.vmax[j])
        return out


def _to_level(counts, level, target):
    half = counts.size // 2
    out = counts.copy()
    for _ in range(target - level):
        merged = np.zeros_like(out)
        np.add.at(merged, ((np.arange(out.size) - half) >> 1) + half, out)
        out = merged
    return out
