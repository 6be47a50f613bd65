"""A model as a TOML model file: :func:`to_toml` (text) and :func:`write_model` (atomic file).

The text is the model's validated mapping (:attr:`~dmtpk.model.spec.Model.raw`) written back:
scalars and arrays of scalars as ``key = value``, tables as ``[section]`` headers, arrays of
tables (``[[sources]]``) as repeated headers. Reading the file again gives the same model.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ..errors import ValidationError

__all__ = ["to_toml", "write_model"]

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k) -> str:
    k = str(k)
    return k if _BARE.match(k) else _string(k)


def _string(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{out}"'


def _value(v, where: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValidationError(where, f"a model file cannot hold {v!r}")
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x, where) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x, f'{where}.{k}')}"
                                for k, x in v.items()) + " }"
    try:
        return repr(float(v))  # NumPy scalars
    except (TypeError, ValueError):
        raise ValidationError(where, f"a model file cannot hold {type(v).__name__}") from None


def _is_table_array(v) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _emit(table: Mapping, path: list, lines: list) -> None:
    plain = [(k, v) for k, v in table.items()
             if not isinstance(v, Mapping) and not _is_table_array(v)]
    where = ".".join(path) or "model file"
    for k, v in plain:
        lines.append(f"{_key(k)} = {_value(v, f'{where}.{k}')}")
    for k, v in table.items():
        if isinstance(v, Mapping):
            lines += ["", "[" + ".".join(_key(p) for p in path + [k]) + "]"]
            _emit(v, path + [k], lines)
        elif _is_table_array(v):
            for item in v:
                lines += ["", "[[" + ".".join(_key(p) for p in path + [k]) + "]]"]
                _emit(item, path + [k], lines)


def to_toml(model) -> str:
    """The model file of ``model`` as TOML text (``[model]`` first)."""
    raw = dict(model.raw)
    ordered = {"model": raw.pop("model")} if "model" in raw else {}
    ordered.update(raw)
    lines: list = []
    for k, v in ordered.items():
        if isinstance(v, Mapping):
            lines += ["", f"[{_key(k)}]"]
            _emit(v, [k], lines)
        elif _is_table_array(v):
            for item in v:
                lines += ["", f"[[{_key(k)}]]"]
                _emit(item, [k], lines)
        else:
            lines.insert(0, f"{_key(k)} = {_value(v, k)}")
    return "\n".join(lines).lstrip("\n") + "\n"


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
