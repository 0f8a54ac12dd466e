"""A model answer's and a tool call's budget charges ride on the events that cause them, and an
agent's end is its task's: no ``budget/charged`` or ``task/state-changed`` of their own. Older
logs, which have them, fold to the same figures."""

from __future__ import annotations

from pathlib import Path

from agenttree import events as ev
from agenttree.activity import Activity
from agenttree.events import Entry
from agenttree.live_state import fold_live
from agenttree.log import read_events
from agenttree.state import fold

from .test_engine import events_of, make_engine

FAN = """
{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 100 :tokens 100000}}
         {:depth 1 :models ["scripted"] :tools [:message :finish]}]
 :task {:task/id "root" :script [{:say "go"}]
        :children [{:task/id "c0" :script [{:calls [{:call :message :args {:to "parent" :text "hi"}}
                                                     {:call :finish :args {}}]}]}
                   {:task/id "c1" :script [{:calls [{:call :message :args {:to "parent" :text "hi"}}
                                                     {:call :finish :args {}}]}]}]}}
"""


async def test_a_leaf_logs_its_charges_on_its_answer_and_calls(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, FAN)
    assert await engine.run() == "done"
    entries = list(read_events(engine.run_dir / "events.jsonl"))
    leaf = [e.event.TYPE for e in entries
            if "root.c0" in (getattr(e.event, "agent", None), getattr(e.event, "sender", None))]
    assert leaf == ["agent/spawned", "model/requested", "model/responded", "tool/requested",
                    "agent/message", "tool/result", "tool/requested", "tool/result",
                    "agent/finished"]
    assert not events_of(engine, ev.BudgetCharged)
    assert not events_of(engine, ev.TaskStateChanged)
    for answer in events_of(engine, ev.ModelResponded):
        usage = answer.usage
        assert answer.charged == {"tokens": usage["prompt"] + usage["completion"]}
    assert [c.charged for c in events_of(engine, ev.ToolRequested)] == [{"tool_calls": 1}] * 4
    state = fold(entries)
    assert fold_live(entries) == engine.state
    assert {t.id: t.status for t in state.tasks.values()} == {
        "root": "done", "c0": "done", "c1": "done"}
    c0 = state.agents["root.c0"]
    assert c0.used["tool_calls"] == 2
    assert c0.used["tokens"] == sum(
        a.charged["tokens"] for a in events_of(engine, ev.ModelResponded) if a.agent == "root.c0")
    # The root's totals are its own and its finished children's, as its meter counts them.
    root = state.agents["root"]
    assert root.used["tool_calls"] == 4
    assert root.used["tokens"] == sum(a.charged["tokens"]
                                      for a in events_of(engine, ev.ModelResponded))


def _spawned(agent: str, parent: str | None) -> ev.AgentSpawned:
    return ev.AgentSpawned(agent=agent, parent=parent, task=agent.rpartition(".")[2],
                           goal="g", depth=agent.count("."), model="m", models=["m"], tools=[],
                           budget={"tokens": 1000, "tool_calls": 10})


def _entries(*events: ev.Event) -> list[Entry]:
    return [Entry(seq, 1000 + seq, "r", e) for seq, e in enumerate(events, start=1)]


def _turn(charged: bool) -> list[ev.Event]:
    usage = {"prompt": 30, "completion": 10, "estimated": True}
    calls = [{"id": "c1", "tool": "sh", "args": {}}]
    return [
        ev.ModelRequested(agent="root.a", model="m", turn=1, messages=2),
        ev.ModelResponded(agent="root.a", model="m", turn=1, text="", calls=calls, usage=usage,
                          charged={"tokens": 40, "cost": 0.25} if charged else None),
        *(() if charged else (
            ev.BudgetCharged(agent="root.a", kind="tokens", amount=40, used=40, limit=1000),
            ev.BudgetCharged(agent="root.a", kind="cost", amount=0.25, used=0.25))),
        ev.ToolRequested(agent="root.a", call="c1", tool="sh", args={},
                         charged={"tool_calls": 1} if charged else None),
        *(() if charged else (
            ev.BudgetCharged(agent="root.a", kind="tool_calls", amount=1, used=1, limit=10),)),
        ev.ToolResult(agent="root.a", call="c1", tool="sh", ok=True, output="ok"),
        ev.AgentFinished(agent="root.a", status="done", result="done"),
        *(() if charged else (
            ev.TaskStateChanged(task="a", agent="root.a", status="done", prev="running"),)),
        ev.BudgetRolledUp(agent="root", child="root.a",
                          used={"tool_calls": 1, "tokens": 40, "cost": 0.25}),
    ]


def test_an_older_log_with_charge_and_task_events_folds_to_the_same_figures() -> None:
    start = [_spawned("root", None), _spawned("root.a", "root")]
    older = _entries(*start, *_turn(charged=False))
    newer = _entries(*start, *_turn(charged=True))
    old_state, new_state = fold(older), fold(newer)
    for agent in ("root", "root.a"):
        assert new_state.agents[agent].used == old_state.agents[agent].used
    assert new_state.agents["root.a"].used == {"tokens": 40, "cost": 0.25, "tool_calls": 1}
    assert {t.id: t.status for t in new_state.tasks.values()} == \
        {t.id: t.status for t in old_state.tasks.values()} == {"root": "running", "a": "done"}
    old_activity, new_activity = Activity(), Activity()
    old_activity.extend(older)
    new_activity.extend(newer)
    assert new_activity.charged == old_activity.charged == {
        "root.a": {"tokens": 40.0, "cost": 0.25, "tool_calls": 1.0}}
    # (the token charge's time: its model/responded's, no longer the budget/charged after it)
    assert new_activity.token_times == {"root.a": [(1004, 40)]}
    assert old_activity.token_times == {"root.a": [(1005, 40)]}


def test_a_stale_attempt_s_end_leaves_the_newer_attempt_s_task_alone() -> None:
    """A task moved to a new agent: the old agent's end (cancelled) does not mark the task."""
    state = fold(_entries(
        _spawned("root", None), _spawned("root.a", "root"),
        ev.AgentSpawned(agent="root.b.a", parent="root", task="a", goal="g", depth=2,
                        model="m", models=["m"], tools=[], budget={}),
        ev.AgentFinished(agent="root.a", status="cancelled", reason="moved")))
    assert (state.tasks["a"].agent, state.tasks["a"].status) == ("root.b.a", "running")
