"""Start-up: how long the ``agenttree`` command takes to start, and a one-agent run to end.

Each command is a fresh process of the installed ``agenttree`` script (interpreter start-up
included; the bytecode of agenttree's modules written, as an installed package has it), beside a
fresh ``python -c "import trio"``: the least any Trio program pays. A control command
(``agenttree say``) runs against a run directory whose engine has started and not finished;
``--wait 0`` ends it once the command is appended and the log's tail checked (no engine answers:
what is measured is the client's own start-up and work). The one-agent run is in process: an
engine running a one-task scripted plan to its end, events logged (``batch`` durability) and
folded, beside raw Trio starting one task that messages its parent.
"""

from __future__ import annotations

import compileall
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import trio

from agenttree.plan import parse_plan
from agenttree.runtime.engine import Engine

from . import baselines

AGENTTREE = str(Path(sys.executable).with_name("agenttree"))
ROOT = Path(__file__).resolve().parents[1]
ONE_AGENT = '{:task {:task/id "root" :goal "finish at once" :script [{:call :finish}]}}'
HTTPX_CLIENT = ("import time; t = time.perf_counter(); import httpx; httpx.AsyncClient(); "
                "print(time.perf_counter() - t)")


def write_bytecode() -> None:
    """Write the bytecode of agenttree's own modules (and the ``tui`` plugin's), as an installed
    package has it: where the environment sets ``PYTHONDONTWRITEBYTECODE`` (this machine's
    does) every fresh process would otherwise compile them from source (~25 ms), which no
    installed copy does, and the baseline's Trio has its bytecode from pip."""
    for package in ("agenttree", "tui"):
        compileall.compile_dir(ROOT / package, quiet=1)


def _process_s(argv: Sequence[str], runs: int) -> float:
    """Median wall time of ``runs`` fresh processes of ``argv`` (each must exit 0 or 1)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t0)
        if done.returncode not in (0, 1):
            raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr}")
    return statistics.median(times)


def _live_run(tmp: Path) -> Path:
    """A run directory as a running engine leaves it: its first events, no ``run/finished``."""
    run_dir = tmp / "startup-run"
    run_dir.mkdir()
    events = (ROOT / "tests" / "recorded" / "demo" / "events.jsonl").read_bytes()
    (run_dir / "events.jsonl").write_bytes(b"".join(events.splitlines(keepends=True)[:20]))
    (run_dir / "plan.edn").write_bytes((ROOT / "plans" / "demo.edn").read_bytes())
    (run_dir / "control.jsonl").touch()
    return run_dir


def _one_agent_s(tmp: Path) -> float:
    plan = parse_plan(ONE_AGENT, source="startup.edn")
    with tempfile.TemporaryDirectory(dir=tmp) as scratch:
        engine = Engine(plan, Path(scratch) / "run")
        t0 = time.perf_counter()
        status = trio.run(engine.run)
        seconds = time.perf_counter() - t0
    assert status == "done", status
    return seconds


def _raw_one_task_s() -> float:
    t0 = time.perf_counter()
    trio.run(baselines.raw_fanout, 1, 0)
    return time.perf_counter() - t0


def bench_startup(runs: int, tmp: Path) -> list[tuple[str, str, str]]:
    """The Start-up section's rows."""
    processes = max(runs, 5)  # a process start is noisy: never fewer than 5
    write_bytecode()
    trio_s = _process_s([sys.executable, "-c", "import trio"], processes)
    version_s = _process_s([AGENTTREE, "--version"], processes)
    cli_s = _process_s([sys.executable, "-c", "import agenttree.cli"], processes)
    run_dir = _live_run(tmp)
    say_s = _process_s([AGENTTREE, "say", str(run_dir), "root", "hello", "--wait", "0"],
                       processes)
    httpx_s = statistics.median(
        float(subprocess.run([sys.executable, "-c", HTTPX_CLIENT], capture_output=True,
                             text=True, check=True).stdout) for _ in range(runs))
    cold = _one_agent_s(tmp)  # the first run in this process (imports it triggers, caches)
    warm = statistics.median(_one_agent_s(tmp) for _ in range(max(runs, 5)))
    raw = statistics.median(_raw_one_task_s() for _ in range(max(runs, 5)))
    return [
        ('python -c "import trio" (fresh process)', f"{trio_s * 1000:.0f} ms", "baseline"),
        ("agenttree --version (fresh process)",
         f"{version_s * 1000:.0f} ms ({version_s / trio_s:.2f}x import trio)",
         "<= 2x import trio"),
        ('python -c "import agenttree.cli"', f"{cli_s * 1000:.0f} ms "
         f"({cli_s / trio_s:.2f}x import trio)", ""),
        ("agenttree say RUN_DIR root hello --wait 0 (fresh process, live run: appended, tail "
         "checked)", f"{say_s * 1000:.0f} ms ({say_s / trio_s:.2f}x import trio)",
         "imports neither Trio nor the event classes; no engine, bench or textual "
         "(tests/test_startup.py)"),
        ("import httpx + build an httpx.AsyncClient (CA bundle): paid only once a network "
         "model is first used", f"{httpx_s * 1000:.0f} ms", "not paid by scripted runs"),
        ("raw Trio: trio.run, one task messages its parent (in process)",
         f"{raw * 1000:.2f} ms", "baseline"),
        ("agenttree: one-agent scripted run, Engine.run to its end, every event logged and "
         "folded (in process)", f"{warm * 1000:.1f} ms median ({warm / raw:.0f}x raw); "
         f"first run in the process {cold * 1000:.1f} ms", "<= 30 ms"),
    ]
