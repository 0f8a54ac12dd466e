"""Against a live engine: ``agenttree tui PLAN`` starts it as a child process, and ``x``
cancels a subtree in the real run (the log shows ``control/applied`` and the agents end
``cancelled``); quitting with "stop" ends the run cleanly."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static, TextArea

from agenttree.log import LogReader, Tailer
from agenttree.state import fold
from tui.app import AgentTreeApp
from tui.cli import _after
from tui.engine_proc import EngineProcess
from tui.screens.confirm import ConfirmScreen
from tui.screens.info import InfoScreen
from tui.widgets.agent_tree import AgentTree

from .conftest import drive, press_when_offered, text_of, wait_for

SLOW_PLAN = """{:run/name "slow"
 :tiers [{:depth 0 :models ["scripted"] :tools :all :budget {:tool-calls 20 :wall-s 600}}]
 :task {:task/id "root" :goal "wait for the children"
        :script [{:say "waiting for a and b"}]
        :children [{:task/id "a" :goal "slow a" :script [{:say "a done"}]
                    :acceptance [(sh "sleep 120")]}
                   {:task/id "b" :goal "slow b" :script [{:say "b done"}]
                    :acceptance [(sh "sleep 120")]
                    :children [{:task/id "c" :goal "slow c" :script [{:say "c done"}]
                                :acceptance [(sh "sleep 120")]}]}]}}
"""


def test_cancel_a_subtree_of_a_live_run_then_stop_it(tmp_path: Path) -> None:
    plan = tmp_path / "slow.edn"
    plan.write_text(SLOW_PLAN)
    run_dir = tmp_path / "run"
    engine = EngineProcess(plan, run_dir, model="scripted")
    app = AgentTreeApp(run_dir, engine=engine)

    def status(agent: str) -> str | None:
        found = app.timeline.live.agents.get(agent)
        return None if found is None else found.status

    async def script(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: all(status(a) == "acceptance" for a in
                                          ("root.a", "root.b.c")),
                       "the children to run their slow acceptance", tries=600)
        assert app.query_one("#tree", AgentTree).select_agent("root.b")
        await press_when_offered(pilot, "x")
        await pilot.press("y")
        await wait_for(pilot, lambda: status("root.b") == "cancelled"
                       and status("root.b.c") == "cancelled", "the subtree to end", tries=600)
        assert status("root.a") == "acceptance"  # outside the subtree: still going
        assert app.timeline.live.control == [
            {"line": 1, "cmd": "cancel", "applied": True,
             "detail": "cancelling root.b and its subtree"}]
        await pilot.press("q")
        await pilot.press("s")

    try:
        drive(app, script)
        assert app.return_value == "stop"
        assert engine.stop("root") == 1  # the root ended cancelled: `agenttree run` exits 1
    finally:
        if engine.running():
            engine.proc.kill()
            engine.proc.wait()
    state = fold(LogReader(run_dir / "events.jsonl"))
    assert state.status == "cancelled"
    assert {a.id: a.status for a in state.agents.values()} == {
        "root": "cancelled", "root.a": "cancelled", "root.b": "cancelled",
        "root.b.c": "cancelled"}


STEER_PLAN = """{:run/name "steer"
 :tiers [{:depth 0 :models ["scripted" "scripted:alt"] :tools :all
          :budget {:tool-calls 20 :wall-s 600}}]
 :task {:task/id "root" :goal "wait for the children"
        :script [{:say "waiting"}]
        :children [{:task/id "a" :goal "slow a" :script [{:say "a done"}]
                    :acceptance [(sh "sleep 120")]}]}}
"""
ADD_D = STEER_PLAN.replace(
    ':acceptance [(sh "sleep 120")]}]}}',
    ':acceptance [(sh "sleep 120")]}\n'
    '                   {:task/id "d" :goal "slow d" :script [{:say "d done"}]\n'
    '                    :acceptance [(sh "sleep 120")]}]}}')


def test_reconcile_reassign_and_grant_on_a_live_run(tmp_path: Path) -> None:
    plan = tmp_path / "steer.edn"
    plan.write_text(STEER_PLAN)
    run_dir = tmp_path / "run"
    engine = EngineProcess(plan, run_dir)
    app = AgentTreeApp(run_dir, engine=engine)
    live = app.timeline.live

    async def script(pilot: Pilot[Any]) -> None:
        tree = app.query_one("#tree", AgentTree)
        await wait_for(pilot, lambda: "root.a" in live.agents
                       and live.agents["root.a"].status == "acceptance", "a's acceptance",
                       tries=600)
        # Edit the plan (a new task d), check it, apply it: d appears in the tree.
        await press_when_offered(pilot, "e")
        app.screen.query_one(TextArea).text = ADD_D
        await pilot.press("ctrl+s", "R")
        assert "new tasks (spawned): d" in text_of(app.screen.query(Static))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, InfoScreen)
                       and "added: d" in text_of(app.screen.query(Static)), "the applied diff",
                       tries=600)
        await pilot.press("enter")
        await wait_for(pilot, lambda: "root.d" in tree.nodes, "d in the tree")
        assert (run_dir / "plan.edn").read_text() == ADD_D
        # Reassign a to the other allowed model: a new attempt of a, on that model.
        assert tree.select_agent("root.a")
        await press_when_offered(pilot, "r")
        app.screen.query_one("#model", Select).value = "scripted:alt"
        await pilot.click("#ok")
        await wait_for(pilot, lambda: live.agents["root.a"].attempt == 2
                       and live.agents["root.a"].status == "acceptance", "a's second attempt",
                       tries=600)
        assert live.agents["root.a"].model == "scripted:alt"
        await wait_for(pilot, lambda: "#2" in str(tree.nodes["root.a"].label),
                       "a's second attempt in the tree")  # the tree is redrawn at most 5 times/s
        # Grant a 3 more tool calls (the engine raises the limits from the root down).
        await press_when_offered(pilot, "g")
        await pilot.click("#grant-tool-calls")
        await pilot.press("3", "enter", "y")
        await wait_for(pilot, lambda: len(live.control) == 3, "the grant's answer", tries=600)
        assert [c["cmd"] for c in live.control] == ["reconcile", "reassign", "grant"]
        assert all(c["applied"] for c in live.control)
        assert "to root.a" in live.control[2]["detail"]
        assert orjson.loads((run_dir / "control.jsonl").read_bytes().splitlines()[2]) == \
            {"cmd": "grant", "agent": "root.a", "budget": {"tool-calls": 3}}
        await pilot.press("q", "s")

    try:
        drive(app, script)
        assert app.return_value == "stop"
        engine.stop("root")
    finally:
        if engine.running():
            engine.proc.kill()
            engine.proc.wait()


def test_stopping_the_engine_cancels_its_own_root(tmp_path: Path) -> None:
    plan = tmp_path / "main.edn"
    plan.write_text(SLOW_PLAN.replace('{:task/id "root"', '{:task/id "main"'))
    run_dir = tmp_path / "run"
    engine = EngineProcess(plan, run_dir, model="scripted")
    log = run_dir / "events.jsonl"
    try:
        # A real child process: poll its log, bounded, until the root has spawned.
        for _ in range(600):
            if log.exists() and "main" in fold(Tailer(log).poll()).agents:
                break
            assert engine.running(), (run_dir / "engine.log").read_text()
            time.sleep(0.05)
        _after("stop", run_dir, engine, "main")  # what `agenttree tui PLAN` does on "stop"
        assert engine.proc.returncode == 1  # cancelled through control.jsonl, not terminated
    finally:
        if engine.running():
            engine.proc.kill()
            engine.proc.wait()
    state = fold(LogReader(log))
    assert state.status == "cancelled"
    assert state.control[0]["applied"] and state.control[0]["cmd"] == "cancel"


APPROVE_PLAN = """{:run/name "gate"
 :tiers [{:depth 0 :models ["scripted"] :approve [:sh :write-file]
          :budget {:tool-calls 20 :wall-s 600}}]
 :task {:task/id "root"
        :script [{:call :sh :args {:cmd "echo ran >> out.txt"}}
                 {:call :write-file :args {:path "gone.txt" :content "x"}}
                 {:say "done"}]}}
"""


def test_approve_and_deny_the_selected_call_of_a_live_run(tmp_path: Path) -> None:
    """``a`` approves the selected agent's waiting call (after a confirmation), ``d`` denies
    the next one with a reason; the engine runs the first and the model hears the second's
    reason."""
    plan = tmp_path / "gate.edn"
    plan.write_text(APPROVE_PLAN)
    run_dir = tmp_path / "run"
    engine = EngineProcess(plan, run_dir, model="scripted")
    app = AgentTreeApp(run_dir, engine=engine)

    def footer_keys() -> set[str]:
        return {key.description for key in app.query("FooterKey")}

    def waiting() -> str | None:
        root = app.timeline.live.agents.get("root")
        return None if root is None else root.waiting_call

    async def script(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: waiting() == "root#1.0", "the sh call to wait",
                       tries=600)
        assert app.query_one("#tree", AgentTree).select_agent("root")
        await wait_for(pilot, lambda: str(app.query_one("#tree", AgentTree).nodes["root"].label)
                       .startswith("! root"), "root marked as waiting in the tree")
        await press_when_offered(pilot, "a")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        body = text_of(app.screen.query(Static))
        assert "Approve sh call root#1.0 of root?" in body and "echo ran >> out.txt" in body
        await pilot.press("y")
        await wait_for(pilot, lambda: waiting() == "root#2.0", "the write-file call to wait",
                       tries=600)
        await press_when_offered(pilot, "d")
        # Type once the form has the focus (a busy app mounts it a little later: keys before
        # that went to the app, and the reason arrived as "ay").
        await wait_for(pilot, lambda: isinstance(app.focused, Input) and app.focused.id == "reason",
                       "the reason field to have the focus")
        await pilot.press(*"not today", "enter")
        await wait_for(pilot, lambda: app.timeline.live.status == "done", "the run to end",
                       tries=600)
        assert [c["detail"] for c in app.timeline.live.control] == [
            "approved root#1.0 (sh for root)", "denied root#2.0 (write-file for root)"]
        await wait_for(pilot, lambda: not {"Approve", "Deny"} & footer_keys(),
                       "a and d to leave the footer (nothing waits any more)")
        await pilot.press("q")

    try:
        drive(app, script)
    finally:
        if engine.running():
            engine.proc.kill()
            engine.proc.wait()
    assert (run_dir / "workspace" / "out.txt").read_text() == "ran\n"
    assert not (run_dir / "workspace" / "gone.txt").exists()
    state = fold(LogReader(run_dir / "events.jsonl"))
    assert state.approvals["root#2.0"]["reason"] == "not today"
    control = [orjson.loads(line) for line in (run_dir / "control.jsonl").read_bytes()
               .splitlines()]
    assert control == [{"cmd": "approve", "call": "root#1.0"},
                       {"cmd": "deny", "call": "root#2.0", "reason": "not today"}]
