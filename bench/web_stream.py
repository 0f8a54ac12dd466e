"""The web view's event stream: events written to a log reaching many websocket clients.

Figures, in one process on 127.0.0.1 (clients and server share the CPU):

* baseline: a bare trio-websocket server sending the same log lines, in the same batches, to
  the same number of clients (no file, no fold, no HTTP stack): the transport's floor;
* live: ``agenttree serve``'s app (hypercorn, the hub's tailer and fold, per-client buffers)
  while a writer appends the events to ``events.jsonl``, clients attached from the start;
* catch-up: the same clients connecting with ``from=1`` to the finished log (history from file).

And the hub's own cost per event (:func:`bench_hub`): its poll (the fold, the page's row deltas,
the stream's chunks of the lines as read, the state's snapshots) beside the bare tail and fold it
is built on; and beside the same tail and fold with the collector paused per read, as the hub's
poll pauses it, which leaves the hub's own added work.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import trio
from trio_websocket import serve_websocket

from agenttree import events as ev
from agenttree.collector import collector_paused
from agenttree.log import Tailer, encode
from agenttree.state import RunState, apply
from agenttree.web.hub import READ_CHUNK, Hub
from agenttree.web.server import serve
from agenttree.web.tail import follow

TOKEN = "bench"
BATCH = 500


def _lines(n: int) -> list[bytes]:
    note = ev.AgentMessage(sender="human", to="root", kind="chat", text="x" * 100)
    return [encode(seq, seq, "bench", note) for seq in range(1, n + 1)]


async def _drain(url: str, n: int) -> None:
    """Take ``n`` events from seq 1 on, as ``agenttree tail`` does: a client dropped for
    falling behind (its buffer full while the machine is busy) connects again from the seq it
    has not had."""
    got = 0
    with trio.CancelScope() as scope:
        def take(batch: str) -> None:
            nonlocal got
            got += batch.count("\n")
            if got >= n:
                scope.cancel()

        await follow(url, 1, take)
    if got < n:
        raise RuntimeError(f"the server went away after {got:,} of {n:,} events")


async def _clients(urls: list[str], n: int, attached: Callable[[], int], produce) -> float:
    """Seconds from the first event produced to the last client holding all ``n``, once the
    server counts every client ``attached``."""
    async with trio.open_nursery() as nursery:
        for url in urls:
            nursery.start_soon(_drain, url, n)
        while attached() < len(urls):
            await trio.sleep(0.001)
        start = time.perf_counter()
        await produce()
    return time.perf_counter() - start


async def _baseline(lines: list[bytes], clients: int) -> float:
    batches = [b"".join(lines[i:i + BATCH]).decode() for i in range(0, len(lines), BATCH)]
    go = trio.Event()
    accepted = 0

    async def handler(request) -> None:
        nonlocal accepted
        ws = await request.accept()
        accepted += 1
        await go.wait()
        for batch in batches:
            await ws.send_message(batch)
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, handler, "127.0.0.1", 0, None)
        url = f"ws://127.0.0.1:{server.port}/?token={TOKEN}"

        async def produce() -> None:
            go.set()

        took = await _clients([url] * clients, len(lines), lambda: accepted, produce)
        nursery.cancel_scope.cancel()
    return took


async def _served(lines: list[bytes], clients: int, tmp: Path) -> tuple[float, float]:
    run_dir = tmp / "run"
    run_dir.mkdir()
    log = run_dir / "events.jsonl"
    log.touch()
    hub = Hub(run_dir)
    async with trio.open_nursery() as nursery:
        base = await nursery.start(
            lambda task_status: serve(hub, TOKEN, port=0, task_status=task_status))
        url = f"{base}/?token={TOKEN}"

        async def write() -> None:
            with open(log, "ab") as f:
                for i in range(0, len(lines), BATCH):
                    f.write(b"".join(lines[i:i + BATCH]))
                    f.flush()
                    await trio.sleep(0)

        async def nothing() -> None:
            pass

        live = await _clients([url] * clients, len(lines), lambda: hub.clients, write)
        catch_up = await _clients([url] * clients, len(lines), lambda: hub.clients, nothing)
        nursery.cancel_scope.cancel()
    return live, catch_up


def bench_web(events: int, clients: int, runs: int) -> list[tuple[str, str, str]]:
    """Rows for bench/results.md."""
    lines = _lines(events)
    base, live, catch_up = [], [], []
    for _ in range(runs):
        base.append(trio.run(_baseline, lines, clients))
        with tempfile.TemporaryDirectory() as tmp:
            a, b = trio.run(_served, lines, clients, Path(tmp))
        live.append(a)
        catch_up.append(b)
    b, lv, cu = (statistics.median(x) for x in (base, live, catch_up))
    total = events * clients
    return [
        (f"bare trio-websocket: {events:,} events to {clients} clients",
         f"{b:.3f} s ({total / b:,.0f} events/s delivered)", "baseline"),
        (f"agenttree serve, live: {events:,} events appended, {clients} clients",
         f"{lv:.3f} s ({total / lv:,.0f} events/s, {lv / b:.2f}x bare)",
         "same order as bare"),
        (f"agenttree serve, catch-up: {clients} clients from=1 on {events:,} events",
         f"{cu:.3f} s ({total / cu:,.0f} events/s, {cu / b:.2f}x bare)", "same order as bare"),
    ]


def _tail_and_fold(log: Path, paused: bool = False) -> float:
    """Seconds to tail and fold ``log`` (``paused``: each read and its fold with the collector
    paused, as the hub's poll runs)."""
    t0 = time.perf_counter()
    tailer, state = Tailer(log, chunk=READ_CHUNK), RunState()
    while True:
        with collector_paused() if paused else contextlib.nullcontext():
            entries = tailer.poll()
            for entry in entries:
                apply(state, entry)
        if not entries:
            return time.perf_counter() - t0


def _hub_polls(run_dir: Path) -> float:
    t0 = time.perf_counter()
    hub = Hub(run_dir)
    viewer = hub.watch()
    while hub.poll():
        hub.messages_for(viewer)
    return time.perf_counter() - t0


def bench_hub(log: Path, events: int, runs: int) -> list[tuple[str, str, str]]:
    """Rows for bench/results.md: the hub's per-event cost on ``log`` (``events`` long, the
    replay benchmark's mix), one page watching, beside the tail and fold alone."""
    run_dir = log.parent / "hub-run"
    run_dir.mkdir()
    log.rename(run_dir / "events.jsonl")
    base = statistics.median(_tail_and_fold(run_dir / "events.jsonl") for _ in range(runs))
    hub = statistics.median(_hub_polls(run_dir) for _ in range(runs))
    paused = statistics.median(_tail_and_fold(run_dir / "events.jsonl", paused=True)
                               for _ in range(runs))
    us = 1e6 / events
    return [
        (f"tail + fold (Tailer.poll, apply), {events:,} events", f"{base * us:.2f} µs/event",
         "baseline"),
        (f"hub poll: fold + page deltas + stream chunks, one page watching, {events:,} events",
         f"{hub * us:.2f} µs/event ({hub / base:.2f}x)", "<= 1.5x tail + fold"),
        ("tail + fold with the collector paused per read, as the hub's poll runs (the hub's "
         "own work beside it)", f"{paused * us:.2f} µs/event (hub {hub / paused:.2f}x)", ""),
    ]


if __name__ == "__main__":
    for row in bench_web(2_000, 10, 1):
        print(" | ".join(row))
