"""W1 on autogen-core (``SingleThreadedAgentRuntime``): a root agent sends one task to each of N
worker agents (one agent type, N keys, instantiated by the runtime); each worker awaits a 10 ms
fake model call and replies (``send_message`` RPCs); the root gathers the N replies. One
warm-up call (N=2, other keys) before timing.

    python autogen_w1.py N          (with the peers' venv, from this directory)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from time import perf_counter

from autogen_core import (
    AgentId,
    MessageContext,
    RoutedAgent,
    SingleThreadedAgentRuntime,
    message_handler,
)
from common import FAKE_MODEL_CALL_S, emit, peak_rss_mb, size


@dataclass
class Start:
    n: int
    prefix: str


@dataclass
class Task:
    i: int


@dataclass
class Result:
    i: int


class Worker(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("worker")

    @message_handler
    async def on_task(self, message: Task, ctx: MessageContext) -> Result:
        await asyncio.sleep(FAKE_MODEL_CALL_S)  # the fake model call
        return Result(message.i)


class Root(RoutedAgent):
    def __init__(self) -> None:
        super().__init__("root")

    @message_handler
    async def on_start(self, message: Start, ctx: MessageContext) -> int:
        replies = await asyncio.gather(*(
            self.send_message(Task(i), AgentId("worker", f"{message.prefix}{i}"))
            for i in range(message.n)))
        return len(replies)


async def w1(n: int) -> None:
    runtime = SingleThreadedAgentRuntime()
    await Worker.register(runtime, "worker", Worker)
    await Root.register(runtime, "root", Root)
    runtime.start()
    root = AgentId("root", "default")
    await runtime.send_message(Start(2, "warmup"), root)
    before = peak_rss_mb()
    t0 = perf_counter()
    got = await asyncio.wait_for(runtime.send_message(Start(n, "w"), root), 120)
    wall = perf_counter() - t0
    assert got == n
    emit(wall, peak_rss_mb() - before)
    await runtime.stop_when_idle()


if __name__ == "__main__":
    asyncio.run(w1(size()))
