"""The ``serve`` and ``tail`` subcommands (wired into ``agenttree`` by :func:`register`)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from functools import partial
from pathlib import Path

from ..errors import UserError, only_error
from .auth import new_token


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``serve`` and ``tail`` to the ``agenttree`` subcommands."""
    serve_p = sub.add_parser("serve", help="serve a run's live web view (page, API, websocket)")
    serve_p.add_argument("run_dir", help="the run directory to show")
    serve_p.add_argument("--host", default="127.0.0.1",
                         help="address to bind (default 127.0.0.1; others need --allow-remote)")
    serve_p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 = any)")
    serve_p.add_argument("--allow-remote", action="store_true",
                         help="allow binding an address other machines can reach")
    serve_p.add_argument("--reports", metavar="DIR",
                         help="benchmark reports to list (default ./reports if it exists)")
    serve_p.set_defaults(func=cmd_serve)

    tail_p = sub.add_parser("tail", help="print a served run's live event stream")
    tail_p.add_argument("url", help="the URL `agenttree serve` printed (or a ws:// URL)")
    tail_p.add_argument("--from", dest="start", type=int, default=1, metavar="SEQ",
                        help="first event to print (default 1)")
    tail_p.add_argument("--json", action="store_true", help="print the raw JSON lines")
    tail_p.set_defaults(func=cmd_tail)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_serve(args: argparse.Namespace) -> int:
    """``agenttree serve RUN_DIR``: runs until Ctrl-C."""
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such run directory")
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: must be 0 to 65535")
    if not _is_loopback(args.host):
        if not args.allow_remote:
            raise UserError(f"--host {args.host} would let other machines reach this run; "
                            "add --allow-remote if you mean it")
        print(f"agenttree: warning: serving on {args.host}: anyone who can reach this port "
              "and has the token can watch and cancel agents", file=sys.stderr)
    reports = args.reports
    if reports is None and Path("reports").is_dir():
        reports = "reports"
    elif reports is not None and not Path(reports).is_dir():
        raise UserError(f"--reports {reports}: no such directory")
    import trio  # Trio, the hub and hypercorn are imported only by the commands that need them

    from .hub import Hub
    from .server import serve
    from .stop import EXIT_INTERRUPTED, until_signal

    token = new_token()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            base = await nursery.start(partial(serve, Hub(run_dir), token, host=args.host,
                                               port=args.port, reports=reports))
            print(f"agenttree: serving {run_dir} at {base}/?token={token}", flush=True)

    try:
        trio.run(until_signal, main)
    except BaseExceptionGroup as group:  # from inside the nurseries: a bind error
        leaf = only_error(group)
        if isinstance(leaf, OSError):
            raise UserError(f"cannot listen on {args.host}:{args.port}: {leaf}") from None
        raise
    return EXIT_INTERRUPTED


def cmd_tail(args: argparse.Namespace) -> int:
    """``agenttree tail URL``."""
    if args.start < 1:
        raise UserError(f"--from {args.start}: seqs start at 1")
    from .tail import run_tail

    run_tail(args.url, args.start, args.json)
    return 0
