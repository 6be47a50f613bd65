"""``dmtpk models`` and ``dmtpk models show NAME``."""

from __future__ import annotations

from ..library import list_models, load_model
from ._common import quiet_load, table

__all__ = ["add_parser"]


def _short_source(src) -> str:
    authors = src.get("authors")
    year = src.get("year", "")
    if authors:
        first = str(authors[0]).split(",")[0]
        return f"{first}{' et al.' if len(authors) > 1 else ''} {year}".strip()
    return str(src.get("key") or src.get("citation", ""))[:40]


def _cmd_models(args) -> int:
    if getattr(args, "models_command", None) == "show":
        print(load_model(args.name).describe())
        return 0
    rows, footnote = [], False
    for name in list_models():
        m = quiet_load(name)
        routes = []
        for r in m.routes:
            v = m.validity.get(r)
            routes.append(r + ("*" if v is not None and not v.fitted else ""))
            footnote |= v is not None and not v.fitted
        rows.append((name, ", ".join(routes), ", ".join(e.name for e in m.effects) or "-",
                     "; ".join(_short_source(s) for s in m.sources) or "-"))
    print(table(("model", "routes", "endpoints", "sources"), rows))
    if footnote:
        print("* route not fitted to data: its parameters are assumptions "
              "(dmtpk models show NAME)")
    return 0


def add_parser(sub) -> None:
    m = sub.add_parser("models", help="list the shipped models; 'models show NAME' for one")
    msub = m.add_subparsers(dest="models_command", metavar="[show NAME]")
    show = msub.add_parser("show", help="parameters with units, variability and citations")
    show.add_argument("name", metavar="NAME", help="model name or .toml path")
    m.set_defaults(func=_cmd_models)
