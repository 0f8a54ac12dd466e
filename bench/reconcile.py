"""Reconcile of a large plan edit: a 10,000-task tree running, one edit applied live.

Figures: parsing the edited plan (the baseline any reconcile pays: the file must be read),
the pure diff, and the whole live reconcile (diff, new plan in force, ``plan/reconciled``
logged, the added task started and the changed one restarted) on an engine whose 10,000 agents
are all waiting.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import attrs
import trio

from agenttree.plan import Plan, Task, parse_plan, plan_to_edn
from agenttree.plan_diff import diff_plans
from agenttree.runtime.engine import Engine

from .fanout import cancel_plan


def edited(plan: Plan) -> Plan:
    """The same plan with one leaf's goal changed and one task added under the root."""
    first = plan.root.children[0]
    leaf = first.children[0]
    first = attrs.evolve(first, children=(attrs.evolve(leaf, goal="changed"),
                                          *first.children[1:]))
    extra = Task(id="added", goal="new", script=first.script)
    root = attrs.evolve(plan.root, children=(first, *plan.root.children[1:], extra))
    return attrs.evolve(plan, root=root)


async def _live_reconcile(plan: Plan, new: Plan) -> float:
    total = sum(1 for _ in plan.walk())
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(plan, tmp + "/run", durability="none")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine.run)
            while sum(1 for a in engine.state.agents.values() if a.status == "tool") < total:
                await trio.sleep(0.05)
            t0 = time.perf_counter()
            engine.reconciler.apply(new)
            took = time.perf_counter() - t0
            engine.cancel(plan.root.id, "bench over")
        return took


def bench_reconcile(runs: int, depth: int) -> list[tuple[str, str, str]]:
    plan = cancel_plan(depth=depth, fanout=10)
    new = edited(plan)
    tasks = sum(1 for _ in plan.walk())
    text = plan_to_edn(new)
    parse = statistics.median(_timed(lambda: parse_plan(text)) for _ in range(runs))
    diff = statistics.median(_timed(lambda: diff_plans(plan, new)) for _ in range(runs))
    live = statistics.median(trio.run(_live_reconcile, plan, new) for _ in range(runs))
    return [
        (f"parse the edited plan ({tasks:,} tasks, {len(text) // 1024:,} KiB of EDN)",
         f"{parse * 1000:.0f} ms", "baseline"),
        (f"diff old vs new plan ({tasks:,} tasks; 1 changed, 1 added)",
         f"{diff * 1000:.1f} ms", ""),
        (f"live reconcile on a running engine with {tasks:,} waiting agents (diff, plan in "
         "force, plan/reconciled, restart + spawn)", f"{live * 1000:.0f} ms",
         "under 200 ms"),
    ]


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
