"""A server's error message that echoes the key never reaches anything agenttree logs, prints
or serves: the run directory, the command's output, ``/api/state``, a bench report."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import httpx
import trio

from agenttree.redact import REDACTED, add_secret, holds_secret, redact, redact_data

from ..models.fake_openai import FakeOpenAI, completion
from ..web.conftest import TOKEN, start_server

KEY = "sk-test-SECRET-key-0123456789abcdef"
"""The key the plan configures; the server expects another, and says which one it got."""


def _plan(base: str) -> str:
    return f"""
{{:providers {{"{base}" {{:api-key-env "AGENTTREE_TEST_KEY"}}}}
 :tiers [{{:depth 0 :models ["openai:test-model@{base}"] :budget {{:retries 1}}}}]
 :task {{:task/id "root" :goal "say hi"}}}}
"""


def _everything_in(directory: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(directory.rglob("*"))
                     if p.is_file())


async def test_an_echoed_key_is_redacted_in_the_log_the_output_and_the_web_state(
        tmp_path: Path) -> None:
    server = FakeOpenAI([completion("hi")], api_key="sk-the-right-one")
    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        plan = tmp_path / "plan.edn"
        plan.write_text(_plan(base))
        run_dir = tmp_path / "run"
        with trio.fail_after(60):
            result = await trio.run_process(
                [sys.executable, "-m", "agenttree", "run", str(plan), "--run-dir", str(run_dir)],
                capture_stdout=True, capture_stderr=True, check=False,
                env={**os.environ, "AGENTTREE_TEST_KEY": KEY, "COLUMNS": "200"})
        output = (result.stdout + result.stderr).decode()
        assert result.returncode == 1, output
        assert server.refused and KEY in server.refused[0]  # the server did echo it
        files = _everything_in(run_dir)
        assert KEY not in files
        assert f"'Authorization: Bearer {REDACTED}'" in files
        assert KEY not in output
        assert f"Bearer {REDACTED}" in output  # the reason is shown, the key is not
        web, _ = await start_server(nursery, run_dir)
        async with httpx.AsyncClient(trust_env=False, timeout=10) as http:
            state = await http.get(f"{web}/api/state?token={TOKEN}")
        assert state.status_code == 200
        assert REDACTED in state.text and KEY not in state.text
        nursery.cancel_scope.cancel()


def test_redaction_covers_every_key_in_any_text_and_json() -> None:
    add_secret("k3y-one-0123")
    add_secret("k3y-one-0123-longer")  # a key containing another is replaced whole
    add_secret('k"quoted\\key')
    text = "a k3y-one-0123-longer b k3y-one-0123 c"
    assert redact(text) == f"a {REDACTED} b {REDACTED} c"
    data = {"k3y-one-0123": ["x k3y-one-0123", 1, {"y": 'k"quoted\\key'}]}
    assert redact_data(data) == {REDACTED: [f"x {REDACTED}", 1, {"y": REDACTED}]}
    assert holds_secret(b'{"y":"k\\"quoted\\\\key"}')
    assert not holds_secret(b'{"y":"nothing here"}')
