"""The Activity view at 10,000 agents, beside the tree view in the same run.

On the recorded 100,000-event log of :mod:`bench.tui_load` (10,000 agents, every one with a
model call and a tool call):

- the TUI, headless through Pilot: how long the Activity tab takes to paint once shown, and a
  scroll step (page down / page up) from key press to screen, beside a cursor step (down /
  up) in the tree (whose subtrees stay closed at this size, so it has no pages to turn);
- the web page in headless Chromium (``agenttree serve`` in a subprocess): from navigation to
  the first Activity rows on screen, beside the tree's first rows, and a scroll step (ten rows:
  the panel's draw and the browser's layout), beside the same step of the tree.

Run alone: ``python -m bench.activity_view [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .tui_load import write_log
from .tui_pilot import attached, timed_press

STEPS = 30


async def _measure(run_dir: Path) -> dict[str, Any]:
    async with attached(run_dir) as pilot:
        app = pilot.app
        await pilot.pause(0.2)
        tree = app.query_one("#tree")
        tree_steps = []
        for i in range(STEPS):
            before = tree.cursor_line
            tree_steps.append(await timed_press(pilot, "down" if i < STEPS // 2 else "up",
                                                lambda b=before: tree.cursor_line != b))
        chart = app.query_one("#activity-chart")
        first_paint = await timed_press(pilot, "6", lambda: len(chart.rows) > 0)
        assert len(chart.rows) == len(app.timeline.live.agents)
        steps = []
        for i in range(STEPS):
            before = chart.cursor
            steps.append(await timed_press(pilot, "pagedown" if i < STEPS // 2 else "pageup",
                                           lambda b=before: chart.cursor != b))
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
    rows = [
        (f"baseline: tui tree cursor step (down/up, key to screen; {what})",
         f"median {tree * 1000:.0f} ms, p95 {tree95 * 1000:.0f} ms", "baseline"),
        ("tui Activity tab: first paint (key 6 to screen, every row laid out)",
         f"{paint * 1000:.0f} ms", "<= 1 s"),
        ("tui Activity tab: scroll step (page down/up, key to screen)",
         f"median {step * 1000:.0f} ms, p95 {step95 * 1000:.0f} ms "
         f"({step / tree:.1f}x the tree's)", "<= 50 ms"),
    ]
    web = _web(run_dir, runs)
    if web is None:
        return [*rows, ("web Activity panel", "not measured: chromium or Playwright missing",
                        "")]
    med = statistics.median
    act_step = med(med(s) for s in web["act_step"])
    tree_step = med(med(s) for s in web["tree_step"])
    return [*rows,
            ("baseline: web tree panel, navigation to its first rows on screen",
             f"{med(web['tree']) * 1000:.0f} ms", "baseline"),
            ("web Activity panel: navigation to its first rows and marks on screen",
             f"{med(web['act']) * 1000:.0f} ms", "<= 1 s"),
            ("baseline: web tree panel scroll step (ten rows: draw + layout)",
             f"median {tree_step:.1f} ms", "baseline"),
            ("web Activity panel scroll step (ten rows: draw + layout)",
             f"median {act_step:.1f} ms, p95 "
             f"{med(p95(s) for s in web['act_step']):.1f} ms", "<= 50 ms")]


CHROMIUM = Path("/usr/bin/chromium")
SCROLL_STEP = """([panel, draw]) => {
  const el = document.getElementById(panel);
  const page = window.agenttreePage;
  const times = [];
  for (let i = 0; i < 40; i++) {
    const t = performance.now();
    el.scrollTop += (i < 20 ? 1 : -1) * 10 * 24;
    page[draw].draw();
    void document.body.offsetHeight;  // the layout the step causes
    times.push(performance.now() - t);
  }
  return times.sort((a, b) => a - b);
}"""


def _web(run_dir: Path, runs: int) -> dict[str, Any] | None:
    """The page's figures, or None without chromium and Playwright."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not CHROMIUM.exists():
        return None
    server = subprocess.Popen([sys.executable, "-m", "agenttree", "serve", str(run_dir),
                               "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().rsplit(" at ", 1)[1].strip()  # type: ignore[union-attr]
        out: dict[str, list[Any]] = {"act": [], "tree": [], "act_step": [], "tree_step": []}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                        args=["--no-sandbox", "--headless", "--disable-gpu"])
            for _ in range(runs):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                start = time.perf_counter()
                page.goto(url)
                page.wait_for_selector('[role="treeitem"]', timeout=60_000)
                out["tree"].append(time.perf_counter() - start)
                page.wait_for_selector(".act-row .mark", timeout=60_000)
                out["act"].append(time.perf_counter() - start)
                page.wait_for_function(f"document.querySelector('#agent-total').textContent"
                                       f" === '({len(_agents(run_dir))})'", timeout=60_000)
                out["act_step"].append(page.evaluate(SCROLL_STEP, ["activity", "activity"]))
                out["tree_step"].append(page.evaluate(SCROLL_STEP, ["tree", "tree"]))
                page.close()
            browser.close()
        return out
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def _agents(run_dir: Path) -> set[str]:
    return {line.split(b'"agent":"', 1)[1].split(b'"', 1)[0].decode()
            for line in (run_dir / "events.jsonl").read_bytes().splitlines()
            if b'"agent/spawned"' in line}


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
