"""Baselines measured in the same run as agenttree's figures: raw Trio and naive loops."""

from __future__ import annotations

import json
import math
import os
import time

import orjson
import trio


async def raw_fanout(n: int, sleep_s: float = 0.01) -> None:
    """n tasks that each sleep ``sleep_s`` and send one message to the root, which receives
    all n: the peers harness's W1 (``../shared/peers/raw_trio.py``), written the same way (an
    unbounded channel the tasks share, no per-task clone)."""
    send, recv = trio.open_memory_channel[int](math.inf)

    async def worker(i: int) -> None:
        await trio.sleep(sleep_s)
        await send.send(i)

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(worker, i)
        for _ in range(n):
            await recv.receive()


async def raw_round_trips(n: int) -> None:
    """n parent<->child round trips over two memory channels."""
    to_child, child_in = trio.open_memory_channel[int](256)
    to_parent, parent_in = trio.open_memory_channel[int](256)

    async def child() -> None:
        async for i in child_in:
            await to_parent.send(i)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(child)
        for i in range(n):
            await to_child.send(i)
            await parent_in.receive()
        nursery.cancel_scope.cancel()


async def raw_cancel_tree(depth: int, fanout: int) -> float:
    """Build a tree of sleeping tasks (nested nurseries), cancel the root; seconds to unwind."""
    ready = trio.Event()
    started = 0
    total = sum(fanout ** d for d in range(depth + 1))

    async def node(level: int) -> None:
        nonlocal started
        started += 1
        if started == total:
            ready.set()
        async with trio.open_nursery() as nursery:
            if level < depth:
                for _ in range(fanout):
                    nursery.start_soon(node, level + 1)
            await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(node, 0)
        await ready.wait()
        t0 = time.perf_counter()
        nursery.cancel_scope.cancel()
    return time.perf_counter() - t0


def naive_write_flush(path: str, n: int) -> float:
    """events/s of the naive logger: stdlib ``json.dumps`` + a blocking write + flush per
    event, for the same events EventLog writes (no CRC, no batching)."""
    t0 = time.perf_counter()
    with open(path, "w") as f:
        for i in range(n):
            event = {"seq": i, "t": int(time.time() * 1000), "run": "bench",
                     "type": "agent/state", "agent": f"root.{i % 100}", "status": "running",
                     "detail": "", "facts": None}
            f.write(json.dumps(event) + "\n")
            f.flush()
    elapsed = time.perf_counter() - t0
    os.unlink(path)
    return n / elapsed


def bare_parse(path: str) -> float:
    """events/s of an orjson parse-and-dispatch loop over a log (the replay floor)."""
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    n = 0
    with open(path, "rb") as f:
        for line in f:
            d = orjson.loads(line)
            counts[d["type"]] = counts.get(d["type"], 0) + 1
            n += 1
    return n / (time.perf_counter() - t0)


async def trio_lock_pairs(n: int) -> float:
    """acquire+release pairs/s of an uncontended trio.Lock."""
    lock = trio.Lock()
    t0 = time.perf_counter()
    for _ in range(n):
        await lock.acquire()
        lock.release()
    return n / (time.perf_counter() - t0)
