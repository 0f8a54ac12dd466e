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
from .tui_pilot import TIMEOUT_S, NotShown, attached, timed_press, wait_shown

EVENTS_PER_TURN = 5
"""model/requested, model/responded, tool/requested, agent/state (the report), tool/result
(the charges ride on the response and the request)."""
KEYS = ("move", "move", "4", "move", "move", "3", "move", "1", "move", "2", "move", "1")
"""What the driver presses, in a loop: ``move`` is down in the agent tree (up at its last
line), a digit a detail tab (each one other than the tab shown before it)."""
GAP_S = 0.2
"""Pause between two presses (a person's pace)."""


def live_plan(agents: int, rate: int, seconds: float) -> str:
    """A flat plan: a root waiting on ``agents`` children, each taking scripted turns whose
    delays (spread between half and one and a half of the mean) make ``rate`` events/s."""
    mean_ms = agents * EVENTS_PER_TURN * 1000 / rate
    turns = max(1, round(seconds * 1000 / mean_ms))
    children = []
    for i in range(agents):
        script = [f'{{:call :report-state :args {{:status "working" :facts {{:step {k}}}}} '
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
        """The app, counting the effects of keys it has handled."""

        CSS_PATH = Path(tui_app.__file__).with_name("app.tcss")
        effects = 0

        @on(Tree.NodeHighlighted, "#tree")
        @on(TabbedContent.TabActivated, "#tabs")
        def _count(self) -> None:
            self.effects += 1

    return StampedApp(run_dir, tune_gc=True)  # as ``agenttree tui`` runs it


async def drive(run_dir: Path, seconds: float) -> dict[str, object]:
    """Attach the TUI to ``run_dir`` and press :data:`KEYS` for ``seconds``: the latencies
    of the presses drawn, and what failed (a press whose effect was not drawn in time)."""
    from textual.widgets import TabbedContent


    app = _stamped_app(run_dir)
    latencies: list[float] = []
    keys: list[str] = []
    failures: list[str] = []
    async with attached(run_dir, app, caught_up=False) as pilot:
        tree, tabs = app.query_one("#tree"), app.query_one("#tabs", TabbedContent)
        # Keys act on what is drawn: wait for the tree's first agents under the root.
        await wait_shown(app, lambda: tree.last_line >= 2 and tree.cursor_line >= 0
                         and app.focused is tree, "the agent tree with agents to move through")
        end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < end:
            key = KEYS[i % len(KEYS)]
            i += 1
            if key == "move":
                key = "down" if tree.cursor_line < tree.last_line else "up"
            elif tabs.active == tui_app_tab(key):
                continue
            before = app.effects
            try:
                latencies.append(await timed_press(pilot, key,
                                                   lambda b=before: app.effects > b))
                keys.append(key)
            except NotShown as exc:
                failures.append(str(exc))
            await asyncio.sleep(GAP_S)
        seen = app.timeline.last_seq
    return {"latencies": latencies, "keys": keys, "failures": failures, "seq": seen,
            "rss_kb": peak_rss_kb()}


def tui_app_tab(key: str) -> str:
    """The id of the tab a digit key shows."""
    from tui.app import TABS

    return TABS[int(key) - 1]


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
                            "--seconds", str(seconds)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    out, err = tui.communicate()
    engine_rss = _wait_peak_kb(engine)
    wall = time.perf_counter() - started
    if tui.returncode:
        raise RuntimeError(f"the TUI driver failed ({tui.returncode}): "
                           f"{err.decode(errors='replace').strip()[-2000:]}")
    result = json.loads(out)
    lat = sorted(result["latencies"])
    if not lat:
        raise RuntimeError("no key press reached the screen: " + "; ".join(result["failures"]))
    events = sum(1 for _ in log.open("rb"))
    return {"p50": statistics.median(lat), "p95": lat[max(0, round(len(lat) * 0.95) - 1)],
            "max": lat[-1], "presses": len(lat), "failed": len(result["failures"]),
            "tui_kb": result["rss_kb"], "engine_kb": engine_rss, "events": events,
            "rate": events / wall}


def bench_tui_live(agents: int, rate: int, seconds: float, runs: int,
                   tmp: Path) -> list[tuple[str, str, str]]:
    """Rows for bench/results.md."""
    trials = [trial(agents, rate, seconds, tmp) for _ in range(runs)]

    def med(key: str) -> float:
        return statistics.median(t[key] for t in trials)

    failed = sum(t["failed"] for t in trials)
    what = f"{agents:,} agents, {med('rate'):,.0f} events/s ({med('events'):,.0f} events)"
    return [
        (f"baseline: the engine's peak RSS (live run: {what})",
         f"{med('engine_kb') / 1024:.0f} MB", "baseline"),
        ("tui following that run: peak RSS",
         f"{med('tui_kb') / 1024:.0f} MB ({med('tui_kb') / med('engine_kb'):.2f}x the engine)",
         "<= 1x"),
        (f"tui: key press to screen, live ({med('presses'):.0f} presses: tree moves, tabs)",
         f"p50 {med('p50') * 1000:.0f} ms, p95 {med('p95') * 1000:.0f} ms, "
         f"max {med('max') * 1000:.0f} ms"
         + (f"; {failed} presses not drawn within {TIMEOUT_S:.0f} s" if failed else ""),
         "p95 <= 100 ms"),
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
