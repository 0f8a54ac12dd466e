"""Process groups: how long cancelling many running shell commands takes, and what starting
each one from the spawner thread costs.

Figures (the durations tests no longer bound, see tests/tools/test_procs.py):

* cancel N ``sh`` trees (``sleep & sleep; wait``) that honour SIGTERM, and N that ignore it
  (so the 0.5 s grace period runs out and SIGKILL follows), from the cancel until every process
  is gone; baseline: SIGKILL to the same N groups by hand and waiting for them.
* ``run_command("true")`` (spawner thread, pidfd wait, process-group kill) against
  ``trio.run_process(["/bin/sh", "-c", "true"])`` (Trio's worker-thread fork).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import time
from pathlib import Path

import trio

from agenttree.sandbox.procs import live_members, run_command

GRACE_S = 0.5
TREE = "sleep 1000 & sleep 1000; wait"
STUBBORN = "trap '' TERM; (trap '' TERM; sleep 1000) & sleep 1000; wait"


async def _cancel_trees(command: str, n: int, tmp: Path) -> float:
    pgids: set[int] = set()
    async with trio.open_nursery() as nursery:
        for _ in range(n):
            nursery.start_soon(lambda: run_command(command, cwd=tmp, grace_s=GRACE_S,
                                                   on_start=pgids.add))
        while len(pgids) < n or len(live_members(pgids)) < 2 * n:
            await trio.sleep(0.001)
        started = time.perf_counter()
        nursery.cancel_scope.cancel()
    elapsed = time.perf_counter() - started
    assert not live_members(pgids)
    return elapsed


def _kill_by_hand(n: int, tmp: Path) -> float:
    procs = [subprocess.Popen(["/bin/sh", "-c", TREE], cwd=tmp, start_new_session=True)
             for _ in range(n)]
    pgids = {p.pid for p in procs}
    while len(live_members(pgids)) < 2 * n:
        time.sleep(0.001)
    started = time.perf_counter()
    for pgid in pgids:
        os.killpg(pgid, signal.SIGKILL)
    for p in procs:
        p.wait()
    while live_members(pgids):
        time.sleep(0.001)
    return time.perf_counter() - started


async def _per_command(n: int, tmp: Path, ours: bool) -> float:
    started = time.perf_counter()
    for _ in range(n):
        if ours:
            await run_command("true", cwd=tmp)
        else:
            await trio.run_process(["/bin/sh", "-c", "true"], cwd=tmp)
    return (time.perf_counter() - started) / n


def bench_process_groups(n: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    """Rows for bench/results.md."""
    def med(fn, *args) -> float:
        return statistics.median(fn(*args) for _ in range(runs))

    by_hand = med(_kill_by_hand, n, tmp)
    polite = med(lambda: trio.run(_cancel_trees, TREE, n, tmp))
    stubborn = med(lambda: trio.run(_cancel_trees, STUBBORN, n, tmp))
    raw = med(lambda: trio.run(_per_command, 200, tmp, False))
    ours = med(lambda: trio.run(_per_command, 200, tmp, True))
    return [
        (f"baseline: SIGKILL {n} sh process groups by hand, wait until gone",
         f"{by_hand * 1000:.0f} ms", "baseline"),
        (f"cancel {n} running sh trees that honour SIGTERM (grace {GRACE_S:g} s)",
         f"{polite * 1000:.0f} ms ({polite / by_hand:.1f}x by hand)",
         "below the next row by about the grace: SIGTERM ends them, no grace waited"),
        (f"cancel {n} running sh trees that ignore SIGTERM",
         f"{stubborn * 1000:.0f} ms ({stubborn / by_hand:.1f}x by hand)",
         "the grace period, then SIGKILL"),
        ("baseline: trio.run_process(['/bin/sh', '-c', 'true'])", f"{raw * 1000:.2f} ms each",
         "baseline"),
        ("run_command('true'): spawner thread, pidfd wait, group kill",
         f"{ours * 1000:.2f} ms each ({ours / raw:.2f}x)", "<= 2x"),
    ]
