"""Idle connections to ``serve`` are timed out (a half-open connection, a client that stopped
mid-request, a websocket peer that went silent), while a live websocket client, which answers
the server's pings, stays. Virtual time: the timeouts are the real ones."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import trio

from agenttree.web.server import PING_S, READ_TIMEOUT_S
from agenttree.web.tail import connect

from .conftest import TOKEN, RunLog, start_events, start_server

HANG_GUARD_S = 100 * READ_TIMEOUT_S
"""Virtual seconds: a connection never timed out would meet this."""


async def served(nursery: trio.Nursery, tmp_path: Path) -> tuple[RunLog, str, int]:
    log = RunLog(tmp_path / "run")
    log.write(start_events())
    base, _ = await start_server(nursery, log.run_dir)
    host, port = base.removeprefix("http://").split(":")
    return log, host, int(port)


async def closed_by_server(stream: trio.SocketStream) -> float:
    """Read until the server closes; returns the virtual seconds that took."""
    start = trio.current_time()
    with trio.fail_after(HANG_GUARD_S):
        while await stream.receive_some():
            pass
    return trio.current_time() - start


async def test_a_request_whose_body_never_comes_is_timed_out(tmp_path: Path,
                                                             autojump_clock) -> None:
    async with trio.open_nursery() as nursery:
        _, host, port = await served(nursery, tmp_path)
        async with await trio.open_tcp_stream(host, port) as stream:
            await stream.send_all(b"POST /api/control HTTP/1.1\r\nHost: x\r\n"
                                  b"X-Agenttree-Token: " + TOKEN.encode() +
                                  b"\r\nContent-Length: 1000\r\n\r\n{\"cmd\":")
            assert await closed_by_server(stream) >= READ_TIMEOUT_S
        nursery.cancel_scope.cancel()


async def test_a_silent_websocket_peer_is_timed_out(tmp_path: Path, autojump_clock) -> None:
    async with trio.open_nursery() as nursery:
        _, host, port = await served(nursery, tmp_path)
        key = base64.b64encode(os.urandom(16))
        async with await trio.open_tcp_stream(host, port) as stream:
            await stream.send_all(b"GET /ws/events?token=" + TOKEN.encode() + b"&from=1 "
                                  b"HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                  b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key +
                                  b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
            assert await closed_by_server(stream) >= READ_TIMEOUT_S  # it answered no ping
        nursery.cancel_scope.cancel()


async def test_a_live_websocket_client_answers_pings_and_stays(tmp_path: Path,
                                                               autojump_clock) -> None:
    async with trio.open_nursery() as nursery:
        log, host, port = await served(nursery, tmp_path)
        url = f"ws://{host}:{port}/ws/events?token={TOKEN}&from=1"
        async with connect(url) as ws:
            first = await ws.get_message()
            assert first.count("\n") == len(start_events())
            await trio.sleep(5 * READ_TIMEOUT_S)  # virtual: quiet, but pinged every PING_S
            log.notes(1)
            with trio.fail_after(PING_S):
                later = await ws.get_message()
        assert '"seq":5' in later
        nursery.cancel_scope.cancel()
