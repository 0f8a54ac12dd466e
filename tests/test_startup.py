"""What the ``agenttree`` command imports: building its parser loads no command's implementation,
and the commands that read or steer a run directory never load the engine, the benchmark or the
terminal UI (each is checked in a fresh interpreter, after the command ran)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO_LOG = ROOT / "tests" / "recorded" / "demo" / "events.jsonl"

RUN_AND_LIST = """
import json, sys
from agenttree.cli import main
try:
    rc = main(sys.argv[1:])
except SystemExit as exit:  # --help, --version
    rc = exit.code
print(json.dumps([rc, sorted(sys.modules)]))
"""

ENGINE_BENCH_UI = ("agenttree.runtime", "bench", "textual", "httpx", "hypercorn")
BENCH_PARSER = {"agenttree.bench", "agenttree.bench.cli", "agenttree.bench.names"}
"""What every command loads of the benchmark: its (empty) package, its arguments and the names
they offer; nothing that runs a suite."""


def run_command(args: list[str]) -> tuple[int, list[str], str]:
    """Run ``agenttree ARGS`` in a fresh interpreter: its exit status, every module it had
    imported when it ended, and its standard error."""
    result = subprocess.run([sys.executable, "-c", RUN_AND_LIST, *args], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stderr, result.stderr
    rc, modules = json.loads(result.stdout.splitlines()[-1])
    return rc, modules, result.stderr


def heavy(modules: list[str], roots: tuple[str, ...]) -> list[str]:
    """The modules under ``roots`` (or the benchmark beyond its parser) that were imported."""
    return [m for m in modules
            if (m.startswith("agenttree.bench") and m not in BENCH_PARSER)
            or any(m == r or m.startswith(r + ".") for r in roots)]


@pytest.fixture
def live_run(tmp_path: Path) -> Path:
    """A run directory whose engine has started and not finished: the demo run's first events,
    its plan and an empty control file."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    head = DEMO_LOG.read_bytes().splitlines(keepends=True)[:20]
    (run_dir / "events.jsonl").write_bytes(b"".join(head))
    shutil.copy(ROOT / "plans" / "demo.edn", run_dir / "plan.edn")
    (run_dir / "control.jsonl").touch()
    return run_dir


@pytest.mark.parametrize("args", [
    ["--version"],
    ["--help"],
])
def test_the_parser_alone_imports_no_command(args: list[str]) -> None:
    rc, modules, _ = run_command(args)
    assert rc == 0
    assert heavy(modules, (*ENGINE_BENCH_UI, "trio", "agenttree.events", "agenttree.log",
                           "agenttree.plan", "rich", "edn_format", "yaml", "cattrs")) == []


@pytest.mark.parametrize(("args", "status", "said"), [
    (["cancel", "{run}", "root.lib"], 1, "queued as line 1 of control.jsonl"),
    (["say", "{run}", "root", "hello"], 1, "queued as line 1 of control.jsonl"),
    (["reassign", "{run}", "lib", "--model", "scripted"], 1, "queued as line 1"),
    (["reconcile", "{run}"], 1, "queued as line 1 of control.jsonl"),
    (["grant", "{run}", "root", "tokens=500"], 1, "queued as line 1 of control.jsonl"),
    (["grant", "{run}", "root", "tokens"], 2, "expected KIND=AMOUNT"),
    (["cancel", "{run}/nowhere", "root"], 2, "no such run directory"),
    (["plan", "export", "{run}"], 0, ""),
    (["replay", "{run}"], 0, ""),
    (["locks", "{run}"], 0, ""),
    (["tail", "ws://127.0.0.1:{port}/events?token=t"], 2, "cannot connect to 127.0.0.1"),
])
def test_control_and_reading_commands_never_import_the_engine_bench_or_ui(
        args: list[str], status: int, said: str, live_run: Path) -> None:
    with socket.socket() as closed:  # bound, never listening: a connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        args = [a.format(run=live_run, port=port) for a in args]
        if args[0] in ("cancel", "say", "reassign", "reconcile", "grant"):
            args += ["--wait", "0"]  # the command is appended; no engine is there to answer
        rc, modules, err = run_command(args)
    assert (rc, said in err) == (status, True), err
    assert heavy(modules, ENGINE_BENCH_UI) == []


CONTROL = [
    ["cancel", "{run}", "root.lib"],
    ["say", "{run}", "root", "hello"],
    ["reassign", "{run}", "lib", "--model", "scripted"],
    ["grant", "{run}", "root", "tokens=500"],
    ["approve", "{run}", "root.lib#3.0"],
    ["deny", "{run}", "root.lib#3.0", "--reason", "not on main"],
]
"""The commands that append a record and wait for its answer (``reconcile`` parses and diffs
a plan first: it loads the plan's readers)."""
CONTROL_FREE_OF = ("trio", "anyio", "agenttree.events", "agenttree.state", "agenttree.log",
                   "cattrs", "importlib.metadata")
"""What a control command starts without: Trio, the 64 event classes (and the fold and log
writer built on them), the command converter's cattrs, and the scan for plugin commands (a
built-in command needs none)."""


@pytest.mark.parametrize("args", CONTROL)
def test_control_commands_import_neither_trio_nor_the_event_classes(
        args: list[str], live_run: Path) -> None:
    rc, modules, err = run_command([a.format(run=live_run) for a in args] + ["--wait", "0"])
    assert (rc, "queued as line 1 of control.jsonl" in err) == (1, True), err
    assert heavy(modules, CONTROL_FREE_OF) == []


@pytest.mark.parametrize(("args", "said"), [
    (["say", "{run}", "root", "hello"], "the run has finished (done)"),
    (["say", "{run}", "", "hello"], "'message' needs 'agent' (a non-empty string)"),
    (["grant", "{run}", "root", "tokens=-1"], "tokens: must not be negative"),
])
def test_a_refused_control_command_imports_neither(args: list[str], said: str,
                                                   live_run: Path) -> None:
    finished = DEMO_LOG.read_bytes().splitlines(keepends=True)[-1]
    assert b'"type":"run/finished"' in finished
    with open(live_run / "events.jsonl", "ab") as log:
        log.write(finished)  # the last line is all a command reads of a finished run
    rc, modules, err = run_command([a.format(run=live_run) for a in args])
    assert (rc, said in err, err.count("\n")) == (2, True, 1), err
    assert heavy(modules, CONTROL_FREE_OF) == []
