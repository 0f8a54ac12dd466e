"""The native Anthropic provider against a strict fake of the Messages API on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttree import events as ev
from agenttree.models.anthropic import to_anthropic, to_anthropic_tools, tool_use_id
from agenttree.models.base import ModelError
from agenttree.models.keys import api_key_for
from agenttree.models.spec import ANTHROPIC_URL, parse_model_spec
from agenttree.plan import DEFAULT_MAX_OUTPUT_TOKENS
from agenttree.tools.builtin import REGISTRY

from ..runtime.test_engine import events_of
from .anthropic_rules import refusal
from .fake_anthropic import FakeAnthropic, error, message, stream_error, streamed
from .fake_openai import Reply
from .test_openai import run_against

KEYED = ':providers {"BASE" {:api-key-env "TEST_ANTHROPIC_KEY" :stream false}}'
PLAIN = ':providers {"BASE" {:stream false}}'


async def run(tmp_path: Path, replies: list[Reply], task: str = ':goal "x"', **kwargs: Any):
    return await run_against(tmp_path, replies, task, provider="anthropic",
                             model="claude-test", fake_class=FakeAnthropic, **kwargs)


def test_anthropic_specs_and_keys(monkeypatch) -> None:
    spec = parse_model_spec("anthropic:claude-sonnet-4-5")
    assert (spec.provider, spec.model, spec.base_url) == ("anthropic", "claude-sonnet-4-5",
                                                           ANTHROPIC_URL)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelError, match="set the environment variable ANTHROPIC_API_KEY"):
        api_key_for(spec)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-test")
    assert api_key_for(spec) == "sk-ant-test"
    # each key only to its own provider's endpoint
    assert api_key_for(parse_model_spec("anthropic:m@http://127.0.0.1:1/v1")) is None
    assert api_key_for(parse_model_spec("openai:gpt-5.2")) == "sk-openai-test"


async def test_full_agent_loop_over_the_messages_api(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-never-sent-elsewhere")
    engine, server, status = await run(tmp_path, [
        message("writing", [("write-file", {"path": "a.txt", "content": "hi"}),
                            ("read-file", {"path": "missing.txt"})]),
        message("all done", usage=(50, 3)),
    ], ':goal "write a.txt"', extra=KEYED)
    assert server.refused == []
    assert status == "done"
    assert (engine.run_dir / "workspace" / "a.txt").read_text() == "hi"
    first, second = server.requests
    assert first["path"] == "/v1/messages"
    assert first["headers"]["anthropic-version"] == "2023-06-01"
    assert first["headers"]["x-api-key"] == "sk-ant-secret"
    assert "authorization" not in first["headers"]
    body = first["body"]
    assert body["model"] == "claude-test"
    assert body["max_tokens"] == DEFAULT_MAX_OUTPUT_TOKENS  # required: the documented default
    assert "stream" not in body
    assert body["system"].startswith("You are agent root in a tree of AI agents")
    assert body["messages"] == [{"role": "user", "content": [{"type": "text",
                                                              "text": "write a.txt"}]}]
    assert all(set(t) == {"name", "description", "input_schema"} for t in body["tools"])
    assert second["body"]["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "text", "text": "writing"},
            {"type": "tool_use", "id": "toolu_0", "name": "write-file",
             "input": {"path": "a.txt", "content": "hi"}},
            {"type": "tool_use", "id": "toolu_1", "name": "read-file",
             "input": {"path": "missing.txt"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_0",
             "content": "wrote 2 bytes to a.txt"},
            {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True,
             "content": second["body"]["messages"][2]["content"][1]["content"]}]}]
    assert second["body"]["messages"][2]["content"][1]["content"].startswith("ERROR: ")
    responded = events_of(engine, ev.ModelResponded)
    assert responded[0].calls[0] == {"id": "toolu_0", "tool": "write-file",
                                     "args": {"path": "a.txt", "content": "hi"}}
    assert responded[1].usage == {"prompt": 50, "completion": 3, "estimated": False}
    assert "sk-ant" not in (engine.run_dir / "events.jsonl").read_text()


async def test_a_wrong_key_is_refused_with_the_servers_message(tmp_path: Path,
                                                               monkeypatch) -> None:
    monkeypatch.setenv("TEST_ANTHROPIC_KEY", "sk-ant-wrong")
    server = FakeAnthropic([message("x")], api_key="sk-ant-right")
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        engine, _, status = await run(tmp_path, [], server=server, extra=KEYED)
        nursery.cancel_scope.cancel()
    assert status == "failed"
    reason = events_of(engine, ev.AgentFinished)[0].reason
    assert "HTTP 401" in reason and "invalid x-api-key" in reason
    assert "sk-ant-wrong" not in reason


async def test_streamed_text_and_tool_use(tmp_path: Path) -> None:
    engine, server, status = await run(tmp_path, [
        streamed(["Let me ", "write."], [("toolu_a1", "write-file",
                                          ['{"path": "b', '.txt", "con', 'tent": "yo"}'])]),
        streamed(["done"], usage=(40, 2)),
    ])
    assert server.refused == []
    assert status == "done"
    assert server.requests[0]["body"]["stream"] is True
    assert (engine.run_dir / "workspace" / "b.txt").read_text() == "yo"
    first = events_of(engine, ev.ModelResponded)[0]
    assert first.text == "Let me write."
    assert first.calls == [{"id": "toolu_a1", "tool": "write-file",
                            "args": {"path": "b.txt", "content": "yo"}}]
    assert first.usage == {"prompt": 20, "completion": 9, "estimated": False}
    assert "".join(d.text for d in events_of(engine, ev.ModelDelta)) == "Let me write.done"


async def test_settings_on_the_wire_and_tool_choice(tmp_path: Path) -> None:
    _, server, status = await run(
        tmp_path, [message("ok")], extra=PLAIN + ' :model-settings {"claude-test" '
        '{:max-output-tokens 1000 :temperature 0.5 :top-p 0.9}}',
        tier_extra=":tool-choice :required")
    assert server.refused == [] and status == "done"
    body = server.requests[0]["body"]
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (1000, 0.5, 0.9)
    assert body["tool_choice"] == {"type": "any"}
    _, server, status = await run(tmp_path / "named", [message("ok")], extra=PLAIN,
                                       tier_extra=":tool-choice :write-file")
    assert server.refused == [] and status == "done"
    assert server.requests[0]["body"]["tool_choice"] == {"type": "tool", "name": "write-file"}


@pytest.mark.parametrize("settings,fragment", [
    ("{:seed 7}", "takes no seed"),
    ("{:temperature 1.5}", "temperature from 0 to 1, not 1.5"),
])
async def test_settings_the_api_refuses_fail_before_anything_is_sent(
        tmp_path: Path, settings: str, fragment: str) -> None:
    engine, server, status = await run(
        tmp_path, [message("x")], extra=PLAIN + f' :model-settings {{"claude-test" {settings}}}')
    assert status == "failed" and server.requests == []
    assert fragment in events_of(engine, ev.AgentFinished)[0].reason


async def test_the_strict_server_refuses_what_the_api_refuses(tmp_path: Path) -> None:
    engine, server, status = await run(
        tmp_path, [message("x")],
        extra=PLAIN + ' :model-settings {"claude-test" {:max-output-tokens 100000}}')
    assert status == "failed" and len(server.requests) == 1
    reason = events_of(engine, ev.AgentFinished)[0].reason
    assert "HTTP 400" in reason and "max_tokens: 100000 > 64000" in reason


async def test_429_and_529_are_retried_after_retry_after(tmp_path: Path) -> None:
    engine, server, status = await run(tmp_path, [
        error(429, "rate_limit_error", "Number of request tokens has exceeded your per-minute "
              "rate limit", headers={"retry-after": "0.05"}),
        error(529, "overloaded_error", "Overloaded", headers={"retry-after": "0"}),
        message("fine"),
    ], extra=PLAIN)
    assert status == "done" and len(server.requests) == 3
    retries = events_of(engine, ev.ModelRetry)
    assert [(r.attempt, r.delay_s) for r in retries] == [(1, 0.05), (2, 0.0)]
    assert "HTTP 429" in retries[0].reason and "per-minute rate limit" in retries[0].reason
    assert "HTTP 529 Overloaded" in retries[1].reason
    charged = [c for c in events_of(engine, ev.BudgetCharged) if c.kind == "retries"]
    assert [c.used for c in charged] == [1, 2]


async def test_client_errors_fail_at_once(tmp_path: Path) -> None:
    engine, server, status = await run(tmp_path, [
        error(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 "
              "maximum")], extra=PLAIN)
    assert status == "failed" and len(server.requests) == 1
    assert "prompt is too long" in events_of(engine, ev.AgentFinished)[0].reason


async def test_stream_errors_overloaded_is_retried_others_fail(tmp_path: Path) -> None:
    engine, server, status = await run(tmp_path, [
        stream_error("overloaded_error", "Overloaded"), streamed(["recovered"])])
    assert status == "done" and len(server.requests) == 2
    assert "overloaded_error: Overloaded" in events_of(engine, ev.ModelRetry)[0].reason
    assert events_of(engine, ev.ModelResponded)[0].text == "recovered"
    engine, _, status = await run(tmp_path / "bad", [
        stream_error("invalid_request_error", "bad thing")])
    assert status == "failed"
    assert "invalid_request_error: bad thing" in events_of(engine, ev.AgentFinished)[0].reason


async def test_a_stream_without_message_stop_is_cut_short_and_retried(tmp_path: Path) -> None:
    engine, server, status = await run(tmp_path, [
        streamed(["half"], stop=False), streamed(["whole"])])
    assert status == "done" and len(server.requests) == 2
    assert "ended without message_stop" in events_of(engine, ev.ModelRetry)[0].reason
    engine, server, status = await run(tmp_path / "dropped", [
        streamed(["a", "b", "c"], drop_after=4), streamed(["whole"])])
    assert status == "done" and "broke" in events_of(engine, ev.ModelRetry)[0].reason


@pytest.mark.parametrize("reply,fragment", [
    (Reply(raw=b"<html>not json</html>"), "not a Messages API message"),
    (Reply(json={"type": "message"}), "not a Messages API message"),
    (Reply(chunks=[b"{not json"], done=False), "malformed stream event"),
])
async def test_malformed_answers_fail_the_agent_not_the_engine(tmp_path: Path, reply: Reply,
                                                               fragment: str) -> None:
    engine, _, status = await run(tmp_path, [reply])
    assert status == "failed"
    assert fragment in events_of(engine, ev.AgentFinished)[0].reason
    assert events_of(engine, ev.RunFinished)[0].status == "failed"


async def test_usage_and_cost(tmp_path: Path) -> None:
    engine, _, status = await run(
        tmp_path, [message("hi", usage=(1000, 500))], extra=PLAIN
        + ' :prices {"claude-test" {:prompt 3.0 :completion 15.0}}')
    assert status == "done"
    costs = [r.charged["cost"] for r in events_of(engine, ev.ModelResponded)]
    assert costs == [pytest.approx((1000 * 3.0 + 500 * 15.0) / 1_000_000)]
    assert engine.state.agents["root"].used["cost"] == costs[0]


# --- the transcript on the wire -----------------------------------------------------------

_ids = st.from_regex(r"[A-Za-z0-9_.#:-]{1,12}", fullmatch=True)
_text = st.text(max_size=20)


@st.composite
def transcripts(draw) -> list[dict[str, Any]]:
    """Transcripts as agents build them: system, goal, then turns (an answer with its tool
    results, a nudge or news after an empty answer), in any mix."""
    out: list[dict[str, Any]] = [{"role": "system", "content": draw(_text)},
                                 {"role": "user", "content": "goal " + draw(_text)}]
    for _ in range(draw(st.integers(0, 5))):
        ids = draw(st.lists(_ids, max_size=3, unique_by=tool_use_id))
        calls = [{"id": i, "tool": "sh", "args": draw(st.sampled_from([{"cmd": "ls"}, "bad"]))}
                 for i in ids]
        out.append({"role": "assistant", "content": draw(_text), "tool_calls": calls})
        for i in ids:
            ok = draw(st.booleans())
            out.append({"role": "tool", "tool_call_id": i, "content": draw(_text),
                        **({} if ok else {"error": True})})
        if not ids or draw(st.booleans()):  # a nudge after an empty answer, or news
            out.append({"role": "user", "content": draw(_text)})
    return out


@settings(max_examples=200, deadline=None)
@given(transcripts())
def test_every_transcript_goes_on_the_wire_as_the_api_accepts(messages) -> None:
    system, wire = to_anthropic(messages)
    tools = to_anthropic_tools([{"type": "function", "function": {
        "name": "sh", "description": "", "parameters": {"type": "object", "properties": {}}}}])
    body = {"model": "m", "max_tokens": 10, "messages": wire, "tools": tools,
            **({"system": system} if system else {})}
    assert refusal(body) is None


def test_built_in_tools_are_accepted_as_anthropic_tools() -> None:
    tools = to_anthropic_tools([t.schema() for t in REGISTRY.values()])
    body = {"model": "m", "max_tokens": 10, "tools": tools,
            "messages": [{"role": "user", "content": "hi"}]}
    assert refusal(body) is None
