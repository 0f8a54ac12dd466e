"""`make bench` Messaging: parent<->child round trips through the router, beside raw Trio.

Each round trip is two messages, each routed (the conversation-graph check), logged
(``agent/message``, ``--durability batch``) and delivered into a bounded inbox, as an agent's
``message`` tool does. The baseline is the idiomatic Trio program for the same exchange: two
tasks and two memory channels (:func:`bench.baselines.raw_round_trips`).

The rounds interleave the baseline and agenttree, and each ratio is taken within its round (the
figure is the median of the rounds' ratios): on a shared machine the load moves between rounds
far more than within one. Beside it, the same ratio per second of the process's CPU time (all
its threads), which the machine's load moves much less.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from agenttree.log_writer import EventLog
from agenttree.runtime.agent import INBOX_SIZE
from agenttree.runtime.inbox import Inbox
from agenttree.runtime.router import Router

from . import baselines


async def routed_round_trips(n: int, path: Path) -> None:
    """n round trips between ``root`` and ``root.c`` through a router, every message logged."""
    log = EventLog(path, run="bench", durability="batch")
    async with trio.open_nursery() as nursery:
        await nursery.start(log.run)
        router = Router(log.emit, frozenset({"parent", "children"}))
        parent_in, child_in = Inbox(INBOX_SIZE), Inbox(INBOX_SIZE)
        router.register("root", parent_in)
        router.register("root.c", child_in)

        async def child() -> None:
            async for mail in child_in:
                await router.send("root.c", "root", "chat", mail.text)

        nursery.start_soon(child)
        for i in range(n):
            await router.send("root", "root.c", "chat", str(i))
            await parent_in.receive()
        child_in.close()
        log.close()


def _rates(n: int, fn: Callable[..., Awaitable[None]], *args: Any) -> tuple[float, float]:
    """Round trips per second of one fresh ``trio.run``: per second of wall-clock time, and per
    second of the process's CPU time (all its threads: the log's fsyncs too)."""
    wall, cpu = time.perf_counter(), time.process_time()
    trio.run(fn, n, *args)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def bench_messaging(n: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    path = tmp / "msg.jsonl"
    raw: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    _rates(n // 10, baselines.raw_round_trips)  # warm-up (first runs pay for imports, caches)
    _rates(n // 10, routed_round_trips, path)
    path.unlink()
    for i in range(runs):
        if i % 2:  # (the order alternates, so a drift in the load favours neither side)
            ours.append(_rates(n, routed_round_trips, path))
            raw.append(_rates(n, baselines.raw_round_trips))
        else:
            raw.append(_rates(n, baselines.raw_round_trips))
            ours.append(_rates(n, routed_round_trips, path))
        path.unlink()
    ratio = statistics.median(o[0] / r[0] for o, r in zip(ours, raw, strict=True))
    cpu_ratio = statistics.median(o[1] / r[1] for o, r in zip(ours, raw, strict=True))
    return [(f"raw Trio memory-channel round trips ({n:,} per round)",
             f"{statistics.median(r[0] for r in raw):,.0f} /s", "baseline"),
            ("agenttree routed + logged round trips (2 events each)",
             f"{statistics.median(o[0] for o in ours):,.0f} /s ({ratio:.2f}x raw, median of the "
             f"rounds' ratios; {cpu_ratio:.2f}x raw per CPU second)", ">= 0.5x raw")]
