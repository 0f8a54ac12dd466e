"""The terminal UI against a live engine: key press to screen, and both processes' memory.

A real engine (``agenttree run``, its own process) runs a scripted plan of ``agents`` agents
whose turns are spread so that, after the burst of spawns, the log grows by about ``rate``
events/s for about ``seconds``. A second process runs the TUI headless (Textual's Pilot),
attached to that run directory from its start as ``agenttree tui RUN_DIR`` is, and presses keys
at a person's pace: moves in the agent tree and switches between detail tabs. Key to screen is
from the key being posted until the first screen refresh after the key's effect (the tree's
``NodeHighlighted`` or the tabs' ``TabActivated`` handled). Each process's peak RSS is its own.

Run alone: ``python -m bench.tui_live [--agents N] [--rate R] [--seconds S]``.
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
from pathlib import Path

from .memory import peak_rss_kb

EVENTS_PER_TURN = 4
"""model/requested, model/responded, tool/requested, tool/result (the charges ride on them)."""
KEYS = ("down", "down", "4", "down", "up", "3", "down", "1", "up", "2", "down", "1")
"""What the driver presses, in a loop: tree moves and tab switches (each one has an effect)."""
GAP_S = 0.2
"""Pause between two presses (a person's pace)."""
KEY_TIMEOUT_S = 30.0
"""A press not on screen after this long is counted as this long."""


def live_plan(agents: int, rate: int, seconds: float) -> str:
    """A flat plan: a root waiting on ``agents`` children, each taking scripted turns whose
    delays (spread between half and one and a half of the mean) make ``rate`` events/s."""
    mean_ms = agents * EVENTS_PER_TURN * 1000 / rate
    turns = max(1, round(seconds * 1000 / mean_ms))
    children = []
    for i in range(agents):
        script = [f'{{:call :report-state :args {{:status "working" :detail "step {k}"}} '
                  f':say "step {k} of the part given to worker {i}" '
                  f':delay-ms {round(mean_ms * (0.5 + ((i * 7919 + k * 104729) % 1000) / 1000))}}}'
                  for k in range(turns)]
        children.append(f'{{:task/id "w{i}" :goal "worker {i}: a slice of the job" '
                        f':script [{" ".join(script)} {{:call :finish :args {{}}}}]}}')
    return ('{:run/name "tui-live"\n :tiers [{:depth 0 :models ["scripted"] :tools :all '
            ':budget {:tool-calls 1000000}}\n          {:depth 1 :models ["scripted"] '
            ':tools [:report-state :finish]}]\n'
            ' :task {:task/id "root" :goal "fan out" :script [{:say "waiting"}]\n'
            '        :children [' + "\n                   ".join(children) + "]}}\n")


def _stamped_app(run_dir: Path):
    from textual import on
    from textual.widgets import TabbedContent, Tree

    from tui import app as tui_app

    class StampedApp(tui_app.AgentTreeApp):
        """The app, telling the driver when a key's effect has reached the screen."""

        CSS_PATH = Path(tui_app.__file__).with_name("app.tcss")
        shown: asyncio.Event

        @on(Tree.NodeHighlighted, "#tree")
        @on(TabbedContent.TabActivated, "#tabs")
        def _stamp(self) -> None:
            self.call_after_refresh(self.shown.set)

    app = StampedApp(run_dir)
    app.shown = asyncio.Event()
    return app


async def drive(run_dir: Path, seconds: float) -> dict[str, object]:
    """Attach the TUI to ``run_dir`` and press :data:`KEYS` for ``seconds``; the latencies."""
    app = _stamped_app(run_dir)
    latencies: list[float] = []
    async with app.run_test(size=(160, 48)) as pilot:
        while len(app.timeline.live.agents) < 2:  # the tree has agents to move through
            if not app.is_running:
                return {}  # run_test raises what stopped it
            await asyncio.sleep(0.05)
        end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < end:
            app.shown.clear()
            start = time.perf_counter()
            press = asyncio.create_task(pilot.press(KEYS[i % len(KEYS)]))
            try:
                await asyncio.wait_for(app.shown.wait(), KEY_TIMEOUT_S)
            except TimeoutError:
                pass
            latencies.append(time.perf_counter() - start)
            await press
            await asyncio.sleep(GAP_S)
            i += 1
        seen = app.timeline.last_seq
    return {"latencies": latencies, "seq": seen,
            "rss_kb": peak_rss_kb()}


def _wait_peak_kb(proc: subprocess.Popen[bytes]) -> int:
    """Wait for a child; its peak RSS in KiB (read until it exits: its own, not inherited)."""
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, peak_rss_kb(proc.pid))
        except (OSError, StopIteration):
            break  # gone between the poll and the read
        time.sleep(0.1)
    proc.wait()
    return peak


def trial(agents: int, rate: int, seconds: float, tmp: Path) -> dict[str, float]:
    """One live run watched by one TUI; figures in seconds and KiB."""
    plan = tmp / "tui-live.edn"
    plan.write_text(live_plan(agents, rate, seconds))
    run_dir = tmp / f"tui-live-{time.monotonic_ns()}"
    engine = subprocess.Popen([sys.executable, "-m", "agenttree", "run", str(plan), "--run-dir",
                               str(run_dir), "--quiet"], stdout=subprocess.DEVNULL)
    log = run_dir / "events.jsonl"
    while not (log.exists() and log.stat().st_size):
        if engine.poll() is not None:
            raise RuntimeError(f"the engine exited ({engine.returncode}) before logging")
        time.sleep(0.05)
    started = time.perf_counter()
    tui = subprocess.Popen([sys.executable, "-m", "bench.tui_live", "--drive", str(run_dir),
                            "--seconds", str(seconds)], stdout=subprocess.PIPE)
    out, _ = tui.communicate()
    engine_rss = _wait_peak_kb(engine)
    wall = time.perf_counter() - started
    result = json.loads(out)
    lat = sorted(result["latencies"])
    events = sum(1 for _ in log.open("rb"))
    return {"p50": statistics.median(lat), "p95": lat[max(0, round(len(lat) * 0.95) - 1)],
            "max": lat[-1], "presses": len(lat), "tui_kb": result["rss_kb"],
            "engine_kb": engine_rss, "events": events, "rate": events / wall}


def bench_tui_live(agents: int, rate: int, seconds: float, runs: int,
                   tmp: Path) -> list[tuple[str, str, str]]:
    """Rows for bench/results.md."""
    trials = [trial(agents, rate, seconds, tmp) for _ in range(runs)]

    def med(key: str) -> float:
        return statistics.median(t[key] for t in trials)

    what = f"{agents:,} agents, {med('rate'):,.0f} events/s ({med('events'):,.0f} events)"
    return [
        (f"baseline: the engine's peak RSS (live run: {what})",
         f"{med('engine_kb') / 1024:.0f} MB", "baseline"),
        ("tui following that run: peak RSS",
         f"{med('tui_kb') / 1024:.0f} MB ({med('tui_kb') / med('engine_kb'):.2f}x the engine)",
         "<= 1x"),
        (f"tui: key press to screen, live ({med('presses'):.0f} presses: tree moves, tabs)",
         f"p50 {med('p50') * 1000:.0f} ms, p95 {med('p95') * 1000:.0f} ms, "
         f"max {med('max') * 1000:.0f} ms", "p95 <= 100 ms"),
    ]


def main() -> None:
    """Print the rows (or, with ``--drive``, be the TUI process of a trial)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=1100)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--drive", metavar="RUN_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:
        print(json.dumps(asyncio.run(drive(Path(args.drive), args.seconds))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for row in bench_tui_live(args.agents, args.rate, args.seconds, 1, Path(tmp)):
            print(" | ".join(row))


if __name__ == "__main__":
    main()
