"""A parent's ``grant`` tool gives a running child budget out of its own: the parent lends it
(its remaining budget drops), the child takes it from its inbox (its limits rise), both logged."""

from __future__ import annotations

from pathlib import Path

import trio

from agenttree import events as ev

from ..bench.helpers import HANG_GUARD_S
from ..models.fake_openai import FakeOpenAI, completion
from .test_engine import events_of, make_engine

PLAN = """
{:tiers [{:depth 0 :models ["scripted"] :tools :all :budget {:tool-calls 20}}
         {:depth 1 :models ["scripted"]}]
 :task {:task/id "root"
        :script [{:call :message :args {:to "root.c" :text "go on"}}
                 {:call :grant :args {:agent "root.c" :budget {:tool_calls 4}}}
                 {:say "granted"}]
        :children [{:task/id "c" :tools [:wait :finish] :budget {:tool-calls 2}
                    :script [{:call :wait :args {:timeout_s 50}}
                             {:call :wait :args {:timeout_s 50}}
                             {:call :wait :args {:timeout_s 50}}
                             {:say "done with more"}]}]}}
"""


async def test_a_grant_to_a_running_child_raises_its_limits_out_of_the_parents(
        tmp_path: Path, autojump_clock) -> None:
    engine = make_engine(tmp_path, PLAN)
    assert await engine.run() == "done"
    granted = events_of(engine, ev.BudgetGranted)
    assert [(g.agent, g.by, g.budget) for g in granted] == [("root.c", "root",
                                                             {"tool_calls": 4})]
    child = engine.state.agents["root.c"]
    assert child.status == "done" and child.limits["tool_calls"] == 6
    assert child.used["tool_calls"] == 3  # more than its own 2: the grant let it go on
    result = next(r for r in events_of(engine, ev.ToolResult) if r.tool == "grant")
    assert result.ok and result.output == "granted {'tool_calls': 4} to root.c"
    waits = [r.output for r in events_of(engine, ev.ToolResult)
             if r.agent == "root.c" and r.tool == "wait"]
    assert any("[budget from root] {'tool_calls': 4}" in w for w in waits)


async def test_a_grant_of_the_scripted_model_to_a_child_on_a_network_model_switches_it(
        tmp_path: Path) -> None:
    """After the grant the child's turns play its script: the server sees only the requests
    made before it (the network client was renamed "scripted" and went on calling the server)."""
    server = FakeOpenAI([completion("", [("message", {"to": "root", "text": "ready"})]),
                         completion("", [("wait", {"timeout_s": 50})]),
                         completion("still on the network")])
    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        network = f"openai:m@{base}"
        engine = make_engine(tmp_path, f"""
{{:tiers [{{:depth 0 :models ["scripted" "{network}"]}}
          {{:depth 1 :models ["{network}" "scripted"]}}]
 :providers {{"{base}" {{:stream false}}}}
 :task {{:task/id "root"
        :script [{{:call :wait :args {{:timeout_s 50}}}}
                 {{:call :grant :args {{:agent "root.c" :model "scripted"}}}}
                 {{:say "granted"}}]
        :children [{{:task/id "c" :model "{network}" :tools [:message :wait :finish]
                    :script [{{:say "done on the scripted model"}}]}}]}}}}""")
        with trio.fail_after(HANG_GUARD_S):
            assert await engine.run() == "done"
        nursery.cancel_scope.cancel()
    asked = [r.model for r in events_of(engine, ev.ModelRequested) if r.agent == "root.c"]
    assert asked[0] == network and asked[-1] == "scripted"
    assert len(server.requests) == asked.count(network) and server.refused == []
    child = engine.state.agents["root.c"]
    assert child.model == "scripted" and child.status == "done"
