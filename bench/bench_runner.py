"""Bench runner start-up: resuming a report of N finished case runs until its first new case
starts, beside a fresh one-case run's start (the same process start-up, nothing to read).

Both are whole ``agenttree bench`` processes; the time is from spawning the process to the
``t`` stamp of the first new ``case/start`` in the report. The suite and the report are made
here, in a temporary directory: N + 1 tool-calling cases, N of them already ended.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from agenttree.bench.command import SUITE_CACHE
from agenttree.bench.report import EVENTS, ReportLog, read_events
from agenttree.bench.runner import Options, Runner
from agenttree.bench.suites import EdnCache, load_suite

SUITES = Path(__file__).resolve().parent.parent / "suites"
CASE = ('{{:id "c{i:05d}" :category :simple :prompt "What is {i} times 3?" :tools ["mul"] '
        ':expect [[{{:tool "mul" :args {{:a {i} :b 3}}}}]]}}\n')


def make_suite(root: Path, cases: int) -> Path:
    """A tool-calling suite of ``cases`` simple cases (the real tools file)."""
    root.mkdir(parents=True)
    shutil.copy(SUITES / "tool_calling" / "tools.edn", root / "tools.edn")
    (root / "suite.edn").write_text('{:name "startup" :version "1" :kind :tool-calling '
                                    ':tools "tools.edn" :cases ["cases.edn"] :decoys 2}')
    (root / "cases.edn").write_text("[" + "".join(CASE.format(i=i) for i in range(cases)) + "]")
    return root


def make_report(suite_dir: Path, report: Path, ended: int) -> None:
    """A report whose first ``ended`` case runs are finished, as a killed run leaves it."""
    cache = EdnCache()
    runner = Runner(load_suite(suite_dir, cache), Options(models=("scripted:reference",)),
                    report)
    report.mkdir(parents=True)
    cache.save(report / SUITE_CACHE)  # as a real run does before its first case
    log = ReportLog(report / EVENTS)
    log.write("run/start", **runner.params(), resumed=False, skipped=0)
    for w in runner.work[:ended]:
        common = {"key": w.key, "case": w.case.id, "model": w.model, "epoch": w.epoch,
                  "attempt": 1, "fingerprint": w.fingerprint}
        log.write("case/start", **common, dir=f"cases/{w.case.id}-e1-a1")
        log.write("tool/call", key=w.key, agent="root", tool="mul", args={"a": 1, "b": 3})
        log.write("tool/result", key=w.key, agent="root", tool="mul", ok=True, output="3")
        log.write("case/end", **common, status="pass", score=1.0,
                  metrics={"category": "simple", "soft": 1.0, "turns": 1, "tool_calls": 1.0,
                           "tokens": 300.0, "retries": 0.0, "cost": 0.0},
                  failures=[], reason="", timing={"wall_s": 0.02})
    log.close()


def spawn(args: list[str]) -> float:
    """Run ``agenttree bench ARGS --quiet`` to its end; returns when it was spawned."""
    started = time.time()
    subprocess.run([sys.executable, "-m", "agenttree", "bench", *args, "--quiet"], check=True,
                   capture_output=True)
    return started


def nth_start(report: Path, n: int) -> float:
    """The time stamp (s) of the report's ``n``-th case/start (from 0)."""
    starts = [e for e in read_events(report / EVENTS) if e["type"] == "case/start"]
    return starts[n]["t"] / 1000


def bench_runner(ended: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    """Resume start time for a report of ``ended`` finished case runs, and the fresh baseline."""
    suite = make_suite(tmp / "startup-suite", ended + 1)
    one = make_suite(tmp / "startup-one", 1)
    fresh, resumed = [], []
    for n in range(runs):
        reports = tmp / f"startup-fresh-{n}"
        spawned = spawn([str(one), "--reports", str(reports)])
        (report,) = (reports / "startup").iterdir()
        fresh.append(nth_start(report, 0) - spawned)
        report = tmp / f"startup-report-{n}"
        make_report(suite, report, ended)
        spawned = spawn([str(suite), "--resume", str(report)])
        resumed.append(nth_start(report, ended) - spawned)
    base, ours = statistics.median(fresh), statistics.median(resumed)
    return [("fresh `agenttree bench` run of a 1-case suite: spawn to first case",
             f"{base:.2f} s", "baseline"),
            (f"`--resume` of a {ended:,}-case report ({ended:,} ended, 1 to go): spawn to "
             "first new case", f"{ours:.2f} s (+{ours - base:.2f} s over a fresh run)", "< 2 s")]
