"""What goes on the wire: output limits, per-model settings, tool choice, streaming per provider,
all against the fake server that refuses what the hosted API refuses."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import trio

from agenttree import events as ev
from agenttree.log import read_events
from agenttree.models.openai import output_limit_param
from agenttree.models.spec import parse_model_spec
from agenttree.plan import Provider

from ..runtime.test_engine import make_engine
from .fake_openai import FakeOpenAI, completion, stream
from .test_openai import run_against

WRITE = completion("", [("write-file", {"path": "a.txt", "content": "hi"})])


async def test_a_token_budget_is_never_sent_as_an_output_limit(tmp_path: Path) -> None:
    # Regression: every request asked for the agent's whole token budget as max_tokens, which
    # the hosted API refuses (HTTP 400 "max_tokens is too large").
    engine, server, status = await run_against(
        tmp_path, [WRITE, completion("done")], ':goal "write a.txt"',
        budget="{:tool-calls 50 :tokens 2000000 :retries 3}")
    assert status == "done", events_of_reason(engine)
    assert server.refused == []
    for request in server.requests:
        assert "max_tokens" not in request["body"]
        assert "max_completion_tokens" not in request["body"]


def events_of_reason(engine) -> str:
    return " ".join(e.event.reason for e in read_events(engine.run_dir / "events.jsonl")
                    if isinstance(e.event, ev.AgentFinished))


def test_the_output_limit_goes_by_the_name_each_server_takes() -> None:
    openai = parse_model_spec("openai:gpt-5.2")
    local = parse_model_spec("openai:qwen3@http://127.0.0.1:8000/v1")
    assert output_limit_param(openai, Provider()) == "max_completion_tokens"
    assert output_limit_param(local, Provider()) == "max_tokens"
    assert output_limit_param(parse_model_spec("ollama:qwen3:14b"), Provider()) == "max_tokens"
    assert output_limit_param(local, Provider(max_tokens_param="max_completion_tokens")) == \
        "max_completion_tokens"


SETTINGS = ':model-settings {"openai:test-model@BASE" {:max-output-tokens 800 :temperature 0.2}}'


async def test_model_settings_are_sent_and_recorded(tmp_path: Path) -> None:
    engine, server, status = await run_against(
        tmp_path, [completion("done")], ':goal "x"',
        extra=SETTINGS + ' :providers {"BASE" {:stream false}}')
    assert status == "done" and server.refused == []
    body = server.requests[0]["body"]
    assert (body["max_tokens"], body["temperature"]) == (800, 0.2)
    assert "stream" not in body and "stream_options" not in body
    requested = _requested(engine)[0]
    assert requested.params == {"max_tokens": 800, "temperature": 0.2}


async def test_task_settings_override_tier_settings_which_override_the_plans(
        tmp_path: Path) -> None:
    # by spec at plan level, by bare model name in the tier and the task
    extra = (':model-settings {"openai:test-model@BASE" {:max-output-tokens 800 :temperature 0.2'
             ' :top-p 0.9}}')
    server = FakeOpenAI([completion("done")])
    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        engine = make_engine(tmp_path, f"""
{{:tiers [{{:depth 0 :models ["openai:test-model@{base}"]
           :model-settings {{"test-model" {{:temperature 1.5 :seed 7}}}}}}]
 {extra.replace("BASE", base)}
 :task {{:task/id "root" :model-settings {{"test-model" {{:seed 9}}}}}}}}
""")
        with trio.fail_after(30):
            assert await engine.run() == "done"
        nursery.cancel_scope.cancel()
    body = server.requests[0]["body"]
    assert {k: body[k] for k in ("max_tokens", "temperature", "top_p", "seed")} == \
        {"max_tokens": 800, "temperature": 1.5, "top_p": 0.9, "seed": 9}


async def test_openais_newer_models_refuse_max_tokens_and_the_reason_says_so(
        tmp_path: Path) -> None:
    # A server like OpenAI's own, reached by URL: without :max-tokens-param the limit goes as
    # max_tokens, which the server refuses; its own message, on one line, ends the agent.
    engine, server, status = await run_against(
        tmp_path, [completion("done")], ':goal "x"', model="gpt-5.2",
        extra=':model-settings {"gpt-5.2" {:max-output-tokens 500}}')
    assert status == "failed" and len(server.requests) == 1
    reason = events_of_reason(engine)
    assert "HTTP 400" in reason
    assert "Unsupported parameter: 'max_tokens' is not supported with this model. Use " \
           "'max_completion_tokens' instead." in reason
    engine, server, status = await run_against(
        tmp_path / "again", [completion("done")], ':goal "x"', model="gpt-5.2",
        extra=':model-settings {"gpt-5.2" {:max-output-tokens 500}}'
              ' :providers {"BASE" {:max-tokens-param "max_completion_tokens"}}')
    assert status == "done" and server.refused == []
    assert server.requests[0]["body"]["max_completion_tokens"] == 500


async def test_a_named_tool_is_forced_on_the_first_turn_only(tmp_path: Path) -> None:
    engine, server, status = await run_against(
        tmp_path, [WRITE, completion("all written")], ':goal "write" :tool-choice :write-file')
    assert status == "done" and server.refused == []
    choices = [r["body"].get("tool_choice") for r in server.requests]
    assert choices == [{"type": "function", "function": {"name": "write-file"}}, "auto"]
    # a turn of tool calls only has "content": "" (llama-cpp-python refuses null and fails
    # on a missing content)
    assert server.requests[1]["body"]["messages"][-2]["content"] == ""
    assert [r.params["tool_choice"] for r in _requested(engine)] == choices


@pytest.mark.parametrize("choice", ["required", "none", "auto"])
async def test_a_mode_is_sent_on_every_turn(tmp_path: Path, choice: str) -> None:
    _engine, server, status = await run_against(
        tmp_path, [WRITE, completion("done")], f':goal "write" :tool-choice :{choice}')
    assert status == "done" and server.refused == []
    assert [r["body"]["tool_choice"] for r in server.requests] == [choice, choice]


async def test_no_tool_choice_is_sent_to_an_agent_without_tools(tmp_path: Path) -> None:
    _engine, server, status = await run_against(
        tmp_path, [completion("done")], ':goal "x" :tools []',
        extra="", tier_extra=":tool-choice :required")
    assert status == "done" and server.refused == []
    body = server.requests[0]["body"]
    assert "tools" not in body and "tool_choice" not in body


async def test_streaming_is_per_provider(tmp_path: Path) -> None:
    pieces = ["a", "b"]
    engine, server, _ = await run_against(tmp_path, [stream(pieces)], ':goal "x"')
    assert server.requests[0]["body"]["stream"] is True
    assert _requested(engine)[0].params == {"stream": True,
                                            "stream_options": {"include_usage": True}}
    engine, server, _ = await run_against(tmp_path / "off", [completion("plain")], ':goal "x"',
                                          extra=':providers {"openai" {:stream false}}')
    assert "stream" not in server.requests[0]["body"]
    assert not [e for e in read_events(engine.run_dir / "events.jsonl")
                if isinstance(e.event, ev.ModelDelta)]


async def test_settings_and_tool_choice_survive_a_resume(tmp_path: Path) -> None:
    plan_extra = (SETTINGS + ' :providers {"BASE" {:stream false}}')
    server = FakeOpenAI([WRITE, completion("all written")])
    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        engine, _, status = await run_against(
            tmp_path, [], ':goal "write" :tool-choice :write-file', extra=plan_extra,
            server=server)
        assert status == "done"
        lines = (engine.run_dir / "events.jsonl").read_bytes().splitlines(keepends=True)
        first_answer = next(i for i, e in enumerate(read_events(engine.run_dir / "events.jsonl"))
                            if isinstance(e.event, ev.ToolResult))
        cut = tmp_path / "cut"
        shutil.copytree(engine.run_dir / "workspace", cut / "workspace")
        shutil.copy(engine.run_dir / "plan.edn", cut / "plan.edn")
        (cut / "control.jsonl").touch()
        (cut / "events.jsonl").write_bytes(b"".join(lines[:first_answer + 1]))
        server.replies = [completion("all written again")]
        before = len(server.requests)
        with trio.fail_after(60):
            result = await trio.run_process(
                [sys.executable, "-m", "agenttree", "resume", str(cut), "--quiet"],
                capture_stdout=True, capture_stderr=True, check=False,
                env={**os.environ, "PYTHONPATH": os.getcwd()})
        nursery.cancel_scope.cancel()
    assert result.returncode == 0, result.stderr.decode()
    assert server.refused == [] and base in (cut / "plan.edn").read_text()
    resumed = server.requests[before:]
    assert len(resumed) == 1
    body = resumed[0]["body"]
    assert (body["max_tokens"], body["temperature"], body["tool_choice"]) == (800, 0.2, "auto")
    assert "stream" not in body
    last = [e.event for e in read_events(cut / "events.jsonl")
            if isinstance(e.event, ev.ModelRequested)][-1]
    assert last.params == {"max_tokens": 800, "temperature": 0.2, "tool_choice": "auto"}


def _requested(engine) -> list[ev.ModelRequested]:
    return [e.event for e in read_events(engine.run_dir / "events.jsonl")
            if isinstance(e.event, ev.ModelRequested)]
