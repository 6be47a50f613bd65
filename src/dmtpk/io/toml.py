"""TOML text from a mapping: the writer behind model files (:func:`dmtpk.model.toml.to_toml`)
and scenario files written by dmtpk (tomllib reads TOML but does not write it).

Scalars and arrays of scalars are written as ``key = value``, mappings as ``[section]`` headers
(inline ``{ ... }`` inside arrays), arrays of mappings (``[[regimens]]``) as repeated headers;
:func:`tomllib.loads` of the text gives the mapping back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ..errors import ValidationError

__all__ = ["dumps"]

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
            raise ValidationError(where, f"a TOML file cannot hold {v!r}")
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
        raise ValidationError(where, f"a TOML file cannot hold {type(v).__name__}") from None


def _is_table_array(v) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _emit(table: Mapping, path: list, lines: list) -> None:
    plain = [(k, v) for k, v in table.items()
             if not isinstance(v, Mapping) and not _is_table_array(v)]
    where = ".".join(path) or "file"
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


def dumps(mapping: Mapping, first: str | None = None) -> str:
    """``mapping`` as TOML text; the table ``first`` (if present) is written first.

    Raises
    ------
    ValidationError
        A value TOML cannot hold (NaN, infinity, an object), naming its key.
    """
    raw = dict(mapping)
    ordered = {first: raw.pop(first)} if first is not None and first in raw else {}
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
