"""Approvals from another process: ``agenttree approve|deny`` while ``agenttree run`` waits, and a
pending approval that survives SIGKILL and ``resume``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from agenttree import events as ev
from agenttree.log import read_events

from .test_cli import agenttree
from .test_control_cli import wait_for

PLAN = """
{:tiers [{:depth 0 :models ["scripted"] :approve [:sh :write-file] :approve-timeout-s 3600
          :budget {:tool-calls 20 :tokens 100000}}]
 :task {:task/id "root"
        :script [{:call :sh :args {:cmd "echo ran >> out.txt"}}
                 {:call :write-file :args {:path "gone.txt" :content "x"}}
                 {:say "done"}]}}
"""


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "agenttree", *args, "--quiet"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_approve_and_deny_from_the_command_line_while_the_run_waits(tmp_path: Path) -> None:
    (tmp_path / "plan.edn").write_text(PLAN)
    run_dir = tmp_path / "r"
    engine = start(tmp_path, "run", "plan.edn", "--run-dir", str(run_dir))
    try:
        wait_for(run_dir, b'"type":"tool/approval-requested","agent":"root","call":"root#1.0"',
                 engine)
        assert not (run_dir / "workspace" / "out.txt").exists()
        approved = agenttree("approve", str(run_dir), "root#1.0", cwd=tmp_path)
        assert approved.returncode == 0, approved.stderr
        assert approved.stdout == "approved root#1.0 (sh for root)\n"

        wait_for(run_dir, b'"call":"root#2.0"', engine)
        again = agenttree("approve", str(run_dir), "root#1.0", cwd=tmp_path)
        assert again.returncode == 2
        assert again.stderr == "agenttree: rejected: call 'root#1.0' was approved already\n"
        unknown = agenttree("deny", str(run_dir), "root#7.0", cwd=tmp_path)
        assert unknown.returncode == 2
        assert unknown.stderr == ("agenttree: rejected: no call 'root#7.0' in this run asked "
                                  "for approval\n")
        for bad in (["approve", str(run_dir), ""], ["deny", str(run_dir), "root#2.0",
                                                    "--reason", ""],
                    ["approve", str(run_dir), "root#2.0", "--wait", "soon"],
                    ["approve", str(tmp_path), "root#2.0"]):
            result = agenttree(*bad, cwd=tmp_path)
            assert result.returncode == 2, (bad, result.stderr)
            assert "Traceback" not in result.stderr and result.stderr.strip(), bad

        wait_for(run_dir, b'"type":"tool/approval-requested","agent":"root","call":"root#2.0"',
                 engine)
        denied = agenttree("deny", str(run_dir), "root#2.0", "--reason", "keep the tree clean",
                           cwd=tmp_path)
        assert denied.returncode == 0 and denied.stdout == "denied root#2.0 (write-file for " \
                                                           "root)\n", denied.stderr
        _, err = engine.communicate(timeout=120)
        assert engine.returncode == 0, err
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.communicate()
    assert (run_dir / "workspace" / "out.txt").read_text() == "ran\n"
    assert not (run_dir / "workspace" / "gone.txt").exists()
    results = {e.event.call: e.event for e in read_events(run_dir / "events.jsonl")
               if isinstance(e.event, ev.ToolResult)}
    assert results["root#1.0"].ok
    assert not results["root#2.0"].ok
    assert results["root#2.0"].output.startswith("denied: keep the tree clean")


def test_a_pending_approval_is_pending_again_after_a_crash_and_resume(tmp_path: Path) -> None:
    (tmp_path / "plan.edn").write_text(PLAN)
    run_dir = tmp_path / "r"
    engine = start(tmp_path, "run", "plan.edn", "--run-dir", str(run_dir))
    request = b'"type":"tool/approval-requested","agent":"root","call":"root#1.0"'
    try:
        wait_for(run_dir, request, engine)
    finally:
        engine.kill()  # SIGKILL: no cleanup, the call is left waiting in the log
        engine.communicate()
    log = run_dir / "events.jsonl"
    assert b'"type":"run/finished"' not in log.read_bytes()

    resumed = start(tmp_path, "resume", str(run_dir))
    try:
        while log.read_bytes().count(request) < 2:  # asked again once the agent is live
            assert resumed.poll() is None, resumed.communicate()
        listed = agenttree("replay", str(run_dir), "--json", cwd=tmp_path)
        assert '"status": "needs-you"' in listed.stdout
        approved = agenttree("approve", str(run_dir), "root#1.0", cwd=tmp_path)
        assert approved.returncode == 0, approved.stderr
        wait_for(run_dir, b'"call":"root#2.0"', resumed)
        denied = agenttree("deny", str(run_dir), "root#2.0", cwd=tmp_path)
        assert denied.returncode == 0, denied.stderr
        _, err = resumed.communicate(timeout=120)
        assert resumed.returncode == 0, err
    finally:
        if resumed.poll() is None:
            resumed.kill()
            resumed.communicate()
    assert (run_dir / "workspace" / "out.txt").read_text() == "ran\n"  # ran once, after approval
    kinds = [type(e.event).TYPE for e in read_events(log) if getattr(e.event, "call", "")
             == "root#1.0"]
    assert kinds == ["tool/requested", "tool/approval-requested", "tool/requested",
                     "tool/approval-requested", "tool/approved", "tool/result"]
    # the resumed engine read :approve and :approve-timeout-s back from RUN_DIR/plan.edn
    asked = [e.event for e in read_events(log) if isinstance(e.event, ev.ApprovalRequested)]
    assert [(a.call, a.timeout_s) for a in asked] == [("root#1.0", 3600), ("root#1.0", 3600),
                                                      ("root#2.0", 3600)]


def test_plan_check_names_the_file_line_and_key_of_a_bad_approval(tmp_path: Path) -> None:
    (tmp_path / "bad.edn").write_text(PLAN.replace(":approve [:sh :write-file]",
                                                   ":approve [:sh\n :wirte-file]"))
    result = agenttree("plan", "check", "bad.edn", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == ("agenttree: error: bad.edn:2: :approve: unknown tool :wirte-file "
                             "(did you mean :write-file?)\n")
    (tmp_path / "ok.edn").write_text(PLAN)
    assert agenttree("plan", "check", "ok.edn", cwd=tmp_path).returncode == 0
