"""Matrix exponential by scaling and squaring with the (13, 13) Padé approximant.

The algorithm of :func:`scipy.linalg.expm` (Higham, "The scaling and squaring method for the
matrix exponential revisited", SIAM J. Matrix Anal. Appl. 26 (2005) 1179-1193) without its norm
estimation for lower degrees; for the small matrices of compartment models it is far cheaper per
call. A pure array function: it runs uncompiled in the single-subject engines and compiled
(Numba) inside the batch kernels, so there is one matrix exponential in dmtpk.
"""

from __future__ import annotations

import math

import numpy as np

# Padé (13, 13) coefficients and the 1-norm bound up to which no scaling is needed (Higham 2005,
# Table 2.3): backward error below the unit roundoff.
PADE13 = np.array([64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
                   1187353796428800.0, 129060195264000.0, 10559470521600.0, 670442572800.0,
                   33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0])
THETA13 = 5.371920351148152


def expm(a):
    """Matrix exponential of a square float64 array ``a`` (shape (n, n)); returns a new array."""
    n = a.shape[0]
    norm = 0.0
    for j in range(n):
        s = 0.0
        for i in range(n):
            s += abs(a[i, j])
        norm = max(norm, s)
    squarings = 0
    if norm > THETA13:
        squarings = int(math.ceil(math.log2(norm / THETA13)))
    x = a * (1.0 / 2.0 ** squarings)
    b = PADE13
    ident = np.eye(n)
    x2 = x @ x
    x4 = x2 @ x2
    x6 = x4 @ x2
    u = x @ (x6 @ (b[13] * x6 + b[11] * x4 + b[9] * x2) + b[7] * x6 + b[5] * x4 + b[3] * x2
             + b[1] * ident)
    v = x6 @ (b[12] * x6 + b[10] * x4 + b[8] * x2) + b[6] * x6 + b[4] * x4 + b[2] * x2 \
        + b[0] * ident
    r = np.ascontiguousarray(np.linalg.solve(v - u, v + u))
    for _ in range(squarings):
        r = r @ r
    return r
