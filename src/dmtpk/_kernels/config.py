"""Numba compilation flags of every kernel, in one place.

Every compiled function in :mod:`dmtpk._kernels` is made by one of the decorators below; none
passes flags of its own (a test checks that no other module calls ``numba.njit``). The policy:

- ``cache=True`` everywhere: a process loads what an earlier one compiled. Numba does not see
  changes to jitted functions defined in other files (nor to the inlined pure functions), so
  benchmarks and CI run with a fresh ``NUMBA_CACHE_DIR``.
- No ``fastmath``: results are bit-identical across engines, thread counts and chunkings. The
  one exception is :data:`NO_NAN`, for a loop whose NaN values the caller skips.
- ``error_model="numpy"`` (:func:`jit_vector`) for the loops meant to vectorise across subjects:
  a division then gives inf or NaN instead of checking its divisor and raising, a check that
  keeps the compiler from vectorising the loop.
- ``inline="always"`` (:func:`jit_inline`) for small helpers called in hot loops: inlined in
  Numba's IR, their loops fuse with the caller's (and vectorise with it).
- ``parallel=True`` (:func:`jit_parallel`) only for the population entry points, whose
  ``prange`` iterations write disjoint rows.

This module imports Numba; only the kernel modules that compile import it, so ``import dmtpk``
stays light (the pure functions in ``system``, ``expm``, ``elimination`` and ``pd`` do not).
"""

from __future__ import annotations

from functools import partial

import numba
from numba import prange

__all__ = ["CACHE", "NO_NAN", "jit", "jit_inline", "jit_vector", "jit_vector_inline",
           "jit_parallel", "jit_no_nan", "prange"]

#: Cache compiled code on disk (next to the sources, or in ``NUMBA_CACHE_DIR``).
CACHE = True
#: The only fast-math flags in use: no NaN, no signed zeros (:func:`jit_no_nan`).
NO_NAN = {"nnan", "nsz"}

#: Plain kernel.
jit = partial(numba.njit, cache=CACHE)
#: Small helper, inlined into its callers in Numba's IR.
jit_inline = partial(numba.njit, cache=CACHE, inline="always")
#: Loops across lanes of subjects meant to vectorise: NumPy's error model (no divisor checks).
jit_vector = partial(numba.njit, cache=CACHE, error_model="numpy")
#: Inlined helper of such loops.
jit_vector_inline = partial(numba.njit, cache=CACHE, inline="always", error_model="numpy")
#: Population entry point: ``prange`` over blocks of subjects.
jit_parallel = partial(numba.njit, cache=CACHE, parallel=True)
#: A loop compiled on the assumption that its input holds no NaN (the caller skips them).
jit_no_nan = partial(numba.njit, cache=CACHE, fastmath=NO_NAN)
