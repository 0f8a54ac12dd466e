"""The engine's HTTP client: built only when a network model first asks for it, shared by every
agent, closed with the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import trio

from agenttree.models.base import ModelClient
from agenttree.models.shared_http import SharedHttp
from agenttree.plan import parse_plan
from agenttree.runtime.agent import Agent
from agenttree.runtime.engine import Engine

from ..models.fake_openai import FakeOpenAI, completion
from .test_engine import finished

ROOT = Path(__file__).resolve().parents[2]


async def test_the_client_is_built_once_on_first_use_and_closed() -> None:
    shared = SharedHttp(timeout_s=5, connect_s=1, max_connections=3)
    assert not shared.built
    await shared.aclose()  # nothing built: nothing to close
    client = shared.client()
    assert shared.built and shared.client() is client
    assert client.timeout.read == 5 and client.timeout.connect == 1
    await shared.aclose()
    assert client.is_closed and not shared.built


def test_a_scripted_run_never_imports_httpx(tmp_path: Path) -> None:
    code = ("import sys; from agenttree.cli import main; rc = main(sys.argv[1:]); "
            "print(rc, 'httpx' in sys.modules)")
    result = subprocess.run(
        [sys.executable, "-c", code, "run", "plans/demo.edn", "--model", "scripted", "--quiet",
         "--run-dir", str(tmp_path / "run")], cwd=ROOT, capture_output=True, text=True,
        timeout=120)
    assert result.stdout.splitlines()[-1] == "0 False", result.stderr


async def test_network_agents_share_one_client_closed_when_the_run_ends(tmp_path: Path) -> None:
    server = FakeOpenAI([completion("", [("spawn", {"goal": "help"})]), completion("done")])
    clients = []

    class Recording(Engine):
        def model_for(self, agent: Agent) -> ModelClient:
            model = super().model_for(agent)
            clients.append(model._http)
            return model

    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        engine = Recording(parse_plan(f"""
{{:tiers [{{:depth 0 :models ["openai:m@{base}"] :tools [:spawn :finish]}}
          {{:depth 1 :models ["openai:m@{base}"] :tools [:finish]}}]
 :providers {{"{base}" {{:stream false}}}}
 :task {{:task/id "root" :goal "spawn one helper"}}}}"""), tmp_path / "run", durability="none")
        with trio.fail_after(30):
            status = await engine.run()
        nursery.cancel_scope.cancel()
    assert status == "done", finished(engine)
    assert set(engine.state.agents) == {"root", "root.1"}
    assert len(clients) == 2 and clients[0] is clients[1]
    assert clients[0].is_closed and not engine.http.built
