"""The control tail: commands appended to control.jsonl while the engine runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from agenttree import events as ev
from agenttree.control import Cancel, Message, append_command
from agenttree.log import read_events
from agenttree.runtime import control
from agenttree.runtime.control import POLL_S

from ..test_file_changes import require_notification
from .test_engine import WAITERS, events_of, finished, make_engine, when_written


async def _run_with_commands(tmp_path: Path, lines: list[bytes]):
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        with open(engine.run_dir / "control.jsonl", "ab") as f:
            f.write(b"".join(lines))
        await trio.sleep(POLL_S * 2)
        engine.cancel("root", "test over")
    return engine


async def test_cancel_and_message_are_applied(tmp_path: Path, autojump_clock) -> None:
    engine = await _run_with_commands(tmp_path, [
        b'{"cmd": "message", "agent": "root.side", "text": "hello from a person"}\n',
        b'{"cmd": "cancel", "agent": "root.mid"}\n',
    ])
    applied = events_of(engine, ev.ControlApplied)
    assert [(a.line, a.cmd) for a in applied] == [(1, "message"), (2, "cancel")]
    reasons = {e.agent: e.reason for e in events_of(engine, ev.AgentFinished)}
    assert reasons["root.mid"] == "cancelled by a control command"
    note = [m for m in events_of(engine, ev.AgentMessage) if m.to == "root.side"]
    assert [(m.sender, m.text) for m in note] == [("human", "hello from a person")]
    assert engine.state.control[1] == {"line": 2, "cmd": "cancel", "applied": True,
                                       "detail": "cancelling root.mid and its subtree"}


async def test_malformed_commands_are_rejected_and_the_run_goes_on(tmp_path: Path,
                                                                   autojump_clock) -> None:
    engine = await _run_with_commands(tmp_path, [
        b"this is not json\n",
        b"[1, 2]\n",
        b'{"cmd": "fly"}\n',
        b'{"cmd": "cancel"}\n',
        b'{"cmd": "cancel", "agent": "root.nobody"}\n',
        b'{"cmd": "message", "agent": "root.side", "text": ""}\n',
        b"\n",
        b'{"cmd": "cancel", "agent": "root.side"}\n',
    ])
    rejected = {r.line: r for r in events_of(engine, ev.ControlRejected)}
    assert "not JSON" in rejected[1].reason
    assert "a command is a JSON object, got list" in rejected[2].reason
    assert "unknown command 'fly'" in rejected[3].reason and rejected[3].cmd == "fly"
    assert "'cancel' needs 'agent'" in rejected[4].reason
    assert "no running agent 'root.nobody'" in rejected[5].reason
    assert "needs 'text'" in rejected[6].reason
    assert [a.line for a in events_of(engine, ev.ControlApplied)] == [8]
    assert finished(engine)["root.side"] == "cancelled"


async def test_a_partial_line_waits_for_its_newline(tmp_path: Path, autojump_clock) -> None:
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        path = engine.run_dir / "control.jsonl"
        with open(path, "ab") as f:
            f.write(b'{"cmd": "cancel", ')
        await trio.sleep(POLL_S * 3)
        assert not events_of(engine, ev.ControlApplied) and "root.mid" in engine.agents
        with open(path, "ab") as f:
            f.write(b'"agent": "root.mid"}\n')
        await trio.sleep(POLL_S * 3)
        engine.cancel("root", "test over")
    assert [a.line for a in events_of(engine, ev.ControlApplied)] == [1]


def test_append_command_returns_its_line(tmp_path: Path) -> None:
    assert append_command(tmp_path, Cancel(agent="a")) == 1
    assert append_command(tmp_path, Cancel(agent="b")) == 2
    assert (tmp_path / "control.jsonl").read_text().count("\n") == 2


async def test_a_command_waiting_at_the_start_applies_as_the_root_comes_up(
        tmp_path: Path, autojump_clock) -> None:
    """The tail waits for the root on an event, not by polling for it: a command already in
    control.jsonl is applied at the very moment the run starts, before any poll interval."""
    engine = make_engine(tmp_path, WAITERS, wall_clock=trio.current_time)  # stamps: Trio's clock
    engine.prepare()
    append_command(engine.run_dir, Cancel(agent="root.mid"))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.sleep(POLL_S * 3)
        engine.cancel("root", "test over")
    entries = list(read_events(engine.run_dir / "events.jsonl"))
    applied = [e for e in entries if isinstance(e.event, ev.ControlApplied)]
    assert [(e.event.line, e.event.cmd, e.t) for e in applied] == [(1, "cancel", 0)]
    assert finished(engine)["root.mid"] == "cancelled"


async def test_a_command_is_applied_when_its_line_is_notified_not_at_the_next_poll(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the poll interval out of reach, only the file-change notification can wake the
    tail: each command is answered all the same (on Trio's real clock, as in production)."""
    await require_notification(tmp_path)
    monkeypatch.setattr(control, "POLL_S", 1e9)
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        for line in (1, 2, 3):
            answered = when_written(engine, lambda e, line=line: isinstance(
                e, ev.ControlApplied | ev.ControlRejected) and e.line == line)
            assert append_command(engine.run_dir, Message(agent="root.mid", text="hi")) == line
            await answered.wait()
        engine.cancel("root", "test over")
    assert [a.line for a in events_of(engine, ev.ControlApplied)] == [1, 2, 3]
