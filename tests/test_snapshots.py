"""Snapshots of the folded state (``GET /api/state?seq=N`` starts from one): the state they
rebuild, folded on to any seq, is the fold of the log to that seq; and the rule they rely on to
share an agent's settled conversation items instead of copying them: the fold never changes
an item again once it is not an open call's."""

from __future__ import annotations

import copy
import gc
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttree import events as ev
from agenttree.log import LogReader, encode, read_events
from agenttree.snapshots import Snapshot, Snapshots, state_from
from agenttree.state import RunState, apply, fold, state_to_json

RECORDED = Path(__file__).parent / "recorded"
CHILDREN = ("root.a", "root.b")
CALLS = ("c1", "c2", "c3")
STEPS = ("model", "tool", "result", "approval", "approved", "denied", "message", "state",
         "finished", "respawn", "charge", "acceptance")


def _spawn(agent: str, attempt: int = 1) -> ev.AgentSpawned:
    parent = None if agent == "root" else "root"
    return ev.AgentSpawned(agent=agent, parent=parent, task=agent, goal="g",
                           depth=agent.count("."), model="m", models=["m"], tools=["sh"],
                           budget={"tool_calls": 9}, attempt=attempt)


def _step(step: str, agent: str, peer: str, call: str, n: int) -> ev.Event:
    """One event of ``agent`` (an agent spawned already)."""
    return {
        "model": lambda: ev.ModelResponded(
            agent=agent, model="m", turn=n, text=f"t{n}",
            calls=[{"id": call, "tool": "sh", "args": {"n": n}}],
            usage={"prompt": n, "completion": 1}, charged={"tokens": n + 1}),
        "tool": lambda: ev.ToolRequested(agent=agent, call=call, tool="sh", args={"n": n},
                                         charged={"tool_calls": 1}),
        "result": lambda: ev.ToolResult(agent=agent, call=call, tool="sh", ok=n % 2 == 0,
                                        output=f"out {n}"),
        "approval": lambda: ev.ApprovalRequested(agent=agent, call=call, tool="sh",
                                                 args={"n": n}),
        "approved": lambda: ev.ToolApproved(agent=agent, call=call, tool="sh"),
        "denied": lambda: ev.ToolDenied(agent=agent, call=call, tool="sh", reason="no"),
        "message": lambda: ev.AgentMessage(sender=agent, to=peer, kind="chat", text=f"m{n}",
                                           data={"n": [n]} if n % 2 else None),
        "state": lambda: ev.AgentState(agent=agent, status="running", detail=f"d{n}",
                                       facts={"n": n} if n else None),
        "finished": lambda: ev.AgentFinished(agent=agent, status="done", result=f"r{n}"),
        "charge": lambda: ev.BudgetCharged(agent=agent, kind="cost", amount=0.5, used=n),
        "acceptance": lambda: ev.AcceptanceResult(agent=agent, cmd="true", ok=True,
                                                  exit_code=0, output=""),
    }[step]()


@st.composite
def runs(draw: st.DrawFn) -> list[ev.Event]:
    """A run's events: the root and two children calling tools (some asking approval),
    messaging, finishing, restarted (a new attempt has a new conversation)."""
    events: list[ev.Event] = [
        ev.RunStarted(plan_name="p", plan_path="p.edn", run_dir="r", seed=0, durability="none"),
        _spawn("root")]
    spawned = {"root"}
    steps = st.tuples(st.sampled_from(STEPS), st.sampled_from(("root", *CHILDREN)),
                      st.sampled_from(("root", *CHILDREN, "human")), st.sampled_from(CALLS),
                      st.integers(0, 3))
    for step, agent, peer, call, n in draw(st.lists(steps, min_size=1, max_size=50)):
        if agent not in spawned:
            events.append(_spawn(agent))
            spawned.add(agent)
        if step == "respawn":
            if agent != "root":
                events.append(_spawn(agent, attempt=n + 2))
        else:
            events.append(_step(step, agent, peer, call, n))
    return events


def _write(path: Path, events: list[ev.Event]) -> Path:
    path.write_bytes(b"".join(encode(seq, 1000 + seq, "r", event)
                              for seq, event in enumerate(events, 1)))
    return path


def _all_of(state: RunState) -> bytes:
    """All of a state a later fold reads: its JSON, the open calls and the plan parts."""
    return orjson.dumps([state_to_json(state), state.plan_parts,
                         {a: v.open_calls for a, v in state.agents.items()}])


def _snapshots(path: Path, every: int) -> Snapshots:
    """Snapshots taken as a reader folds ``path`` one event at a time."""
    snapshots = Snapshots(every)
    state, offset = RunState(), 0
    for entry, line in zip(read_events(path), path.read_bytes().splitlines(), strict=True):
        apply(state, entry)
        offset += len(line) + 1
        snapshots.note(state, offset)
    return snapshots


def _check_every_seq(path: Path, every: int) -> None:
    snapshots = _snapshots(path, every)
    last = sum(1 for _ in read_events(path))
    assert all(snapshot.seq <= last for snapshot in snapshots.taken)
    for seq in range(last + 1):
        got = state_from(path, snapshots.before(seq), seq)
        assert _all_of(got) == _all_of(fold(LogReader(path), until=seq)), seq


@settings(max_examples=150, deadline=None)
@given(runs(), st.integers(1, 6))
def test_the_state_from_a_snapshot_is_the_fold_at_every_seq(
        tmp_path_factory: pytest.TempPathFactory, events: list[ev.Event], every: int) -> None:
    _check_every_seq(_write(tmp_path_factory.mktemp("log") / "events.jsonl", events), every)


@pytest.mark.parametrize("name", ["demo", "conflict", "spawned", "web-fold"])
def test_a_recorded_log_from_its_snapshots_is_its_fold(name: str) -> None:
    _check_every_seq(RECORDED / name / "events.jsonl", every=3)


def test_the_benchmark_mix_from_its_snapshots_is_its_fold(tmp_path: Path) -> None:
    from bench.run import make_replay_log

    make_replay_log(tmp_path / "events.jsonl", 2_500)
    snapshots = _snapshots(tmp_path / "events.jsonl", every=400)
    for seq in range(0, 2_501, 37):
        got = state_from(tmp_path / "events.jsonl", snapshots.before(seq), seq)
        assert _all_of(got) == _all_of(fold(LogReader(tmp_path / "events.jsonl"), until=seq))


def _settled_items_never_change(events: list[ev.Event]) -> None:
    state = RunState()
    seen: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
    for seq, event in enumerate(events, 1):
        apply(state, ev.Entry(seq, seq, "r", event))
        for agent in state.agents.values():
            open_items = {id(item) for item in agent.open_calls.values()}
            for item in agent.conversation:
                if id(item) in open_items:
                    continue
                kept = seen.setdefault(id(item), (item, copy.deepcopy(item)))
                assert kept[1] == item, (seq, event.TYPE, item)


@settings(max_examples=150, deadline=None)
@given(runs())
def test_the_fold_never_changes_a_settled_conversation_item(events: list[ev.Event]) -> None:
    _settled_items_never_change(events)


@pytest.mark.parametrize("name", ["demo", "conflict", "spawned", "web-fold"])
def test_no_recorded_log_changes_a_settled_conversation_item(name: str) -> None:
    _settled_items_never_change([e.event for e in read_events(RECORDED / name / "events.jsonl")])


def test_a_snapshot_shares_settled_items_and_copies_only_the_rest() -> None:
    snapshots, state = Snapshots(every=1), RunState()
    events: list[ev.Event] = [_spawn("root"), _step("tool", "root", "", "open", 0)]
    for n in range(400):  # a call stays open while others come and go
        events += [_step("tool", "root", "", f"c{n}", n), _step("result", "root", "", f"c{n}", n)]
        if n == 99:
            events.append(_step("result", "root", "", "open", 1))
    first_seq = 2 + 2 * 50
    for seq, event in enumerate(events, 1):
        apply(state, ev.Entry(seq, seq, "r", event))
        if seq in (first_seq, 2 + 2 * 100 + 1, len(events)):
            snapshots.note(state, offset=seq)
    first, second, last = snapshots.taken
    assert [s.seq for s in snapshots.taken] == [first_seq, 203, len(events)]
    # Every snapshot copies about the same bytes: the items that settled (eight times as many
    # at the end) are kept as they are, the first ones in a part the later snapshots share.
    (kept,) = first.conversations["root"]  # none settled before the open call: all kept
    assert len(kept) == 51 and kept[1] is state.agents["root"].conversation[1]
    assert len(second.conversations["root"]) == 1  # the open call was answered
    assert second.conversations["root"][0][100] is state.agents["root"].conversation[100]
    assert last.conversations["root"][0] is second.conversations["root"][0]
    assert max(len(s.state) for s in snapshots.taken) < min(len(s.state)
                                                            for s in snapshots.taken) + 100
    restored = first.restore()
    conversation = restored.agents["root"].conversation
    assert conversation[1] is state.agents["root"].conversation[1]
    assert conversation[0] is restored.agents["root"].open_calls["open"]  # a copy, open still
    assert conversation[0] is not state.agents["root"].conversation[0]
    assert "output" not in conversation[0] and "output" in state.agents["root"].conversation[0]
    assert _all_of(restored) == _all_of(fold([ev.Entry(seq, seq, "r", event) for seq, event
                                              in enumerate(events[:first_seq], 1)]))


def test_a_snapshot_is_restored_with_the_collector_paused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = [_spawn("root"), *(_spawn(f"root.a{n}") for n in range(300))]
    path = _write(tmp_path / "events.jsonl", events)
    snapshots = _snapshots(path, every=len(events))
    collector_running: list[bool] = []
    restore = Snapshot.restore

    def watched(snapshot: Snapshot) -> RunState:
        collector_running.append(gc.isenabled())
        return restore(snapshot)

    monkeypatch.setattr(Snapshot, "restore", watched)
    assert gc.isenabled()
    state = state_from(path, snapshots.before(len(events)), len(events))
    # Thousands of new objects, none of them garbage: no collection rescans them as they come.
    assert collector_running == [False] and gc.isenabled()
    assert len(state.agents) == 301
