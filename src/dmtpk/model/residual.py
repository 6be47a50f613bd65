r"""Residual error: one immutable object per output that simulates observations and gives their
log-density, its derivative with respect to the prediction, the log-probability below a limit
(for censored observations) and the weighted residual.

With :math:`f` the prediction, :math:`\varepsilon \sim N(0, 1)` and :math:`y` the observation,
the forms are (names as in nlmixr2; NONMEM's usual ``$ERROR`` codings in brackets):

* ``additive``: :math:`y = f + a\varepsilon` (nlmixr2 ``add(a)``; NONMEM ``Y = F + EPS(1)``).
  Error additive on y.
* ``proportional``: :math:`y = f(1 + b\varepsilon)` (``prop(b)``; ``Y = F + F*EPS(1)``).
  On y.
* ``combined``: :math:`y \sim N(f, a^2 + (bf)^2)`, variances add (``add(a) + prop(b)`` with
  ``combined2``, nlmixr2's default; NONMEM ``Y = F + SQRT(A**2 + B**2*F**2)*EPS(1)``). On y.
* ``exponential``: :math:`\log y = \log f + \sigma\varepsilon` (``lnorm(σ)``,
  log-transform-both-sides; NONMEM's ``Y = F*EXP(EPS(1))`` taken exactly, not linearised).
  On log y; y has median f.
* ``logit``: :math:`\mathrm{logit}\,u(y) = \mathrm{logit}\,u(f) + \sigma\varepsilon`,
  :math:`u(x) = (x - lo)/(hi - lo)` (``logitNorm(σ, lo, hi)``), for ratings bounded on
  [lo, hi]. On the logit.

The combined form is simulated as :math:`f(1 + b\varepsilon_1) + a\varepsilon_2` with two
independent normals, which has exactly the ``combined2`` distribution :math:`N(f, a^2 +
b^2f^2)`; the population engine has always drawn it that way, so outputs stay the same to the
bit. nlmixr2's ``combined1`` (standard deviations add, :math:`a + bf`) is not offered.

Densities are on the scale of :math:`y` for every form: the transformed forms include the
Jacobian of the transform, so log-densities of different forms are comparable (as objective
function values are) and each density integrates to one over :math:`y`. Outside the support
(:math:`y \le 0` for ``exponential``, :math:`y \notin (lo, hi)` for ``logit``) the log-density
is ``-inf``, the log-probability below a limit follows the support, and the weighted residual
is NaN; no floating-point warning is issued. Where a log-density is not finite, its derivative
is NaN. NaN inputs give NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

from ..errors import ValidationError

__all__ = ["ResidualError", "FORMS", "LOGIT_CLIP"]

#: Forms of residual error, as :attr:`ResidualError.form` names them.
FORMS = ("additive", "proportional", "combined", "exponential", "logit")
#: Predictions on or beyond the bounds of a logit scale are moved inside by this fraction of the
#: range (the logit is infinite on the bounds).
LOGIT_CLIP = 1e-9

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)
_SDS = ("additive", "proportional", "exponential", "logit_additive")


def _sd(value, name) -> float:
    if isinstance(value, bool):
        raise ValidationError(name, f"must be a number (a standard deviation), got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(name, f"must be a number (a standard deviation), "
                                    f"got {value!r}") from None
    if not (math.isfinite(v) and v >= 0.0):
        raise ValidationError(name, f"must be a finite standard deviation >= 0, got {value!r}")
    return v


def _bound(value, name) -> float:
    if isinstance(value, bool):
        raise ValidationError(name, f"must be a finite number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(name, f"must be a finite number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValidationError(name, f"must be a finite number, got {value!r}")
    return v


def _out(x):
    """A 0-d result as a NumPy scalar, any other as the array."""
    return x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x


@dataclass(frozen=True)
class ResidualError:
    r"""Residual error of one output; immutable, picklable, vectorised over arrays.

    The form follows from which standard deviations are positive: ``additive`` and/or
    ``proportional`` (additive, proportional or combined), ``exponential``, or
    ``logit_additive`` with ``lower`` and ``upper``. Families cannot be mixed.

    Parameters
    ----------
    additive : float
        :math:`a`, SD of the additive term, in the output's unit (ng/mL for concentrations,
        the endpoint's unit for effects).
    proportional : float
        :math:`b`, SD of the proportional term (dimensionless; 0.15 is a 15 % CV).
    exponential : float
        :math:`\sigma`, SD of :math:`\log y` (dimensionless).
    logit_additive : float
        :math:`\sigma`, SD of :math:`\mathrm{logit}((y - lo)/(hi - lo))` (dimensionless).
    lower, upper : float, optional
        Bounds :math:`lo < hi` of a bounded scale (the output's unit); only with
        ``logit_additive``.

    Raises
    ------
    ValidationError
        Naming the field: a negative, non-finite or non-numeric SD; no positive SD (for the
        normal forms: ``additive`` and ``proportional`` both zero); families mixed; bounds
        missing, non-finite, given without ``logit_additive``, or ``lower >= upper``.

    Examples
    --------
    >>> err = ResidualError(proportional=0.15, additive=0.5)     # combined2
    >>> err.form, float(err.variance(10.0))
    ('combined', 2.5)
    """

    additive: float = 0.0
    proportional: float = 0.0
    exponential: float = 0.0
    logit_additive: float = 0.0
    lower: float | None = None
    upper: float | None = None

    def __post_init__(self):
        for name in _SDS:
            object.__setattr__(self, name, _sd(getattr(self, name), name))
        on = [name for name, flag in (("additive", self.additive > 0 or self.proportional > 0),
                                      ("exponential", self.exponential > 0),
                                      ("logit_additive", self.logit_additive > 0)) if flag]
        if not on:
            raise ValidationError("additive", "no error to model: additive and proportional are "
                                              "both zero, and so are exponential and "
                                              "logit_additive; give a positive SD")
        if len(on) > 1:
            raise ValidationError(on[1], "cannot be combined with "
                                         + ("additive or proportional" if on[0] == "additive"
                                            else on[0]))
        if on[0] == "logit_additive":
            for name in ("lower", "upper"):
                if getattr(self, name) is None:
                    raise ValidationError(name, "is missing: an error on the logit scale needs "
                                                "the bounds of the scale, lower and upper")
                object.__setattr__(self, name, _bound(getattr(self, name), name))
            if not self.lower < self.upper:
                raise ValidationError("upper", f"must be above lower ({self.lower:g}), "
                                               f"got {self.upper:g}")
        else:
            for name in ("lower", "upper"):
                if getattr(self, name) is not None:
                    raise ValidationError(name, "bounds belong to a logit_additive error")

    # -- description -------------------------------------------------------------------------

    @property
    def form(self) -> str:
        """``"additive"``, ``"proportional"``, ``"combined"``, ``"exponential"`` or
        ``"logit"``."""
        if self.exponential > 0:
            return "exponential"
        if self.logit_additive > 0:
            return "logit"
        if self.additive > 0 and self.proportional > 0:
            return "combined"
        return "additive" if self.additive > 0 else "proportional"

    @property
    def scale(self) -> str:
        """Scale the error is additive and normal on: ``"identity"`` (y), ``"log"`` (log y) or
        ``"logit"`` (logit((y - lower)/(upper - lower)))."""
        return {"exponential": "log", "logit": "logit"}.get(self.form, "identity")

    @property
    def _normal(self) -> bool:
        return self.exponential == 0 and self.logit_additive == 0

    # -- transforms ----------------------------------------------------------------------------

    def transform(self, y):
        """The observation on :attr:`scale`: y, log y, or logit((y - lower)/(upper - lower)).

        Parameters
        ----------
        y : array_like
            Observations (the output's unit), any shape.

        Returns
        -------
        ndarray or scalar
            Same shape; NaN outside the support (y <= 0 for exponential, outside
            (lower, upper) for logit).
        """
        y = np.asarray(y, dtype=float)
        if self._normal:
            return _out(y.copy())
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.exponential > 0:
                z = np.where(y > 0, np.log(y), np.nan)
            else:
                inside = (y > self.lower) & (y < self.upper)
                z = np.where(inside, np.log(y - self.lower) - np.log(self.upper - y), np.nan)
        return _out(z)

    def centre(self, f):
        """A prediction on :attr:`scale` for the exponential and logit forms: log f, or the
        logit of the fraction of the range clipped :data:`LOGIT_CLIP` inside the bounds (NaN
        or -inf where log f is undefined; no warning)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.exponential > 0:
                return np.log(f)
            width = self.upper - self.lower
            p = np.clip((f - self.lower) / width, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
            return np.log(p / (1.0 - p))

    def variance(self, pred):
        r"""Variance of the error on :attr:`scale`.

        Parameters
        ----------
        pred : array_like
            Predictions :math:`f` (the output's unit), any shape.

        Returns
        -------
        ndarray or scalar
            Same shape as ``pred``: :math:`a^2 + (bf)^2` on y (output's unit squared) for the
            additive, proportional and combined forms; :math:`\sigma^2` on log y or on the
            logit (dimensionless) for the exponential and logit forms. For these two it is not
            the variance of y: for the exponential form y has median f, mean
            :math:`f e^{\sigma^2/2}` and variance :math:`f^2 e^{\sigma^2}(e^{\sigma^2} - 1)`.
        """
        f = np.asarray(pred, dtype=float)
        if self._normal:
            return _out(self.additive ** 2 + (self.proportional * f) ** 2)
        s = self.exponential if self.exponential > 0 else self.logit_additive
        return _out(np.where(np.isnan(f), np.nan, np.full(f.shape, s * s)))

    def sd(self, pred):
        """Standard deviation on :attr:`scale`: ``sqrt(variance(pred))``."""
        return _out(np.sqrt(np.asarray(self.variance(pred))))

    # -- simulation ----------------------------------------------------------------------------

    def simulate(self, pred, eps):
        r"""Observations from predictions and standard-normal draws.

        Parameters
        ----------
        pred : array_like
            Predictions :math:`f`, shape ``S`` (the output's unit).
        eps : array_like
            Standard normals, shape ``(2, *S)`` (or broadcastable to it). Row 0 drives the
            proportional, log or logit term, row 1 the additive term; a form with one term
            leaves the other row unused, so one set of draws serves every form.

        Returns
        -------
        ndarray
            Observations, shape ``S``:

            * additive, proportional, combined: ``pred * (1 + b * eps[0]) + a * eps[1]``
            * exponential: ``pred * exp(sigma * eps[0])``
            * logit: ``lower + w * expit(logit(p) + sigma * eps[0])``, ``w = upper - lower``,
              ``p = (pred - lower)/w`` clipped to ``[1e-9, 1 - 1e-9]`` (predictions on or
              beyond the bounds are moved inside by 1e-9 of the range). In floating point an
              observation can round onto a bound when ``sigma * eps`` is very large.

        Raises
        ------
        ValidationError
            ``eps`` has no leading axis of 2.
        """
        pred = np.asarray(pred)
        eps = np.asarray(eps)
        if eps.ndim == 0 or eps.shape[0] != 2:
            raise ValidationError("eps", f"expected standard normals with a leading axis of 2, "
                                         f"got shape {eps.shape}")
        if self._normal:
            return pred * (1.0 + self.proportional * eps[0]) + self.additive * eps[1]
        with np.errstate(over="ignore"):
            if self.exponential > 0:
                return pred * np.exp(self.exponential * eps[0])
            lo, hi = self.lower, self.upper
            width = hi - lo
            p = np.clip((pred - lo) / width, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
            z = np.log(p / (1.0 - p)) + self.logit_additive * eps[0]
            return lo + width / (1.0 + np.exp(-z))

    # -- likelihood ----------------------------------------------------------------------------

    def log_density(self, y, pred):
        r"""Log-density :math:`\log p(y \mid f)` on the scale of y.

        Parameters
        ----------
        y : array_like
            Observations (the output's unit).
        pred : array_like
            Predictions :math:`f`, broadcastable with ``y``.

        Returns
        -------
        ndarray or scalar
            The broadcast shape; :math:`\log` of a density in 1/(output's unit):

            * normal forms: :math:`-\tfrac12\log(2\pi v) - (y - f)^2/(2v)`,
              :math:`v = a^2 + b^2f^2`. Where :math:`v = 0` (proportional error at f = 0) the
              distribution is a point mass: ``+inf`` at y = f, ``-inf`` elsewhere.
            * exponential: :math:`\log\varphi(z) - \log\sigma - \log y`,
              :math:`z = (\log y - \log f)/\sigma`; ``-inf`` for y <= 0 and for f = 0
              (the distribution collapses onto y = 0); NaN for f < 0 (outside the form).
            * logit: :math:`\log\varphi(z) - \log\sigma + \log w - \log(y - lo) - \log(hi - y)`,
              :math:`z = (\mathrm{logit}\,u_y - \mathrm{logit}\,p)/\sigma`, with p the clipped
              fraction of :meth:`simulate`, so this is the density of what :meth:`simulate`
              draws, predictions on or beyond the bounds included; ``-inf`` for y on or
              outside the bounds (the logit-normal puts no mass there).
        """
        y, f = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(pred, dtype=float))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self._normal:
                v = self.additive ** 2 + (self.proportional * f) ** 2
                r = y - f
                out = -_HALF_LOG_2PI - 0.5 * np.log(v) - 0.5 * r * r / v
                out = np.where(v > 0, out, np.where(r == 0, np.inf, -np.inf))
            elif self.exponential > 0:
                s = self.exponential
                ly = np.log(y)
                z = (ly - np.log(f)) / s
                out = -_HALF_LOG_2PI - math.log(s) - 0.5 * z * z - ly
                out = np.where((y > 0) & (f > 0), out, -np.inf)
                out = np.where(f < 0, np.nan, out)
            else:
                s, lo, hi = self.logit_additive, self.lower, self.upper
                a, b = np.log(y - lo), np.log(hi - y)
                z = (a - b - self.centre(f)) / s
                out = -_HALF_LOG_2PI - math.log(s) - 0.5 * z * z + math.log(hi - lo) - a - b
                out = np.where((y > lo) & (y < hi), out, -np.inf)
        return _out(np.where(np.isnan(y) | np.isnan(f), np.nan, out))

    def dlog_density_dpred(self, y, pred):
        r""":math:`\partial \log p(y \mid f) / \partial f`, analytic.

        Parameters
        ----------
        y, pred : array_like
            As for :meth:`log_density`.

        Returns
        -------
        ndarray or scalar
            The broadcast shape, in 1/(output's unit):

            * normal forms: :math:`r/v + b^2 f (r^2/v - 1)/v`, r = y - f
            * exponential: :math:`(\log y - \log f)/(\sigma^2 f)`
            * logit: :math:`(\mathrm{logit}\,u_y - \mathrm{logit}\,p)/(\sigma^2 w p(1 - p))`
              with p the fraction; 0 where the prediction is clipped (within 1e-9 of the
              range of a bound, or beyond it), as the clipped density does not change there.

            NaN where the log-density is not finite.
        """
        y, f = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(pred, dtype=float))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self._normal:
                b2 = self.proportional ** 2
                v = self.additive ** 2 + b2 * f * f
                r = y - f
                out = r / v + b2 * f * (r * r / v - 1.0) / v
            elif self.exponential > 0:
                s = self.exponential
                out = (np.log(y) - np.log(f)) / (s * s * f)
            else:
                s, lo, hi = self.logit_additive, self.lower, self.upper
                width = hi - lo
                raw = (f - lo) / width
                p = np.clip(raw, LOGIT_CLIP, 1.0 - LOGIT_CLIP)
                zy = np.log(y - lo) - np.log(hi - y)
                slope = np.where((raw >= LOGIT_CLIP) & (raw <= 1.0 - LOGIT_CLIP),
                                 1.0 / (width * p * (1.0 - p)), 0.0)
                out = (zy - self.centre(f)) / (s * s) * slope
        finite = np.isfinite(np.asarray(self.log_density(y, f)))
        return _out(np.where(finite, out, np.nan))

    def log_cdf(self, limit, pred):
        r""":math:`\log P(y < \mathrm{limit} \mid f)`: the likelihood of an observation
        censored below a limit (Beal's M3 method for BLQ data).

        Parameters
        ----------
        limit : array_like
            Limits, e.g. the lower limit of quantification (the output's unit).
        pred : array_like
            Predictions :math:`f`, broadcastable with ``limit``.

        Returns
        -------
        ndarray or scalar
            The broadcast shape, <= 0: :math:`\log\Phi((h(L) - h(f))/s)` with h the transform
            of :attr:`scale` and s the SD there. ``-inf`` for a limit at or below the support
            (L <= 0 for exponential, L <= lower for logit), 0 at or above it (L >= upper).
            Where the SD of a normal form is 0, a step: 0 if f < L, else ``-inf``. For
            the exponential form at f = 0: 0 for L > 0; NaN for f < 0.
        """
        lim, f = np.broadcast_arrays(np.asarray(limit, dtype=float),
                                     np.asarray(pred, dtype=float))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if self._normal:
                s = np.sqrt(self.additive ** 2 + (self.proportional * f) ** 2)
                out = log_ndtr((lim - f) / s)
                out = np.where(s > 0, out, np.where(f < lim, 0.0, -np.inf))
            elif self.exponential > 0:
                z = (np.log(lim) - np.log(f)) / self.exponential
                out = np.where(lim > 0, log_ndtr(np.where(np.isnan(z), 0.0, z)), -np.inf)
                out = np.where((f == 0) & (lim > 0), 0.0, out)
                out = np.where(f < 0, np.nan, out)
            else:
                lo, hi = self.lower, self.upper
                z = (np.log(lim - lo) - np.log(hi - lim) - self.centre(f)) / self.logit_additive
                out = np.where(lim <= lo, -np.inf,
                               np.where(lim >= hi, 0.0, log_ndtr(np.where(np.isnan(z), 0.0, z))))
        return _out(np.where(np.isnan(lim) | np.isnan(f), np.nan, out))

    def weighted_residual(self, y, pred):
        r"""Individual weighted residual (NONMEM's IWRES) on :attr:`scale`:
        :math:`(h(y) - h(f))/s(f)`, h the transform, s the SD there. Standard normal when the
        model holds.

        Parameters
        ----------
        y, pred : array_like
            As for :meth:`log_density`.

        Returns
        -------
        ndarray or scalar
            The broadcast shape, dimensionless; NaN outside the support (and for a normal
            form where the SD is 0); logit predictions are clipped as in :meth:`simulate`.
        """
        y, f = np.broadcast_arrays(np.asarray(y, dtype=float), np.asarray(pred, dtype=float))
        with np.errstate(divide="ignore", invalid="ignore"):
            if self._normal:
                s = np.sqrt(self.additive ** 2 + (self.proportional * f) ** 2)
                out = np.where(s > 0, (y - f) / s, np.nan)
            else:
                s = self.exponential if self.exponential > 0 else self.logit_additive
                out = (np.asarray(self.transform(y)) - self.centre(f)) / s
                if self.exponential > 0:
                    out = np.where(f > 0, out, np.nan)
        return _out(out)
