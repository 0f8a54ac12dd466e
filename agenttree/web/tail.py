"""``agenttree tail URL``: the live event stream of a served run, one line per event.

The URL is the one ``agenttree serve`` printed (``http://HOST:PORT/?token=…``) or a websocket
URL (``ws://HOST:PORT/ws/events?token=…&from=SEQ``). When the server drops the client for
falling behind, it reconnects from the next seq, so nothing is missed and nothing doubled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import orjson
import trio
from trio_websocket import (
    ConnectionClosed,
    HandshakeError,
    WebSocketConnection,
    wrap_client_stream,
)
from wsproto.utilities import LocalProtocolError

from ..errors import UserError, unwrap_group
from .close_codes import CLOSE_BEHIND, CLOSE_POLICY

MAX_MESSAGE = 64 << 20
"""Largest websocket message accepted (a history batch can hold many events)."""
_ENVELOPE = ("seq", "t", "run", "type", "crc")


def events_url(url: str, start: int | None) -> str:
    """The ``ws://…/ws/events`` URL for ``url`` (an ``http``/``ws`` URL with ``?token=``)."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "ws": "ws"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise UserError(f"{url!r}: give the URL `agenttree serve` printed "
                        "(http://HOST:PORT/?token=…) or a ws:// URL")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if "token" not in query:
        raise UserError(f"{url!r} has no ?token=…; copy the whole URL `agenttree serve` printed")
    if start is not None:
        query["from"] = str(start)
    return urlunsplit((scheme, parts.netloc, "/ws/events", urlencode(query), ""))


def format_line(line: bytes) -> str:
    """One event as a terminal line: seq, type, then the fields as compact JSON."""
    try:
        wire = orjson.loads(line)
        fields = {k: v for k, v in wire.items() if k not in _ENVELOPE}
        return f"{wire['seq']:>7} {wire['type']:<22} {orjson.dumps(fields).decode()}"
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return line.decode("utf-8", "replace")


@asynccontextmanager
async def connect(url: str, **kwargs: Any) -> AsyncIterator[WebSocketConnection]:
    """Like trio-websocket's ``open_websocket_url`` for ``ws://`` URLs, but this side owns the
    TCP stream and always closes it (trio-websocket's client leaves its socket open when the
    server closes first, as ours does to refuse or drop a client). ``kwargs`` go to
    ``wrap_client_stream``.
    """
    parts = urlsplit(url)
    if parts.scheme != "ws" or parts.hostname is None:
        raise UserError(f"{url!r}: expected a ws://HOST:PORT/… URL")
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    stream = await trio.open_tcp_stream(parts.hostname, parts.port or 80)
    closing = False
    async with stream:
        try:
            async with trio.open_nursery() as nursery:
                ws = await wrap_client_stream(nursery, stream, parts.netloc, resource, **kwargs)
                try:
                    yield ws
                finally:
                    closing = True
                    await ws.aclose()
        except BaseExceptionGroup as group:  # one error (the caller's, usually): raise it bare
            if closing:
                # A server ping that lands while we close makes trio-websocket's reader answer
                # it in a state where wsproto refuses to (python-trio/trio-websocket#184): the
                # connection is closing anyway, so that error means nothing.
                _, rest = group.split(LocalProtocolError)
                if rest is None:
                    return
                group = rest
            raise unwrap_group(group) from None


async def follow(url: str, start: int, on_batch: Callable[[str], None]) -> None:
    """Pass the event stream from seq ``start`` on to ``on_batch``, a message at a time (each
    line of it newline-terminated), history then live events, until the server goes away.
    Dropped for falling behind, it connects again from the next seq it has not had: nothing
    missed, nothing doubled.

    Raises:
        UserError: the server cannot be reached or refused the token.
    """
    next_seq = start
    while True:
        target = events_url(url, next_seq)
        try:
            async with connect(target, max_message_size=MAX_MESSAGE) as ws:
                while True:
                    batch = await ws.get_message()
                    on_batch(batch)
                    next_seq += batch.count("\n")
        except ConnectionClosed as exc:
            reason = exc.reason
            if reason is not None and reason.code == CLOSE_BEHIND:
                continue  # dropped for lagging: resume where we are
            if reason is not None and reason.code == CLOSE_POLICY:
                raise UserError(f"the server refused: {reason.reason}") from None
            return
        except BrokenPipeError:  # our reader (e.g. `| head`) went away
            return
        except (OSError, HandshakeError) as exc:
            raise UserError(f"cannot connect to {urlsplit(target).netloc}: {exc}") from None


async def tail(url: str, start: int = 1, *, raw: bool = False,
               out: Callable[[str], None] = print) -> None:
    """Print every event from seq ``start`` on, then live ones, until the server goes away.

    Raises:
        UserError: the server cannot be reached or refused the token.
    """
    def show(batch: str) -> None:
        for line in batch.splitlines():
            if line:
                out(line if raw else format_line(line.encode()))

    await follow(url, start, show)


def run_tail(url: str, start: int, raw: bool) -> None:
    """Blocking entry point for the CLI."""
    trio.run(partial(tail, url, start, raw=raw))


