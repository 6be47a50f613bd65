"""Reading the text of user files: TOML files and UTF-8 text, every failure one message.

A file that is a folder, cannot be opened, is not UTF-8, is not valid TOML or is nested deeper
than the reader can follow raises :class:`FileReadError`, whose message names the file and,
where known, the line and column; the callers (model files, scenario files, datasets) turn it
into their own error type with their own key.

This module imports nothing of dmtpk but :mod:`dmtpk.errors`.
"""

from __future__ import annotations

import os
import tomllib

from ..errors import DmtpkError

__all__ = ["FileReadError", "read_bytes", "decode_utf8", "read_toml", "MAX_TOML_DEPTH"]

#: Deepest nesting of arrays and inline tables a TOML file may have. Python's TOML reader
#: recurses once per level and fails past a few hundred levels with a RecursionError; no model
#: or scenario file needs more than a handful.
MAX_TOML_DEPTH = 64


class FileReadError(DmtpkError, ValueError):
    """A user file cannot be read as text or TOML.

    Parameters
    ----------
    path : str
        The file, as the user gave it.
    message : str
        What is wrong.
    line : int, optional
        Line (from 1) at fault.
    column : int, optional
        Column (character, from 1) at fault.
    """

    def __init__(self, path, message: str, line: int | None = None,
                 column: int | None = None):
        self.path = str(path)
        self.line = line
        self.column = column
        self.message = message
        where = ""
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "")
        self.where = where
        super().__init__(f"{self.path}: {where + ': ' if where else ''}{message}")


def read_bytes(path) -> bytes:
    """The content of a file; a folder, a missing or unreadable file raise
    :class:`FileReadError`."""
    try:
        name = os.fspath(path)
        with open(name, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise FileReadError(path, "file not found") from None
    except IsADirectoryError:
        raise FileReadError(path, "is a folder, not a file") from None
    except (OSError, ValueError, TypeError) as exc:  # permission, name too long, NUL byte
        reason = getattr(exc, "strerror", None) or str(exc)
        raise FileReadError(path, f"cannot read the file ({reason})") from None


def decode_utf8(data: bytes, path) -> str:
    """``data`` decoded as UTF-8 (a byte-order mark dropped); a byte that is not UTF-8 raises
    :class:`FileReadError` naming its line and column."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, start) + 1
        line_start = data.rfind(b"\n", 0, start) + 1
        column = len(data[line_start:start].decode("utf-8", errors="replace")) + 1
        raise FileReadError(path, f"not UTF-8 text (byte 0x{data[start]:02x}); save the file "
                                  "as UTF-8", line, column) from None


def _toml_depth_error(text: str) -> tuple[int, int] | None:
    """(line, column) where arrays and inline tables first nest deeper than MAX_TOML_DEPTH,
    or None. Brackets inside strings and comments are skipped; a table header (``[a]`` or
    ``[[a]]`` at the start of a line, outside any array) is not nesting."""
    depth, i, n = 0, 0, len(text)
    line_start = True
    while i < n:
        ch = text[i]
        if ch == "\n":
            line_start = True
            i += 1
        elif ch in " \t\r":
            i += 1
        elif ch == "#" or (ch == "[" and line_start and depth == 0):  # comment, table header
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif ch in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else ch
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                j += 2 if quote[0] == '"' and text[j] == "\\" else 1
            i = j + len(quote)
            line_start = False
        else:
            if ch in "[{":
                depth += 1
                if depth > MAX_TOML_DEPTH:
                    return text.count("\n", 0, i) + 1, i - text.rfind("\n", 0, i)
            elif ch in "]}":
                depth = max(depth - 1, 0)
            line_start = False
            i += 1
    return None


def read_toml(path) -> dict:
    """A TOML file as a mapping.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict

    Raises
    ------
    FileReadError
        The file is missing, a folder or unreadable, is not UTF-8, is nested deeper than
        :data:`MAX_TOML_DEPTH` levels, or is not valid TOML; the message names the file and,
        where known, the line and column.
    """
    text = decode_utf8(read_bytes(path), path)
    deep = _toml_depth_error(text)
    if deep is not None:
        raise FileReadError(path, f"arrays or inline tables nested more than "
                                  f"{MAX_TOML_DEPTH} deep", *deep)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FileReadError(path, f"not valid TOML: {exc}") from None
    except RecursionError:  # the depth check comes first; kept for a lower reader limit
        raise FileReadError(path, "nested too deeply to read") from None
