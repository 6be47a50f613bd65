"""A model as a TOML model file: :func:`to_toml` (text) and :func:`write_model` (atomic file).

The text is the model's validated mapping (:attr:`~dmtpk.model.spec.Model.raw`) written back:
scalars and arrays of scalars as ``key = value``, tables as ``[section]`` headers, arrays of
tables (``[[sources]]``) as repeated headers. Reading the file again gives the same model.
"""

from __future__ import annotations

from ..io.toml import dumps

__all__ = ["to_toml", "write_model"]


def to_toml(model) -> str:
    """The model file of ``model`` as TOML text (``[model]`` first)."""
    return dumps(model.raw, first="model")


def write_model(model, path, force: bool = False):
    """Write ``model`` as a model file at ``path`` (atomically: all or nothing).

    Returns
    -------
    Path
    """
    from ..io.files import write_atomic
    text = to_toml(model)

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    return write_atomic(path, write, force=force)
