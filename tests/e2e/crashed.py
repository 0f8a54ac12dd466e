"""A run whose engine was killed with SIGKILL mid-run and whose last record was then torn in half,
as a crash in the middle of a write leaves it; and its resume."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from agenttree.control import Cancel, append_command

from .test_crash import tear_last_line

PLAN = """
{:run/name "torn"
 :tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 50 :tokens 100000}}]
 :task {:task/id "root" :script [{:say "waiting for the children"}]
        :children [{:task/id "a" :script [{:call :sh :args {:cmd "echo a"}}
                                          {:call :wait :args {:timeout_s 100000}}]}
                   {:task/id "b" :script [{:call :wait :args {:timeout_s 100000}}]}]}}
"""
WAITING = b'"tool":"wait"'


def crashed_run(tmp_path: Path) -> Path:
    """Start a real engine, SIGKILL it once both children wait, tear its last record."""
    plan = tmp_path / "torn.edn"
    plan.write_text(PLAN)
    run_dir = tmp_path / "run"
    log = run_dir / "events.jsonl"
    engine = subprocess.Popen([sys.executable, "-m", "agenttree", "run", str(plan), "--run-dir",
                               str(run_dir), "--quiet"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        while not log.exists() or log.read_bytes().count(WAITING) < 2:
            assert engine.poll() is None, engine.communicate()
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.communicate()
    tear_last_line(log)
    return run_dir


def resume_cancelled(run_dir: Path) -> subprocess.CompletedProcess[bytes]:
    """Resume the run with a cancel of the root queued, so it ends at once (status 1)."""
    append_command(run_dir, Cancel(agent="root"))
    return subprocess.run([sys.executable, "-m", "agenttree", "resume", str(run_dir),
                           "--quiet"], capture_output=True, timeout=120)
