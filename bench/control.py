"""Control commands: how soon the engine answers one, and what one costs on a long run.

Latency (:func:`bench_control_latency`): a live engine in this process (ten agents waiting),
commands appended to ``control.jsonl`` one at a time at random moments; from the append to the
engine's ``control/applied`` event (its ``on_event`` hook). The engine's control tail wakes on
the file's change notification; the baseline is the same engine where notification is
unavailable, so the tail reads the file at its poll (every ``POLL_S``), as it always did before.

A command on a long run (:func:`bench_control`): the log is generated
(:func:`bench.resume.make_log`: agents deep in conversation, as a long run leaves it), a million
events long. A responder thread plays the engine's part, as cheaply as it can be played: it
follows ``control.jsonl`` and appends a ``control/applied`` event for each new line. What is
measured is the client: a real ``agenttree say`` process (agenttree's bytecode written, as an
installed package has it: :func:`bench.startup.write_bytecode`), from its start until it has
printed the answer (wall time and peak RSS), on the running run; and on the same run once
finished, where it refuses at once. The baseline is the same ``say`` on a run of a thousand
events: a command must cost the same however long the run.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import trio

from agenttree import events as ev
from agenttree import file_changes
from agenttree.control import ControlClient, Message, append_command
from agenttree.log import encode
from agenttree.plan import parse_plan
from agenttree.runtime.control import POLL_S
from agenttree.runtime.engine import Engine

from .resume import make_log
from .startup import write_bytecode

CLI = ("import runpy\nsys.argv = ['agenttree', *sys.argv[1:]]\ncode = 0\ntry:\n"
       "    runpy.run_module('agenttree', run_name='__main__')\n"
       "except SystemExit as exc:\n    code = exc.code\n")
PEAK = ("hwm = next(line for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
        "print(hwm.split()[1], code, file=sys.stderr)\n")
"""Printed last by a measured process: its own peak RSS (VmHWM: the figure of this process
image, unlike a parent's rusage of it, which counts the forked bench process too)."""


def _measured(code: str, *args: str) -> tuple[float, float, int]:
    """Run ``code`` in a fresh interpreter: (seconds, peak RSS in MB, exit status)."""
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", f"import sys\n{code}{PEAK}", *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    kb, status = out.stderr.split()[-2:]
    return seconds, int(kb) / 1024, int(status)


def _responder(run_dir: Path, seq: int, stop: threading.Event) -> None:
    """Answer each new control line with ``control/applied`` (the engine's part, minimally),
    from event ``seq + 1`` on."""
    control, log = run_dir / "control.jsonl", run_dir / "events.jsonl"
    answered = 0
    while not stop.is_set():
        lines = control.read_bytes().count(b"\n") if control.exists() else 0
        with open(log, "ab") as f:
            for line in range(answered + 1, lines + 1):
                seq += 1
                f.write(encode(seq, 1_800_000_000_000, "resume-bench",
                               ev.ControlApplied(line=line, cmd="message", detail="delivered")))
        answered = lines
        time.sleep(0.001)


def _in_process(run_dir: Path) -> float:
    """Seconds for what ``say`` does once started: the run checked, the command appended, its
    answer read (the interpreter's start and the CLI's imports left out)."""
    t0 = time.perf_counter()
    client = ControlClient(run_dir)
    client.require_engine("message")
    answer = client.wait(client.send_nowait(Message(agent="root.t0", text="hello")), 60)
    assert answer is not None and answer.applied
    return time.perf_counter() - t0


def _say_on(run_dir: Path, runs: int) -> tuple[list, list, list]:
    """``agenttree say`` on ``run_dir`` ``runs`` times while a responder answers, then as
    many times once the run has finished: (running, finished, in process) measurements."""
    log = run_dir / "events.jsonl"
    say = (CLI, "say", str(run_dir), "root.t0", "hello", "--wait", "60")
    stop = threading.Event()
    # The log's length is counted before the first measurement: its whole read (207 MB at a
    # million events) would share the machine with the first processes measured.
    seq = log.read_bytes().count(b"\n")
    responder = threading.Thread(target=_responder, args=(run_dir, seq, stop))
    responder.start()
    try:
        live = [_measured(*say) for _ in range(runs)]
        inside = [_in_process(run_dir) for _ in range(runs)]
    finally:
        stop.set()
        responder.join()
    last = log.read_bytes().count(b"\n")
    with open(log, "ab") as f:
        f.write(encode(last + 1, 1_800_000_000_001, "resume-bench", ev.RunFinished(
            status="done")))
    done = [_measured(*say) for _ in range(runs)]
    assert all(code == 0 for *_, code in live) and all(code == 2 for *_, code in done)
    return live, done, inside


def bench_control(events: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    short = 1_000
    write_bytecode()

    def shown(got: list[tuple[float, float, int]]) -> tuple[float, str]:
        seconds = statistics.median(g[0] for g in got)
        return seconds, f"{seconds * 1000:.0f} ms, {statistics.median(g[1] for g in got):.0f} MB"

    base, _, base_inside = _say_on(make_log(short, tmp), runs)
    base_s, base_text = shown(base)
    run_dir = make_log(events, tmp)
    size_mb = (run_dir / "events.jsonl").stat().st_size / 1e6
    live, done, inside = _say_on(run_dir, runs)
    live_s, live_text = shown(live)
    done_s, done_text = shown(done)
    return [
        (f"baseline: agenttree say on a {short:,}-event run, running: start → command appended "
         "→ answer read", base_text, "baseline"),
        (f"agenttree say on a {events:,}-event run ({size_mb:.0f} MB), running: start → "
         "command appended → answer read", f"{live_text} ({live_s / base_s:.2f}x the short "
         "run)", "<= 200 ms, not growing with the run"),
        ("agenttree say on it, finished: start → refused",
         f"{done_text} ({done_s / base_s:.2f}x the short run)", "not growing with the run"),
        (f"the same command in process (ControlClient: run checked, command appended, answer "
         f"read; no interpreter start, no imports), {short:,} → {events:,} events",
         f"{statistics.median(base_inside) * 1000:.1f} ms → "
         f"{statistics.median(inside) * 1000:.1f} ms", "<= 200 ms"),
    ]


LATENCY_PLAN = """
{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 1000 :tokens 10000000}}]
 :task {:task/id "root" :script [{:say "waiting for children"}]
        :children [%s]}}
"""
WAITER = '{:task/id "w%d" :script [{:call :wait :args {:timeout_s 100000}}]}'


async def _latencies(commands: int, run_dir: Path) -> list[float]:
    """Seconds from each command appended to its ``control/applied`` event."""
    plan = parse_plan(LATENCY_PLAN % " ".join(WAITER % i for i in range(10)), source="bench")
    engine = Engine(plan, run_dir, durability="batch")
    applied: dict[int, float] = {}
    answered = trio.Event()

    def hook(entry: ev.Entry) -> None:
        if isinstance(entry.event, ev.ControlApplied):
            applied[entry.event.line] = time.perf_counter()
            answered.set()

    engine.on_event = hook
    rng = random.Random(0)
    took = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        while sum(a.status == "tool" for a in engine.state.agents.values()) < 10:
            await trio.sleep(0.01)
        for _ in range(commands):
            await trio.sleep(rng.uniform(0.0, 0.1))  # any moment, in step with no poll
            t0 = time.perf_counter()
            line = append_command(run_dir, Message(agent="root", text="ping"))
            while line not in applied:
                answered = trio.Event()
                await answered.wait()
            took.append(applied[line] - t0)
        engine.cancel("root", "bench over")
    return took


def bench_control_latency(commands: int, tmp: Path) -> list[tuple[str, str, str]]:
    def unavailable(*args: object) -> None:
        raise OSError("change notification switched off for the baseline")

    notified = trio.run(_latencies, commands, tmp / "latency-notified")
    real = file_changes.RustNotify
    file_changes.RustNotify = unavailable
    try:
        polled = trio.run(_latencies, commands, tmp / "latency-polled")
    finally:
        file_changes.RustNotify = real

    def ms(got: list[float]) -> str:
        got = sorted(got)
        return (f"median {statistics.median(got) * 1000:.1f} ms, p90 "
                f"{got[int(len(got) * 0.9)] * 1000:.1f} ms")

    return [
        (f"baseline: command appended → control/applied logged, the control tail reading at "
         f"its poll (every {POLL_S * 1000:.0f} ms; notification unavailable), {commands} "
         "commands", ms(polled), "baseline"),
        ("command appended → control/applied logged, the control tail woken by the file's "
         f"change notification, {commands} commands", ms(notified), "median <= 20 ms"),
    ]
