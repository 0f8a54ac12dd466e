"""agenttree/activity.py and agenttree/spending.py: marks in time and per-subtree totals, read
from a log (a synthetic one with known times, and the recorded demo run)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from agenttree import events as ev
from agenttree.activity import Activity, end_of, time_span
from agenttree.events import Entry
from agenttree.log import LogReader
from agenttree.spending import Spend, spending, tokens_over_time
from agenttree.state import fold

DEMO = Path(__file__).parent / "recorded" / "demo" / "events.jsonl"


def spawned(agent: str, parent: str | None = None) -> ev.AgentSpawned:
    return ev.AgentSpawned(agent=agent, parent=parent, task=agent, goal="g",
                           depth=agent.count("."), model="m", models=["m"], tools=[], budget={})


def timed(*pairs: tuple[int, ev.Event]) -> list[Entry]:
    """Entries at the given times (ms), seqs 1, 2, 3…"""
    return [Entry(seq, t, "r", e) for seq, (t, e) in enumerate(pairs, start=1)]


RUN = timed(
    (0, ev.RunStarted(plan_name="p", plan_path="p", run_dir="r", seed=0, durability="none")),
    (0, spawned("root")),
    (10, spawned("root.a", "root")),
    (20, ev.ModelRequested(agent="root.a", model="m", turn=1, messages=1)),
    (50, ev.ModelResponded(agent="root.a", model="m", turn=1, text="", calls=[],
                           usage={"prompt": 30, "completion": 10})),
    (50, ev.BudgetCharged(agent="root.a", kind="tokens", amount=40, used=40)),
    (60, ev.ToolRequested(agent="root.a", call="c1", tool="sh", args={})),
    (60, ev.BudgetCharged(agent="root.a", kind="tool_calls", amount=1, used=1)),
    (90, ev.ToolResult(agent="root.a", call="c1", tool="sh", ok=False, output="boom")),
    (95, ev.LockConflict(agent="root.a", path="x.txt", mode="write", holders=["root"])),
    (120, ev.LockAcquired(agent="root.a", path="x.txt", mode="write", token=2, ttl_ms=100)),
    (130, ev.AcceptanceResult(agent="root.a", cmd="pytest", ok=True, exit_code=0, output="")),
    (140, ev.AgentMessage(sender="root.a", to="root", kind="chat", text="done")),
    (150, ev.BudgetCharged(agent="root.a", kind="cost", amount=0.25, used=0.25)),
    (160, ev.AgentFinished(agent="root.a", status="done")),
    (170, ev.BudgetRolledUp(agent="root", child="root.a", used={"tokens": 40})),
    (180, ev.ModelRequested(agent="root", model="m", turn=1, messages=1)),
)


def test_each_kind_of_mark_spans_its_opening_and_closing_events() -> None:
    activity = Activity()
    touched = activity.extend(RUN)
    assert touched == {"root", "root.a"}
    marks = [(m.kind, m.seq, m.t, m.end_t, m.ok, m.label) for m in activity.marks_of("root.a")]
    assert marks == [("model", 4, 20, 50, True, "m"), ("tool", 7, 60, 90, False, "sh"),
                     ("lock", 10, 95, 120, True, "x.txt"),
                     ("acceptance", 12, 130, 130, True, "pytest"),
                     ("message", 13, 140, 140, True, "→ root")]
    assert activity.marks_of("root.a")[0].tokens == 40
    root = activity.marks_of("root")
    assert [(m.kind, m.label, m.end_t) for m in root] == [("message", "← root.a", 140),
                                                         ("model", "m", None)]
    assert [m.seq for m in activity.marks_of("root.a", until=7)] == [4, 7]


def test_an_open_mark_is_drawn_to_its_agent_s_end_or_to_now() -> None:
    activity = Activity()
    activity.extend(RUN)
    state = fold(RUN)
    open_model = activity.marks_of("root")[-1]
    assert end_of(open_model, state.agents["root"], now_t=500) == 500
    # Viewing the past (as of t=70): the tool call that ended at 90 is still open.
    past = fold(RUN[:8])
    tool = activity.marks_of("root.a")[1]
    assert end_of(tool, past.agents["root.a"], now_t=past.t) == 60
    assert end_of(tool, state.agents["root.a"], now_t=500) == 90


def test_a_lock_wait_given_up_and_a_tool_requested_again_after_a_resume() -> None:
    activity = Activity()
    activity.extend(timed(
        (0, spawned("root")),
        (5, ev.ToolRequested(agent="root", call="c", tool="sh", args={})),
        (6, ev.ToolRequested(agent="root", call="c", tool="sh", args={})),  # again: one mark
        (9, ev.ToolResult(agent="root", call="c", tool="sh", ok=True, output="")),
        (10, ev.LockConflict(agent="root", path="p", mode="write", holders=["x"])),
        (30, ev.LockWaitEnded(agent="root", path="p", reason="timed out")),
        (40, ev.LockConflict(agent="root", path="q", mode="write", holders=["x"])),
        (50, ev.AgentFinished(agent="root", status="cancelled")),
    ))
    assert [(m.kind, m.t, m.end_t, m.ok) for m in activity.marks_of("root")] == [
        ("tool", 5, 9, True), ("lock", 10, 30, False), ("lock", 40, 50, True)]


def test_subtree_totals_count_each_agent_s_own_charges_once() -> None:
    activity = Activity()
    activity.extend(RUN)
    state = fold(RUN)
    now = 200
    rows = spending(state, activity, "root", now)
    assert rows == [
        Spend(agent="root", agents=2, tokens=40, tool_calls=1, cost=0.25,
              wall_s=(200 - 0 + 160 - 10) / 1000),
        Spend(agent="root.a", agents=1, tokens=40, tool_calls=1, cost=0.25, wall_s=0.15)]
    assert time_span(state, now) == (0, 200)
    series = tokens_over_time(state, activity, "root", now, buckets=4)
    assert series == [(50, 40), (100, 40), (150, 40), (200, 40)]
    past = fold(RUN[:4])  # as of t=20, before the first charge (the activity knows later ones)
    assert tokens_over_time(past, activity, "root", past.t, buckets=2) == [(10, 0), (20, 0)]


def test_the_recorded_demo_run_s_totals_match_the_fold() -> None:
    entries = list(LogReader(DEMO))
    state = fold(entries)
    activity = Activity()
    activity.extend(entries)
    root = spending(state, activity, state.root, state.t)[0]
    assert root.agents == len(state.agents)
    # Every attempt's tokens, as the root's rolled-up budget counts them (root.explorer was
    # restarted: the fold's own counters hold its second attempt only).
    assert root.tokens == state.agents[state.root].used["tokens"]
    assert root.tokens > sum(a.tokens for a in state.agents.values())
    for agent in state.agents.values():
        if agent.attempt > 1:
            continue
        kinds = [m.kind for m in activity.marks_of(agent.id)]
        assert kinds.count("model") == agent.turns
        assert kinds.count("tool") == agent.tool_calls
        assert kinds.count("acceptance") == len(agent.acceptance)
        for mark in activity.marks_of(agent.id):
            assert agent.started_t <= mark.t <= (mark.end_t or mark.t) <= agent.finished_t


def test_marks_are_held_as_machine_integers_not_an_object_each() -> None:
    """A live run's marks were the bulk of what a viewer's memory grew by (a ``Mark`` object,
    its integers and its label: ~260 bytes a mark); held as rows of machine integers they cost
    40 bytes, and a ``Mark`` is made only when one is read."""
    turns = [ev.ModelRequested(agent="root", model="m", turn=k, messages=1) for k in range(2000)]
    answers = [ev.ModelResponded(agent="root", model="m", turn=k, text="", calls=[],
                                 usage={"prompt": 1, "completion": k}) for k in range(2000)]
    entries = timed(*((1_800_000_000_000 + i, e) for i, e in
                      enumerate(e for pair in zip(turns, answers, strict=True) for e in pair)))
    activity = Activity()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        activity.extend(entries)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    marks = activity.marks_of("root")
    assert len(marks) == 2000
    assert held / len(marks) < 100
    assert marks[-1] == marks[1999] == marks[-2:][1]
    assert (marks[-1].seq, marks[-1].t, marks[-1].end_t, marks[-1].tokens) == (
        3999, 1_800_000_000_000 + 3998, 1_800_000_000_000 + 3999, 1 + 1999)
    assert [m.seq for m in activity.marks_of("root", until=4)] == [1, 3]
    assert list(activity.marks_of("nobody")) == []
