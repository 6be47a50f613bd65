"""Record selection as NONMEM's ``$DATA IGNORE=`` / ``ACCEPT=``: a small parsed language
(``"SD == 0"``, ``"SD.EQ.0"``, ``"DV < 0.05 and EVID == 0"``; never ``eval``), a list of
conditions (OR-ed, as in NONMEM) or a function of a row."""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import DmtpkError, ValidationError
from .columns import _Layout, _number


_OPERATORS = {"==": operator.eq, "=": operator.eq, ".EQ.": operator.eq, ".EQN.": operator.eq,
              "!=": operator.ne, "/=": operator.ne, ".NE.": operator.ne, ".NEN.": operator.ne,
              "<": operator.lt, ".LT.": operator.lt, "<=": operator.le, ".LE.": operator.le,
              ">": operator.gt, ".GT.": operator.gt, ">=": operator.ge, ".GE.": operator.ge}
_TOKEN = re.compile(r"""\s*(?:
    (?P<op>\.(?:EQN|NEN|EQ|NE|LT|LE|GT|GE)\.|==|!=|/=|<=|>=|<|>|=)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
)""", re.VERBOSE | re.IGNORECASE)
_SYNTAX = ("conditions are COLUMN OP NUMBER with OP one of ==, !=, <, <=, >, >= (or .EQ., .NE., "
           ".LT., .LE., .GT., .GE.), joined by 'and' / 'or'")


@dataclass(frozen=True)
class _Condition:
    column: str
    op: str
    value: float
    text: str

    def holds(self, x: float) -> bool:
        # NaN (missing): only != holds, as IEEE comparisons give.
        return _OPERATORS[self.op.upper()](x, self.value)


def _tokens(arg, text):
    """(kind, text) tokens of a condition string."""
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValidationError(arg, f"cannot read {text!r} at {text[pos:].strip()!r}; "
                                       f"{_SYNTAX}")
        kind = m.lastgroup
        tok = m.group(kind)
        if kind == "name" and tok.lower() in ("and", "or"):
            kind = tok.lower()
        out.append((kind, tok))
        pos = m.end()
    return out


def _parse_conditions(arg, text) -> tuple:
    """A condition string as OR-ed groups of AND-ed conditions."""
    groups, group, piece = [], [], []

    def close_piece():
        kinds = [k for k, _ in piece]
        if kinds != ["name", "op", "number"]:
            got = " ".join(t for _, t in piece) or "nothing"
            raise ValidationError(arg, f"in {text!r}: expected COLUMN OP NUMBER, got {got!r}; "
                                       f"{_SYNTAX}")
        (_, col), (_, op), (_, num) = piece
        group.append(_Condition(col, op, float(num), f"{col} {op} {num}"))
        piece.clear()

    for kind, tok in _tokens(arg, text):
        if kind in ("and", "or"):
            close_piece()
            if kind == "or":
                groups.append(tuple(group))
                group = []
        else:
            piece.append((kind, tok))
    close_piece()
    groups.append(tuple(group))
    return tuple(groups)


def _selection(ignore, accept):
    """(argument name, rule) for ``ignore``/``accept``, or None: the rule is a callable or a
    tuple of OR-ed groups of AND-ed conditions."""
    if ignore is not None and accept is not None:
        raise ValidationError("accept", "cannot be used together with ignore (as in NONMEM, an "
                                        "ACCEPT list and an IGNORE list exclude each other); "
                                        "write the selection as one of them")
    if ignore is None and accept is None:
        return None
    arg, value = ("ignore", ignore) if ignore is not None else ("accept", accept)
    if callable(value):
        return arg, value
    if isinstance(value, str):
        items = [value]
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        items = list(value)
    else:
        raise ValidationError(arg, f"expected a condition such as 'SD == 0', a list of them or "
                                   f"a function of a row, got {value!r}")
    groups = ()
    for text in items:
        groups += _parse_conditions(arg, text)
    return arg, groups


class _RowView(Mapping):
    """One row's values by column name (as read, or a dropped column's file name), parsed on
    access: float, NaN for missing."""

    def __init__(self, value_of, layout: _Layout):
        self._value_of = value_of
        self._layout = layout

    def __getitem__(self, column):
        k = self._layout.find(column) if isinstance(column, str) else None
        if k is None:
            raise KeyError(f"no column {column!r} (columns: {self._layout.known()})")
        return self._value_of(k)

    def __iter__(self):
        return iter(self._layout.known())

    def __len__(self):
        return len(self._layout.known())


def _row_filter(selection, name, layout: _Layout):
    """A function (row, fields) -> keep the record? for the selection, or None."""
    if selection is None:
        return None
    arg, rule = selection
    keep_when = arg == "accept"

    def value_of(r, fields, k):
        return _number(name, r, fields[k], layout.header[k], layout.read_as(k),
                       needed_by=arg)

    if callable(rule):
        def keep(r, fields):
            row = _RowView(lambda k: value_of(r, fields, k), layout)
            try:
                result = rule(row)
            except DmtpkError:
                raise
            except Exception as exc:  # the user's function failed: say where
                detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
                raise ValidationError(arg, f"{name}, row {r}: the function raised "
                                           f"{type(exc).__name__}: {detail}") from None
            if not isinstance(result, (bool, np.bool_)):
                raise ValidationError(arg, f"{name}, row {r}: the function must return True or "
                                           f"False, got {result!r}")
            return bool(result) == keep_when
        return keep

    resolved = []
    for group in rule:
        resolved.append([(c, _condition_column(arg, name, layout, c)) for c in group])

    def keep(r, fields):
        hit = any(all(c.holds(value_of(r, fields, k)) for c, k in group) for group in resolved)
        return hit == keep_when
    return keep


def _condition_column(arg, name, layout: _Layout, c: _Condition) -> int:
    k = layout.find(c.column)
    if k is not None:
        return k
    hint = ""
    old = next((j for j, h in enumerate(layout.header) if h.upper() == c.column.upper()), None)
    if old is not None and layout.read_as(old):
        hint = f"; column {layout.header[old]} is read as {layout.read_as(old)!r}"
    raise ValidationError(arg, f"{c.text!r}: {name} has no column {c.column!r} (columns: "
                               f"{layout.known()}){hint}")
