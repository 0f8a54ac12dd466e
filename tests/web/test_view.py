"""The page's feed (/ws/view): the hub folds with agenttree/state.py and sends the rows an
event changed; a page that applies a snapshot and the deltas after it has the fold's rows.

Checked against a recorded real run with a re-opened parent and a resume that requested a tool
call again (tests/recorded/web-fold), the two places the page's old JavaScript fold disagreed
with Python. The browser itself is checked in test_browser.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed

from agenttree import events as ev
from agenttree.log import LogReader
from agenttree.state import RunState, fold
from agenttree.web.hub import BUDGET_POLLS, Hub, Viewer
from agenttree.web.tail import connect as open_websocket_url

from .conftest import T0, TOKEN, RunLog, Served, spawned, start_events

RECORDED = Path(__file__).parents[1] / "recorded" / "web-fold" / "events.jsonl"
LINES = RECORDED.read_bytes().splitlines(keepends=True)
WAIT_S = 20


def fold_rows(state: RunState) -> dict[str, dict[str, Any]]:
    """Every agent's row as the fold has it (what the page must hold)."""
    return {a.id: {"id": a.id, "parent": a.parent, "depth": a.depth, "status": a.status,
                   "detail": a.detail, "finished": a.finished, "tool_calls": a.tool_calls,
                   "tokens": a.tokens, "attempt": a.attempt, "start_t": a.started_t,
                   "end_t": a.finished_t, "waiting_call": a.waiting_call,
                   "children": list(a.children)}
            for a in state.agents.values()}


class Page:
    """What rows.js does with the feed, for tests that need no browser."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.seq = 0
        self.run: dict[str, Any] = {}
        self.root: str | None = None
        self.details: list[dict[str, Any]] = []
        self.budgets: list[dict[str, Any]] = []
        self.marks: dict[str, list[list[Any]]] = {}
        self.errors: list[str] = []
        self.kinds: list[str] = []

    def take(self, texts: list[str]) -> None:
        for text in texts:
            self.apply(orjson.loads(text))

    def apply(self, m: dict[str, Any]) -> None:
        self.kinds.append(m["kind"])
        if m["kind"] == "detail":
            self.details.append(m)
            return
        if m["kind"] == "budgets":
            self.budgets.append(m)
            return
        if m["kind"] == "marks":
            self.marks.update(m["marks"])
            return
        if m["kind"] == "error":
            self.errors.append(m["error"])
            return
        if m["kind"] == "snapshot":
            self.rows = {}
        self.seq = m["seq"]
        self.run = m.get("run", self.run)
        self.root = m.get("root", self.root)
        for r in m["rows"]:
            old = self.rows.get(r["id"], {"children": []})
            children = r.get("children", old["children"] + r.get("added", []))
            self.rows[r["id"]] = {k: v for k, v in r.items() if k != "added"} | {
                "children": children}


def replay_into(run_dir: Path, lines: list[bytes]) -> None:
    with open(run_dir / "events.jsonl", "ab") as f:
        f.write(b"".join(lines))


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "run"
    path.mkdir()
    (path / "events.jsonl").touch()
    return path


def started(run_dir: Path) -> tuple[RunLog, Hub, Viewer, Page]:
    """A run with its first events, a hub that has read them, and a page that took its
    first messages (the snapshot and the budgets)."""
    log = RunLog(run_dir)
    log.write(start_events())
    hub = Hub(run_dir)
    hub.poll()
    viewer = hub.watch()
    page = Page()
    page.take(hub.messages_for(viewer))
    return log, hub, viewer, page


def test_a_page_following_the_deltas_has_the_fold_s_rows_after_every_poll(run_dir: Path) -> None:
    hub = Hub(run_dir)
    first, late = Page(), Page()
    early_viewer = hub.watch()
    late_viewer: Viewer | None = None
    for seq, line in enumerate(LINES, start=1):
        replay_into(run_dir, [line])
        hub.poll()
        first.take(hub.messages_for(early_viewer))
        if seq == len(LINES) // 2:
            late_viewer = hub.watch()  # a page that starts half-way, from a snapshot
        if late_viewer is not None:
            late.take(hub.messages_for(late_viewer))
            assert late.rows == first.rows
        want = fold_rows(fold(LogReader(run_dir / "events.jsonl")))
        assert first.rows == want, seq
        assert first.seq == seq
    assert first.kinds[0] == "snapshot" and set(first.kinds[1:]) == {"delta", "budgets"}
    assert late.kinds[0] == "snapshot"
    assert first.run | {"started_t": 0, "finished_t": 0} == {
        "name": "web-fold", "status": "done", "reason": "", "started_t": 0, "finished_t": 0}
    assert first.run["finished_t"] == fold(LogReader(RECORDED)).finished_t


def test_a_tool_call_requested_again_after_a_resume_counts_once(run_dir: Path) -> None:
    calls = [orjson.loads(line) for line in LINES if b'"tool/requested"' in line]
    slow = [c["call"] for c in calls if c["agent"] == "root.slow"]
    assert slow.count("root.slow#2.0") == 2  # the log requests it twice (before and after)
    hub = Hub(run_dir)
    page = Page()
    viewer = hub.watch()
    replay_into(run_dir, LINES)
    hub.poll()
    page.take(hub.messages_for(viewer))
    assert page.rows["root.slow"]["tool_calls"] == 2  # not 3, as the page's own fold said


def test_a_re_opened_parent_shows_only_its_new_attempt_s_children(run_dir: Path) -> None:
    respawn = next(n for n, line in enumerate(LINES, start=1)
                   if b'"agent/spawned"' in line and b'"attempt":2' in line)
    hub = Hub(run_dir)
    page = Page()
    viewer = hub.watch()
    replay_into(run_dir, LINES[:respawn - 1])
    hub.poll()
    page.take(hub.messages_for(viewer))
    assert page.rows["root.a"]["children"] == ["root.a.a1"]
    replay_into(run_dir, LINES[respawn - 1:respawn])  # root.a, attempt 2
    hub.poll()
    page.take(hub.messages_for(viewer))
    assert page.rows["root.a"]["children"] == []  # the old attempt's children are not its
    assert page.rows["root.a"]["attempt"] == 2
    replay_into(run_dir, LINES[respawn:])
    hub.poll()
    page.take(hub.messages_for(viewer))
    assert page.rows["root.a"]["children"] == ["root.a.a2"]


def test_a_delta_holds_only_the_rows_that_changed(run_dir: Path) -> None:
    log, hub, viewer, _ = started(run_dir)
    log.write([ev.BudgetCharged(agent="root.a", kind="tokens", amount=5, used=5),
               ev.AgentState(agent="root.b", status="waiting", detail="for root.b.x")])
    hub.poll()
    (text,) = hub.messages_for(viewer)  # budgets wait for BUDGET_POLLS polls
    delta = orjson.loads(text)
    assert [r["id"] for r in delta["rows"]] == ["root.b"]  # root.a's row did not change
    assert [e[:2] for e in delta["events"]] == [[5, "budget/charged"], [6, "agent/state"]]
    assert "locks" not in delta and "run" not in delta  # unchanged panels are not sent
    log.write([spawned("root.b.x", "root.b")])
    hub.poll()
    delta = orjson.loads(hub.messages_for(viewer)[0])
    rows = {r["id"]: r for r in delta["rows"]}
    assert rows["root.b"]["added"] == ["root.b.x"] and "children" not in rows["root.b"]
    assert rows["root.b.x"]["children"] == []


def test_a_viewer_that_falls_behind_gets_a_snapshot_in_place_of_the_deltas(
        run_dir: Path) -> None:
    log, hub, viewer, page = started(run_dir)
    for n in range(viewer.limit + 5):  # one poll each, and the page takes none of them
        log.write([ev.AgentState(agent="root.a", status="running", detail=f"step {n}")])
        hub.poll()
    messages = hub.messages_for(viewer)
    page.take(messages)
    kinds = [orjson.loads(m)["kind"] for m in messages]
    assert kinds == ["snapshot", "budgets"]  # now, not 105 deltas
    assert page.rows == fold_rows(hub.state) and page.rows["root.a"]["detail"] == "step 104"


def test_the_selected_agent_s_detail_comes_when_it_changes(run_dir: Path) -> None:
    shutil.copy(RECORDED, run_dir / "events.jsonl")
    hub = Hub(run_dir)
    hub.poll()
    viewer = hub.watch()
    page = Page()
    page.take(hub.messages_for(viewer))
    viewer.select("root.slow")
    page.take(hub.messages_for(viewer))
    (detail,) = page.details
    assert detail["id"] == "root.slow" and detail["agent"]["status"] == "done"
    tools = [c for c in detail["agent"]["conversation"] if c["kind"] == "tool"]
    assert [t["call"] for t in tools] == ["root.slow#1.0", "root.slow#2.0"]
    assert "open_calls" not in detail["agent"]
    log = RunLog(run_dir)
    log.seq = len(LINES)
    log.write([ev.AgentState(agent="root.a", status="done", detail="not the selected one")])
    hub.poll()
    page.take(hub.messages_for(viewer))
    assert len(page.details) == 1  # root.a changed, root.slow did not
    log.write([ev.AgentState(agent="root.slow", status="done", detail="selected")])
    hub.poll()
    page.take(hub.messages_for(viewer))
    assert page.details[-1]["agent"]["detail"] == "selected"
    viewer.select("root.nobody")
    page.take(hub.messages_for(viewer))
    assert page.details[-1] == {"kind": "detail", "seq": len(LINES) + 2, "id": "root.nobody",
                                "agent": None}


# --- over a real socket ------------------------------------------------------------------------


def view_url(served: Served) -> str:
    return f"ws{served.base[4:]}/ws/view?token={TOKEN}"


async def next_message(ws, kind: str | None = None) -> dict[str, Any]:
    with trio.fail_after(WAIT_S):
        while True:
            message = orjson.loads(await ws.get_message())
            if kind is None or message["kind"] == kind:
                return message


async def test_the_feed_starts_with_a_snapshot_and_goes_on_live(served: Served) -> None:
    async with open_websocket_url(view_url(served)) as ws:
        snapshot = await next_message(ws)
        assert snapshot["kind"] == "snapshot" and snapshot["seq"] == 4
        budgets = await next_message(ws)
        assert budgets["kind"] == "budgets" and budgets["id"] == "root"
        assert snapshot["root"] == "root"
        assert {r["id"]: r["children"] for r in snapshot["rows"]} == {
            "root": ["root.a", "root.b"], "root.a": [], "root.b": []}
        served.log.write([ev.AgentFinished(agent="root.a", status="done", reason="ok")])
        delta = await next_message(ws)
        assert delta["kind"] == "delta" and delta["seq"] == 5 and delta["t"] == T0 + 5
        (row,) = delta["rows"]
        assert (row["id"], row["status"], row["finished"]) == ("root.a", "done", True)
        await ws.send_message('{"select": "root.a"}')
        detail = await next_message(ws, "detail")
        assert detail["agent"]["reason"] == "ok"


@pytest.mark.parametrize(("sent", "error"), [
    (b'{"select": "root.a"}', 'send text: {"select": AGENT_ID or null}'),
    ("not json", "not JSON"),
    ("[1, 2]", 'expected {"select": AGENT_ID or null}'),
    ('{"select": "root.a", "also": 1}', 'expected {"select": AGENT_ID or null}'),
    ('{"choose": "root.a"}', 'expected {"select": AGENT_ID or null}'),
    ('{"select": 7}', "select: 7 is not an agent id (a non-empty string) or null"),
    ('{"select": ""}', "select: '' is not an agent id"),
    ('{"select": "' + "x" * 70_000 + '"}', "a message is at most 65536 characters"),
    ('{"select": "\\ud800"}', "not JSON"),
    ('{"watch": "root.a"}', "watch: a list of at most 500 agent ids"),
    ('{"watch": ["root.a"], "select": null}', "expected {"),
    ('{"watch": [' + '"a",' * 500 + '"b"]}', "watch: a list of at most 500 agent ids"),
    ('{"watch": ["root.a", 3]}', "watch: 3 is not an agent id (a non-empty string)"),
    ('{"watch": [""]}', "watch: '' is not an agent id"),
    ('{"watch": [null]}', "watch: None is not an agent id"),
], ids=lambda value: value[:40] if isinstance(value, str) else repr(value[:40]))
async def test_a_malformed_message_from_the_page_is_refused_and_the_feed_goes_on(
        served: Served, sent: str | bytes, error: str) -> None:
    async with open_websocket_url(view_url(served)) as ws:
        await next_message(ws, "snapshot")
        await ws.send_message(sent)
        refused = await next_message(ws, "error")
        assert error in refused["error"]
        served.log.write([ev.AgentFinished(agent="root.b", status="failed")])
        assert (await next_message(ws, "delta"))["rows"][0]["status"] == "failed"
        await ws.send_message('{"select": "root.b"}')
        assert (await next_message(ws, "detail"))["agent"]["status"] == "failed"
        await ws.send_message('{"select": null}')
        assert (await next_message(ws, "detail"))["agent"] is None


async def refused(url: str, **kwargs) -> str:
    with trio.fail_after(WAIT_S), pytest.raises(ConnectionClosed) as closed:
        async with open_websocket_url(url, **kwargs) as ws:
            while True:
                await ws.get_message()
    assert closed.value.reason.code == 1008
    return closed.value.reason.reason


async def test_the_feed_needs_the_token_and_the_same_origin(served: Served) -> None:
    url = f"ws{served.base[4:]}/ws/view"
    assert await refused(url) == "missing or wrong token"
    assert await refused(f"{url}?token=wrong") == "missing or wrong token"
    headers = [(b"Origin", b"http://evil.example")]
    assert "Origin" in await refused(view_url(served), extra_headers=headers)


async def test_a_corrupt_log_ends_the_feed_saying_why(served: Served) -> None:
    async with open_websocket_url(view_url(served)) as ws:
        await next_message(ws, "snapshot")
        with open(served.log.path, "ab") as f:
            f.write(b'{"seq": 5, "not": "framed"}\n{"seq": 6}\n')
        with trio.fail_after(WAIT_S), pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.get_message()
    assert closed.value.reason.code == 1008
    assert "the event log is corrupt" in closed.value.reason.reason
    assert "the event log is corrupt" in await refused(view_url(served))


def test_marks_come_for_the_watched_agents_only_and_again_after_a_snapshot(
        run_dir: Path) -> None:
    log, hub, viewer, page = started(run_dir)
    assert page.marks == {}  # nothing watched yet
    log.write([ev.ToolRequested(agent="root.a", call="c", tool="sh", args={}),
               ev.ToolRequested(agent="root.b", call="d", tool="sh", args={})])
    hub.poll()
    viewer.watch(frozenset({"root.a", "root.nobody"}))
    page.take(hub.messages_for(viewer))
    assert page.marks == {"root.a": [["tool", 5, T0 + 5, None, True, "sh"]]}
    log.write([ev.ToolResult(agent="root.a", call="c", tool="sh", ok=False, output=""),
               ev.ToolResult(agent="root.b", call="d", tool="sh", ok=True, output="")])
    hub.poll()
    texts = hub.messages_for(viewer)
    sent = [orjson.loads(t) for t in texts if orjson.loads(t)["kind"] == "marks"]
    assert [list(m["marks"]) for m in sent] == [["root.a"]]  # root.b is not watched
    assert sent[0]["marks"]["root.a"] == [["tool", 5, T0 + 5, T0 + 7, False, "sh"]]
    viewer.watch(frozenset({"root.a", "root.b"}))  # only root.b is new to the page
    (text,) = hub.messages_for(viewer)
    assert list(orjson.loads(text)["marks"]) == ["root.b"]
    for n in range(viewer.limit + 1):  # falls behind: a snapshot, and every watched agent's
        log.write([ev.AgentState(agent="root", status="running", detail=f"{n}")])
        hub.poll()
    kinds = {orjson.loads(t)["kind"]: orjson.loads(t) for t in hub.messages_for(viewer)}
    assert set(kinds["marks"]["marks"]) == {"root.a", "root.b"}


def test_budgets_come_at_once_on_a_selection_and_then_at_most_every_budget_polls(
        run_dir: Path) -> None:
    log, hub, viewer, page = started(run_dir)
    assert [b["rows"][0]["tokens"] for b in page.budgets] == [0]
    for n in range(1, BUDGET_POLLS + 1):  # a charge, then quiet polls
        if n == 1:
            log.write([ev.BudgetCharged(agent="root.a", kind="tokens", amount=7, used=7)])
        hub.poll()
        page.take(hub.messages_for(viewer))
        assert len(page.budgets) == (1 if n < BUDGET_POLLS else 2), n
    assert page.budgets[-1]["rows"][0] == {"agent": "root", "agents": 3, "tokens": 7.0,
                                           "tool_calls": 0.0, "cost": 0.0,
                                           "wall_s": page.budgets[-1]["rows"][0]["wall_s"]}
    assert [r["agent"] for r in page.budgets[-1]["rows"]] == ["root", "root.a", "root.b"]
    viewer.select("root.a")  # at once, whatever the polls
    page.take(hub.messages_for(viewer))
    assert page.budgets[-1]["id"] == "root.a" and page.budgets[-1]["rows"][0]["tokens"] == 7
    for _ in range(BUDGET_POLLS * 2):  # nothing changed: nothing sent again
        hub.poll()
        page.take(hub.messages_for(viewer))
    assert len(page.budgets) == 3
