r"""Exact solution of linear models for any mix of boluses, infusions and first-order inputs.

Between two event times the system is :math:`\dot x = A x + b` with constant :math:`b`, whose
solution from :math:`x_0` is

.. math:: x(t_0 + \tau) = e^{A\tau} x_0 + \varphi_1(A\tau)\,\tau\, b,
          \qquad \varphi_1(z) = (e^z - 1)/z.

With the eigendecomposition :math:`A = V \Lambda V^{-1}` (the eigenvalues of a mammillary model
with depots, effect compartments and a metabolite are real) both terms are sums of exponentials,
evaluated for all output times at once. When :math:`V` is ill-conditioned (two rate constants
nearly equal, e.g. KA = k10, where the textbook formulas have their 0/0 limits) the engine uses
the matrix exponential of the augmented matrix :math:`[[A, b], [0, 0]]` instead, which has no
such limit. Doses are state jumps at event times: a bolus is never a short infusion.
"""

from __future__ import annotations

import numpy as np

from .._kernels.expm import expm

__all__ = ["solve_linear", "LinearTrajectory"]

#: Largest condition number of the eigenvector matrix for which the eigen form is used. The
#: error of that form is about eps x cond(V) relative to the largest state, so 1e5 keeps it
#: below 1e-10.
MAX_EIGVEC_COND = 1e5


def _phi1_tau(lam: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """(exp(lam*tau) - 1) / lam, equal to tau where lam == 0; shape broadcast(tau, lam)."""
    lt = np.multiply.outer(tau, lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(lam != 0.0, np.expm1(lt) / np.where(lam != 0.0, lam, 1.0),
                       np.multiply.outer(tau, np.ones_like(lam)))
    return out


class LinearTrajectory:
    """Continuous exact solution; call it with times (min) to get states, shape (n_t, n)."""

    def __init__(self, a: np.ndarray, breaks: np.ndarray, jumps: np.ndarray, rates: np.ndarray):
        self.a = a
        self.breaks = breaks
        self.jumps = jumps  # (n_breaks, n) in state space
        self.rates = rates
        n = a.shape[0]
        w, v = np.linalg.eig(a)
        self.eigen = False
        if np.all(np.abs(w.imag) <= 1e-12 * max(1.0, np.abs(w).max())):
            v = v.real
            if np.linalg.cond(v) < MAX_EIGVEC_COND:
                self.eigen = True
                self.lam = w.real
                self.v = v
                self.vinv = np.linalg.inv(v)
        # State just after each break (post-jump).
        self.start = np.zeros((breaks.size, n))
        x = np.zeros(n)
        for k in range(breaks.size):
            if k > 0:
                x = self._advance(x, self.rates[k - 1], np.array([breaks[k] - breaks[k - 1]]))[0]
            x = x + jumps[k]
            self.start[k] = x

    def _advance(self, x0: np.ndarray, b: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """States at offsets ``tau`` (shape (m,)) after a segment start at state ``x0``."""
        if self.eigen:
            c0 = self.vinv @ x0
            y = np.exp(np.multiply.outer(tau, self.lam)) * c0
            if np.any(b):
                y = y + _phi1_tau(self.lam, tau) * (self.vinv @ b)
            return y @ self.v.T
        # Matrix exponential of the augmented matrix [[A, b], [0, 0]], stepped through the
        # sorted offsets; step matrices are cached by step length (a uniform grid needs one).
        n = x0.size
        aug = np.zeros((n + 1, n + 1))
        aug[:n, :n] = self.a
        aug[:n, n] = b
        cache = {}
        order = np.argsort(tau, kind="stable")
        out = np.empty((tau.size, n))
        xe = np.append(x0, 1.0)
        prev = 0.0
        for k in order:
            dt = float(tau[k]) - prev
            if dt != 0.0:
                step = cache.get(dt)
                if step is None:
                    step = cache[dt] = expm(aug * dt)
                xe = step @ xe
                prev = float(tau[k])
            out[k] = xe[:n]
        return out

    def __call__(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        out = np.zeros((t.size, self.a.shape[0]))
        seg = np.searchsorted(self.breaks, t, side="right") - 1  # at a break: after the event
        for k in np.unique(seg):
            if k < 0:
                continue  # before the first event nothing has been given
            sel = seg == k
            out[sel] = self._advance(self.start[k], self.rates[k], t[sel] - self.breaks[k])
        return out


def solve_linear(a: np.ndarray, breaks: np.ndarray, jumps: np.ndarray,
                 rates: np.ndarray) -> LinearTrajectory:
    """Exact trajectory of :math:`\\dot x = A x + b(t)` with jumps, from zero state.

    Parameters
    ----------
    a : ndarray, shape (n, n)
    breaks : ndarray, shape (n_breaks,)
        Sorted event times (min).
    jumps, rates : ndarray, shape (n_breaks, n)
        Amount added to each state at each break; input rate held until the next break.
    """
    return LinearTrajectory(a, breaks, jumps, rates)
