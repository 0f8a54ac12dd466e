"""The OpenAI-compatible provider against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from agenttree import events as ev
from agenttree.errors import UserError
from agenttree.models.base import ModelError
from agenttree.models.keys import api_key_for
from agenttree.models.ratelimit import RateLimiter
from agenttree.models.spec import ANTHROPIC_URL, OLLAMA_URL, OPENAI_URL, ModelSpec, parse_model_spec
from agenttree.plan import DEFAULT_CONCURRENCY

from ..runtime.test_engine import events_of, finished, make_engine
from .fake_openai import FakeOpenAI, Reply, completion, stream


async def run_against(tmp_path: Path, replies: list[Reply], task: str, *, children: int = 0,
                      budget: str = "{:tool-calls 50 :tokens 100000 :retries 3}",
                      extra: str = "", tier_extra: str = "", model: str = "test-model",
                      server: FakeOpenAI | None = None, provider: str = "openai",
                      fake_class: type[FakeOpenAI] = FakeOpenAI, hold_until: int | None = None):
    """Run a one-tier plan of ``PROVIDER:MODEL@BASE`` against a fake server (``BASE`` in
    ``extra`` becomes its URL); a ``server`` given is already serving. ``hold_until``: the
    fake holds its answers until that many requests were once in flight together."""
    fake = server or fake_class(replies, hold_until=hold_until)
    async with trio.open_nursery() as nursery:
        base = fake.base_url if server else await nursery.start(fake.serve)
        kids = " ".join(f'{{:task/id "c{i}" :goal "say hi"}}' for i in range(children))
        text = f"""
{{:tiers [{{:depth 0 :models ["{provider}:{model}@{base}"] :budget {budget} {tier_extra}}}]
 {extra.replace("BASE", base)}
 :task {{:task/id "root" {task} :children [{kids}]}}}}
"""
        engine = make_engine(tmp_path, text)
        with trio.fail_after(30):
            status = await engine.run()
        nursery.cancel_scope.cancel()
    return engine, fake, status


async def test_full_agent_loop_with_tool_calls(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-never-sent-to-local-servers")
    engine, server, status = await run_against(tmp_path, [
        Reply(json=completion("writing", [("write-file", {"path": "a.txt",
                                                          "content": "hi"})]).json),
        completion("all done"),
    ], ':goal "write a.txt"')
    assert status == "done"
    assert (engine.run_dir / "workspace" / "a.txt").read_text() == "hi"
    first, second = server.requests
    assert first["path"] == "/v1/chat/completions" and first["body"]["model"] == "test-model"
    assert any(t["function"]["name"] == "write-file" for t in first["body"]["tools"])
    assert first["body"]["stream"] is True
    assert "authorization" not in first["headers"]  # the key never goes to another server
    assert second["body"]["messages"][-2] == {
        "role": "assistant", "content": "writing", "tool_calls": [{
            "id": "call_0", "type": "function", "function": {
                "name": "write-file", "arguments": '{"path":"a.txt","content":"hi"}'}}]}
    tool_msg = second["body"]["messages"][-1]
    assert tool_msg == {"role": "tool", "tool_call_id": "call_0",
                        "content": "wrote 2 bytes to a.txt"}
    responded = events_of(engine, ev.ModelResponded)
    assert responded[0].calls == [{"id": "call_0", "tool": "write-file",
                                   "args": {"path": "a.txt", "content": "hi"}}]
    assert responded[0].usage == {"prompt": 11, "completion": 7, "estimated": False}
    log = (engine.run_dir / "events.jsonl").read_text()
    assert "sk-secret" not in log


async def test_streaming_deltas_are_coalesced(tmp_path: Path) -> None:
    pieces = [f"word{i} " for i in range(200)]
    engine, _, status = await run_against(tmp_path, [stream(pieces)], ':goal "talk"')
    assert status == "done"
    deltas = events_of(engine, ev.ModelDelta)
    assert 1 <= len(deltas) < 20
    assert "".join(d.text for d in deltas) == "".join(pieces)
    responded = events_of(engine, ev.ModelResponded)[0]
    assert responded.text == "".join(pieces)
    assert responded.usage == {"prompt": 20, "completion": 9, "estimated": False}


async def test_retry_after_is_honoured_and_charged(tmp_path: Path) -> None:
    engine, server, status = await run_against(tmp_path, [
        Reply(status=429, json={"error": {"message": "slow down"}},
              headers={"retry-after": "0.05"}),
        Reply(status=503, json={"error": {"message": "overloaded"}}),
        completion("fine"),
    ], ':goal "x"')
    assert status == "done" and len(server.requests) == 3
    retries = events_of(engine, ev.ModelRetry)
    assert (retries[0].attempt, retries[0].delay_s) == (1, 0.05)
    assert "HTTP 429 slow down" in retries[0].reason
    assert "HTTP 503 overloaded" in retries[1].reason and 0.25 <= retries[1].delay_s <= 1.5
    charged = [c for c in events_of(engine, ev.BudgetCharged) if c.kind == "retries"]
    assert [c.used for c in charged] == [1, 2]


async def test_retries_budget_runs_out(tmp_path: Path) -> None:
    engine, server, status = await run_against(
        tmp_path, [Reply(status=500, json={"error": "boom"}, headers={"retry-after": "0"})],
        ':goal "x"', budget="{:tokens 100000 :retries 2}")
    assert status == "failed" and len(server.requests) == 3
    reason = events_of(engine, ev.AgentFinished)[0].reason
    assert "HTTP 500" in reason and "no retries left" in reason


async def test_client_errors_fail_at_once_with_the_servers_message(tmp_path: Path) -> None:
    engine, server, status = await run_against(
        tmp_path, [Reply(status=400, json={"error": {"message": "unknown model test-model"}})],
        ':goal "x"')
    assert status == "failed" and len(server.requests) == 1
    assert "HTTP 400" in events_of(engine, ev.AgentFinished)[0].reason
    assert "unknown model test-model" in events_of(engine, ev.AgentFinished)[0].reason


@pytest.mark.parametrize("reply,fragment", [
    (Reply(raw=b"<html>not json</html>"), "not a chat completion"),
    (Reply(json={"choices": []}), "not a chat completion"),
    (Reply(chunks=[b"{not json"]), "malformed stream chunk"),
])
async def test_malformed_answers_fail_the_agent_not_the_engine(tmp_path: Path, reply: Reply,
                                                               fragment: str) -> None:
    engine, _, status = await run_against(tmp_path, [reply], ':goal "x"')
    assert status == "failed"
    assert fragment in events_of(engine, ev.AgentFinished)[0].reason
    assert events_of(engine, ev.RunFinished)[0].status == "failed"  # the engine ended cleanly


async def test_a_stream_cut_short_is_retried(tmp_path: Path) -> None:
    engine, server, status = await run_against(tmp_path, [
        stream(["a", "b", "c"], drop_after=2), stream(["whole ", "answer"])], ':goal "x"')
    assert status == "done" and len(server.requests) == 2
    assert "broke" in events_of(engine, ev.ModelRetry)[0].reason
    assert events_of(engine, ev.ModelResponded)[0].text == "whole answer"


async def test_a_stream_that_ends_without_done_is_cut_short_and_retried(tmp_path: Path) -> None:
    # llama-cpp-python's server, failing after its headers, ends the stream with nothing
    engine, server, status = await run_against(tmp_path, [
        Reply(chunks=[], done=False), stream(["whole ", "answer"])], ':goal "x"')
    assert status == "done" and len(server.requests) == 2
    assert "ended without [DONE]" in events_of(engine, ev.ModelRetry)[0].reason
    engine, _, status = await run_against(tmp_path / "again", [Reply(chunks=[], done=False)],
                                          ':goal "x"', budget="{:tokens 100000 :retries 0}")
    assert status == "failed"
    reason = events_of(engine, ev.AgentFinished)[0].reason
    assert "ended without [DONE]" in reason and "no retries left" in reason


@pytest.mark.parametrize("reply,shown", [
    (Reply(status=400, raw=b"<html>\n  <body>Bad\n   request</body>\n</html>"),
     "HTTP 400 from BASE: <html> <body>Bad request</body> </html>"),
    (Reply(status=400, json={"error": {"message": "", "type": "invalid_request_error"}}),
     "HTTP 400 from BASE: invalid_request_error"),
    (Reply(status=400, json={"error": {"message": "x" * 400}}), "x" * 299 + "…"),
])
async def test_the_servers_message_is_one_line_in_the_reason(tmp_path: Path, reply: Reply,
                                                             shown: str) -> None:
    engine, server, status = await run_against(tmp_path, [reply], ':goal "x"')
    assert status == "failed"
    reason = events_of(engine, ev.AgentFinished)[0].reason
    assert shown.replace("BASE", server.base_url) in reason and "\n" not in reason


async def test_non_streaming_server_is_understood(tmp_path: Path) -> None:
    engine, _, status = await run_against(tmp_path, [completion("plain answer")], ':goal "x"')
    assert status == "done"
    assert events_of(engine, ev.ModelResponded)[0].text == "plain answer"


async def test_cancelling_an_agent_aborts_its_request(tmp_path: Path) -> None:
    server = FakeOpenAI([Reply(json=completion("late").json, delay_s=60)])
    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        engine = make_engine(tmp_path, f'{{:task {{:task/id "root" '
                                       f':model "openai:m@{base}"}} '
                                       f':tiers [{{:depth 0 :models ["openai:m@{base}"]}}]}}')
        with trio.fail_after(10):
            async with trio.open_nursery() as run:
                run.start_soon(engine.run)
                await server.got_request.wait()
                engine.cancel("root", "stop")
            await server.saw_disconnect.wait()
        nursery.cancel_scope.cancel()
    assert finished(engine)["root"] == "cancelled"
    assert server.disconnects == 1


async def test_concurrency_cap_holds_with_200_agents(tmp_path: Path) -> None:
    _, server, status = await run_against(
        tmp_path, [completion("hi")], ':goal "fan out"', children=200,
        budget="{:tool-calls 5000 :tokens 100000000 :retries 10}",
        hold_until=DEFAULT_CONCURRENCY)
    assert status == "done"
    assert len(server.requests) >= 201
    assert server.max_in_flight == DEFAULT_CONCURRENCY


def test_model_specs() -> None:
    assert parse_model_spec("openai:gpt-5.2") == ModelSpec(provider="openai", model="gpt-5.2",
                                                           base_url=OPENAI_URL)
    assert parse_model_spec("openai:qwen3:32b@http://127.0.0.1:8000/v1/") == ModelSpec(
        provider="openai", model="qwen3:32b", base_url="http://127.0.0.1:8000/v1")
    assert parse_model_spec("ollama:qwen3:14b").base_url == OLLAMA_URL
    assert parse_model_spec("scripted:x").provider == "scripted"
    assert parse_model_spec("anthropic:claude-sonnet-4-5") == ModelSpec(
        provider="anthropic", model="claude-sonnet-4-5", base_url=ANTHROPIC_URL)
    for bad in ("gpt-5.2", "openai:", "openai:m@localhost", "mistral:x", "anthropic:"):
        with pytest.raises(UserError):
            parse_model_spec(bad)


def test_keys_go_only_to_openai(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ModelError, match="set the environment variable OPENAI_API_KEY") as info:
        api_key_for(parse_model_spec("openai:gpt-5.2"))
    assert "sk-" not in str(info.value)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert api_key_for(parse_model_spec("openai:gpt-5.2")) == "sk-test"
    assert api_key_for(parse_model_spec("openai:m@http://127.0.0.1:1/v1")) is None
    assert api_key_for(parse_model_spec("ollama:m")) is None


PROVIDERS = ':providers {"BASE" {:api-key-env "TEST_VLLM_KEY" :concurrency 3}}'
PRICES = ':prices {"test-model" {:prompt 2.0 :completion 10.0}}'


async def test_configured_key_concurrency_and_cost(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TEST_VLLM_KEY", "sk-configured")
    engine, server, status = await run_against(
        tmp_path, [completion("hi", usage=(1000, 500))], ':goal "fan out"', children=20,
        budget="{:tool-calls 500 :tokens 10000000 :retries 5}", extra=PROVIDERS + " " + PRICES,
        hold_until=3)
    assert status == "done"
    assert server.max_in_flight == 3
    assert {r["headers"]["authorization"] for r in server.requests} == {"Bearer sk-configured"}
    assert "sk-configured" not in (engine.run_dir / "events.jsonl").read_text()
    per_call = (1000 * 2.0 + 500 * 10.0) / 1_000_000
    costs = [r.charged["cost"] for r in events_of(engine, ev.ModelResponded)]
    assert costs and all(c == pytest.approx(per_call) for c in costs)
    child = engine.state.agents["root.c0"]
    assert child.used["cost"] == pytest.approx(per_call * child.turns)
    # the root's last charge comes after every child finished: it includes theirs (roll-up)
    all_turns = sum(a.turns for a in engine.state.agents.values())
    assert engine.state.agents["root"].used["cost"] == pytest.approx(per_call * all_turns)


async def test_cost_budget_runs_out(tmp_path: Path) -> None:
    engine, _, status = await run_against(
        tmp_path, [completion("more", [("report-state", {"facts": {}})], usage=(1000, 1000))],
        ':goal "spend"', budget="{:tool-calls 50 :tokens 10000000 :cost 0.05}",
        extra=':prices {"test-model" {:prompt 10.0 :completion 10.0}}')
    assert status == "budget-exhausted"
    assert [e.kind for e in events_of(engine, ev.BudgetExhausted)] == ["cost"]


async def test_missing_configured_key_fails_clearly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("NOPE_KEY", raising=False)
    engine, server, status = await run_against(
        tmp_path, [completion("x")], ':goal "x"',
        extra=':providers {"openai" {:api-key-env "NOPE_KEY"}}')
    assert status == "failed" and not server.requests
    reason = events_of(engine, ev.AgentFinished)[0].reason
    assert "set the environment variable NOPE_KEY" in reason


async def test_rate_limiter_paces_requests_and_tokens(autojump_clock) -> None:
    limiter = RateLimiter(requests_per_minute=2, tokens_per_minute=None)
    start = trio.current_time()
    for _ in range(4):
        await limiter.acquire()
    assert trio.current_time() - start == pytest.approx(60)  # 2 at once, then one per 30 s
    tokens = RateLimiter(requests_per_minute=None, tokens_per_minute=600)
    start = trio.current_time()
    await tokens.acquire(600)
    tokens.spend(300)  # the completion, learned afterwards
    await tokens.acquire(300)
    assert trio.current_time() - start == pytest.approx(60)  # 600 back in the bucket
