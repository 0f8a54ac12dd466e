"""Pilot tests of the main screen on a finished demo run and on the recorded fixture run."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path
from typing import Any

import orjson
from textual.pilot import Pilot
from textual.widgets import Static, TextArea

from agenttree.log import LogReader
from agenttree.state import fold
from tui.widgets.agent_tree import AgentTree
from tui.widgets.conversation import ConversationView
from tui.widgets.run_header import RunHeader

from .conftest import drive, make_app, text_of, wait_for

DEMO_AGENTS = {"root", "root.lib", "root.lib.tests", "root.docs", "root.explorer"}


def commands(run_dir: Path) -> list[dict[str, Any]]:
    """The lines of a run's control.jsonl."""
    path = run_dir / "control.jsonl"
    return [orjson.loads(line) for line in path.read_bytes().splitlines()] if path.exists() \
        else []


def header(pilot: Pilot[Any]) -> str:
    return text_of([pilot.app.query_one("#header", RunHeader)])


def test_tree_shows_every_agent_of_the_demo(demo_run: Path) -> None:
    app = make_app(demo_run)

    async def script(pilot: Pilot[Any]) -> None:
        tree = app.query_one("#tree", AgentTree)
        assert set(tree.nodes) == DEMO_AGENTS
        labels = {a: str(n.label) for a, n in tree.nodes.items()}
        assert labels["root.lib.tests"].startswith("✓ tests")
        assert "#2" in labels["root.explorer"]  # restarted after the grant
        assert "LIVE" in header(pilot) and "✓ 5/5" in header(pilot)

    drive(app, script)


def test_selecting_an_agent_shows_its_conversation(demo_run: Path) -> None:
    app = make_app(demo_run)

    async def script(pilot: Pilot[Any]) -> None:
        tree = app.query_one("#tree", AgentTree)
        tree.select_agent("root.lib")
        view = app.query_one("#conversation-view", ConversationView)
        # The chat follows the cursor in the frame after the one that moved it.
        await wait_for(pilot, lambda: view.agent_id == "root.lib", "root.lib's chat")
        text = text_of(view.query(Static))
        assert "textstats.py fixed: split on any whitespace" in text
        await pilot.press("down")  # the cursor moves to tests: the view follows the cursor
        await wait_for(pilot, lambda: view.agent_id == "root.lib.tests", "tests' chat")

    drive(app, script)


def test_cancel_asks_first_then_writes_the_command(demo_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(demo_run, run)
    # The demo is over; an unfinished copy (cut before its end) has agents to cancel.
    lines = (run / "events.jsonl").read_bytes().splitlines(keepends=True)
    (run / "events.jsonl").write_bytes(b"".join(lines[:40]))
    app = make_app(run)

    async def script(pilot: Pilot[Any]) -> None:
        app.query_one("#tree", AgentTree).select_agent("root.lib")
        await pilot.press("x")
        body = text_of(app.screen.query(Static))
        assert "2 agents: root.lib, root.lib.tests" in body
        await pilot.press("n")  # said no: nothing is sent
        assert commands(run) == []
        await pilot.press("x", "y")
        assert commands(run) == [{"cmd": "cancel", "agent": "root.lib"}]

    drive(app, script)


def test_time_travel_shows_an_earlier_state_and_returns_to_live(demo_run: Path) -> None:
    app = make_app(demo_run)
    last = len(list(LogReader(demo_run / "events.jsonl")))

    async def script(pilot: Pilot[Any]) -> None:
        tree = app.query_one("#tree", AgentTree)
        await pilot.press("left_curly_bracket")
        assert app.view_seq == last - 10
        await pilot.press(*["left_curly_bracket"] * 9, "right_square_bracket")
        seq = last - 100 + 1
        assert app.view_seq == seq
        expected = fold(LogReader(demo_run / "events.jsonl"), until=seq)
        assert set(tree.nodes) == set(expected.agents)
        assert "VIEWING" in header(pilot) and f"seq {seq}/{last}" in header(pilot)
        assert app.state.agents["root"].status == expected.agents["root"].status != "done"
        assert app.timeline.live.agents["root"].status == "done"  # live is untouched
        await pilot.press("x")  # steering is refused in the past
        assert commands(demo_run) == [] and len(app.screen_stack) == 1
        await pilot.press("L")
        assert app.view_seq is None and "LIVE" in header(pilot)
        assert set(tree.nodes) == DEMO_AGENTS

    drive(app, script)


VALID_EDIT = '''{:run/name "recorded"
 :tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 40 :tokens 100000}}]
 :task {:task/id "root" :goal "ship the service"
        :children [{:task/id "api" :goal "write the API"}
                   {:task/id "ops" :goal "deploy it"}]}}
'''


def test_invalid_plan_edit_shows_the_error_and_changes_nothing(recorded_run: Path) -> None:
    app = make_app(recorded_run)
    before = (recorded_run / "plan.edn").read_text()

    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("e")
        editor = app.screen.query_one(TextArea)
        editor.text = before.replace(':goal "write the UI"', ":goal 42")
        await pilot.press("ctrl+s")
        error = text_of([app.screen.query_one("#plan-error", Static)])
        assert "plan.edn:6" in error and "goal" in error and "nothing was applied" in error
        assert editor.cursor_location == (5, 0)  # the cursor is on the bad line
        await pilot.press("escape")
        assert app.plan_draft is None
        await pilot.press("R", "y")  # nothing pending: reconcile re-reads the file as it is
        assert (recorded_run / "plan.edn").read_text() == before

    drive(app, script)


def test_valid_plan_edit_is_applied_by_reconcile(recorded_run: Path) -> None:
    app = make_app(recorded_run)

    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("e")
        app.screen.query_one(TextArea).text = VALID_EDIT
        await pilot.press("ctrl+s")
        assert app.plan_draft == VALID_EDIT
        assert "edited" in header(pilot)
        await pilot.press("R")
        body = text_of(app.screen.query(Static))
        assert "new tasks (spawned): ops" in body
        assert "removed tasks (cancelled): db, ui, docs" in body
        before = (recorded_run / "plan.edn").read_text()
        await pilot.press("y")
        # Staged for the engine, which writes plan.edn once it has applied it.
        digest = hashlib.sha256(VALID_EDIT.encode()).hexdigest()
        assert commands(recorded_run) == [{"cmd": "reconcile", "plan": digest}]
        assert (recorded_run / "plans" / digest / "plan.edn").read_text() == VALID_EDIT
        assert (recorded_run / "plan.edn").read_text() == before

    drive(app, script)


def test_grant_reassign_and_message_write_their_commands(recorded_run: Path) -> None:
    app = make_app(recorded_run)

    async def script(pilot: Pilot[Any]) -> None:
        app.query_one("#tree", AgentTree).select_agent("root.api")
        await pilot.press("g")
        await pilot.click("#grant-tool-calls")
        await pilot.press("3", "enter")
        body = text_of(app.screen.query(Static))
        assert "Grant tool-calls 3 to root.api?" in body and "1 agent: root.api" in body
        await pilot.press("y")
        await pilot.press("r")
        app.screen.query_one("#model").value = "scripted:small"
        await pilot.click("#ok")
        await pilot.press("m", *"hurry", "enter")
        assert commands(recorded_run) == [
            {"cmd": "grant", "agent": "root.api", "budget": {"tool-calls": 3}},
            {"cmd": "reassign", "task": "api", "model": "scripted:small"},
            {"cmd": "message", "agent": "root.api", "text": "hurry"},
        ]

    drive(app, script)


def test_a_grant_of_an_impossible_amount_stays_in_the_form(recorded_run: Path) -> None:
    """Amounts are checked as every budget amount is: whole tool calls, no 20-digit grants."""
    app = make_app(recorded_run)

    async def script(pilot: Pilot[Any]) -> None:
        app.query_one("#tree", AgentTree).select_agent("root.api")
        await pilot.press("g")
        for typed, error in (("0.5", "tool-calls: expected a whole number, got 0.5"),
                             ("99999999999999999999", "must be at most")):
            await pilot.click("#grant-tool-calls")
            app.screen.query_one("#grant-tool-calls").value = ""
            await pilot.press(*typed, "enter")
            assert error in text_of([app.screen.query_one("#form-error", Static)])
        await pilot.press("escape")
        assert commands(recorded_run) == []

    drive(app, script)


def test_readonly_refuses_to_steer(recorded_run: Path) -> None:
    app = make_app(recorded_run, readonly=True)

    async def script(pilot: Pilot[Any]) -> None:
        app.query_one("#tree", AgentTree).select_agent("root.api")
        await pilot.press("x", "y", "g", "m", "R")
        assert commands(recorded_run) == []
        assert "read-only" in header(pilot)
        await pilot.press("q")  # nothing to ask: read-only quits at once
        assert app.return_value == "quit"

    drive(app, script)


def test_remapped_keys_work(recorded_run: Path) -> None:
    app = make_app(recorded_run, keymap={"cancel": "k", "back": "b"})

    async def script(pilot: Pilot[Any]) -> None:
        app.query_one("#tree", AgentTree).select_agent("root.ui")
        await pilot.press("x")  # no longer bound
        assert len(app.screen_stack) == 1
        await pilot.press("k", "y")
        assert commands(recorded_run) == [{"cmd": "cancel", "agent": "root.ui"}]
        await pilot.press("b")
        assert app.view_seq == app.timeline.last_seq - 1

    drive(app, script)


def test_filter_narrows_the_events_strip(recorded_run: Path) -> None:
    app = make_app(recorded_run)

    async def script(pilot: Pilot[Any]) -> None:
        strip = app.query_one("#strip-events")
        assert len(strip.lines) == app.timeline.last_seq
        await pilot.press("slash", *"failures", "enter")
        assert [line.split()[3] for line in strip.lines] == \
            ["acceptance/result", "agent/finished"]

    drive(app, script)


def test_quitting_a_running_run_asks_what_to_do(recorded_run: Path) -> None:
    app = make_app(recorded_run)

    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("q")
        assert len(app.screen_stack) == 2  # the recorded run never finished: it asks
        await pilot.press("escape")
        assert len(app.screen_stack) == 1
        await pilot.press("q")
        await pilot.click("#stay")  # the buttons answer like their keys
        assert len(app.screen_stack) == 1
        await pilot.press("q", "enter")  # "leave" has the focus
        assert app.return_value == "leave"

    drive(app, script)


def test_a_corrupt_log_shows_what_came_before_and_says_where(recorded_run: Path) -> None:
    log = recorded_run / "events.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    lines[9] = lines[9].replace(b"root", b"r00t", 1)
    log.write_bytes(b"".join(lines))
    app = make_app(recorded_run)

    async def script(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: bool(app._notifications), "the error")
        assert app.timeline.last_seq == 9
        (note,) = app._notifications
        assert note.severity == "error"
        assert "events.jsonl:10: corrupt event record: CRC mismatch" in note.message
        assert set(app.query_one("#tree", AgentTree).nodes) == {
            "root", "root.api", "root.ui", "root.docs", "root.api.db"}

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await script(pilot)

    asyncio.run(main())


def test_plan_tab_shows_the_plan_the_run_follows_not_an_unapplied_file(
        recorded_run: Path) -> None:
    (recorded_run / "plan.edn").write_text(VALID_EDIT)  # written, never reconciled
    app = make_app(recorded_run)

    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("5")
        shown = text_of([app.query_one("#plan-text", Static)])
        assert "write the UI" in shown and ":task/id \"ops\"" not in shown
        await pilot.press("e")
        assert app.screen.query_one(TextArea).text == app.timeline.live.plan_edn

    drive(app, script)


def test_question_mark_shows_the_help_panel_and_hides_it_again(recorded_run: Path) -> None:
    from textual.widgets import HelpPanel

    app = make_app(recorded_run)

    async def script(pilot: Pilot[Any]) -> None:
        assert not app.screen.query(HelpPanel)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: bool(app.screen.query(HelpPanel)), "the help panel")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: not app.screen.query(HelpPanel), "the panel hidden")

    drive(app, script)
