"""``agenttree replay RUN_DIR --until SEQ``: the tree, budgets, locks, conflicts and
conversations as of any event (on the recorded conflict demo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.cli import main
from agenttree.log import read_events

RUN = Path(__file__).resolve().parent / "recorded" / "conflict"


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["replay", str(RUN), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_state_when_the_conflict_opened(capsys: pytest.CaptureFixture[str]) -> None:
    opened = next(e.seq for e in read_events(RUN / "events.jsonl")
                  if isinstance(e.event, ev.ConflictOpened))
    code, out, _ = replay(capsys, "--until", str(opened), "--agent", "editor.writer-b")
    assert code == 0
    assert f"budgets as of event {opened}" in out and "tool_calls" in out
    assert f"locks as of event {opened}" in out
    lock_row = next(line for line in out.splitlines() if "shared/notes.md" in line
                    and "editor.writer-a" in line)
    assert "write" in lock_row and "editor.writer-b" in lock_row  # held by a, b waits
    assert "c1" in out and "open" in out  # the conflict thread, not yet decided
    assert "conversation of editor.writer-b" in out
    assert "lock {'path': 'shared/notes.md'} (no result yet)" in out
    assert "conversation of editor.writer-a" not in out


def test_every_conversation_at_the_end(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = replay(capsys, "--conversations")
    assert code == 0
    for agent in ("editor", "editor.writer-a", "editor.writer-b"):
        assert f"conversation of {agent} (done)" in out
    assert "no locks held or awaited" in out
    assert "fork by editor" in out


def test_an_unknown_agent_is_one_line_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = replay(capsys, "--until", "3", "--agent", "nobody")
    assert code == 2 and out == ""
    assert err.strip() == "agenttree: error: no agent 'nobody' as of event 3; agents: editor"
