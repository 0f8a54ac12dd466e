"""`make bench`: measure agenttree beside raw baselines in the same run; write bench/results.md.

Each figure is the median of RUNS runs. Fan-out runs each trial in a fresh subprocess so its
RSS is its own. Usage: ``python -m bench.run [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import trio
import trio.testing

from agenttree import events as ev
from agenttree.log import LogReader, encode
from agenttree.log_writer import EventLog
from agenttree.snapshots import EVERY as SNAPSHOT_EVERY
from agenttree.snapshots import state_from
from agenttree.state import fold
from agenttree.web.hub import Hub

from . import baselines
from .activity_view import bench_activity
from .bench_runner import bench_runner
from .control import bench_control, bench_control_latency
from .docker_sandboxes import bench_docker
from .messaging import bench_messaging
from .plan_parse import bench_plan_parse
from .procs import bench_process_groups
from .reconcile import bench_reconcile
from .resume import bench_resume
from .sandboxes import bench_sandboxes
from .startup import bench_startup
from .tui_load import bench_tui
from .web_stream import bench_hub, bench_web

RUNS = 5
LONG_RUN_BOUND_MIB = 96
"""The bound stated for the engine's RSS in the long run (100 agents, 1,000,000 events)."""
HERE = Path(__file__).parent


def median_of(runs: int, fn: Callable[[], float]) -> float:
    """Median of ``runs`` calls of ``fn`` (each returns one measurement)."""
    return statistics.median(fn() for _ in range(runs))


def _trial(kind: str, n: int, gc_mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.fanout", kind, str(n), gc_mode],
        check=True, capture_output=True, text=True, cwd=HERE.parent)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_fanout(sizes: tuple[int, ...], runs: int) -> list[tuple[str, str, str]]:
    """Each size: raw Trio, then the engine with the tuned GC (``agenttree run``'s); the
    default GC too at the largest size, to show what tuning saves. The trials interleave
    (raw, engine, raw, engine...), so a busy stretch of the machine slows both alike."""
    rows = []
    for n in sizes:
        big = n == max(sizes)
        modes = ("default", "tuned") if big else ("tuned",)
        raw, trials = [], {mode: [] for mode in modes}
        for _ in range(runs):
            raw.append(_trial("raw", n, "default"))
            for gc_mode in modes:
                trials[gc_mode].append(_trial("engine", n, gc_mode))
        raw_s = statistics.median(r["wall_s"] for r in raw)
        raw_kb = statistics.median(r["rss_kb"] for r in raw) / n
        # Per-agent memory only at the largest size: below it, the run's fixed ~12 MB (the
        # same for raw Trio) swamps it.
        rows.append((f"raw Trio: {n:,} tasks sleep 10 ms + message root",
                     f"{raw_s:.3f} s" + (f", {raw_kb:.1f} KB/task" if big else ""),
                     "baseline"))
        for gc_mode, got in trials.items():
            wall = statistics.median(r["wall_s"] for r in got)
            kb = statistics.median(r["rss_kb"] for r in got) / n
            events = got[0]["events"]
            rows.append((f"agenttree: {n:,} agents, 10 ms model call + message root, "
                         f"GC {gc_mode}", f"{wall:.3f} s ({wall / raw_s:.2f}x raw), "
                         + (f"{kb:.1f} KB/agent, " if big else "") + f"{events:,.0f} events",
                         "<= 2x raw, <= 10 KB/agent" if big else "<= 2x raw"))
    return rows


def bench_long_run(agents: int, events: int) -> list[tuple[str, str, str]]:
    """One long run in a fresh process: the engine's RSS along the way."""
    out = subprocess.run([sys.executable, "-m", "bench.long_run", str(agents), str(events)],
                         check=True, capture_output=True, text=True, cwd=HERE.parent)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    samples = got["samples"]
    # From a fifth of the way: by then every transcript has filled its context window.
    first, last = samples[min(2, len(samples) - 1)], samples[-1]
    per_100k = (last[1] - first[1]) / 1024 / max(1, last[0] - first[0]) * 100_000
    peak = max(kb for _, kb in samples) / 1024
    return [(f"agenttree: {agents} agents x {got['events'] // agents:,} events each "
             f"({got['events']:,} events, {got['wall_s']:.0f} s), engine RSS",
             f"{first[1] / 1024:.0f} MiB after {first[0]:,} events, {last[1] / 1024:.0f} MiB "
             f"after {last[0]:,} ({per_100k:+.2f} MiB per 100,000 events); peak {peak:.0f} MiB",
             f"<= {LONG_RUN_BOUND_MIB} MiB throughout, flat (was +26 MiB per 100,000 events)")]


def bench_cancel(runs: int) -> list[tuple[str, str, str]]:
    raw = median_of(runs, lambda: trio.run(baselines.raw_cancel_tree, 3, 10))
    got = [_trial("cancel", 0, "default") for _ in range(runs)]
    ours = statistics.median(r["wall_s"] for r in got)
    agents = got[0]["agents"]
    return [("raw Trio: cancel a 1,111-task tree (depth 3, fan-out 10)", f"{raw * 1000:.1f} ms",
             "baseline"),
            (f"agenttree: cancel a {agents:,.0f}-agent tree, every agent/finished logged",
             f"{ours * 1000:.1f} ms ({ours / raw:.2f}x raw)", "<= 3x raw")]


def _log_rate(mode: str, n: int, path: Path) -> float:
    async def main() -> float:
        log = EventLog(path, run="bench", durability=mode)
        async with trio.open_nursery() as nursery:
            await nursery.start(log.run)
            t0 = time.perf_counter()
            for i in range(n):
                log.emit(ev.AgentState(agent=f"root.{i % 100}", status="running"))
                if i % 512 == 0:
                    await trio.sleep(0)  # let the writer run, as agents would
            log.close()
        return n / (time.perf_counter() - t0)

    rate = trio.run(main)
    path.unlink()
    return rate


def _fsync_once(path: Path) -> float:
    """Baseline: append one line and fsync it, by hand."""
    with open(path, "ab") as f:
        started = time.perf_counter()
        f.write(b'{"x":1}\n')
        f.flush()
        os.fsync(f.fileno())
        return time.perf_counter() - started


def _batch_durable_after(path: Path, events: int) -> float:
    """Median time from ``emit`` to that event being fsynced, in batch mode (one at a time)."""
    async def main() -> float:
        log = EventLog(path, run="bench", durability="batch")
        waits = []
        async with trio.open_nursery() as nursery:
            await nursery.start(log.run)
            for i in range(events):
                started = time.perf_counter()
                seq = log.emit(ev.AgentState(agent="root", status="running", detail=str(i)))
                while log.synced_seq < seq:
                    await trio.sleep(0)
                waits.append(time.perf_counter() - started)
            log.close()
        return statistics.median(waits)

    latency = trio.run(main)
    path.unlink()
    return latency


def bench_log(n: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    # Rounds interleave the naive logger and each mode, and each ratio is taken within its
    # round: on a shared machine the load moves between rounds far more than within one.
    modes = ("none", "batch", "every")
    naive_rates: list[float] = []
    rates: dict[str, list[float]] = {mode: [] for mode in modes}
    ratios: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(runs):
        naive_rates.append(baselines.naive_write_flush(str(tmp / "naive"), n))
        for mode in modes:
            rates[mode].append(_log_rate(mode, n, tmp / f"{mode}.jsonl"))
            ratios[mode].append(rates[mode][-1] / naive_rates[-1])
    rows = [("naive write + flush per JSON event",
             f"{statistics.median(naive_rates):,.0f} events/s", "baseline")]
    for mode in modes:
        target = ">= 2.5x naive" if mode == "batch" else ""
        rows.append((f"EventLog --durability {mode} (CRC framed)",
                     f"{statistics.median(rates[mode]):,.0f} events/s "
                     f"({statistics.median(ratios[mode]):.2f}x naive, median of the rounds' "
                     "ratios)", target))
    fsync = median_of(runs, lambda: _fsync_once(tmp / "fsync.jsonl"))
    durable = median_of(runs, lambda: _batch_durable_after(tmp / "durable.jsonl", 50))
    rows += [("baseline: append one line + fsync by hand", f"{fsync * 1000:.2f} ms", "baseline"),
             ("EventLog --durability batch: emit to fsynced, one event at a time",
              f"{durable * 1000:.2f} ms", "<= 50 ms (BATCH_FSYNC_S)")]
    return rows


def make_replay_log(path: Path, n: int, mix: str = "engine") -> None:
    """A realistic mix: 1,000 agents, then model, tool and state events, and agents' ends.

    ``mix="engine"`` is what the engine writes now: a model answer's charges ride on its
    ``model/responded``, a call's on its ``tool/requested``, and an ``agent/finished`` ends its
    task. ``mix="older"`` is an older engine's: a ``budget/charged`` for every charge and a
    ``task/state-changed`` after every end (the fold must read both the same way).
    """
    lines = []
    seq = 0
    older = mix == "older"

    def add(e: ev.Event) -> None:
        nonlocal seq
        seq += 1
        lines.append(encode(seq, 1_700_000_000_000 + seq, "bench", e))

    add(ev.RunStarted(plan_name="bench", plan_path="-", run_dir="-", seed=0, durability="none"))
    add(ev.AgentSpawned(agent="root", parent=None, task="root", goal="g", depth=0, model="m",
                        models=["m"], tools=["sh"], budget={}))
    for i in range(999):
        add(ev.AgentSpawned(agent=f"root.a{i}", parent="root", task=f"a{i}", goal="g", depth=1,
                            model="m", models=["m"], tools=["sh"], budget={"tool_calls": 9}))
    names = [f"a{i}" for i in range(999)]
    i = 0
    while seq < n:
        slot = i % 999
        agent = f"root.{names[slot]}"
        call = f"{agent}#{i}"
        add(ev.ModelRequested(agent=agent, model="m", turn=i, messages=4))
        add(ev.ModelResponded(agent=agent, model="m", turn=i, text="ok",
                              calls=[{"id": call, "tool": "sh", "args": {"cmd": "ls"}}],
                              usage={"prompt": 10, "completion": 5, "estimated": True},
                              latency_ms=0.2, charged=None if older else {"tokens": 15}))
        if older:
            add(ev.BudgetCharged(agent=agent, kind="tokens", amount=15, used=15 * i,
                                 limit=None))
        add(ev.ToolRequested(agent=agent, call=call, tool="sh", args={"cmd": "ls"},
                             charged=None if older else {"tool_calls": 1}))
        if older:
            add(ev.BudgetCharged(agent=agent, kind="tool_calls", amount=1, used=i, limit=9))
        add(ev.ToolResult(agent=agent, call=call, tool="sh", ok=True, output="a\nb",
                          duration_ms=0.1))
        add(ev.AgentState(agent=agent, status="running"))
        if i % 50 == 49:  # now and then an agent ends and a new one takes its slot
            add(ev.AgentFinished(agent=agent, status="done", result="ok"))
            if older:
                add(ev.TaskStateChanged(task=names[slot], agent=agent, status="done",
                                        prev="running"))
            names[slot] = f"a{slot}.{i}"
            add(ev.AgentSpawned(agent=f"root.{names[slot]}", parent="root", task=names[slot],
                                goal="g", depth=1, model="m", models=["m"], tools=["sh"],
                                budget={"tool_calls": 9}))
        i += 1
    path.write_bytes(b"".join(lines[:n]))


def bench_replay(n: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    rows = []
    for mix, what in (("engine", "the engine's event mix"),
                      ("older", "an older engine's mix: a budget/charged per charge")):
        path = tmp / f"replay-{mix}.jsonl"
        make_replay_log(path, n, mix)
        bare = median_of(runs, lambda path=path: baselines.bare_parse(str(path)))

        def ours(path: Path = path) -> float:
            t0 = time.perf_counter()
            state = fold(LogReader(path))
            assert state.seq == n
            return n / (time.perf_counter() - t0)

        rate = median_of(runs, ours)
        path.unlink()
        rows += [(f"bare orjson parse + dispatch, {n:,} events ({what})",
                  f"{bare:,.0f} events/s", "baseline"),
                 (f"agenttree replay (CRC check + fold into RunState), {n:,} events ({what})",
                  f"{rate:,.0f} events/s ({rate / bare:.2f}x bare)",
                  ">= 300,000 events/s" if mix == "engine" else "")]
    return rows


def bench_state_at(n: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    """``GET /api/state?seq=N``'s work: the hub's snapshots against a fold of the whole log."""
    run_dir = tmp / "state-at"
    run_dir.mkdir()
    path = run_dir / "events.jsonl"
    make_replay_log(path, n)

    def caught_up(every: int) -> tuple[float, Hub]:
        hub = Hub(run_dir, snapshot_every=every)
        t0 = time.perf_counter()
        while hub.poll():
            pass
        return time.perf_counter() - t0, hub

    plain = statistics.median(caught_up(n + 1)[0] for _ in range(runs))
    took = [caught_up(SNAPSHOT_EVERY) for _ in range(runs)]
    hub = took[0][1]
    snapped = statistics.median(t for t, _ in took)
    seq = n - SNAPSHOT_EVERY // 2  # half way between two snapshots

    def whole() -> float:
        t0 = time.perf_counter()
        fold(LogReader(path), until=seq)
        return time.perf_counter() - t0

    def from_snapshot() -> float:
        t0 = time.perf_counter()
        state_from(path, hub.snapshots.before(seq), seq)
        return time.perf_counter() - t0

    base = median_of(runs, whole)
    ours = median_of(runs, from_snapshot)
    shutil.rmtree(run_dir)
    return [(f"state as of seq {seq:,}: fold the log up to it ({n:,}-event log)",
             f"{base * 1000:.0f} ms", "baseline"),
            (f"state as of seq {seq:,} from the hub's snapshots (the last before it at seq "
             f"{getattr(hub.snapshots.before(seq), 'seq', 0):,}; "
             f"{len(hub.snapshots.taken)} kept)",
             f"{ours * 1000:.0f} ms ({base / ours:.0f}x faster)", "not a whole-log fold"),
            ("hub catching up on the log, snapshots taken as it folds",
             f"{snapped:.2f} s ({snapped / plain:.2f}x without snapshots)", "")]


async def _service_pairs(n: int) -> float:
    from agenttree.plan import LockPolicy
    from agenttree.runtime.locks import LockService

    service = LockService(lambda e: 0, LockPolicy(), deliver=lambda *a: True,
                          cancel=lambda *a: True)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        t0 = time.perf_counter()
        for _ in range(n):
            await service.acquire("root.a", "f.txt")
            await service.release("root.a", "f.txt")
        rate = n / (time.perf_counter() - t0)
        nursery.cancel_scope.cancel()
    return rate


async def _handover(waiters: int) -> float:
    """Mean time from a release to the next waiter running, with ``waiters`` queued."""
    from agenttree.plan import LockPolicy
    from agenttree.runtime.locks import LockService

    service = LockService(lambda e: 0, LockPolicy(wait_ms=10**9), deliver=lambda *a: True,
                          cancel=lambda *a: True)
    gaps: list[float] = []
    released_at = [0.0]

    async def worker(i: int) -> None:
        await service.acquire(f"root.w{i}", "hot.txt", wait_ms=10**9)
        gaps.append(time.perf_counter() - released_at[0])
        released_at[0] = time.perf_counter()
        await service.release(f"root.w{i}", "hot.txt")

    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        await service.acquire("root.first", "hot.txt")
        async with trio.open_nursery() as workers:
            for i in range(waiters):
                workers.start_soon(worker, i)
            await trio.testing.wait_all_tasks_blocked()
            released_at[0] = time.perf_counter()
            await service.release("root.first", "hot.txt")
        nursery.cancel_scope.cancel()
    return statistics.mean(gaps)


def bench_locks(n: int, runs: int) -> list[tuple[str, str, str]]:
    raw = median_of(runs, lambda: trio.run(baselines.trio_lock_pairs, n))
    ours = median_of(runs, lambda: trio.run(_service_pairs, n))
    handover = median_of(runs, lambda: trio.run(_handover, 1000))
    return [("trio.Lock uncontended acquire+release", f"{raw:,.0f} pairs/s", "baseline"),
            ("lock service uncontended acquire+release (granted and released in the caller's "
             "task, service task running, events off)",
             f"{ours:,.0f} pairs/s ({raw / ours:.1f}x slower than trio.Lock)",
             "within 4x of trio.Lock, >= 50,000 pairs/s"),
            ("lock service handover under contention: 1,000 waiters on one path",
             f"{handover * 1e6:.0f} µs from release to the next holder running", "")]


async def _provider_rates(n: int) -> tuple[float, float]:
    import httpx

    from agenttree.models.base import ModelRequest
    from agenttree.models.openai import OpenAIClient
    from agenttree.models.ratelimit import RateLimiter
    from agenttree.models.spec import parse_model_spec
    from tests.models.fake_openai import FakeOpenAI, completion

    server = FakeOpenAI([completion("ok")])
    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        async with httpx.AsyncClient() as http:
            t0 = time.perf_counter()
            for _ in range(n):
                (await http.post(f"{base}/chat/completions", json=body)).json()
            bare = n / (time.perf_counter() - t0)
            client = OpenAIClient(parse_model_spec(f"openai:m@{base}"), http, api_key=None,
                                  limiter=trio.CapacityLimiter(8), rate=RateLimiter(None, None),
                                  rng=random.Random(0), retries_left=lambda: 0,
                                  on_retry=lambda r: None)
            request = ModelRequest(agent="a", turn=1, tools=[],
                                   messages=[{"role": "user", "content": "hi"}])
            t0 = time.perf_counter()
            for _ in range(n):
                await client.complete(request)
            ours = n / (time.perf_counter() - t0)
        nursery.cancel_scope.cancel()
    return bare, ours


def bench_provider(n: int, runs: int) -> list[tuple[str, str, str]]:
    pairs = [trio.run(_provider_rates, n) for _ in range(runs)]
    bare = statistics.median(p[0] for p in pairs)
    ours = statistics.median(p[1] for p in pairs)
    added_us = (1 / ours - 1 / bare) * 1e6
    return [("bare httpx loop: POST + parse JSON, local test server", f"{bare:,.0f} requests/s",
             "baseline"),
            ("OpenAI-compatible provider: complete() (request building, status checks, parsing,"
             " limiters)", f"{ours:,.0f} requests/s ({bare / ours:.2f}x the bare loop's time "
             f"per call, {added_us:+.0f} µs per call)", "within 1.3x")]


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, trio {trio.__version__}")


def bench_web_hub(n: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    log = tmp / "hub.jsonl"
    make_replay_log(log, n)
    return bench_hub(log, n, runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 run (smoke test)")
    parser.add_argument("--smoke", action="store_true",
                        help="as --quick, and leave bench/results.md alone (CI runs this)")
    parser.add_argument("--only", metavar="TITLE", action="append", default=[],
                        help="run only this section (repeatable; case-insensitive title prefix); "
                             "leaves bench/results.md alone")
    args = parser.parse_args()
    args.quick = args.quick or args.smoke
    runs = 1 if args.quick else RUNS
    scale = 10 if args.quick else 1
    sections = []
    # Temporary files on the same file system as run directories (not a tmpfs).
    with tempfile.TemporaryDirectory(dir=HERE) as tmp_name:
        tmp = Path(tmp_name)
        for title, fn in [
            ("Start-up", lambda: bench_startup(runs, tmp)),
            ("Fan-out", lambda: bench_fanout(tuple(sorted({100, 1_000 // scale,
                                                          10_000 // scale})), runs)),
            ("Long run", lambda: bench_long_run(100, 1_000_000 // scale)),
            ("Messaging", lambda: bench_messaging(50_000 // scale, runs, tmp)),
            ("Cancel cascade", lambda: bench_cancel(runs)),
            ("Event log", lambda: bench_log(200_000 // scale, runs, tmp)),
            ("Replay", lambda: bench_replay(1_000_000 // scale, runs, tmp)),
            ("Web state as of a seq", lambda: bench_state_at(200_000 // scale, runs, tmp)),
            ("Plan parsing", lambda: bench_plan_parse(runs, 3 if args.quick else 4)),
            ("Locks", lambda: bench_locks(50_000 // scale, runs)),
            ("Model provider", lambda: bench_provider(2_000 // scale, runs)),
            ("Reconcile", lambda: bench_reconcile(runs, 2 if args.quick else 4)),
            ("Resume", lambda: bench_resume(100_000 // scale, runs, tmp)),
            ("Control latency", lambda: bench_control_latency(100 // scale, tmp)),
            ("Control", lambda: bench_control(1_000_000 // scale, runs, tmp)),
            ("Web stream", lambda: bench_web(20_000 // scale, 10 if args.quick else 50, runs)),
            ("Web hub", lambda: bench_web_hub(200_000 // scale, runs, tmp)),
            ("Terminal UI", lambda: bench_tui(10_000 // scale, min(runs, 3), tmp, scale)),
            ("Activity view", lambda: bench_activity(10_000 // scale, min(runs, 3), tmp)),
            ("Sandboxes", lambda: bench_sandboxes(50 // scale, runs, tmp)
             + bench_docker(20 // scale, runs, tmp)),
            ("Process groups", lambda: bench_process_groups(50 // scale, runs, tmp)),
            ("Bench runner", lambda: bench_runner(10_000 // scale, runs, tmp)),
        ]:
            if args.only and not any(title.lower().startswith(o.lower()) for o in args.only):
                continue
            print(f"== {title}", flush=True)
            rows = fn()
            for row in rows:
                print("   ", " | ".join(row), flush=True)
            sections.append((title, rows))
    if not (args.smoke or args.only):
        write_results(sections, runs)


def write_results(sections: list[tuple[str, list[tuple[str, str, str]]]], runs: int) -> None:
    out = ["# Benchmark results", "",
           f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on: {machine()}.", "",
           f"Command: `make bench` (`python -m bench.run`). Each figure is the median of {runs} "
           "runs; every agenttree figure sits beside its baseline measured in the same run.", ""]
    for title, rows in sections:
        out += [f"## {title}", "", "| what | measured | target |", "|---|---|---|"]
        out += [f"| {a} | {b} | {c} |" for a, b, c in rows]
        out.append("")
    notes = HERE / "notes.md"
    if notes.exists():
        out.append(notes.read_text())
    (HERE / "results.md").write_text("\n".join(out))
    print(f"wrote {HERE / 'results.md'}")


if __name__ == "__main__":
    main()
