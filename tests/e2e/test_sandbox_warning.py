"""``agenttree run`` says so, in one line at start, when a model on the network drives agents
whose ``sh`` runs without the OS sandbox (a command could read the engine's API keys)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NETWORK = "openai:m@http://127.0.0.1:9/v1"  # nothing listens: the run fails fast (no retries)


def run(tmp_path: Path, *, model: str = NETWORK, sandbox: str = "off",
        tools: str = ":all") -> subprocess.CompletedProcess[str]:
    plan = tmp_path / "p.edn"
    plan.write_text(f'{{:tiers [{{:depth 0 :models ["{model}"] :tools {tools}'
                    f' :budget {{:retries 0 :tool-calls 5}}}}]'
                    f' :sandbox :{sandbox} :task {{:task/id "root" :goal "look around"}}}}')
    return subprocess.run([sys.executable, "-m", "agenttree", "run", str(plan), "--run-dir",
                           str(tmp_path / "run"), "--quiet"], capture_output=True, text=True,
                          timeout=120)


def test_a_network_model_with_unsandboxed_sh_is_warned_at_start(tmp_path: Path) -> None:
    done = run(tmp_path)
    first = done.stderr.splitlines()[0]
    assert first.startswith("agenttree: warning: sh runs without a sandbox here "
                            "(:sandbox :off) while openai:m@http://127.0.0.1:9/v1 drives")
    assert "API keys" in first and "apt-get install bubblewrap" in first
    assert done.stderr.count("warning: sh runs without a sandbox") == 1


@pytest.mark.parametrize(("model", "sandbox", "tools"), [
    ("scripted", "off", ":all"),          # the offline model reaches nothing
    (NETWORK, "off", "[:read-file]"),     # no agent may run sh
])
def test_no_warning_when_nothing_is_at_risk(tmp_path: Path, model: str, sandbox: str,
                                           tools: str) -> None:
    assert "sh runs without a sandbox" not in run(tmp_path, model=model, sandbox=sandbox,
                                                   tools=tools).stderr


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_no_warning_when_sh_is_sandboxed(tmp_path: Path) -> None:
    assert "sh runs without a sandbox" not in run(tmp_path, sandbox="auto").stderr
