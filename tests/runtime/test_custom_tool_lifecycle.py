"""Declared tools through a run's life: a resume replays a custom tool's recorded result (the
tool is not run again) and finds a ``:python`` module from any working directory; cancelling an
agent kills its command tool's whole process group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio.testing

from agenttree import events as ev
from agenttree.cli import main
from agenttree.control import Reconcile, append_command
from agenttree.log import read_events
from agenttree.plan import parse_plan
from agenttree.runtime.engine import Engine
from agenttree.sandbox.procs import live_members

from .test_resume import cut

COUNTER_TOOLS = '''
from pathlib import Path

BUMPS = Path(__file__).with_name("bumps.txt")


def bump(note: str) -> str:
    """Append a note to bumps.txt beside this module: one line a call."""
    with open(BUMPS, "a") as f:
        f.write(note + "\\n")
    return f"bump {len(BUMPS.read_text().splitlines())}: {note}"
'''

PLAN = """
{:run/name "bumps"
 :toolbox {:bump {:python "counter_tools:bump"}
           :tally {:sh "wc -l < \\"$ARG_FILE\\"" :params {:file {:type :string}}}}
 :tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 30}}]
 :task {:task/id "root"
        :script [{:call :bump :args {"note" "first"}}
                 {:call :tally :args {"file" "x.txt"}}
                 {:call :bump :args {"note" "second"}}
                 {:say "done"}]}}
"""


def tool_results(run_dir: Path) -> list[tuple[str, str]]:
    return [(e.event.tool, e.event.output) for e in read_events(run_dir / "events.jsonl")
            if isinstance(e.event, ev.ToolResult)]


def test_resume_replays_a_custom_tools_result_and_imports_from_the_plans_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plans, started_in, resumed_in = (tmp_path / d for d in ("plans", "here", "elsewhere"))
    for folder in (plans, started_in, resumed_in):
        folder.mkdir()
    (plans / "counter_tools.py").write_text(COUNTER_TOOLS)
    (plans / "bumps.edn").write_text(PLAN)
    full = tmp_path / "full"
    monkeypatch.chdir(started_in)
    assert main(["run", "../plans/bumps.edn", "--run-dir", str(full), "--quiet"]) == 0
    [loaded] = [e.event for e in read_events(full / "events.jsonl")
                if isinstance(e.event, ev.PlanLoaded)]
    assert loaded.base_dir == str(plans)
    assert (plans / "bumps.txt").read_text() == "first\nsecond\n"
    entries = list(read_events(full / "events.jsonl"))
    # the engine "dies" right after the first bump's result is logged
    first = next(i for i, e in enumerate(entries)
                 if isinstance(e.event, ev.ToolResult) and e.event.tool == "bump")
    crashed = cut(full, first + 1, tmp_path / "crashed")
    (crashed / "workspace" / "x.txt").write_text("one\ntwo\n")

    # A new process (nothing imported yet), in neither the plan's directory nor where the run
    # started: the module is found where the log says the plan was.
    resumed = subprocess.run([sys.executable, "-m", "agenttree", "resume", str(crashed),
                              "--quiet"], cwd=resumed_in, capture_output=True, text=True,
                             timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    # the first call was replayed from the log, not run again; the rest ran live
    assert (plans / "bumps.txt").read_text() == "first\nsecond\nsecond\n"
    assert tool_results(crashed) == [("bump", "bump 1: first"), ("tally", "exit 0\n2\n"),
                                     ("bump", "bump 3: second")]


async def test_cancelling_an_agent_kills_its_command_tools_process_group(
        tmp_path: Path) -> None:
    plan = parse_plan('{:toolbox {:hang {:sh "sleep 600 & sleep 600; touch finished"}}\n'
                      ' :task {:task/id "r" :script [{:call :hang} {:say "done"}]}}')
    engine = Engine(plan, tmp_path / "run", durability="none")
    groups: list[int] = []
    started = trio.Event()

    def hook(entry: ev.Entry) -> None:
        if isinstance(entry.event, ev.ProcessStarted):
            groups.append(entry.event.pgid)
            started.set()

    engine.on_event = hook
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await started.wait()
        assert live_members(set(groups))  # the command is running
        assert engine.cancel("r", "stop it")
    assert live_members(set(groups)) == []
    assert engine.state.agents["r"].status == "cancelled"
    assert [r for r in tool_results(engine.run_dir) if r[0] == "hang"] == []
    assert not (engine.run_dir / "workspace" / "finished").exists()


RECONCILED = """
{:toolbox {%s}
 :tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 30}}]
 :task {:task/id "root" :script [{:call :wait :args {:timeout_s 100}} {:say "done"}]}}
"""


async def test_reconcile_imports_python_tools_from_the_plans_directory_not_the_cwd(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        autojump_clock: trio.testing.MockClock) -> None:
    plans, elsewhere = tmp_path / "plans", tmp_path / "elsewhere"
    plans.mkdir()
    elsewhere.mkdir()
    (plans / "late_tools.py").write_text("def greet(name: str) -> str:\n    return name\n")
    monkeypatch.chdir(elsewhere)
    engine = Engine(parse_plan(RECONCILED % "", source=str(plans / "p.edn"), base_dir=plans),
                    tmp_path / "run", durability="none")
    edits = [RECONCILED % ':greet {:python "late_tools:greet"}',
             RECONCILED % ':gone {:python "no_such_late_tools:f"}']
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        for at, text in enumerate(edits, start=1):
            await trio.sleep_until(at)
            await trio.testing.wait_all_tasks_blocked()
            (engine.run_dir / "plan.edn").write_text(text)
            append_command(engine.run_dir, Reconcile())
    logged = [e.event for e in read_events(engine.run_dir / "events.jsonl")]
    applied = [e.detail for e in logged if isinstance(e, ev.ControlApplied)]
    [why] = [e.reason for e in logged if isinstance(e, ev.ControlRejected)]
    assert applied == ["reconciled: settings changed"], applied
    assert "module 'no_such_late_tools' not found" in why and "nothing was changed" in why
    assert set(engine.plan.toolbox) == {"greet"}
    assert engine.state.status == "done"
