"""The `agenttree` command as a user runs it: real processes, real files, real signals."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agenttree.log import read_events
from agenttree.state import fold

from ..sandbox.test_procs import alive_in_groups, alive_with_arg

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "plans" / "demo.edn"


def agenttree(*args: str, cwd: Path, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agenttree", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, **kwargs)


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = agenttree("run", str(DEMO), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("demo-")
    out = result.stdout
    assert f"run directory: {runs[0]}".replace(str(tmp_path) + "/", "") in out
    for task in ("root", "lib", "tests", "docs", "explorer"):
        assert task in out
    assert "ran out of tool_calls" in out and "attempt 2" in out  # the budget and the grant
    assert "failed (exit 1)" in out and "passed" in out  # lib's retry
    workspace = runs[0] / "workspace"
    assert (workspace / "textstats" / "textstats.py").exists()
    assert (workspace / "docs" / "README.md").exists()
    state = fold(read_events(runs[0] / "events.jsonl"))
    assert state.status == "done"
    assert {a.status for a in state.agents.values()} == {"done"}


def test_replay_prints_state_and_json(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    assert agenttree("run", str(DEMO), "--run-dir", str(run_dir), "--quiet",
                     cwd=tmp_path).returncode == 0
    table = agenttree("replay", str(run_dir), cwd=tmp_path)
    assert table.returncode == 0 and "root.lib.tests" in table.stdout
    data = json.loads(agenttree("replay", str(run_dir), "--json", cwd=tmp_path).stdout)
    assert data["status"] == "done" and data["root"] == "root"
    early = json.loads(agenttree("replay", str(run_dir), "--json", "--until", "3",
                                 cwd=tmp_path).stdout)
    assert early["seq"] == 3 and early["status"] == "running"


def test_replay_reports_a_torn_tail_and_refuses_corruption(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    agenttree("run", str(DEMO), "--run-dir", str(run_dir), "--quiet", cwd=tmp_path)
    log = run_dir / "events.jsonl"
    data = log.read_bytes()
    log.write_bytes(data[:-20])
    torn = agenttree("replay", str(run_dir), cwd=tmp_path)
    assert torn.returncode == 0 and "dropped a torn last record" in torn.stderr
    lines = data.split(b"\n")
    lines[5] = lines[5].replace(b'"seq":6', b'"seq":7')
    log.write_bytes(b"\n".join(lines))
    bad = agenttree("replay", str(run_dir), cwd=tmp_path)
    assert bad.returncode == 2
    assert "events.jsonl:6: corrupt event record" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("content,fragment", [
    ('{:task/id "r"\n :gaol "x"}', "bad.edn:2: :gaol: unknown key"),
    ("{:task/id", "bad.edn:1: EDN syntax error"),
    ('{:task/id "r" :cwd "../x"}', "leaves the workspace"),
])
def test_bad_plans_exit_2_with_one_line(tmp_path: Path, content: str, fragment: str) -> None:
    (tmp_path / "bad.edn").write_text(content)
    for command in (["run", "bad.edn"], ["plan", "check", "bad.edn"]):
        result = agenttree(*command, cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and fragment in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()  # nothing was started


@pytest.mark.parametrize("args,fragment", [
    (["run", "missing.edn"], "missing.edn: no such file"),
    (["run", str(DEMO), "--durability", "sometimes"], "invalid choice"),
    (["run", str(DEMO), "--seed", "x"], "invalid int value"),
    (["replay", "nowhere"], "no such event log"),
    (["frobnicate"], "invalid choice"),
    (["run", str(DEMO), "--model", "openai:gpt-5.2"], "environment variable OPENAI_API_KEY"),
    (["run", str(DEMO), "--model", "claude:x"], "write provider:model"),
    (["run", str(DEMO), "--model", "openai:m@ftp://x"], "must be an http(s) URL"),
    (["run", str(ROOT / "tests" / "plans" / "real-models.edn")], "model 'gpt-x'"),
])
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], fragment: str) -> None:
    env = {k: v for k, v in __import__("os").environ.items() if k != "OPENAI_API_KEY"}
    result = agenttree(*args, cwd=tmp_path, env=env)
    assert result.returncode == 2 and fragment in result.stderr
    assert "Traceback" not in result.stderr


def test_existing_run_dir_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "r"
    assert agenttree("run", str(DEMO), "--run-dir", str(run_dir), "--quiet",
                     cwd=tmp_path).returncode == 0
    again = agenttree("run", str(DEMO), "--run-dir", str(run_dir), cwd=tmp_path)
    assert again.returncode == 2 and "already holds a run" in again.stderr


def test_plan_check_summarises(tmp_path: Path) -> None:
    result = agenttree("plan", "check", str(DEMO), cwd=tmp_path)
    assert result.returncode == 0 and "5 tasks, depth 2" in result.stdout


SLOW = """
{:task {:task/id "root" :script [{:say "wait for kids"}]
        :children [{:task/id "a"
                    :script [{:call :sh :args {:cmd "sleep 987.321 & sleep 987.321; wait"
                                               :timeout_s 1000}}]}
                   {:task/id "b" :script [{:call :wait :args {:timeout_s 1000}}]}]}}
"""


def test_ctrl_c_cancels_the_tree_cleanly(tmp_path: Path) -> None:
    (tmp_path / "slow.edn").write_text(SLOW)
    run_dir = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "agenttree", "run", "slow.edn", "--run-dir",
                             str(run_dir)], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # wait (on the log, not the clock) until the shell command is running
    while True:
        log = run_dir / "events.jsonl"
        if log.exists() and b'"process/started"' in log.read_bytes():
            break
        assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    state = fold(read_events(run_dir / "events.jsonl"))
    assert state.status == "cancelled"
    assert {a.status for a in state.agents.values()} == {"cancelled"}
    assert state.processes
    assert alive_in_groups(set(state.processes)) == []
    assert alive_with_arg("987.321") == []  # also inside the sandbox, when there is one
    assert "run directory" in out


def test_engine_never_imports_the_ui() -> None:
    code = ("import sys, agenttree.cli, agenttree.runtime.engine; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tui', 'textual')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_cancel_and_say_from_another_process(tmp_path: Path) -> None:
    plan = tmp_path / "waiting.edn"
    plan.write_text("""
{:task {:task/id "root" :script [{:say "waiting"}]
        :children [{:task/id "a" :script [{:call :wait :args {:timeout_s 1000}}]}
                   {:task/id "b" :script [{:call :wait :args {:timeout_s 1000}}
                                          {:call :wait :args {:timeout_s 1000}}]}]}}
""")
    run_dir = tmp_path / "r"
    engine = subprocess.Popen([sys.executable, "-m", "agenttree", "run", str(plan),
                               "--run-dir", str(run_dir), "--quiet"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not (run_dir / "events.jsonl").exists() or \
                b'"tool":"wait"' not in (run_dir / "events.jsonl").read_bytes():
            assert engine.poll() is None, engine.communicate()
        said = agenttree("say", str(run_dir), "root.b", "please stop waiting", cwd=tmp_path)
        assert said.returncode == 0 and "delivered to root.b" in said.stdout
        bad = agenttree("cancel", str(run_dir), "root.nobody", cwd=tmp_path)
        assert bad.returncode == 2 and "no running agent 'root.nobody'" in bad.stderr
        for agent in ("root.a", "root.b"):
            done = agenttree("cancel", str(run_dir), agent, cwd=tmp_path)
            assert done.returncode == 0, done.stderr
        out, err = engine.communicate(timeout=30)
    finally:
        engine.kill()
    assert engine.returncode == 0, out + err  # root finished on its own once its kids ended
    state = fold(read_events(run_dir / "events.jsonl"))
    assert state.agents["root.a"].status == state.agents["root.b"].status == "cancelled"
    assert any(m.get("text") == "please stop waiting" for m in
               state.agents["root.b"].conversation)


def test_control_commands_need_a_run_dir(tmp_path: Path) -> None:
    result = agenttree("cancel", str(tmp_path), "root", cwd=tmp_path)
    assert result.returncode == 2 and "not a run directory" in result.stderr


def test_conflict_demo_and_the_lock_table(tmp_path: Path) -> None:
    run_dir = tmp_path / "c"
    result = agenttree("run", str(ROOT / "plans" / "conflict.edn"), "--run-dir", str(run_dir),
                       cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    table = agenttree("locks", str(run_dir), cwd=tmp_path)
    assert table.returncode == 0
    assert "no locks held" in table.stdout and "fork by editor" in table.stdout
    state = fold(read_events(run_dir / "events.jsonl"))
    opened = next(e.seq for e in read_events(run_dir / "events.jsonl")
                  if e.event.TYPE == "conflict/opened")
    mid = agenttree("locks", str(run_dir), "--until", str(opened), cwd=tmp_path)
    assert "editor.writer-a" in mid.stdout and "editor.writer-b" in mid.stdout
    assert state.conflicts["c1"]["status"] == "fork"
    notes = (run_dir / "workspace" / "shared" / "notes.md").read_text()
    assert "writer-a" in notes and "writer-b" in notes


SHORTFALLS = """
{:task {:task/id "root" :script [{:say "waiting"} {:say "heard back"} {:say "all heard"}]
        :acceptance [(sh "true")]
        :children [{:task/id "fine" :script [{:say "fine"}]}
                   {:task/id "broken" :budget {:retries 0} :script [{:say "tried"}]
                    :acceptance [(sh "echo nope; exit 3")]}
                   {:task/id "greedy" :budget {:tool-calls 1}
                    :script [{:call :list-dir :args {:path "."}}
                             {:call :list-dir :args {:path "."}}]}]}}
"""


def test_a_run_whose_child_failed_exits_1_naming_it_last(tmp_path: Path) -> None:
    plan = tmp_path / "shortfalls.edn"
    plan.write_text(SHORTFALLS)
    run_dir = tmp_path / "r"
    result = agenttree("run", str(plan), "--run-dir", str(run_dir), "--quiet", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    state = fold(read_events(run_dir / "events.jsonl"))
    assert state.status == "done"  # the root's acceptance passed: that alone is not success
    tail = result.stdout.strip().splitlines()[-3:]
    assert tail == [
        "2 tasks did not end done:",
        "  ✗ failed task broken (root.broken): acceptance failed, no retries left: "
        "`echo nope; exit 3` (exit 3)",
        "  $ budget-exhausted task greedy (root.greedy): tool_calls budget exhausted (1 of 1)"]
    resumed = agenttree("resume", str(run_dir), cwd=tmp_path)
    assert resumed.returncode == 1, resumed.stdout + resumed.stderr
    assert "nothing to resume" in resumed.stdout
    assert resumed.stdout.strip().splitlines()[-3:] == tail


def test_a_run_whose_tasks_all_ended_done_says_so_last(tmp_path: Path) -> None:
    plan = tmp_path / "fine.edn"
    plan.write_text('{:task {:task/id "root" :children [{:task/id "a" :script [{:say "ok"}]}]}}')
    result = agenttree("run", str(plan), "--run-dir", str(tmp_path / "r"), "--quiet",
                       cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "✓ done: every task ended done"
