"""Ctrl-C twice on a real ``agenttree run``: the second one hurries the shutdown (commands
still running are killed at once) but the log is still written whole, and the exit status is
130."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from agenttree import events as ev
from agenttree.log import LogReader
from agenttree.state import fold

PLAN = """
{:run/name "interrupted"
 :tiers [{:depth 0 :models ["scripted"] :tools :all :budget {:tool-calls 50}}]
 :task {:task/id "root" :script [{:say "waiting for the children"}]
        :children [{:task/id "quick" :script [{:call :wait :args {:timeout_s 100000}}]}
                   {:task/id "stubborn"
                    :script [{:call :sh :args {:cmd "trap '' TERM; echo up; sleep 600 & wait"}}]}]}}
"""


def _entries(log: Path) -> list[ev.Entry]:
    return list(LogReader(log)) if log.exists() else []


def _wait_for(engine: subprocess.Popen[bytes], log: Path, found) -> None:  # type: ignore[no-untyped-def]
    """Follow the log (the engine writes within 50 ms) until ``found(entries)``."""
    while not found(_entries(log)):
        assert engine.poll() is None, engine.communicate()


def _finished(agent: str):  # type: ignore[no-untyped-def]
    return lambda entries: any(isinstance(e.event, ev.AgentFinished) and e.event.agent == agent
                               for e in entries)


def test_a_second_ctrl_c_ends_the_run_at_once_with_its_log_whole(tmp_path: Path) -> None:
    plan = tmp_path / "interrupted.edn"
    plan.write_text(PLAN)
    run_dir = tmp_path / "run"
    log = run_dir / "events.jsonl"
    engine = subprocess.Popen([sys.executable, "-m", "agenttree", "run", str(plan),
                               "--run-dir", str(run_dir), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(engine, log, lambda entries: {
            (e.event.agent, e.event.tool) for e in entries
            if isinstance(e.event, ev.ToolRequested)} == {("root.quick", "wait"),
                                                          ("root.stubborn", "sh")}
            and any(isinstance(e.event, ev.ProcessStarted) for e in entries))
        engine.send_signal(signal.SIGINT)
        _wait_for(engine, log, _finished("root.quick"))  # the first Ctrl-C was taken
        # The stubborn command ignores SIGTERM: the first Ctrl-C alone would wait out its grace
        # period. The second one kills it now, and the run still logs every end.
        engine.send_signal(signal.SIGINT)
        _, err = engine.communicate(timeout=120)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.communicate()
    assert engine.returncode == 130, err
    reader = LogReader(log)
    entries = list(reader)
    assert reader.torn is None
    state = fold(entries)
    assert isinstance(entries[-1].event, ev.RunFinished)
    assert state.status == "cancelled" and state.reason == "interrupted"
    assert {a.id: a.status for a in state.agents.values()} == {
        "root": "cancelled", "root.quick": "cancelled", "root.stubborn": "cancelled"}
    stubborn = [e.event for e in entries if isinstance(e.event, ev.ToolResult)
                and e.event.agent == "root.stubborn"]
    assert stubborn == []  # cancelled in its command: no result, and its end logged


LATE_CTRL_C = """
import os, signal, sys
import trio
from agenttree import events as ev
from agenttree.plan import load_plan
from agenttree.runtime.engine import Engine

run_finished = ev.RunFinished


def ctrl_c_as_the_run_ends(**fields):  # the tree is gone, the log not yet closed
    os.kill(os.getpid(), signal.SIGINT)
    return run_finished(**fields)


ev.RunFinished = ctrl_c_as_the_run_ends
engine = Engine(load_plan(sys.argv[1]), run_dir=sys.argv[2], handle_signals=True)
print(trio.run(engine.run))
"""


def test_a_ctrl_c_as_the_run_ends_cuts_nothing_short(tmp_path: Path) -> None:
    """The signal is watched until the log is closed: one that comes after the tree has ended
    (a second Ctrl-C while the last commands are killed, on a busy machine) is taken, not a
    KeyboardInterrupt that leaves the log without its end."""
    plan = tmp_path / "short.edn"
    plan.write_text('{:task {:task/id "root" :script [{:say "done"}]}}')
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-c", LATE_CTRL_C, str(plan), str(run_dir)],
                          capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout.strip()) == (0, "done"), done.stderr
    entries = list(LogReader(run_dir / "events.jsonl"))
    assert isinstance(entries[-1].event, ev.RunFinished)
    assert entries[-1].event.status == "done"
