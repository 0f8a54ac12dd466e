"""An empty answer (no text, no tool call) is never taken as the agent's final answer."""

from __future__ import annotations

from pathlib import Path

from agenttree import events as ev
from agenttree.runtime.agent import EMPTY_NUDGE

from ..models.fake_openai import completion
from ..models.test_openai import run_against
from .test_engine import events_of, finished, make_engine


def _plan(script: str, acceptance: str = "") -> str:
    return f"""
{{:tiers [{{:depth 0 :models ["scripted"] :budget {{:tool-calls 10 :tokens 10000 :retries 2}}}}]
 :task {{:task/id "root" :script {script} {acceptance}}}}}
"""


async def test_an_empty_answer_gets_one_nudge_then_the_agent_goes_on(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, _plan('[{:say ""} {:say "done after all"}]'))
    assert await engine.run() == "done"
    nudges = [e for e in events_of(engine, ev.AgentState) if e.status == "nudged"]
    assert len(nudges) == 1
    responded = events_of(engine, ev.ModelResponded)
    assert [r.text for r in responded] == ["", "done after all"]
    assert events_of(engine, ev.AgentFinished)[0].result == "done after all"


async def test_two_empty_answers_in_a_row_fail_the_agent_never_done(tmp_path: Path) -> None:
    # Regression: a small real model's first turn was empty and the agent went straight to
    # acceptance, ending done.
    engine = make_engine(tmp_path, _plan('[{:say ""} {:say "  \\n"} {:say "too late"}]',
                                         ':acceptance [(sh "true")]'))
    assert await engine.run() == "failed"
    assert finished(engine) == {"root": "failed"}
    reason = events_of(engine, ev.AgentFinished)[0].reason
    assert "answered with nothing (no text, no tool call) twice in a row" in reason
    assert len(events_of(engine, ev.ModelResponded)) == 2
    assert not events_of(engine, ev.AcceptanceResult)  # never reached acceptance


async def test_the_nudge_goes_back_to_the_model_and_a_tool_turn_resets_it(
        tmp_path: Path) -> None:
    engine, server, status = await run_against(tmp_path, [
        completion(""), completion("", [("list-dir", {"path": "."})]), completion(""),
        completion("finished")], ':goal "look around"')
    assert status == "done" and server.refused == []
    assert len([e for e in events_of(engine, ev.AgentState) if e.status == "nudged"]) == 2
    second = server.requests[1]["body"]["messages"]
    assert second[-2:] == [{"role": "assistant", "content": ""},
                           {"role": "user", "content": EMPTY_NUDGE}]
