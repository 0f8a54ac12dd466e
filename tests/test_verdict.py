"""The run's verdict (the exit status of ``run`` and ``resume``), folded from events."""

from __future__ import annotations

from agenttree import events as ev
from agenttree.state import RunState, fold
from agenttree.verdict import Shortfall, shortfalls, succeeded


def spawned(agent: str, attempt: int = 1) -> ev.AgentSpawned:
    parent, _, task = agent.rpartition(".")
    return ev.AgentSpawned(agent=agent, parent=parent or None, task=task, goal="", depth=0,
                           model="scripted", models=["scripted"], tools=[], budget={},
                           attempt=attempt)


def ended(agent: str, status: str, reason: str = "") -> list[ev.Event]:
    task = agent.rpartition(".")[2]
    return [ev.AgentFinished(agent=agent, status=status, reason=reason),
            ev.TaskStateChanged(task=task, agent=agent, status=status, prev="running")]


def state_of(*events: ev.Event | list[ev.Event]) -> RunState:
    flat: list[ev.Event] = []
    for item in events:
        flat.extend(item if isinstance(item, list) else [item])
    return fold(ev.Entry(seq, seq, "r", e) for seq, e in enumerate(flat, 1))


def test_every_task_done_succeeds() -> None:
    state = state_of(spawned("root"), spawned("root.a"), ended("root.a", "done"),
                     ended("root", "done"))
    assert shortfalls(state) == [] and succeeded(state)


def test_a_failed_child_fails_the_run_though_the_root_is_done() -> None:
    state = state_of(spawned("root"), spawned("root.a"), spawned("root.b"),
                     ended("root.a", "failed", "acceptance failed, no retries left: `x`\nmore"),
                     ended("root.b", "budget-exhausted", "tool_calls budget exhausted (2 of 1)"),
                     ended("root", "done"))
    assert shortfalls(state) == [
        Shortfall(task="a", agent="root.a", status="failed",
                  reason="acceptance failed, no retries left: `x`"),
        Shortfall(task="b", agent="root.b", status="budget-exhausted",
                  reason="tool_calls budget exhausted (2 of 1)")]
    assert not succeeded(state)


def test_only_the_last_attempt_of_a_task_counts() -> None:
    state = state_of(spawned("root"), spawned("root.a"),
                     ended("root.a", "budget-exhausted", "tokens budget exhausted"),
                     spawned("root.a", attempt=2), ended("root.a", "done"),
                     ended("root", "done"))
    assert succeeded(state)


def test_a_child_cancelled_on_purpose_does_not_fail_the_run() -> None:
    state = state_of(spawned("root"), spawned("root.a"),
                     ended("root.a", "cancelled", "cancelled by a control command"),
                     ended("root", "done"))
    assert succeeded(state)


def test_a_cancelled_root_fails_the_run() -> None:
    state = state_of(spawned("root"), ended("root", "cancelled", "cancelled by a control command"))
    assert shortfalls(state) == [Shortfall(task="root", agent="root", status="cancelled",
                                           reason="cancelled by a control command")]


def test_a_task_removed_from_the_plan_no_longer_counts_unless_added_back() -> None:
    removed = ev.PlanReconciled(by="reconcile", edn="{}", diff={"removed": ["a"], "added": []})
    added = ev.PlanReconciled(by="reconcile", edn="{}", diff={"removed": [], "added": ["a"]})
    failed = [spawned("root"), spawned("root.a"), ended("root.a", "failed", "boom")]
    assert succeeded(state_of(*failed, removed, ended("root", "done")))
    assert not succeeded(state_of(*failed, removed, added, ended("root", "done")))


def test_a_task_still_running_at_the_end_is_named() -> None:
    state = state_of(spawned("root"), spawned("root.a"), ended("root", "done"))
    assert shortfalls(state) == [Shortfall(task="a", agent="root.a", status="running",
                                           reason="the run ended before this task did")]


def test_a_run_without_a_root_did_not_succeed() -> None:
    assert not succeeded(RunState())
