r"""Covariate effects on parameters: the three forms of a model file's ``[covariates]`` and
their factors, written once for the dataset path, the population engine and the fits.

For a covariate :math:`X` with reference :math:`X_{ref}` and a parameter with typical value
:math:`TV`:

* ``power``: :math:`P = TV\,(X/X_{ref})^{\theta}` (an exponent);
* ``linear``: :math:`P = TV\,(1 + \theta\,(X - X_{ref}))` (θ per unit of X, canonical units);
* ``categorical``: :math:`P = TV\,\theta_k` for level :math:`k` of X (an integer code), level 1
  the reference (factor 1).

Each (covariate, parameter, form, level) is one *term* with one coefficient θ. A term is
evaluated from its *data* :math:`z`: :math:`\log(X/X_{ref})` (power), :math:`X - X_{ref}`
(linear) or the indicator of level :math:`k` (categorical); its factor is
:math:`e^{\theta z}`, :math:`1 + \theta z` or :math:`1 + (\theta - 1) z`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FORMS", "terms", "term_data", "factor", "label", "set_coefficient"]

#: Forms of a covariate effect (the keys of a covariate's table that hold them).
FORMS = {"power": "exponents", "linear": "linear", "categorical": "categorical"}


def terms(spec) -> list:
    """The terms of one validated covariate table: ``(parameter, form, coefficient, level)``
    (level 0 for the continuous forms), in the order of the file."""
    out = []
    for pname, e in spec.get("exponents", {}).items():
        out.append((pname, "power", float(e), 0))
    for pname, e in spec.get("linear", {}).items():
        out.append((pname, "linear", float(e), 0))
    for pname, levels in spec.get("categorical", {}).items():
        for level, e in levels.items():
            out.append((pname, "categorical", float(e), int(level)))
    return out


def term_data(form: str, x, reference: float, level: int = 0) -> np.ndarray:
    """The data :math:`z` of a term (module docstring) for covariate values ``x``."""
    x = np.asarray(x, dtype=float)
    if form == "power":
        return np.log(x / reference)
    if form == "linear":
        return x - reference
    return (x == level).astype(float)


def factor(form: str, coefficient, z) -> np.ndarray:
    """The factor multiplying the parameter, for coefficient(s) and data ``z`` (broadcast)."""
    if form == "power":
        return np.exp(coefficient * z)
    if form == "linear":
        return 1.0 + coefficient * z
    return 1.0 + (coefficient - 1.0) * z


def label(covariate: str, parameter: str, form: str, level: int = 0) -> str:
    """The name of a term's coefficient in a fit: ``"CL~WT"`` (power or linear; a parameter
    has one continuous form per covariate) or ``"CL~SEX[2]"`` (a categorical level)."""
    return f"{parameter}~{covariate}" + (f"[{level}]" if form == "categorical" else "")


def set_coefficient(table: dict, name: str, value: float) -> None:
    """Put the coefficient ``name`` (:func:`label`) in a model file's ``[covariates]`` table
    (a mutable mapping, as in :attr:`~dmtpk.model.spec.Model.raw`), in the form it has
    there."""
    pname, _, rest = name.partition("~")
    cname, _, level = rest.partition("[")
    spec = next(v for k, v in table.items() if k.upper() == cname.upper())
    if level:
        levels = spec["categorical"][pname]
        key = next(k for k in levels if str(k).strip() == level.rstrip("]"))
        levels[key] = float(value)
    elif pname in spec.get("linear", {}):
        spec["linear"][pname] = float(value)
    else:
        spec["exponents"][pname] = float(value)
