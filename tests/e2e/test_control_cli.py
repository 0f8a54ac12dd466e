"""reassign, reconcile, grant and plan export from another process, against a live engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agenttree.log import read_events
from agenttree.plan import load_plan
from agenttree.state import fold

from .test_cli import agenttree

PLAN = """
{:tiers [{:depth 0 :models ["scripted" "scripted:alt"] :budget {:tool-calls 100 :tokens 100000}}]
 :task {:task/id "root" :script [{:say "waiting"}]
        :children [{:task/id "a" :script [{:call :wait :args {:timeout_s 1000}}]}
                   {:task/id "b" :budget {:tool-calls 5}
                    :script [{:call :spawn :args {:goal "helper" :script [{:say "hi"}]}}
                             {:call :wait :args {:timeout_s 1000}}
                             {:call :wait :args {:timeout_s 1000}}
                             {:call :wait :args {:timeout_s 1000}}]}]}}
"""


def wait_for(run_dir: Path, needle: bytes, engine: subprocess.Popen) -> None:
    """Until the log holds ``needle`` (the engine polls its control file every 0.1 s anyway)."""
    log = run_dir / "events.jsonl"
    while not log.exists() or needle not in log.read_bytes():
        assert engine.poll() is None, engine.communicate()


def test_steering_a_live_run_from_the_command_line(tmp_path: Path) -> None:
    plan = tmp_path / "plan.edn"
    plan.write_text(PLAN)
    run_dir = tmp_path / "r"
    engine = subprocess.Popen([sys.executable, "-m", "agenttree", "run", str(plan),
                               "--run-dir", str(run_dir), "--quiet"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(run_dir, b'"agent":"root.b","call"', engine)
        wait_for(run_dir, b'"agent":"root.b.1"', engine)

        moved = agenttree("reassign", str(run_dir), "a", "--model", "scripted:alt", cwd=tmp_path)
        assert moved.returncode == 0 and "reassigned a: 1 changed" in moved.stdout, moved.stderr
        refused = agenttree("reassign", str(run_dir), "a", "--model", "gpt-9", cwd=tmp_path)
        assert refused.returncode == 2 and "not allowed" in refused.stderr

        granted = agenttree("grant", str(run_dir), "root.b", "tool-calls=2", cwd=tmp_path)
        assert granted.returncode == 0 and "granted" in granted.stdout, granted.stderr
        for bad in (["tool-calls"], ["tool-calls=lots"], ["tool-calls=-1"]):
            result = agenttree("grant", str(run_dir), "root.b", *bad, cwd=tmp_path)
            assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr

        before = (run_dir / "plan.edn").read_text()
        broken = tmp_path / "broken.edn"
        broken.write_text(before.replace(':task/id "a"', ':task/id "a" :goal 12'))
        bad = agenttree("reconcile", str(run_dir), str(broken), cwd=tmp_path)
        assert bad.returncode == 2 and "goal" in bad.stderr and "Traceback" not in bad.stderr
        assert (run_dir / "plan.edn").read_text() == before

        edited = tmp_path / "edited.edn"
        edited.write_text(before.replace(':task/id "a"',
                                         ':task/id "a" :children [{:task/id "c" :goal "new"}]'))
        applied = agenttree("reconcile", str(run_dir), str(edited), cwd=tmp_path)
        assert applied.returncode == 0, applied.stderr
        assert "diff: 1 added" in applied.stdout and "reconciled: 1 added" in applied.stdout

        exported = agenttree("plan", "export", str(run_dir), "-o", str(tmp_path / "x.edn"),
                             cwd=tmp_path)
        assert exported.returncode == 0, exported.stderr
        checked = agenttree("plan", "check", str(tmp_path / "x.edn"), cwd=tmp_path)
        assert checked.returncode == 0, checked.stderr
        tasks = {t.id: p.id if p else None for t, p, _ in load_plan(tmp_path / "x.edn").walk()}
        assert tasks == {"root": None, "a": "root", "c": "a", "b": "root", "b-1": "b"}

        assert agenttree("cancel", str(run_dir), "root", cwd=tmp_path).returncode == 0
        engine.communicate(timeout=60)
    finally:
        engine.kill()
    state = fold(read_events(run_dir / "events.jsonl"))
    assert state.agents["root.a"].model == "scripted:alt"
    assert state.agents["root.a"].attempt == 2
    assert state.agents["root.b"].limits["tool_calls"] == 7
    late = agenttree("cancel", str(run_dir), "root.a", cwd=tmp_path)
    assert late.returncode == 2 and "the run has finished" in late.stderr
    in_force = (run_dir / "plan.edn").read_text()
    too_late = agenttree("reconcile", str(run_dir), str(plan), cwd=tmp_path)
    assert too_late.returncode == 2 and "the run has finished" in too_late.stderr
    assert (run_dir / "plan.edn").read_text() == in_force  # nothing copied in
