"""The watchdog: a parent whose children make no progress gets a model turn about them."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from agenttree import events as ev
from agenttree.log import read_events
from agenttree.models.scripted import WAITING
from agenttree.plan import parse_plan, plan_to_edn
from agenttree.runtime.engine import Engine
from agenttree.runtime.replay import RegressionReplay
from agenttree.runtime.resume import Restorer, read_run

from ..clock import virtual_clock
from .test_engine import events_of, finished, make_engine

STALLED = """
{:tiers [{:depth 0 :models ["scripted"] %(tier)s
          :budget {:tool-calls 100 :tokens %(tokens)s}}]
 :task {:task/id "root" %(task)s :script [{:say "waiting"} {:say "after"}]
        :children [{:task/id "slow" :script [{:call :wait :args {:timeout_s 45}}
                                             {:say "slow done"}]}]}}
"""


def stalled(tier: str = "", task: str = "", tokens: int = 100_000) -> str:
    return STALLED % {"tier": tier, "task": task, "tokens": tokens}


def root_turns(run_dir: Path) -> list[tuple[int, bool]]:
    return [(e.event.turn, e.event.watchdog) for e in read_events(run_dir / "events.jsonl")
            if isinstance(e.event, ev.ModelRequested) and e.event.agent == "root"]


def root_said(run_dir: Path) -> list[str]:
    return [e.event.text for e in read_events(run_dir / "events.jsonl")
            if isinstance(e.event, ev.ModelResponded) and e.event.agent == "root"]


async def test_a_stalled_child_gives_its_parent_watchdog_turns(tmp_path: Path,
                                                               autojump_clock) -> None:
    engine = make_engine(tmp_path, stalled(task=":watchdog-s 10"))
    assert await engine.run() == "done"
    # The child sits in a 45 s wait: at 10, 20, 30 and 40 s the root's model hears of it;
    # its script goes on where it was ("after" is its second step, taken once the child ends).
    assert root_turns(engine.run_dir) == [(1, False), (2, True), (3, True), (4, True),
                                          (5, True), (6, False)]
    assert root_said(engine.run_dir) == ["waiting", WAITING, WAITING, WAITING, WAITING, "after"]
    surveys = [e for e in events_of(engine, ev.AgentWatchdog)]
    assert [(s.agent, s.quiet_s) for s in surveys] == [("root", 10.0)] * 4
    first = surveys[0].children
    assert [(c["agent"], c["status"], c["idle_s"]) for c in first] == [
        ("root.slow", "tool (wait)", 10.0)]
    spent = first[0]["spent"]
    assert set(spent) == {"tokens", "tool_calls"} and spent["tool_calls"] == 1  # the wait
    assert first[0]["limits"]["tool_calls"] == 50
    # Each watchdog turn is charged like any turn.
    charged = [r.charged for r in events_of(engine, ev.ModelResponded)
               if r.agent == "root" and r.charged and r.charged["tokens"] > 0]
    assert len(charged) == 6


async def test_children_making_progress_do_not_wake_the_model(tmp_path: Path,
                                                              autojump_clock) -> None:
    busy = """
{:tiers [{:depth 0 :models ["scripted"] :watchdog-s 10 :budget {:tool-calls 100}}]
 :task {:task/id "root" :script [{:say "waiting"} {:say "after"}]
        :children [{:task/id "busy"
                    :script [{:call :list-dir :args {:path "."} :delay-ms 6000}
                             {:call :list-dir :args {:path "."} :delay-ms 6000}
                             {:call :list-dir :args {:path "."} :delay-ms 6000}
                             {:call :list-dir :args {:path "."} :delay-ms 6000}
                             {:say "busy done" :delay-ms 6000}]}]}}
"""
    engine = make_engine(tmp_path, busy)
    assert await engine.run() == "done"
    assert root_turns(engine.run_dir) == [(1, False), (2, False)]  # 30 s, and never stalled
    assert events_of(engine, ev.AgentWatchdog) == []


async def test_progress_deep_in_the_subtree_counts(tmp_path: Path, autojump_clock) -> None:
    deep = """
{:tiers [{:depth 0 :models ["scripted"] :watchdog-s 10 :budget {:tool-calls 100}}]
 :task {:task/id "root" :script [{:say "waiting"} {:say "after"}]
        :children [{:task/id "mid" :watchdog-s 1000 :script [{:say "mid waits"} {:say "ok"}]
                    :children [{:task/id "leaf"
                                :script [{:call :list-dir :args {:path "."} :delay-ms 6000}
                                         {:call :list-dir :args {:path "."} :delay-ms 6000}
                                         {:say "leaf done" :delay-ms 6000}]}]}]}}
"""
    engine = make_engine(tmp_path, deep)
    assert await engine.run() == "done"
    assert events_of(engine, ev.AgentWatchdog) == []


@pytest.mark.parametrize(("tier", "task", "turns"), [
    ("", "", 1),                                   # the default, 30 s: one look, at 30
    (":watchdog-s 7", "", 6),                      # the tier's: 7, 14, ... 42
    (":watchdog-s 7", ":watchdog-s 20", 2),        # the task's over the tier's: 20, 40
])
async def test_the_interval_is_the_tasks_else_the_tiers_else_30_s(
        tmp_path: Path, autojump_clock, tier: str, task: str, turns: int) -> None:
    engine = make_engine(tmp_path, stalled(tier=tier, task=task))
    assert await engine.run() == "done"
    assert sum(1 for _, watchdog in root_turns(engine.run_dir) if watchdog) == turns


async def test_watchdog_turns_spend_the_budget_until_it_runs_out(tmp_path: Path,
                                                                 autojump_clock) -> None:
    engine = make_engine(tmp_path, stalled(task=":watchdog-s 10", tokens=1200))
    assert await engine.run() == "budget-exhausted"
    assert finished(engine) == {"root.slow": "cancelled", "root": "budget-exhausted"}
    assert [e.kind for e in events_of(engine, ev.BudgetExhausted)] == ["tokens"]
    assert any(watchdog for _, watchdog in root_turns(engine.run_dir))


def run_on_mock_clock(engine: Engine) -> str:
    with virtual_clock() as clock:
        return trio.run(engine.run, clock=clock)


def test_a_regression_replay_of_a_run_with_watchdog_turns_matches(tmp_path: Path) -> None:
    plan = parse_plan(stalled(task=":watchdog-s 10"), source="test.edn")
    recorded = tmp_path / "recorded"
    assert run_on_mock_clock(Engine(plan, recorded, durability="none")) == "done"
    again = Engine(plan, tmp_path / "again", durability="none")
    again.replayer = replay = RegressionReplay(recorded)
    assert run_on_mock_clock(again) == "done"
    assert replay.verdict() is None
    assert root_turns(tmp_path / "again") == root_turns(recorded)


def test_a_resumed_parent_counts_its_recorded_watchdog_turns(tmp_path: Path) -> None:
    plan = parse_plan(stalled(task=":watchdog-s 10"), source="test.edn")
    full = tmp_path / "full"
    run_on_mock_clock(Engine(plan, full, durability="none"))
    # Cut the log right after the root's second watchdog turn, as a crash there would.
    lines = (full / "events.jsonl").read_bytes().splitlines(keepends=True)
    cut_at = [i for i, e in enumerate(read_events(full / "events.jsonl"))
              if isinstance(e.event, ev.ModelResponded) and e.event.agent == "root"][2] + 1
    cut = tmp_path / "cut"
    (cut / "workspace").mkdir(parents=True)
    (cut / "plan.edn").write_text(plan_to_edn(plan))
    (cut / "control.jsonl").touch()
    (cut / "events.jsonl").write_bytes(b"".join(lines[:cut_at]))
    found, _ = read_run(cut / "events.jsonl")
    engine = Engine(parse_plan((cut / "plan.edn").read_text()), cut, durability="none",
                    state=found.state)
    engine.replayer = Restorer(found, [])
    assert run_on_mock_clock(engine) == "done"
    # As recorded up to the cut; then live, the child's 45 s wait runs again and the root's
    # 10 s watchdog (read back from the exported plan.edn) looks at 10, 20, 30 and 40 s.
    assert root_turns(cut) == [(1, False), (2, True), (3, True), (4, True), (5, True),
                               (6, True), (7, True), (8, False)]
    # Its script goes on at its second step, not at its eighth turn.
    assert root_said(cut)[-1] == "after"
