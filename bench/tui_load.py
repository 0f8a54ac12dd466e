"""TUI load: a recorded 100,000-event log of 10,000 agents, and a live feed of 1,000 events/s.

Measures ``agenttree tui`` (headless, through Textual's Pilot) beside a baseline measured in the
same run: a plain ``fold`` of the same log. Figures: time to first paint, time to catch up with
the whole log, and key-press-to-screen latency while events are appended.
Run alone: ``python -m bench.tui_load [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from agenttree import events as ev
from agenttree.log import LogReader, encode
from agenttree.state import fold

RUN = "bench-tui"
T0 = 1_800_000_000_000
EVENTS_PER_AGENT = 10


def _agent_events(agent: str, parent: str | None, depth: int) -> list[ev.Event]:
    call = f"{agent}#1.0"
    return [
        ev.AgentSpawned(agent=agent, parent=parent, task=agent.rsplit(".", 1)[-1],
                        goal=f"work on {agent}", depth=depth, model="scripted",
                        models=["scripted"], tools=["sh"], budget={"tool_calls": 10},
                        cwd=".", dynamic=False, attempt=1),
        ev.ModelRequested(agent=agent, model="scripted", turn=1, messages=2),
        ev.ModelResponded(agent=agent, model="scripted", turn=1, text="working on it",
                          calls=[{"id": call, "tool": "sh", "args": {"cmd": "true"}}],
                          usage={"prompt": 50, "completion": 10, "estimated": True},
                          latency_ms=1.0),
        ev.BudgetCharged(agent=agent, kind="tokens", amount=60, used=60, limit=None),
        ev.ToolRequested(agent=agent, call=call, tool="sh", args={"cmd": "true"}),
        ev.BudgetCharged(agent=agent, kind="tool_calls", amount=1, used=1, limit=10),
        ev.ToolResult(agent=agent, call=call, tool="sh", ok=True, output="", duration_ms=1.0),
        ev.AgentState(agent=agent, status="waiting", detail="children", facts=None),
        ev.AgentFinished(agent=agent, status="done", reason="", result="ok"),
        ev.TaskStateChanged(task=agent.rsplit(".", 1)[-1], agent=agent, status="done",
                            prev="running"),
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


class LiveWriter(threading.Thread):
    """Appends new agents' events to a log at ``rate`` events/s until stopped."""

    def __init__(self, path: Path, next_seq: int, rate: int) -> None:
        super().__init__(daemon=True)
        self.path, self.seq, self.rate = path, next_seq, rate
        self.stop = threading.Event()

    def run(self) -> None:
        tick, k = 0.01, 0
        per_tick = max(1, round(self.rate * tick))
        backlog: list[ev.Event] = []
        with open(self.path, "ab") as f:
            while not self.stop.wait(tick):
                while len(backlog) < per_tick:
                    k += 1
                    backlog += _agent_events(f"root.1.live{k}", "root.1", 2)
                batch, backlog = backlog[:per_tick], backlog[per_tick:]
                for event in batch:
                    f.write(encode(self.seq, T0 + self.seq, RUN, event))
                    self.seq += 1
                f.flush()


async def _measure_app(run_dir: Path, presses: int, rate: int) -> dict[str, float]:
    from tui.app import AgentTreeApp

    app = AgentTreeApp(run_dir)
    latencies: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        while "caught_up" not in app.metrics:
            await pilot.pause(0.01)
        writer = LiveWriter(run_dir / "events.jsonl", app.timeline.last_seq + 1, rate)
        writer.start()
        try:
            await pilot.pause(0.5)  # the feed is flowing
            tree = app.query_one("#tree")
            painted = asyncio.Event()
            show_details = app._show_details

            def show_and_stamp(*args: object) -> None:  # the key's effect is being drawn
                show_details(*args)
                app.call_after_refresh(painted.set)

            app._show_details = show_and_stamp  # type: ignore[method-assign]
            for i in range(presses):
                before = tree.cursor_line
                painted.clear()
                start = time.perf_counter()
                press = asyncio.create_task(pilot.press("down" if i % 10 < 5 else "up"))
                await painted.wait()
                latencies.append(time.perf_counter() - start)
                await press
                await pilot.pause(0.05)
                assert tree.cursor_line != before
        finally:
            writer.stop.set()
            writer.join()
    latencies.sort()
    return {"first_paint": app.metrics["first_paint"], "caught_up": app.metrics["caught_up"],
            "key_median": statistics.median(latencies),
            "key_p95": latencies[int(len(latencies) * 0.95) - 1]}


def bench_tui(agents: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    """Rows for bench/results.md."""
    run_dir = tmp / "tui-run"
    run_dir.mkdir()
    events = write_log(run_dir / "events.jsonl", agents)
    size = (run_dir / "events.jsonl").stat().st_size
    original = (run_dir / "events.jsonl").read_bytes()
    folds, trials = [], []
    for _ in range(runs):
        start = time.perf_counter()
        fold(LogReader(run_dir / "events.jsonl"))
        folds.append(time.perf_counter() - start)
        (run_dir / "events.jsonl").write_bytes(original)  # drop the last trial's live events
        trials.append(asyncio.run(_measure_app(run_dir, presses=40, rate=1000)))

    def med(key: str) -> float:
        return statistics.median(t[key] for t in trials)

    base = statistics.median(folds)
    what = f"{events:,} events, {agents:,} agents ({size / 1e6:.0f} MB)"
    return [
        (f"baseline: decode + fold the log ({what})", f"{base:.2f} s", "baseline"),
        ("tui: start to first paint", f"{med('first_paint'):.2f} s", "< 1 s"),
        ("tui: start to caught up (whole log folded and drawn)",
         f"{med('caught_up'):.2f} s ({med('caught_up') / base:.1f}x the bare fold)", "< 3 s"),
        ("tui: key press to screen while 1,000 events/s arrive",
         f"median {med('key_median') * 1000:.0f} ms, p95 {med('key_p95') * 1000:.0f} ms",
         "< 100 ms"),
    ]


def main() -> None:
    """Print the rows (``--quick``: 1,000 agents)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for row in bench_tui(1_000 if args.quick else 10_000, 1 if args.quick else 3,
                             Path(tmp)):
            print(" | ".join(row))


if __name__ == "__main__":
    main()
