"""A control command on a long run: ``agenttree say`` appended → its answer read.

The log is generated (:func:`bench.resume.make_log`: agents deep in conversation, as a long
run leaves it), ``events`` events long. A responder thread plays the engine's part, as cheaply
as it can be played: it follows ``control.jsonl`` and appends a ``control/applied`` event for
each new line. What is measured is the client: a real ``agenttree say`` process, from its
start until it has printed the answer (wall time and peak RSS), on the running run; and on the
same run once finished, where it refuses at once. The baseline is what every command did first
before it had a client of its own: fold the whole log (a process that reads and folds it).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from agenttree import events as ev
from agenttree.log import encode

from .resume import make_log

FOLD = ("from agenttree.log import LogReader\nfrom agenttree.state import fold\n"
        "fold(LogReader(sys.argv[1] + '/events.jsonl'))\ncode = 0\n")
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


def _responder(run_dir: Path, stop: threading.Event) -> None:
    """Answer each new control line with ``control/applied`` (the engine's part, minimally)."""
    control, log = run_dir / "control.jsonl", run_dir / "events.jsonl"
    seq = log.read_bytes().count(b"\n")
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


def bench_control(events: int, runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    run_dir = make_log(events, tmp)
    log = run_dir / "events.jsonl"
    size_mb = log.stat().st_size / 1e6
    say = (CLI, "say", str(run_dir), "root.t0", "hello", "--wait", "60")
    base = [_measured(FOLD, str(run_dir)) for _ in range(runs)]
    stop = threading.Event()
    responder = threading.Thread(target=_responder, args=(run_dir, stop))
    responder.start()
    try:
        live = [_measured(*say) for _ in range(runs)]
    finally:
        stop.set()
        responder.join()
    last = log.read_bytes().count(b"\n")
    with open(log, "ab") as f:
        f.write(encode(last + 1, 1_800_000_000_001, "resume-bench", ev.RunFinished(
            status="done")))
    done = [_measured(*say) for _ in range(runs)]
    assert all(code == 0 for *_, code in live) and all(code == 2 for *_, code in done)

    def shown(got: list[tuple[float, float, int]]) -> tuple[float, str]:
        seconds = statistics.median(g[0] for g in got)
        return seconds, f"{seconds:.3f} s, {statistics.median(g[1] for g in got):.0f} MB"

    base_s, base_text = shown(base)
    live_s, live_text = shown(live)
    done_s, done_text = shown(done)
    return [
        (f"baseline: a process that folds the {events:,}-event log ({size_mb:.0f} MB), as "
         "every command did first before", base_text, "baseline"),
        ("agenttree say on it, running: start → command appended → answer read",
         f"{live_text} ({live_s / base_s:.2f}x fold)", "not growing with the run"),
        ("agenttree say on it, finished: start → refused",
         f"{done_text} ({done_s / base_s:.2f}x fold)", "not growing with the run"),
    ]
