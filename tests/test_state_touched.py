"""``agents_touched``: folding an event changes only the agents it names, so a reader that
redraws just those (the web page's deltas) never misses a change."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.log import read_events
from agenttree.state import RunState, agent_to_json, agents_touched, agents_touched_by, apply

from .test_events import sample

RECORDED = Path(__file__).parent / "recorded"


@pytest.mark.parametrize("name", ["demo", "conflict", "web-fold"])
def test_folding_an_event_changes_only_the_agents_it_names(name: str) -> None:
    state = RunState()
    seen_types = set()
    for entry in read_events(RECORDED / name / "events.jsonl"):
        before = {a: agent_to_json(v) for a, v in copy.deepcopy(state.agents).items()}
        apply(state, entry)
        after = {a: agent_to_json(v) for a, v in state.agents.items()}
        changed = {a for a in after if before.get(a) != after[a]}
        assert changed <= set(agents_touched(entry.event)), (entry.seq, entry.event.TYPE)
        seen_types.add(entry.event.TYPE)
    assert {"agent/spawned", "tool/requested", "tool/result"} <= seen_types


def test_the_named_agents_are_the_ones_the_fold_changes() -> None:
    spawn = ev.AgentSpawned(agent="root.a", parent="root", task="a", goal="g", depth=1,
                            model="m", models=["m"], tools=[], budget={})
    assert agents_touched(spawn) == ("root.a", "root")
    note = ev.AgentMessage(sender="human", to="root", kind="chat", text="hi")
    assert agents_touched(note) == ("human", "root")
    assert agents_touched(ev.RunFinished(status="done")) == ()


@pytest.mark.parametrize("cls", sorted(ev.REGISTRY.values(), key=lambda c: c.TYPE),
                         ids=lambda c: c.TYPE)
def test_the_agents_a_batch_names_are_those_each_event_touches(cls: type[ev.Event]) -> None:
    event = sample(cls)
    assert agents_touched_by([event]) == set(agents_touched(event))
    others = [e.event for e in read_events(RECORDED / "web-fold" / "events.jsonl")]
    assert agents_touched_by([*others, event]) == {
        agent for e in [*others, event] for agent in agents_touched(e)}
    assert agents_touched_by([ev.AgentSpawned(
        agent="root", parent=None, task="t", goal="g", depth=0, model="m", models=[], tools=[],
        budget={})]) == {"root"}
