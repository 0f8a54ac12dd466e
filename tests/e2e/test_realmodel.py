"""A real model: SmolLM2-135M behind llama.cpp's OpenAI-compatible server (``realmodel``
marker; see ``tests/realmodel.py``). Its answers are valid JSON but seldom sensible, so these
tests assert how agenttree handles them, not what they say."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.log import LogReader, read_events
from agenttree.state import fold

from ..realmodel import LlamaServer

pytestmark = pytest.mark.realmodel


def _agenttree(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agenttree", *args], capture_output=True,
                          text=True, stdin=subprocess.DEVNULL,
                          env={**os.environ, "COLUMNS": "200"}, check=False)


def _plan(server: LlamaServer, *, stream: bool = False, choice: str = ":write-file",
          retries: int = 1) -> str:
    return f"""
{{:providers {{"{server.base_url}" {{:stream {"true" if stream else "false"}}}}}
 :model-settings {{"smollm2" {{:max-output-tokens 128 :temperature 0 :seed 7}}}}
 :sandbox :off
 :tiers [{{:depth 0 :models ["{server.spec}"] :tools [:write-file :finish]
          :tool-choice {choice} :budget {{:tool-calls 4 :tokens 100000 :retries {retries}}}}}]
 :task {{:task/id "root"
        :goal "Write the word hello into the file hello.txt, then call finish."}}}}
"""


def _run(tmp_path: Path, plan: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    (tmp_path / "plan.edn").write_text(plan)
    run_dir = tmp_path / "run"
    return _agenttree("run", str(tmp_path / "plan.edn"), "--run-dir", str(run_dir),
                      "--quiet"), run_dir


def test_a_plan_runs_to_its_end_on_a_real_model(llama: LlamaServer, tmp_path: Path) -> None:
    result, run_dir = _run(tmp_path, _plan(llama))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    reader = LogReader(run_dir / "events.jsonl")
    entries = list(reader)
    assert reader.torn is None
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert isinstance(entries[-1].event, ev.RunFinished)
    state = fold(entries)
    assert state.status == entries[-1].event.status
    events = [e.event for e in entries]
    responded = [e for e in events if isinstance(e, ev.ModelResponded)]
    assert responded, "the model was asked at least once"
    # token counts are the server's, not estimates
    assert all(not r.usage["estimated"] and r.usage["prompt"] > 0 for r in responded)
    # every call the model made was parsed, then executed or refused with a clear tool error
    made = [c["id"] for r in responded for c in r.calls]
    requested = [e.call for e in events if isinstance(e, ev.ToolRequested)]
    results = {e.call: e for e in events if isinstance(e, ev.ToolResult)}
    assert requested == made[:len(requested)]
    assert set(requested) == set(results)
    assert all(r.ok or r.output.strip() for r in results.values())
    # the named tool was forced on the first turn only
    params = [e.params for e in events if isinstance(e, ev.ModelRequested)]
    assert params[0]["tool_choice"] == {"type": "function", "function": {"name": "write-file"}}
    assert all(p["tool_choice"] == "auto" for p in params[1:])
    assert all("stream" not in p and p["max_tokens"] == 128 for p in params)
    assert responded[0].calls and responded[0].calls[0]["tool"] == "write-file"
    finished = [e for e in events if isinstance(e, ev.AgentFinished)]
    assert "HTTP" not in finished[-1].reason  # no request was refused


@pytest.mark.parametrize("stream,choice,message", [
    # it fails after sending its headers ("Automatic streaming tool choice is not supported",
    # in its own log only), so the stream ends without [DONE]
    (True, ":auto", "ended without [DONE]"),
    (False, ":required", "HTTP 500 internal_server_error"),
])
def test_what_the_server_refuses_ends_the_agent_with_its_own_message(
        llama: LlamaServer, tmp_path: Path, stream: bool, choice: str, message: str) -> None:
    result, run_dir = _run(tmp_path, _plan(llama, stream=stream, choice=choice, retries=0))
    assert result.returncode == 1, result.stdout + result.stderr
    finished = [e.event for e in read_events(run_dir / "events.jsonl")
                if isinstance(e.event, ev.AgentFinished)]
    reason = finished[-1].reason
    assert finished[-1].status == "failed" and message in reason and "\n" not in reason

