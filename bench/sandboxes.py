"""Local sandboxes: the cost of the protocol over spawning processes with Trio directly.

Figures: ``exec(["true"])`` in an open local sandbox against ``trio.run_process(["true"])``
(the baseline: one process either way; the sandbox adds ``sh -c``, a process group and its
kill); and a whole case -- open a spec with a dependency behind a health check and a SUT, wait
for the SUT, tear down -- against starting the same two processes directly.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import trio

from agenttree.sandbox import open_backend, parse_spec

CASE = parse_spec('{:containers [{:name "sut" :cmd ["true"] :depends-on ["db"]}'
                  ' {:name "db" :cmd ["sleep" "60"] :health {:cmd ["true"] :interval-ms 10}}]}')
IDLE = parse_spec('{:containers [{:name "box"}]}')


async def _raw_exec(n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await trio.run_process(["true"])
    return (time.perf_counter() - started) / n


async def _sandbox_exec(n: int, tmp: Path) -> float:
    backend = open_backend("local", run_dir=tmp / "exec")
    async with backend.open(IDLE) as env:
        box = env.sandbox()
        started = time.perf_counter()
        for _ in range(n):
            await box.exec(["true"])
        return (time.perf_counter() - started) / n


async def _raw_case(n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        db = await trio.lowlevel.open_process(["sleep", "60"])
        await trio.run_process(["true"])  # the health check
        await trio.run_process(["true"])  # the SUT
        db.kill()
        await db.wait()
    return (time.perf_counter() - started) / n


async def _sandbox_case(n: int, tmp: Path) -> float:
    backend = open_backend("local", run_dir=tmp / "case")
    started = time.perf_counter()
    for i in range(n):
        async with backend.open(CASE, case=f"c{i}") as env:
            await env.wait()
    return (time.perf_counter() - started) / n


def bench_sandboxes(n: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    """Rows for bench/results.md."""
    def med(fn, *args) -> float:
        return statistics.median(trio.run(fn, *args) for _ in range(runs))

    raw_exec, box_exec = med(_raw_exec, n), med(_sandbox_exec, n, tmp)
    raw_case, box_case = med(_raw_case, n), med(_sandbox_case, n, tmp)
    return [
        (f"raw Trio: run_process(['true']) x{n}", f"{raw_exec * 1000:.2f} ms each", "baseline"),
        (f"local sandbox: exec(['true']) x{n}",
         f"{box_exec * 1000:.2f} ms each ({box_exec / raw_exec:.2f}x raw)", "<= 3x raw"),
        (f"raw Trio: dependency + health check + SUT, x{n}", f"{raw_case * 1000:.1f} ms each",
         "baseline"),
        (f"local sandbox: open (health-checked dependency) + SUT + teardown, x{n}",
         f"{box_case * 1000:.1f} ms each ({box_case / raw_case:.2f}x raw)", "<= 5x raw"),
    ]
