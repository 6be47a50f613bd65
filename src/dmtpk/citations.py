"""Citations: the publications behind the models used in this run.

Loading a model (:func:`dmtpk.load_model`) registers its ``[[sources]]``; :func:`cite` prints
them as plain text and BibTeX, in the order they were first registered. The registry lives for
the process; :func:`clear` empties it.

Examples
--------
>>> import dmtpk
>>> _ = dmtpk.load_model("eckernas2022")
>>> "10.1111/cts.13410" in dmtpk.cite(output=None)
True
"""

from __future__ import annotations

import re
import sys
from types import MappingProxyType

from .errors import ValidationError

__all__ = ["cite", "register", "register_model", "registered", "clear", "bibtex", "plain_text"]

_REGISTRY: dict[str, dict] = {}
_FORMATS = ("both", "text", "bibtex")


def _plain(entry) -> dict:
    if isinstance(entry, (dict, MappingProxyType)):
        return {k: _plain(v) for k, v in entry.items()}
    if isinstance(entry, (list, tuple)):
        return [_plain(v) for v in entry]
    return entry


def _key(entry: dict) -> str:
    if entry.get("key"):
        return str(entry["key"])
    if entry.get("doi"):
        return re.sub(r"[^A-Za-z0-9]+", "_", str(entry["doi"]))
    return re.sub(r"[^A-Za-z0-9]+", "_", entry["citation"])[:40]


def register(entry, model: str | None = None) -> str:
    """Register one source (a ``[[sources]]`` table: ``citation`` and optionally ``key``,
    ``doi``, ``authors``, ``title``, ``journal``, ``year``, ``volume``, ``number``, ``pages``).

    Returns
    -------
    str
        The citation key.
    """
    entry = _plain(entry)
    if not isinstance(entry, dict) or not isinstance(entry.get("citation"), str):
        raise ValidationError("citation", f"a source needs a 'citation' string, got {entry!r}")
    key = _key(entry)
    stored = _REGISTRY.setdefault(key, {**entry, "models": []})
    if model is not None and model not in stored["models"]:
        stored["models"].append(model)
    return key


def register_model(model) -> list[str]:
    """Register every source of a loaded model; returns their keys."""
    return [register(s, model.name) for s in model.sources]


def registered() -> list[str]:
    """Keys of the sources registered so far, in order."""
    return list(_REGISTRY)


def clear() -> None:
    """Forget every registered source."""
    _REGISTRY.clear()


def _escape(text: str) -> str:
    return text.replace("&", r"\&").replace("%", r"\%")


def bibtex(entry) -> str:
    """One BibTeX entry. Structured fields are used when the source has them; otherwise the
    whole citation goes into ``note`` of a ``@misc`` entry."""
    e = _plain(entry)
    key = _key(e)
    fields = []
    if e.get("authors"):
        fields.append(("author", " and ".join(e["authors"])))
    for name in ("title", "journal", "year", "volume", "number", "pages", "publisher", "doi",
                 "url"):
        if e.get(name) not in (None, ""):
            fields.append((name, str(e[name])))
    structured = any(n == "title" for n, _ in fields)
    kind = e.get("type", "article" if structured and e.get("journal") else "misc")
    if not structured:
        fields.insert(0, ("note", e["citation"]))
    body = ",\n".join(f"  {n} = {{{_escape(v)}}}" for n, v in fields)
    return f"@{kind}{{{key},\n{body}\n}}"


def plain_text(entry) -> str:
    """The citation as written in the model file, with its DOI."""
    e = _plain(entry)
    text = e["citation"].rstrip(".")
    if e.get("doi") and e["doi"] not in text:
        text += f". doi:{e['doi']}"
    return text + "."


def cite(format: str = "both", output=sys.stdout) -> str:
    """Print (and return) the sources of the models used in this run.

    Parameters
    ----------
    format : {"both", "text", "bibtex"}
        Plain text, BibTeX, or both (default).
    output : file-like or None
        Where to print; None only returns the text.

    Returns
    -------
    str
    """
    if format not in _FORMATS:
        raise ValidationError("format", f"unknown format {format!r}; expected one of "
                                        f"{list(_FORMATS)}")
    if not _REGISTRY:
        text = "No model sources registered yet: load a model with dmtpk.load_model()."
    else:
        parts = []
        if format in ("both", "text"):
            lines = ["Models used in this run were published in:"]
            for i, e in enumerate(_REGISTRY.values(), 1):
                used = f" [models: {', '.join(e['models'])}]" if e["models"] else ""
                lines.append(f"[{i}] {plain_text(e)}{used}")
            parts.append("\n".join(lines))
        if format in ("both", "bibtex"):
            parts.append("\n\n".join(bibtex(e) for e in _REGISTRY.values()))
        text = "\n\n".join(parts)
    if output is not None:
        print(text, file=output)
    return text
