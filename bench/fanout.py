"""One fan-out or cancel trial in a fresh process (so RSS is its own); prints one JSON line.

``python -m bench.fanout raw|engine|cancel N default|tuned``
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time

import trio

from agenttree.budget import Budget
from agenttree.plan import Plan, Task, Tier
from agenttree.runtime.engine import Engine, tune_gc

from . import baselines
from .memory import peak_rss_kb, rss_kb


def _plan(root: Task, leaf_tools: tuple[str, ...], depth: int) -> Plan:
    big = Budget(tool_calls=10**9, tokens=10**12, retries=10)
    tiers = [Tier(depth=0, models=("scripted",), tools=None, budget=big)]
    tiers += [Tier(depth=d, models=("scripted",), tools=None, budget=None)
              for d in range(1, depth)]
    tiers.append(Tier(depth=depth, models=("scripted",), tools=leaf_tools, budget=None))
    return Plan(name="bench", models={}, tiers=tuple(tiers),
                talk=frozenset({"parent", "children"}), root=root)


def fanout_plan(n: int) -> Plan:
    leaf_turn = {"calls": [{"tool": "message", "args": {"to": "parent", "text": "hi"}},
                           {"tool": "finish", "args": {}}],
                 "say": None, "delay_ms": 10, "tokens": None}
    children = tuple(Task(id=f"c{i}", goal="", script=(leaf_turn,)) for i in range(n))
    root = Task(id="root", goal="fan out", children=children,
                script=({"calls": [], "say": "go", "delay_ms": 0, "tokens": None},))
    return _plan(root, ("message", "finish"), 1)


def cancel_plan(depth: int = 3, fanout: int = 10) -> Plan:
    wait_turn = {"calls": [{"tool": "wait", "args": {"timeout_s": 3600}}], "say": None,
                 "delay_ms": 0, "tokens": None}

    def node(name: str, level: int) -> Task:
        kids = tuple(node(f"{name}x{i}", level + 1) for i in range(fanout)) if level < depth \
            else ()
        return Task(id=name, goal="", children=kids, script=(wait_turn,))

    return _plan(node("n", 0), ("wait",), depth)


async def run_raw(n: int) -> float:
    """Raw Trio's fan-out, timed inside ``trio.run`` as the engine's run is (and as the peers
    harness times its W1)."""
    t0 = time.perf_counter()
    await baselines.raw_fanout(n)
    return time.perf_counter() - t0


async def run_engine(plan: Plan) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(plan, tmp + "/run")
        t0 = time.perf_counter()
        await engine.run()
        return time.perf_counter() - t0, engine.state.seq


async def cancel_engine(plan: Plan) -> tuple[float, int]:
    total = sum(1 for _ in plan.walk())
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(plan, tmp + "/run")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine.run)
            while sum(1 for a in engine.state.agents.values() if a.status == "tool") < total:
                await trio.sleep(0.01)
            t0 = time.perf_counter()
            engine.cancel(plan.root.id, "bench")
        return time.perf_counter() - t0, total


def main() -> None:
    kind, n, gc_mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    plan = fanout_plan(n) if kind == "engine" else cancel_plan() if kind == "cancel" else None
    gc.collect()
    if gc_mode == "tuned":
        tune_gc()
    start = rss_kb()
    out: dict[str, float] = {}
    if kind == "raw":
        out["wall_s"] = trio.run(run_raw, n)
    elif kind == "engine":
        out["wall_s"], out["events"] = trio.run(run_engine, plan)
    else:
        out["wall_s"], out["agents"] = trio.run(cancel_engine, plan)
    out["rss_kb"] = max(0, peak_rss_kb() - start)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
