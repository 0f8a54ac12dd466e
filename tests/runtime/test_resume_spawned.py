"""Resume rebuilds a spawned child's task from the log's ``agent/spawned`` (its model, tools,
system prompt and script), never from the text of its parent's ``spawn`` result; and a log
written before ``agent/spawned`` carried them (``tests/recorded/spawned``, recorded by the
engine as it was) still resumes, the task read from the spawn call's arguments."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.state import fold

from .test_resume import cut, events, resume, run_plan

RECORDED = Path(__file__).parent.parent / "recorded" / "spawned"
CHILD = "root.1"


def child_calls(entries: list[ev.Entry]) -> list[tuple[str, str]]:
    """The child's tool calls that got a result, each once (a re-run keeps its call id);
    ``finish`` aside (a resume replays it without logging it again: its result shows it)."""
    seen: dict[str, str] = {}
    for e in entries:
        if isinstance(e.event, ev.ToolResult) and e.event.agent == CHILD \
                and e.event.tool != "finish":
            seen[e.event.call] = e.event.tool
    return list(seen.items())


def child_prompts(entries: list[ev.Entry]) -> list[str]:
    return [e.event.system_prompt for e in entries
            if isinstance(e.event, ev.ModelRequested) and e.event.agent == CHILD
            and e.event.system_prompt is not None]


def cuts_while_the_child_runs(entries: list[ev.Entry]) -> list[int]:
    """Every cut from the child's ``agent/spawned`` (its parent's spawn call not yet
    answered) to just before its ``agent/finished``."""
    spawned = next(e.seq for e in entries if isinstance(e.event, ev.AgentSpawned)
                   and e.event.agent == CHILD)
    finished = next(e.seq for e in entries if isinstance(e.event, ev.AgentFinished)
                    and e.event.agent == CHILD)
    return list(range(spawned, finished))


def check_resumed_like_the_full_run(run_dir: Path, whole: list[ev.Entry], n: int) -> None:
    after = events(run_dir)
    state = fold(after)
    child = state.agents[CHILD]
    assert (child.status, child.result) == ("done", "two notes"), n  # its own script, played on
    assert child_calls(after) == child_calls(whole), n
    prompt = child_prompts(whole)[0]
    assert "S: keep notes short." in prompt
    assert set(child_prompts(after)) == {prompt}, n  # the spawn's rules, read back
    assert state.status == "done", n


def test_a_recorded_log_from_before_the_spawn_record_still_resumes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    whole = events(RECORDED)
    assert all(e.event.spawn is None for e in whole if isinstance(e.event, ev.AgentSpawned))
    for n in cuts_while_the_child_runs(whole):
        run_dir = tmp_path / f"cut-{n}"
        (run_dir / "workspace").mkdir(parents=True)
        shutil.copy(RECORDED / "plan.edn", run_dir / "plan.edn")
        (run_dir / "control.jsonl").touch()
        lines = (RECORDED / "events.jsonl").read_bytes().splitlines(keepends=True)
        (run_dir / "events.jsonl").write_bytes(b"".join(lines[:n]))
        code, out, err = resume(run_dir, capsys)
        assert code == 0, out + err
        check_resumed_like_the_full_run(run_dir, whole, n)


def test_a_spawned_child_resumes_from_its_spawn_record(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = run_plan(tmp_path, (RECORDED / "plan.edn").read_text())
    whole = events(full)
    spawned = next(e.event for e in whole if isinstance(e.event, ev.AgentSpawned)
                   and e.event.agent == CHILD)
    assert spawned.spawn == {
        "model": "scripted", "tools": ["write-file", "read-file", "sh", "finish"],
        "system_prompt": "S: keep notes short.",
        "script": [{"calls": [{"tool": "write-file",
                               "args": {"path": "one.md", "content": "one"}}],
                    "say": None, "delay_ms": 0, "tokens": None},
                   {"calls": [{"tool": "sh", "args": {"cmd": "echo two > two.md"}}],
                    "say": None, "delay_ms": 0, "tokens": None},
                   {"calls": [{"tool": "read-file", "args": {"path": "two.md"}}],
                    "say": None, "delay_ms": 0, "tokens": None},
                   {"calls": [{"tool": "finish", "args": {"result": "two notes"}}],
                    "say": None, "delay_ms": 0, "tokens": None}]}
    plan_tasks = [e.event for e in whole if isinstance(e.event, ev.AgentSpawned)
                  and e.event.agent == "root"]
    assert plan_tasks[0].spawn is None  # a plan task's spec is the plan's
    for n in cuts_while_the_child_runs(whole):
        run_dir = cut(full, n, tmp_path / f"cut-{n}")
        code, out, err = resume(run_dir, capsys)
        assert code == 0, out + err
        check_resumed_like_the_full_run(run_dir, whole, n)
