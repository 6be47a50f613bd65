"""Exceptions raised by dmtpk.

Every error names what was wrong and where: the argument or field, the value given and what is
allowed. All derive from :class:`DmtpkError`, so ``except dmtpk.DmtpkError`` catches any of them.
"""

from __future__ import annotations

__all__ = ["DmtpkError", "ValidationError", "UnitError", "ModelFileError", "SolverError"]


class DmtpkError(Exception):
    """Base class of every error raised by dmtpk."""


class ValidationError(DmtpkError, ValueError):
    """An argument or field has a value that is not allowed.

    Parameters
    ----------
    field : str
        Name of the argument or field (for example ``"dose"`` or ``"Infusion.duration"``).
    message : str
        What is wrong and what is allowed.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


class UnitError(ValidationError):
    """A quantity has the wrong physical dimension or an unknown unit."""


class ModelFileError(DmtpkError, ValueError):
    """A model file (TOML) is malformed.

    Parameters
    ----------
    path : str
        The file, or ``"<dict>"`` for a model given as a mapping.
    key : str
        The dotted key at fault (for example ``"parameters.CL"``); ``""`` for the file as a
        whole.
    message : str
        What is wrong.
    """

    def __init__(self, path: str, key: str, message: str):
        self.path = str(path)
        self.key = key
        super().__init__(f"{self.path}: [{key}] {message}" if key else f"{self.path}: {message}")


class SolverError(DmtpkError, RuntimeError):
    """An ODE integration failed.

    Parameters
    ----------
    message : str
        What the integrator reported.
    time : float, optional
        Time (min) at which it failed.
    subject : int, optional
        Index of the subject in a population run.
    """

    def __init__(self, message: str, time: float | None = None, subject: int | None = None):
        self.time = time
        self.subject = subject
        where = []
        if subject is not None:
            where.append(f"subject {subject}")
        if time is not None:
            where.append(f"t = {time:g} min")
        prefix = f"{', '.join(where)}: " if where else ""
        super().__init__(prefix + message)
