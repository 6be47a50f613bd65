"""Private numerical kernels: pure functions over float64/int64 arrays.

Functions here import nothing from the rest of the package, use no pint, dicts or objects, and
are written so that ``numba.njit`` compiles them unchanged; the Python engines call the same
functions uncompiled, so every engine reads one implementation.
"""
