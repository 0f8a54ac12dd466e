"""The Activity tab at 10,000 agents, beside the tree view in the same run.

On the recorded 100,000-event log of :mod:`bench.tui_load` (10,000 agents, every one with a
model call and a tool call), headless through Pilot: how long the Activity tab takes to paint
once shown, and how long a scroll step (page down / page up) takes from key press to screen,
beside the same step in the agent tree. Run alone: ``python -m bench.activity_view [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from .tui_load import write_log

STEPS = 30


async def _painted_after(app: Any, pilot: Any, key: str) -> float:
    """Seconds from pressing ``key`` to the next screen refresh after it was handled."""
    painted = asyncio.Event()
    start = time.perf_counter()
    await pilot.press(key)
    app.call_after_refresh(painted.set)
    await painted.wait()
    return time.perf_counter() - start


async def _measure(run_dir: Path) -> dict[str, Any]:
    from tui.app import AgentTreeApp

    app = AgentTreeApp(run_dir)
    async with app.run_test(size=(160, 48)) as pilot:
        while "caught_up" not in app.metrics:
            await pilot.pause(0.01)
        await pilot.pause(0.2)
        tree_steps = [await _painted_after(app, pilot, "pagedown" if i % 2 == 0 else "pageup")
                      for i in range(STEPS)]
        first_paint = await _painted_after(app, pilot, "6")
        chart = app.query_one("#activity-chart")
        assert len(chart.rows) == len(app.timeline.live.agents)
        steps = []
        for i in range(STEPS):
            before = chart.cursor
            steps.append(await _painted_after(app, pilot, "pagedown" if i < STEPS // 2
                                              else "pageup"))
            assert chart.cursor != before
    return {"first_paint": first_paint, "steps": sorted(steps), "tree": sorted(tree_steps)}


def bench_activity(agents: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    """Rows for bench/results.md."""
    run_dir = tmp / "activity-run"
    run_dir.mkdir()
    events = write_log(run_dir / "events.jsonl", agents)
    trials = [asyncio.run(_measure(run_dir)) for _ in range(runs)]

    def p95(values: list[float]) -> float:
        return values[max(0, int(len(values) * 0.95) - 1)]

    paint = statistics.median(t["first_paint"] for t in trials)
    tree = statistics.median(statistics.median(t["tree"]) for t in trials)
    tree95 = statistics.median(p95(t["tree"]) for t in trials)
    step = statistics.median(statistics.median(t["steps"]) for t in trials)
    step95 = statistics.median(p95(t["steps"]) for t in trials)
    what = f"{agents:,} agents, {events:,} events"
    return [
        (f"baseline: tree view scroll step (page down/up, key to screen; {what})",
         f"median {tree * 1000:.0f} ms, p95 {tree95 * 1000:.0f} ms", "baseline"),
        ("tui Activity tab: first paint (tab shown to screen, every row laid out)",
         f"{paint * 1000:.0f} ms", "<= 1 s"),
        ("tui Activity tab: scroll step (page down/up, key to screen)",
         f"median {step * 1000:.0f} ms, p95 {step95 * 1000:.0f} ms "
         f"({step / tree:.1f}x the tree's)", "<= 50 ms"),
    ]


def main() -> None:
    """Print the rows (``--quick``: 1,000 agents)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for row in bench_activity(1_000 if args.quick else 10_000, 1 if args.quick else 3,
                                  Path(tmp)):
            print(" | ".join(row))


if __name__ == "__main__":
    main()
