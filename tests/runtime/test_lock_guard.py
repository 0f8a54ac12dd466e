"""Shell commands and locks: a path another agent holds stays as it was under ``:locks
:required`` and bubblewrap, and in every mode a change to it is logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.sandbox import procs

from ..sandbox.test_procs import needs_bwrap
from .test_engine import events_of, make_engine

PLAN = """
{:locks :%(locks)s :sandbox :%(sandbox)s
 :talk #{:parent :children :siblings}
 :tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 100 :tokens 100000}}]
 :task {:task/id "root" :script [{:say "waiting"} {:say "heard"} {:say "all heard"}]
        :children
        [{:task/id "holder"
          :script [{:call :lock :args {:path "p.txt"}}
                   {:call :write-file :args {:path "p.txt" :content "mine\\n" :token 1}}
                   {:call :lock :args {:path "notes/keep.md"}}
                   {:call :write-file :args {:path "notes/keep.md" :content "k" :token 2}}
                   {:call :lock :args {:path "notes"}}
                   {:call :message :args {:to "root.rogue" :text "locked"}}
                   {:call :wait :args {:timeout_s 1000}}
                   {:say "holder done"}]}
         {:task/id "rogue"
          :script [{:call :wait :args {:timeout_s 1000}}
                   {:call :sh :args {:cmd "echo rogue > p.txt; echo ok"}}
                   {:call :sh :args {:cmd "mkdir -p notes && echo x > notes/new.md"}}
                   {:call :sh :args {:cmd "echo fine > mine.txt"}}
                   {:call :message :args {:to "root.holder" :text "tried"}}
                   {:say "rogue done"}]}]}}
"""


def run_plan(tmp_path: Path, locks: str, sandbox: str):
    return make_engine(tmp_path, PLAN % {"locks": locks, "sandbox": sandbox})


def sh_outputs(engine) -> list[str]:
    return [r.output for r in events_of(engine, ev.ToolResult)
            if r.agent == "root.rogue" and r.tool == "sh"]


@needs_bwrap
async def test_required_locks_make_others_paths_read_only_under_bubblewrap(
        tmp_path: Path) -> None:
    engine = run_plan(tmp_path, "required", "required")
    assert await engine.run() == "done"
    workspace = engine.run_dir / "workspace"
    assert (workspace / "p.txt").read_text() == "mine\n"
    first, second, third = sh_outputs(engine)
    assert first.startswith("exit 0") and "p.txt: Read-only file system" in first
    assert "Read-only file system" in second and not (workspace / "notes" / "new.md").exists()
    assert third.startswith("exit 0") and (workspace / "mine.txt").read_text() == "fine\n"
    assert events_of(engine, ev.LockUnheldWrite) == []  # nothing changed: nothing to log


@pytest.mark.parametrize(("locks", "sandbox"), [("advisory", "auto"), ("required", "off")])
async def test_a_change_to_a_path_another_agent_holds_is_logged(tmp_path: Path, locks: str,
                                                               sandbox: str) -> None:
    engine = run_plan(tmp_path, locks, sandbox)
    assert await engine.run() == "done"
    workspace = engine.run_dir / "workspace"
    assert (workspace / "p.txt").read_text() == "rogue\n"  # not enforced here: but seen
    logged = [(e.agent, e.path, e.holders, e.via) for e in events_of(engine, ev.LockUnheldWrite)]
    assert logged == [("root.rogue", "p.txt", ["root.holder"], "sh"),
                      ("root.rogue", "notes", ["root.holder"], "sh")]


def test_wrap_binds_read_only_paths_after_the_workspace() -> None:
    argv = procs.Confinement(kind="bwrap").wrap(["true"], workspace="/ws", cwd="/ws",
                                                read_only=["/ws/a.txt", "/ws/d"])
    bind = argv.index("--bind")
    assert argv[bind:bind + 9] == ["--bind", "/ws", "/ws", "--ro-bind", "/ws/a.txt",
                                   "/ws/a.txt", "--ro-bind", "/ws/d", "/ws/d"]
    assert procs.Confinement(kind="none").wrap(["true"], workspace="/ws", cwd="/ws",
                                               read_only=["/ws/a.txt"]) == ["true"]
