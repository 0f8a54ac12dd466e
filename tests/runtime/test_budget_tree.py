"""Budgets across a tree, in a real engine: retries are each agent's own; spending rolls up."""

from __future__ import annotations

from pathlib import Path

from agenttree import events as ev
from agenttree.live_state import fold_live
from agenttree.log import read_events
from agenttree.state import fold

from .test_engine import events_of, finished, make_engine

FLAKY = "test -f {m} || (touch {m}; echo not yet; exit 1)"
"""An acceptance check that fails the first time and passes after."""

DEEP = f"""
{{:tiers [{{:depth 0 :models ["scripted"] :budget {{:tool-calls 100 :tokens 100000 :retries 3}}}}]
 :task {{:task/id "root" :script [{{:say "go"}}]
        :children [{{:task/id "mid" :script [{{:say "go"}}]
                    :children [{{:task/id "leaf-a" :script [{{:say "a"}}]
                                :acceptance [(sh "{FLAKY.format(m='a.marker')}")]}}
                               {{:task/id "leaf-b" :script [{{:say "b"}}]
                                :acceptance [(sh "{FLAKY.format(m='b.marker')}")]}}
                               {{:task/id "leaf-c" :budget {{:retries 0}} :script [{{:say "c"}}]
                                :acceptance [(sh "exit 1")]}}]}}
                   {{:task/id "other" :script [{{:say "o"}}]}}]}}}}
"""


async def test_a_leaf_has_its_own_retries_not_a_share_of_its_parents(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, DEEP)
    await engine.run()
    limits = {e.agent: e.budget.get("retries") for e in events_of(engine, ev.AgentSpawned)}
    # Not carved: 3 split over two children and the parent would leave a leaf 0 tries.
    assert limits == {"root": 3, "root.mid": 3, "root.other": 3, "root.mid.leaf-a": 3,
                      "root.mid.leaf-b": 3, "root.mid.leaf-c": 0}
    assert finished(engine) == {
        "root.other": "done", "root.mid.leaf-a": "done", "root.mid.leaf-b": "done",
        "root.mid.leaf-c": "failed", "root.mid": "done", "root": "done"}
    checks = [(e.agent, e.attempt, e.ok) for e in events_of(engine, ev.AcceptanceResult)]
    for leaf in ("root.mid.leaf-a", "root.mid.leaf-b"):
        assert [(a, ok) for agent, a, ok in checks if agent == leaf] == [(1, False), (2, True)]
    # A retry is charged to the agent that retried, and never rolls up into its parent.
    state = fold(read_events(engine.run_dir / "events.jsonl"))
    assert state.agents["root.mid.leaf-a"].used["retries"] == 1
    assert state.agents["root.mid"].used.get("retries", 0) == 0
    assert state.agents["root"].used.get("retries", 0) == 0


async def test_a_granted_restart_keeps_the_inherited_retries(tmp_path: Path) -> None:
    text = """
{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 100 :tokens 100000 :retries 2}}]
 :task {:task/id "root"
        :script [{:say "waiting"}
                 {:call :grant :args {:agent "root.a" :budget {:tool_calls 5 :retries 1}}}
                 {:say "done"}]
        :children [{:task/id "a" :budget {:tool-calls 1}
                    :script [{:call :list-dir :args {:path "."}}
                             {:call :list-dir :args {:path "."}}
                             {:say "finished"}]}]}}
"""
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    spawns = [(e.agent, e.attempt, e.budget.get("retries")) for e in
              events_of(engine, ev.AgentSpawned) if e.agent == "root.a"]
    assert spawns == [("root.a", 1, 2), ("root.a", 2, 3)]  # inherited 2, plus the 1 granted


SPENDERS = """
{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 100 :tokens 100000 :cost 5}}]
 :task {:task/id "root" :script [{:say "waiting"} {:say "heard"} {:say "all heard"}]
        :children [{:task/id "a" :script [{:call :list-dir :args {:path "."}}
                                          {:call :list-dir :args {:path "."}} {:say "a"}]
                    :children [{:task/id "a1" :script [{:call :list-dir :args {:path "."}}
                                                       {:say "a1"}]}]}
                   {:task/id "b" :script [{:call :list-dir :args {:path "."}} {:say "b"}]}]}}
"""


async def test_every_pooled_kind_rolls_up_to_the_root_in_the_log(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, SPENDERS)
    assert await engine.run() == "done"
    state = fold(read_events(engine.run_dir / "events.jsonl"))
    agents = state.agents
    # The root made no tool call itself: the four are its subtree's, as the log tells it.
    assert agents["root"].tool_calls == 0
    assert agents["root.a"].used["tool_calls"] == 3  # its own two and a1's one
    assert agents["root"].used["tool_calls"] == 4
    own_tokens = {a.id: a.tokens for a in agents.values()}
    assert agents["root"].used["tokens"] == sum(own_tokens.values())
    assert agents["root.a"].used["tokens"] == own_tokens["root.a"] + own_tokens["root.a.a1"]
    rolled = [(e.agent, e.child) for e in events_of(engine, ev.BudgetRolledUp)]
    assert sorted(rolled) == [("root", "root.a"), ("root", "root.b"), ("root.a", "root.a.a1")]
    assert fold_live(read_events(engine.run_dir / "events.jsonl")) == engine.state
