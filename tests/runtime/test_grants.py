"""A parent's ``grant`` tool gives a running child budget out of its own: the parent lends it
(its remaining budget drops), the child takes it from its inbox (its limits rise), both logged."""

from __future__ import annotations

from pathlib import Path

from agenttree import events as ev

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
