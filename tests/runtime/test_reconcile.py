"""Reconcile, reassign and grant against a running engine (virtual time, scripted agents)."""

from __future__ import annotations

from pathlib import Path

import orjson
import trio
import trio.testing

from agenttree import events as ev
from agenttree.control import Reconcile, append_command
from agenttree.control.client import append_line
from agenttree.log import read_events
from agenttree.plan import parse_plan

from .test_engine import events_of, finished, make_engine, when_written

WAIT = '[{:call :wait :args {:timeout_s %d}} {:say "%s done"}]'


def task(task_id: str, wait_s: int = 100, extra: str = "", children: str = "") -> str:
    kids = f" :children [{children}]" if children else ""
    return (f'{{:task/id "{task_id}" :goal "{task_id}" :script {WAIT % (wait_s, task_id)}'
            f"{extra}{kids}}}")


def live_plan(children: str) -> str:
    return ('{:tiers [{:depth 0 :models ["scripted" "scripted:alt"] :budget {:tool-calls 100 '
            ':tokens 1000000 :retries 2}}]\n :task {:task/id "root" :script '
            f'[{{:say "waiting"}}] :children [{children}]}}}}\n')


async def drive(tmp_path: Path, text: str, steps) -> object:
    """Run the plan; each step is (virtual time, callable(engine)) applied at that time."""
    engine = make_engine(tmp_path, text)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        for at, step in steps:
            await trio.sleep_until(at)
            await trio.testing.wait_all_tasks_blocked()
            result = step(engine)
            if hasattr(result, "__await__"):
                await result
    return engine


def reconcile_to(text: str):
    def step(engine):
        (engine.run_dir / "plan.edn").write_text(text)
        append_command(engine.run_dir, Reconcile())
    return step


def command(**fields):
    """A control line as today's clients write it (malformed ones included)."""
    return lambda engine: append_line(engine.run_dir, orjson.dumps(fields))


def answers(engine) -> list[tuple[str, str]]:
    out = []
    for e in [*events_of(engine, ev.ControlApplied), *events_of(engine, ev.ControlRejected)]:
        out.append((e.cmd, e.detail if isinstance(e, ev.ControlApplied) else "REJECTED " +
                    e.reason))
    return out


def spawned(engine) -> list[tuple[str, int]]:
    return [(e.agent, e.attempt) for e in events_of(engine, ev.AgentSpawned)]


async def test_added_task_starts_under_its_running_parent(tmp_path: Path, autojump_clock):
    before = live_plan(task("a", 100))
    after = live_plan(task("a", 100) + task("b", 10))
    engine = await drive(tmp_path, before, [(5, reconcile_to(after))])
    assert finished(engine) == {"root.a": "done", "root.b": "done", "root": "done"}
    (diff,) = events_of(engine, ev.PlanReconciled)
    assert diff.diff["added"] == ["b"] and diff.by == "reconcile"
    assert parse_plan(diff.edn) == parse_plan(after)
    assert answers(engine) == [("reconcile", "reconciled: 1 added")]
    assert engine.state.agents["root"].children == ["root.a", "root.b"]


async def test_adding_under_a_finished_task_reopens_it(tmp_path: Path, autojump_clock):
    before = live_plan(task("a", 1) + task("slow", 100))
    after = live_plan(task("a", 1, children=task("a1", 5)) + task("slow", 100))
    engine = await drive(tmp_path, before, [(10, reconcile_to(after))])
    assert ("root.a", 2) in spawned(engine) and ("root.a.a1", 1) in spawned(engine)
    assert engine.state.tasks["a"].status == "done"
    assert engine.state.tasks["a1"].status == "done"
    assert engine.state.status == "done"


async def test_removed_task_is_cancelled_with_its_subtree(tmp_path: Path, autojump_clock):
    before = live_plan(task("a", 100, children=task("a1", 1000)) + task("b", 100))
    engine = await drive(tmp_path, before, [(5, reconcile_to(live_plan(task("b", 100))))])
    ends = finished(engine)
    assert ends["root.a"] == ends["root.a.a1"] == "cancelled"
    assert ends["root.b"] == "done" and engine.state.status == "done"
    reasons = {e.agent: e.reason for e in events_of(engine, ev.AgentFinished)}
    assert reasons["root.a"] == "a was removed from the plan"


async def test_changed_task_restarts_with_a_summary_of_its_last_attempt(tmp_path: Path,
                                                                        autojump_clock):
    before = live_plan(task("a", 100))
    after = live_plan(task("a", 100).replace(':goal "a"', ':goal "a, again"'))
    engine = await drive(tmp_path, before, [(5, reconcile_to(after))])
    assert spawned(engine) == [("root", 1), ("root.a", 1), ("root.a", 2)]
    assert engine.state.agents["root.a"].goal == "a, again"
    assert engine.state.tasks["a"].attempts == 2 and engine.state.tasks["a"].status == "done"
    requests = [e for e in events_of(engine, ev.ModelRequested) if e.agent == "root.a"]
    assert len(requests) == 3  # one turn before the restart, two after


async def test_moved_task_restarts_under_its_new_parent(tmp_path: Path, autojump_clock):
    before = live_plan(task("a", 100) + task("b", 100))
    after = live_plan(task("a", 100, children=task("b", 100)))
    engine = await drive(tmp_path, before, [(5, reconcile_to(after))])
    ends = finished(engine)
    assert ends["root.b"] == "cancelled" and ends["root.a.b"] == "done"
    assert engine.state.tasks["b"].agent == "root.a.b"
    assert engine.state.tasks["b"].status == "done"


async def test_the_same_plan_twice_changes_nothing(tmp_path: Path, autojump_clock):
    text = live_plan(task("a", 100) + task("b", 100))
    engine = make_engine(tmp_path, text)
    answered = when_written(engine, lambda e: isinstance(e, ev.ControlApplied))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        append_command(engine.run_dir, Reconcile())
        await answered.wait()
        # Whatever a reconcile does is logged between its plan/reconciled and the answer.
        types = [e.event.TYPE for e in _entries(engine)]
        at = types.index("plan/reconciled")
        assert types[at:at + 2] == ["plan/reconciled", "control/applied"]
        engine.cancel("root", "test over")
    (diff,) = events_of(engine, ev.PlanReconciled)
    assert diff.diff == {"added": [], "removed": [], "changed": [], "moved": [],
                         "settings": False}


def _entries(engine):
    return list(read_events(engine.run_dir / "events.jsonl"))


async def test_an_invalid_plan_changes_nothing_and_says_why(tmp_path: Path, autojump_clock):
    text = live_plan(task("a", 20))
    engine = await drive(tmp_path, text, [
        (2, reconcile_to(text.replace(':goal "a"', ':goal 7'))),
        (3, reconcile_to(text.rstrip()[:-1])),
        (4, reconcile_to(text.replace('"root"', '"other"'))),
    ])
    rejected = [e.reason for e in events_of(engine, ev.ControlRejected)]
    assert len(rejected) == 3, answers(engine)
    assert "plan.edn" in rejected[0] and "goal" in rejected[0]
    assert "nothing was changed" in rejected[1]
    assert "root task id cannot change" in rejected[2]
    assert events_of(engine, ev.PlanReconciled) == []
    assert finished(engine) == {"root.a": "done", "root": "done"}


async def test_mcp_servers_cannot_change_in_a_running_run(tmp_path: Path, autojump_clock):
    text = live_plan(task("a", 20))
    added = text.replace("{:tiers", '{:mcp {:calc {:command ["python" "calc_server.py"]}}\n :tiers')
    engine = await drive(tmp_path, text, [(2, reconcile_to(added))])
    [rejected] = [e.reason for e in events_of(engine, ev.ControlRejected)]
    assert rejected == (":mcp cannot change in a running run (its servers start with the run); "
                        "nothing was changed")
    assert events_of(engine, ev.PlanReconciled) == []
    assert finished(engine) == {"root.a": "done", "root": "done"}


async def test_reassign_to_another_model_and_parent(tmp_path: Path, autojump_clock):
    text = live_plan(task("a", 100) + task("b", 100))
    engine = await drive(tmp_path, text, [
        (2, command(cmd="reassign", task="a", model="scripted:alt")),
        (3, command(cmd="reassign", task="b", parent="a")),
        (4, command(cmd="reassign", task="a", model="gpt-5")),
        (4, command(cmd="reassign", task="a", parent="b")),
        (4, command(cmd="reassign", task="nope")),
        (4, command(cmd="reassign", task="a", model="")),
    ])
    got = answers(engine)
    assert got[:2] == [("reassign", "reassigned a: 1 changed"),
                       ("reassign", "reassigned b: 1 changed, 1 moved")]
    assert "'gpt-5' is not allowed" in got[2][1] and "scripted, scripted:alt" in got[2][1]
    assert "under its own subtree" in got[3][1]
    assert "task 'nope' is not in the plan" in got[4][1]
    assert "needs 'model'" in got[5][1]
    assert engine.state.agents["root.a"].model == "scripted:alt"
    assert engine.state.tasks["b"].agent == "root.a.b"
    # the run dir's plan follows, so a later reconcile starts from the reassigned plan
    on_disk = parse_plan((engine.run_dir / "plan.edn").read_text())
    assert [c.id for c in on_disk.root.children] == ["a"]
    assert on_disk.root.children[0].model == "scripted:alt"


async def test_reassign_without_changes_restarts_the_task(tmp_path: Path, autojump_clock):
    engine = await drive(tmp_path, live_plan(task("a", 100)),
                         [(2, command(cmd="reassign", task="a"))])
    assert spawned(engine) == [("root", 1), ("root.a", 1), ("root.a", 2)]
    assert answers(engine) == [("reassign", "reassigned a: 1 changed")]


async def test_grant_raises_the_agent_and_its_ancestors(tmp_path: Path, autojump_clock):
    text = live_plan(task("a", 100, extra=" :budget {:tool-calls 4}"))
    engine = await drive(tmp_path, text, [  # the good grant last: its news ends a's wait
        (2, command(cmd="grant", agent="root.a", budget={"wall-s": 5})),
        (2, command(cmd="grant", agent="root.a", budget={"tool-calls": -1})),
        (2, command(cmd="grant", agent="root.zz", budget={"tool-calls": 1})),
        (2, command(cmd="grant", agent="root.a", budget="lots")),
        (2, command(cmd="grant", agent="root.a", budget={"tool-calls": 5})),
    ])
    got = answers(engine)
    assert got[0][1].startswith("granted {'tool_calls': 5} to root.a")
    assert "wall-s cannot be granted" in got[1][1]
    assert "tool-calls: must not be negative" in got[2][1]
    assert "no running agent 'root.zz'" in got[3][1]
    assert "needs 'budget'" in got[4][1]
    grants = [(e.agent, e.by, e.budget) for e in events_of(engine, ev.BudgetGranted)]
    assert grants == [("root", "human", {"tool_calls": 5}), ("root.a", "human",
                                                             {"tool_calls": 5})]
    assert engine.state.agents["root"].limits["tool_calls"] == 105
    assert engine.state.agents["root.a"].limits["tool_calls"] == 9


EXHAUSTED = live_plan(
    '{:task/id "x" :budget {:tool-calls 1} :script [{:call :report-state :args {:facts {:n 1}}} '
    '{:call :report-state :args {:facts {:n 2}}} {:say "x done"}]}' + task("slow", 100))


async def test_grant_restarts_an_agent_that_ran_out(tmp_path: Path, autojump_clock):
    engine = await drive(tmp_path, EXHAUSTED, [
        (5, command(cmd="grant", agent="root.x", budget={"tool-calls": 3})),
        (6, command(cmd="grant", agent="root.slow.none", budget={"tool-calls": 1})),
    ])
    got = answers(engine)
    assert got[0] == ("grant", "restarted root.x with {'tool_calls': 3} more")
    assert "no running agent 'root.slow.none'" in got[1][1]
    assert [(e.agent, e.attempt) for e in events_of(engine, ev.AgentSpawned)
            if e.agent == "root.x"] == [("root.x", 1), ("root.x", 2)]
    assert engine.state.tasks["x"].status == "done"


async def test_a_cancel_before_the_new_agent_runs_is_not_lost(tmp_path: Path, autojump_clock):
    def add_and_cancel_at_once(engine):
        engine.reconciler.apply(parse_plan(live_plan(task("a", 100) + task("b", 100))))
        assert engine.cancel("root.b", "changed my mind")  # opened, its task not yet run

    engine = await drive(tmp_path, live_plan(task("a", 100)), [(5, add_and_cancel_at_once)])
    reasons = {e.agent: (e.status, e.reason) for e in events_of(engine, ev.AgentFinished)}
    assert reasons["root.b"] == ("cancelled", "changed my mind")
    assert reasons["root.a"][0] == "done"
