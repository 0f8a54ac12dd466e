"""Fixtures for the web view: a run directory with a log, and the server in-process on port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import attrs
import httpx
import pytest
import trio

from agenttree import events as ev
from agenttree.log import encode
from agenttree.web.hub import Hub
from agenttree.web.server import serve

TOKEN = "test-token-" + "x" * 32
T0 = 1_764_000_000_000


class RunLog:
    """Appends real framed events to a run directory's events.jsonl, as the engine would."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.path = run_dir / "events.jsonl"
        self.seq = 0
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path.touch()

    def write(self, events: Iterable[ev.Event]) -> None:
        lines = []
        for event in events:
            self.seq += 1
            lines.append(encode(self.seq, T0 + self.seq, "test-run", event))
        with open(self.path, "ab") as f:
            f.write(b"".join(lines))

    def notes(self, n: int, size: int = 10) -> None:
        """``n`` chat messages of about ``size`` bytes each."""
        self.write(ev.AgentMessage(sender="human", to="root", kind="chat", text="x" * size)
                   for _ in range(n))


def spawned(agent: str, parent: str | None = None) -> ev.AgentSpawned:
    """An agent/spawned event with plain defaults."""
    depth = agent.count(".")
    return ev.AgentSpawned(agent=agent, parent=parent, task=agent.rsplit(".", 1)[-1],
                           goal=f"goal of {agent}", depth=depth, model="scripted",
                           models=["scripted"], tools=["sh"], budget={"tool_calls": 5})


def start_events() -> list[ev.Event]:
    return [ev.RunStarted(plan_name="t", plan_path="t.edn", run_dir="r", seed=0,
                          durability="none"),
            spawned("root"), spawned("root.a", "root"), spawned("root.b", "root")]


@attrs.define
class Served:
    """A running server: its base URL, the run log behind it and its hub (``hub.poll()`` makes
    it current at once, instead of waiting for its next poll)."""

    base: str
    log: RunLog
    hub: Hub

    def events_url(self, start: int = 1) -> str:
        return f"ws{self.base[4:]}/ws/events?token={TOKEN}&from={start}"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


async def start_server(nursery: trio.Nursery, run_dir: Path, reports: Path | None = None,
                       **hub_options) -> tuple[str, Hub]:
    """``serve`` in ``nursery`` on port 0: its base URL and its hub."""
    hub = Hub(run_dir, **hub_options)
    base = await nursery.start(lambda task_status: serve(
        hub, TOKEN, port=0, reports=reports, task_status=task_status))
    return base, hub


@pytest.fixture
async def served(tmp_path: Path, nursery: trio.Nursery) -> Served:
    log = RunLog(tmp_path / "run")
    log.write(start_events())
    base, hub = await start_server(nursery, log.run_dir, reports=tmp_path / "reports")
    return Served(base, log, hub)
