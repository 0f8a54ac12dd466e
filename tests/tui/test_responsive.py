"""The UI stays responsive under load: a long batch is folded a slice at a time with keys
handled in between, the plan file is not parsed on the UI thread when the log vouches for it,
and the event lists write lines without starting threads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from agenttree import events as ev
from agenttree.log import encode
from tui.app import FOLD_SLICE
from tui.widgets.agent_tree import AgentTree
from tui.widgets.event_list import EventList

from .conftest import drive, make_app, wait_for
from .recorded import PLAN
from .test_app import header

T0 = 1_800_000_000_000


def busy_events(agents: int, updates: int) -> list[ev.Event]:
    """A run of a root and ``agents`` children, then ``updates`` states reported by them."""
    events: list[ev.Event] = [
        ev.RunStarted(plan_name="busy", plan_path="plan.edn", run_dir="busy", seed=0,
                      durability="none", format=ev.FORMAT, version="test", pid=0)]
    for i in range(agents + 1):
        agent, parent = ("root", None) if i == 0 else (f"root.w{i}", "root")
        events.append(ev.AgentSpawned(agent=agent, parent=parent, task=agent, goal="work",
                                      depth=0 if parent is None else 1, model="scripted",
                                      models=["scripted"], tools=[], budget={}, cwd=".",
                                      dynamic=False, attempt=1))
    events += [ev.AgentState(agent=f"root.w{1 + k % agents}", status="working",
                             detail=f"step {k}", facts=None) for k in range(updates)]
    return events


def append_events(path: Path, events: list[ev.Event], first_seq: int) -> None:
    with open(path, "ab") as f:
        for seq, event in enumerate(events, start=first_seq):
            f.write(encode(seq, T0 + seq, "busy", event))


def test_a_key_is_handled_between_two_slices_of_a_long_fold(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = run_dir / "events.jsonl"
    events = busy_events(10, 10 * FOLD_SLICE)
    start, rest = events[:12], events[12:]
    append_events(log, start, 1)
    app = make_app(run_dir, fold_budget_s=0.0)  # one slice a flush

    async def script(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: app.timeline.last_seq == len(start), "the first events")
        assert app._flush_timer is not None and app._refold is None
        app._flush_timer.pause()  # from now on, flushes happen only when this test calls one
        append_events(log, rest, len(start) + 1)
        await wait_for(pilot, lambda: len(app._pending) == len(rest), "the burst to arrive")
        app._apply_pending()
        assert app._refold is not None
        app._refold.stop()  # (the next slice would come 5 ms later)
        assert app.timeline.last_seq == len(start) + FOLD_SLICE  # a flush folds one slice
        await pilot.press("down")  # handled now, not after the rest of the fold
        assert app.query_one("#tree", AgentTree).selected_agent == "root.w1"
        assert app.timeline.last_seq == len(start) + FOLD_SLICE
        assert len(app._pending) == len(rest) - FOLD_SLICE
        app._refold = None
        app._flush_timer.resume()
        await wait_for(pilot, lambda: app.timeline.last_seq == len(events), "the whole log")
        assert app.timeline.live.agents["root.w10"].detail == f"step {10 * FOLD_SLICE - 1}"

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await script(pilot)

    asyncio.run(main())


def test_plan_file_the_log_vouches_for_is_valid_and_an_edit_is_checked_in_a_thread(
        recorded_run: Path) -> None:
    app = make_app(recorded_run)

    async def script(pilot: Pilot[Any]) -> None:
        assert app.plan_path.read_text() == app.timeline.live.plan_edn == PLAN
        assert "plan ✓" in header(pilot)
        app.plan_path.write_text(PLAN.replace(":task/id", ":task/idd", 1))
        app._check_plan_file()
        assert app._plan_status == "checking…"
        await wait_for(pilot, lambda: "plan ✗" in header(pilot), "the edit to be parsed")

    drive(app, script)


def test_event_lists_write_lines_without_starting_a_worker(recorded_run: Path) -> None:
    app = make_app(recorded_run)

    async def script(pilot: Pilot[Any]) -> None:
        strip = app.query_one("#strip-events", EventList)
        before = len(app.workers)
        strip.write_lines([f"line {i}" for i in range(10)])
        assert len(app.workers) == before
        assert strip.lines[-1] == "line 9"
        await pilot.pause()
        assert strip.is_vertical_scroll_end

    drive(app, script)
