"""The Activity tab (rows following the tree, collapse, marks, zoom, following live, opening a
mark's event) and the Budget tab's pictures, driven by Pilot on real logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agenttree.activity import Activity
from agenttree.log import LogReader
from agenttree.state import fold
from tui.screens.info import InfoScreen
from tui.widgets.activity_chart import LABEL, ActivityChart, Window
from tui.widgets.spending_chart import SpendingChart, bar, sparkline

from .conftest import drive, loaded, make_app, text_of, wait_for


def chart_of(pilot: Pilot[Any]) -> ActivityChart:
    return pilot.app.query_one("#activity-chart", ActivityChart)


def line_text(chart: ActivityChart, y: int) -> str:
    return "".join(segment.text for segment in chart.render_line(y))


def test_rows_follow_the_tree_and_a_subtree_closes_and_opens(demo_run: Path) -> None:
    state = fold(LogReader(demo_run / "events.jsonl"))

    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("6")
        chart = chart_of(pilot)
        assert pilot.app.focused is chart
        assert chart.rows == state.subtree(state.root)
        await pilot.press("space")  # on the root: everything below it goes
        assert chart.rows == ["root"]
        assert "▸" in line_text(chart, 1)
        await pilot.press("space")
        assert chart.rows == state.subtree(state.root)
        await pilot.press("down", "space")  # root.lib closes; its child goes with it
        assert "root.lib.tests" not in chart.rows and "root.docs" in chart.rows

    drive(make_app(demo_run), script)


def test_marks_are_selected_and_open_their_event(demo_run: Path) -> None:
    entries = list(LogReader(demo_run / "events.jsonl"))
    activity = Activity()
    activity.extend(entries)
    first = activity.marks_of("root")[0]

    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("6")
        chart = chart_of(pilot)
        await pilot.press("right")
        assert chart.selected_mark is not None and chart.selected_mark.seq == first.seq
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, InfoScreen), "the event")
        body = text_of(pilot.app.screen.query(".dialog-body"))
        assert f"{first.seq}" in body and "model/requested" in body
        await pilot.press("escape")
        await pilot.press("right", "right", "left")
        assert chart.selected_mark is activity.marks_of("root")[1] or \
            chart.selected_mark.seq == activity.marks_of("root")[1].seq

    drive(make_app(demo_run), script)


def test_a_click_on_a_mark_opens_its_event(demo_run: Path) -> None:
    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("6")
        chart = chart_of(pilot)
        row = chart.rows.index("root.docs")
        mark = chart.activity.marks_of("root.docs")[-1]
        x = LABEL + 1 + chart._column(mark.t)
        await pilot.click("#activity-chart", offset=(x, row + 1))
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, InfoScreen), "the event")
        assert chart.selected_agent == "root.docs"
        assert f"Event {mark.seq}" in text_of(pilot.app.screen.query(".dialog-title"))

    drive(make_app(demo_run), script)


def test_zoom_pan_and_the_whole_run_following_live(demo_run: Path) -> None:
    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("6")
        chart = chart_of(pilot)
        whole = chart.window
        assert whole is not None and whole.follow
        await pilot.press("plus")
        zoomed = chart.window
        assert not zoomed.follow
        # Widths in ms are rounded as the chart rounds them (the demo run's length varies).
        assert zoomed.end - zoomed.start == round((whole.end - whole.start) / 2)
        await pilot.press("shift+right")
        assert chart.window.start - zoomed.start == round((zoomed.end - zoomed.start) / 4)
        await pilot.press("minus", "minus")
        assert chart.window.end - chart.window.start == (zoomed.end - zoomed.start) * 4
        await pilot.press("w")
        assert chart.window == Window(whole.start, whole.end)

    drive(make_app(demo_run), script)


def test_the_tab_follows_a_live_run(recorded_run: Path) -> None:
    # recorded_run is still going: the window's end is the app's clock, and new agents and
    # marks appear as they are written.
    from agenttree import events as ev
    from agenttree.log import encode

    from .recorded import RUN

    log = recorded_run / "events.jsonl"
    seq = sum(1 for _ in LogReader(log))

    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("6")
        chart = chart_of(pilot)
        assert chart.window.follow and chart.window.end == int(1_800_000_010.0 * 1000)
        assert "live" in line_text(chart, 0)
        with open(log, "ab") as f:
            f.write(encode(seq + 1, 1_800_000_005_000, RUN, ev.AgentSpawned(
                agent="root.late", parent="root", task="late", goal="g", depth=1,
                model="scripted", models=["scripted"], tools=[], budget={})))
            f.write(encode(seq + 2, 1_800_000_006_000, RUN, ev.ToolRequested(
                agent="root.late", call="c", tool="sh", args={})))
        await wait_for(pilot, lambda: "root.late" in chart.rows, "the new agent's row")
        row = chart.rows.index("root.late") + 1 - chart.scroll_offset.y
        await wait_for(pilot, lambda: "▲" in line_text(chart, row), "its tool call")

    drive(make_app(recorded_run), script)


def test_the_budget_tab_draws_subtree_bars_and_tokens_over_time(demo_run: Path) -> None:
    async def script(pilot: Pilot[Any]) -> None:
        await pilot.press("3")
        await pilot.pause()
        text = text_of([pilot.app.query_one("#spending-chart", SpendingChart)])
        for title in ("tokens", "tool calls", "cost", "agent time", "tokens over time"):
            assert f"\n{title}\n" in f"\n{text}"
        assert "lib (2)  " + "█" * 20 in text  # the largest child fills the bar
        assert "root (5)" in text

    drive(make_app(demo_run), script, size=(140, 60))


@pytest.mark.parametrize(("value", "most", "drawn"), [
    (0, 10, ""), (10, 10, "█" * 20), (5, 10, "█" * 10), (1, 16, "█▎"), (0.001, 10, "▏")])
def test_bars_are_drawn_in_eighths(value: float, most: float, drawn: str) -> None:
    assert bar(value, most) == drawn


def test_sparkline_scales_to_the_largest_value() -> None:
    assert sparkline([0, 4, 8]) == " ▄█"
    assert sparkline([0, 0]) == "  "


def _activity(pilot: Pilot[Any]) -> Any:
    async def go() -> None:
        await loaded(pilot)
        await pilot.press("6")
        await pilot.pause()
    return go()


def test_activity_tab_snapshot(snap_compare: Any, recorded_run: Path) -> None:
    app = make_app(recorded_run, theme="ansi-dark")
    assert snap_compare(app, terminal_size=(120, 30), run_before=_activity)


def test_budget_pictures_snapshot(snap_compare: Any, recorded_run: Path) -> None:
    async def budgets(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("3")
        await pilot.pause()

    app = make_app(recorded_run, theme="ansi-dark")
    assert snap_compare(app, terminal_size=(120, 40), run_before=budgets)
