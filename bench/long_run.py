"""A long run in a fresh process: AGENTS agents, each taking turn after scripted turn until the
log holds EVENTS events; prints the engine's RSS at every tenth of the way as one JSON line.

``python -m bench.long_run AGENTS EVENTS``

Each turn is one model call answered by the script and one ``wait`` call that returns at once:
four events (``model/requested``, ``model/responded`` and ``tool/requested``, which carry
their budget charges, and ``tool/result``). The scripted model has a context window (like any real
model's), so each agent's transcript is compacted as it grows; what the engine keeps beyond
that must not grow with the number of events.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

import trio

from agenttree import events as ev
from agenttree.budget import Budget
from agenttree.models.base import ModelClient
from agenttree.models.scripted import ScriptedModel
from agenttree.plan import ModelSettings, Plan, Task, Tier
from agenttree.runtime.agent import Agent
from agenttree.runtime.engine import Engine, tune_gc

from .memory import rss_kb

TURN: dict[str, Any] = {"calls": [{"tool": "wait", "args": {"timeout_s": 0}}], "say": None,
                        "delay_ms": 0, "tokens": 20}
EVENTS_PER_TURN = 4
WINDOW_TOKENS = 1_000


class Repeat(Sequence[dict[str, Any]]):
    """The same turn ``n`` times, in constant memory (a 10,000-turn script in a plan would be
    10,000 maps, and its EDN text in ``plan/loaded``)."""

    def __init__(self, turn: dict[str, Any], n: int) -> None:
        self.turn, self.n = turn, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self.turn] * len(range(*index.indices(self.n)))
        if not -self.n <= index < self.n:
            raise IndexError(index)
        return self.turn


class LongRunEngine(Engine):
    """An engine whose workers play ``turns`` repeated scripted turns."""

    def __init__(self, plan: Plan, run_dir: str, turns: int, **kwargs: Any) -> None:
        super().__init__(plan, run_dir, **kwargs)
        self.turns = turns

    def model_for(self, agent: Agent) -> ModelClient:
        if agent.spec.depth == 0:
            return super().model_for(agent)
        return ScriptedModel(Repeat(TURN, self.turns))  # type: ignore[arg-type]


def long_run_plan(agents: int) -> Plan:
    """A root and ``agents`` workers, the scripted model with a context window."""
    big = Budget(tool_calls=10**12, tokens=10**15, retries=10)
    window = {"scripted": ModelSettings(context_tokens=WINDOW_TOKENS, max_output_tokens=100)}
    tiers = (Tier(depth=0, models=("scripted",), tools=None, budget=big),
             Tier(depth=1, models=("scripted",), tools=("wait", "finish"), budget=None,
                  model_settings=window))
    children = tuple(Task(id=f"w{i}", goal="work") for i in range(agents))
    root = Task(id="root", goal="run long", children=children,
                script=({"calls": [], "say": "go", "delay_ms": 0, "tokens": None},))
    return Plan(name="long", models={}, tiers=tiers, talk=frozenset({"parent", "children"}),
                root=root)


def turns_for(agents: int, events: int) -> int:
    """Turns per worker for a run of about ``events`` events."""
    return max(1, events // (agents * EVENTS_PER_TURN))


def make_engine(agents: int, events: int, run_dir: str, on_event: Callable[[ev.Entry], None],
                **kwargs: Any) -> Engine:
    engine = LongRunEngine(long_run_plan(agents), run_dir, turns_for(agents, events), **kwargs)
    engine.on_event = on_event
    return engine


def main() -> None:
    agents, events = int(sys.argv[1]), int(sys.argv[2])
    tune_gc()
    step = max(1, events // 10)
    samples: list[tuple[int, int]] = [(0, rss_kb())]

    def sample(entry: ev.Entry) -> None:
        if entry.seq % step == 0:
            samples.append((entry.seq, rss_kb()))

    async def run() -> int:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(agents, events, tmp + "/run", sample)
            await engine.run()
            return engine.state.seq

    t0 = time.perf_counter()
    total = trio.run(run)
    print(json.dumps({"wall_s": time.perf_counter() - t0, "events": total,
                      "samples": samples}))


if __name__ == "__main__":
    main()
