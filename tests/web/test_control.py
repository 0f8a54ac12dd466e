"""Control through the web server, answered by a real engine running in-process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from agenttree.control import MAX_COMMAND
from agenttree.plan import parse_plan
from agenttree.runtime.engine import Engine
from agenttree.web import hub

from .conftest import TOKEN, start_server

WAITERS = """
{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 100 :tokens 100000}}]
 :task {:task/id "root" :script [{:say "waiting for children"}]
        :children [{:task/id "a" :script [{:call :wait :args {:timeout_s 100000}}]}
                   {:task/id "b" :script [{:call :wait :args {:timeout_s 100000}}]}]}}
"""
HEADERS = {"X-Agenttree-Token": TOKEN}


@pytest.fixture
async def engine_served(tmp_path: Path, nursery: trio.Nursery) -> tuple[Engine, str]:
    engine = Engine(parse_plan(WAITERS, source="test.edn"), tmp_path / "run", durability="none")
    nursery.start_soon(engine.run)
    with trio.fail_after(10):
        while "root.b" not in engine.state.agents:
            await trio.sleep(0.01)
    base, _ = await start_server(nursery, engine.run_dir)
    return engine, base


async def post(http: httpx.AsyncClient, base: str, body: bytes,
               headers: dict[str, str] | None = None) -> httpx.Response:
    return await http.post(f"{base}/api/control", content=body,
                           headers=HEADERS if headers is None else headers)


async def test_cancel_is_applied_and_answered(engine_served, http: httpx.AsyncClient) -> None:
    engine, base = engine_served
    r = await post(http, base, b'{"cmd": "cancel", "agent": "root.a"}')
    assert r.status_code == 200
    assert r.json() == {"line": 1, "status": "applied",
                        "detail": "cancelling root.a and its subtree"}
    with trio.fail_after(10):
        while engine.state.agents["root.a"].status != "cancelled":
            await trio.sleep(0.01)
    r = await post(http, base, b'{"cmd": "message", "agent": "root.b", "text": "hi"}',
                   headers={"Authorization": f"Bearer {TOKEN}"})
    assert (r.status_code, r.json()["status"]) == (200, "applied")
    engine.cancel("root", "test over")


async def test_control_needs_the_token_in_a_header(engine_served,
                                                   http: httpx.AsyncClient) -> None:
    engine, base = engine_served
    body = b'{"cmd": "cancel", "agent": "root.a"}'
    for url, headers in [(f"{base}/api/control?token={TOKEN}", {}),
                         (f"{base}/api/control", {"X-Agenttree-Token": "wrong"}),
                         (f"{base}/api/control", {"Authorization": TOKEN})]:
        r = await http.post(url, content=body, headers=headers)
        assert r.status_code == 401
        assert "token" in r.json()["error"]
    assert not (engine.run_dir / "control.jsonl").exists() or \
        (engine.run_dir / "control.jsonl").read_bytes() == b""
    engine.cancel("root", "test over")


@pytest.mark.parametrize(("body", "status", "message"), [
    (b"not json", 400, "the body is not JSON"),
    (b"[1, 2]", 400, "a command is a JSON object, got list"),
    (b'{"agent": "root.a"}', 400, 'a command needs "cmd"'),
    (b'{"cmd": 7}', 400, 'a command needs "cmd"'),
    (b"", 400, "the body is not JSON"),
    (b'{"cmd": "cancel", "text": "' + b"x" * MAX_COMMAND + b'"}', 413, "at most"),
])
async def test_malformed_commands_get_a_clear_error(engine_served, http: httpx.AsyncClient,
                                                    body: bytes, status: int,
                                                    message: str) -> None:
    engine, base = engine_served
    r = await post(http, base, body)
    assert r.status_code == status
    assert message in r.json()["error"]
    r = await post(http, base, b'{"cmd": "cancel", "agent": "root.b"}')  # still serving
    assert r.json()["status"] == "applied"
    engine.cancel("root", "test over")


async def test_commands_the_engine_refuses_come_back_rejected(
        engine_served, http: httpx.AsyncClient) -> None:
    engine, base = engine_served
    r = await post(http, base, b'{"cmd": "cancel", "agent": "root.nobody"}')
    assert (r.status_code, r.json()["status"]) == (422, "rejected")
    assert r.json()["detail"] == "no running agent 'root.nobody'"
    engine.cancel("root", "test over")


@pytest.mark.parametrize(("body", "message"), [
    (b'{"cmd": "fly"}', "unknown command 'fly'; this engine knows: cancel, message"),
    (b'{"cmd": "cancel"}', "'cancel' needs 'agent' (a non-empty string)"),
    (b'{"cmd": "message", "agent": "root.a", "text": 7}', "'message' needs 'text'"),
    (b'{"cmd": "grant", "agent": "root.a", "budget": {"wall-s": 5}}', "wall-s cannot be granted"),
    (b'{"cmd": "reconcile", "plan": "../../etc"}', "by its sha256"),
    (b'{"cmd": "grant", "agent": "root.a", "budget": {"tool-calls": 100000000000000000000000}}',
     "budget: tool-calls: must be at most"),
])
async def test_a_command_the_protocol_refuses_is_never_appended(
        engine_served, http: httpx.AsyncClient, body: bytes, message: str) -> None:
    """The web view checks a command against the same records the engine decodes with, so a
    malformed one is a 400 with the engine's own words, and control.jsonl never sees it."""
    engine, base = engine_served
    r = await post(http, base, body)
    assert r.status_code == 400 and message in r.json()["error"]
    control = engine.run_dir / "control.jsonl"
    assert not control.exists() or control.read_bytes() == b""
    engine.cancel("root", "test over")


async def test_a_finished_run_takes_no_commands(engine_served, http: httpx.AsyncClient) -> None:
    engine, base = engine_served
    engine.cancel("root", "test over")
    with trio.fail_after(10):
        while (await http.get(f"{base}/api/state", headers=HEADERS)).json()["status"] == \
                "running":
            await trio.sleep(0.02)
    r = await post(http, base, b'{"cmd": "cancel", "agent": "root.a"}')
    assert r.status_code == 400
    assert r.json()["error"] == "the run has finished (cancelled); nothing to control"


async def test_no_answer_in_time_says_the_command_is_queued(
        served, http: httpx.AsyncClient, monkeypatch) -> None:
    monkeypatch.setattr(hub, "ACK_WAIT_S", 0.2)  # no engine runs behind this log
    r = await post(http, served.base, b'{"cmd": "cancel", "agent": "root.a"}')
    assert r.status_code == 504
    assert r.json() == {"line": 1, "status": "pending",
                        "detail": "queued as line 1; no engine answered within 0.2s"}
    assert (served.log.run_dir / "control.jsonl").read_bytes() == \
        b'{"cmd":"cancel","agent":"root.a"}\n'


async def test_a_command_that_broke_the_engine_is_answered_rejected(
        engine_served, http: httpx.AsyncClient) -> None:
    """Answered 422 with the reason (not 504 from a dead engine), and the run goes on."""
    engine, base = engine_served
    (engine.run_dir / "plan.edn").write_bytes(b'{:task/id "root" :goal "caf\xe9"}')
    r = await post(http, base, b'{"cmd": "reconcile"}')
    assert (r.status_code, r.json()["status"]) == (422, "rejected")
    assert "is not UTF-8 text" in r.json()["detail"]
    r = await post(http, base, b'{"cmd": "cancel", "agent": "root.b"}')
    assert (r.status_code, r.json()["status"]) == (200, "applied")
    engine.cancel("root", "test over")
