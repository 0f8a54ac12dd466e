"""TUI load: a recorded 100,000-event log of 10,000 agents, then a live engine's run.

Measures ``agenttree tui`` (headless, through Textual's Pilot) beside a baseline measured in the
same run: a plain ``fold`` of the same log. Figures: time to first paint and time to catch up
with the whole log; then, against a live 2,000-agent run, key press to screen and memory
(:mod:`bench.tui_live`: a recorded log with appended events did not show the live problems).
Each trial of the recorded log runs the TUI in a fresh process, as ``agenttree tui`` starts.
Run alone: ``python -m bench.tui_load [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from agenttree import events as ev
from agenttree.log import LogReader, encode
from agenttree.state import fold

from .tui_live import bench_tui_live
from .tui_pilot import attached

RUN = "bench-tui"
T0 = 1_800_000_000_000
EVENTS_PER_AGENT = 10


def _agent_events(agent: str, parent: str | None, depth: int) -> list[ev.Event]:
    """What the engine logs for an agent that runs one command and finishes: charges ride on
    ``model/responded`` and ``tool/requested``, and ``agent/finished`` ends its task."""
    call, finish = f"{agent}#1.0", f"{agent}#2.0"
    usage = {"prompt": 50, "completion": 10, "estimated": True}
    return [
        ev.AgentSpawned(agent=agent, parent=parent, task=agent.rsplit(".", 1)[-1],
                        goal=f"work on {agent}", depth=depth, model="scripted",
                        models=["scripted"], tools=["sh", "finish"],
                        budget={"tool_calls": 10}, cwd=".", dynamic=False, attempt=1),
        ev.ModelRequested(agent=agent, model="scripted", turn=1, messages=2),
        ev.ModelResponded(agent=agent, model="scripted", turn=1, text="working on it",
                          calls=[{"id": call, "tool": "sh", "args": {"cmd": "true"}}],
                          usage=usage, latency_ms=1.0, charged={"tokens": 60}),
        ev.ToolRequested(agent=agent, call=call, tool="sh", args={"cmd": "true"},
                         charged={"tool_calls": 1}),
        ev.ToolResult(agent=agent, call=call, tool="sh", ok=True, output="", duration_ms=1.0),
        ev.ModelRequested(agent=agent, model="scripted", turn=2, messages=4),
        ev.ModelResponded(agent=agent, model="scripted", turn=2, text="done",
                          calls=[{"id": finish, "tool": "finish", "args": {}}],
                          usage=usage, latency_ms=1.0, charged={"tokens": 60}),
        ev.ToolRequested(agent=agent, call=finish, tool="finish", args={},
                         charged={"tool_calls": 1}),
        ev.ToolResult(agent=agent, call=finish, tool="finish", ok=True, output="finishing",
                      duration_ms=0.0),
        ev.AgentFinished(agent=agent, status="done", reason="", result="ok"),
    ]


def synth_events(agents: int, fanout: int = 100) -> Iterator[ev.Event]:
    """A run of ``agents`` agents (root, ``fanout`` children, theirs...), ten events each.

    Agents start in waves so that events of many agents interleave, as in a real run.
    """
    yield ev.RunStarted(plan_name=RUN, plan_path="bench.edn", run_dir=RUN, seed=0,
                        durability="none", format=ev.FORMAT, version="bench", pid=0)
    ids: list[tuple[str, str | None, int]] = [("root", None, 0)]
    i = 0
    while len(ids) < agents:
        parent, _, depth = ids[i]
        for k in range(1, fanout + 1):
            if len(ids) == agents:
                break
            ids.append((f"{parent}.{k}", parent, depth + 1))
        i += 1
    wave = 200
    for start in range(0, len(ids), wave):
        streams = [_agent_events(*spec) for spec in ids[start:start + wave]]
        for step in range(EVENTS_PER_AGENT):
            for stream in streams:
                yield stream[step]


def write_log(path: Path, agents: int) -> int:
    """Write the synthetic run's log to ``path``; returns the number of events."""
    seq = 0
    with open(path, "wb") as f:
        for seq, event in enumerate(synth_events(agents), start=1):
            f.write(encode(seq, T0 + seq, RUN, event))
    return seq


async def _measure_app(run_dir: Path) -> dict[str, float]:
    async with attached(run_dir) as pilot:
        return pilot.app.metrics


def measure_fresh(run_dir: Path) -> dict[str, float]:
    """First paint and caught up of the TUI on ``run_dir``, in a process of its own, as a user
    starts ``agenttree tui``: apps run one after another in the bench's process (beside what
    earlier sections left there) measured the process more than the app (first paint 0.35,
    0.68, 0.81 s in three trials in one process; the objects of each app outlive it, and each
    start runs the default collector over all of them before it is tuned)."""
    out = subprocess.run([sys.executable, "-m", "bench.tui_load", "--measure", str(run_dir)],
                         capture_output=True, check=True)
    return json.loads(out.stdout)


def bench_tui(agents: int, runs: int, tmp: Path, scale: int = 1) -> list[tuple[str, str, str]]:
    """Rows for bench/results.md: the recorded log, then a live run (:mod:`bench.tui_live`,
    ``scale`` times smaller and shorter)."""
    run_dir = tmp / "tui-run"
    run_dir.mkdir()
    events = write_log(run_dir / "events.jsonl", agents)
    size = (run_dir / "events.jsonl").stat().st_size
    folds, trials = [], []
    for _ in range(runs):
        start = time.perf_counter()
        fold(LogReader(run_dir / "events.jsonl"))
        folds.append(time.perf_counter() - start)
        trials.append(measure_fresh(run_dir))

    def med(key: str) -> float:
        return statistics.median(t[key] for t in trials)

    base = statistics.median(folds)
    what = f"{events:,} events, {agents:,} agents ({size / 1e6:.0f} MB)"
    return [
        (f"baseline: decode + fold the log ({what})", f"{base:.2f} s", "baseline"),
        ("tui: start to first paint", f"{med('first_paint'):.2f} s", "< 1 s"),
        ("tui: start to caught up (whole log folded and drawn)",
         f"{med('caught_up'):.2f} s ({med('caught_up') / base:.1f}x the bare fold)", "< 3 s"),
        *bench_tui_live(agents=2_000 // scale, rate=1_100 // scale, seconds=30.0 / scale,
                        runs=runs, tmp=tmp),
    ]


def main() -> None:
    """Print the rows (``--quick``: 1,000 agents)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--measure", metavar="RUN_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:  # the TUI process of a trial (measure_fresh)
        print(json.dumps(asyncio.run(_measure_app(Path(args.measure)))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for row in bench_tui(1_000 if args.quick else 10_000, 1 if args.quick else 3,
                             Path(tmp), 10 if args.quick else 1):
            print(" | ".join(row))


if __name__ == "__main__":
    main()
