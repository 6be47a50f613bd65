"""``dmtpk explore [MODEL] [--port N]``: the dosing explorer as a local web page."""

from __future__ import annotations

from ..errors import ValidationError

__all__ = ["add_parser"]


def _cmd_explore(args) -> int:
    from ..explorer.app import serve
    if args.address not in ("127.0.0.1", "localhost", "::1") and not args.public:
        raise ValidationError("--address", f"{args.address!r} is not a loopback address; the "
                                           "page runs dmtpk for whoever reaches it: add --public "
                                           "to serve it beyond this machine")
    server = serve(args.model, port=args.port, address=args.address, show=args.show)
    server.start()
    print(f"dmtpk explorer: http://{args.address}:{server.port}/ (Ctrl-C stops it)", flush=True)
    try:
        server.io_loop.start()
    finally:
        server.stop()
    return 0


def add_parser(sub) -> None:
    e = sub.add_parser("explore", help="a local web page where moving a dose shows plasma "
                                       "level, effect and its duration (needs dmtpk[explore])")
    e.add_argument("model", metavar="MODEL", nargs="?", default="eckernas2022",
                   help="model shown first: a name (dmtpk models) or a .toml path (default "
                        "eckernas2022)")
    e.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    e.add_argument("--address", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1, this machine only)")
    e.add_argument("--public", action="store_true",
                   help="allow a non-loopback --address")
    e.add_argument("--show", action="store_true", help="open the page in a browser")
    e.set_defaults(func=_cmd_explore)
