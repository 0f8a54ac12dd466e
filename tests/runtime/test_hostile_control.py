"""Hostile control lines: none ends a run. Each is rejected with its reason, the commands after it
are applied, and the run ends the way its own agents make it end."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import trio
import trio.testing

from agenttree import events as ev
from agenttree.control import MAX_COMMAND, Cancel, Message, append_command
from agenttree.log_lines import LineFollower
from agenttree.plan import parse_plan
from agenttree.runtime.control import POLL_S
from agenttree.runtime.engine import Engine

from .test_engine import WAITERS, events_of, finished, make_engine


def nested_plan(depth: int) -> str:
    """WAITERS' root with a chain of ``depth`` tasks below it."""
    chain = "".join(f'{{:task/id "n{i}" :children [' for i in range(depth))
    return ('{:tiers [{:depth 0 :models ["scripted"]}] :task {:task/id "root" :children ['
            + chain + "]}" * depth + "]}}")


async def steer(tmp_path: Path, hostile: list[bytes], *, plan_file: bytes | None = None):
    """Run WAITERS, append the hostile lines and then a good one (cancel root.side), and let
    root.mid and its subtree run until the good line's answer; then end the run."""
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        if plan_file is not None:
            (engine.run_dir / "plan.edn").write_bytes(plan_file)
        with open(engine.run_dir / "control.jsonl", "ab") as f:
            f.write(b"".join(hostile))
        good = append_command(engine.run_dir, Cancel(agent="root.side"))
        while not any(c["line"] == good for c in engine.state.control):
            await trio.sleep(POLL_S)
        assert "root.mid" in engine.agents  # the run went on
        engine.cancel("root.mid", "test over")
    rejected = {r.line: r for r in events_of(engine, ev.ControlRejected)}
    applied = {a.line: a for a in events_of(engine, ev.ControlApplied)}
    assert applied[good].cmd == "cancel" and finished(engine)["root.side"] == "cancelled"
    # The run ended by itself (root finished its own work), not cancelled by a command.
    assert events_of(engine, ev.RunFinished)[-1].status == "done"
    assert not (engine.run_dir / "crash.log").exists()
    return engine, rejected


@pytest.mark.parametrize(("plan_file", "fragment"), [
    (b'{:task/id "root" :goal "caf\xe9"}', "is not UTF-8 text (byte 27); nothing was changed"),
    (nested_plan(500).encode(), "nested deeper than 128 levels"),
    (nested_plan(60).encode(), "tasks nest at most 50 deep"),
    (b'{:task/id "root" :budget {:tool-calls 100000000000000000000000}}',
     ":tool-calls: must be at most 9,007,199,254,740,991"),
    (b'{:task/id "root" :budget {:cost 1e999}}', ":cost: must be a finite number"),
    (b'{:task/id "root" :goal "a"}\n{:task/id "root" :goal "b"}', "a second form"),
    (b'{:task/id "root" :goal "a" :goal "b"}', "duplicate key in a map: :goal"),
])
async def test_a_reconcile_of_a_hostile_plan_is_rejected_and_the_run_goes_on(
        tmp_path: Path, autojump_clock, plan_file: bytes, fragment: str) -> None:
    engine, rejected = await steer(tmp_path, [b'{"cmd": "reconcile"}\n'],
                                   plan_file=plan_file)
    assert fragment in rejected[1].reason and rejected[1].cmd == "reconcile"
    assert not events_of(engine, ev.PlanReconciled)


@pytest.mark.parametrize(("line", "fragment"), [
    (b'{"cmd": "grant", "agent": "root.mid", "budget": {"tool-calls": '
     b'100000000000000000000000}}', "budget: tool-calls: must be at most"),
    (b'{"cmd": "grant", "agent": "root.mid", "budget": {"tool-calls": 0.5}}',
     "expected a whole number, got 0.5"),
    (b'{"cmd": "grant", "agent": "root.mid", "budget": {"cost": 1e400}}', "not JSON"),
    (b'{"cmd": "reconcile", "plan": "../../etc/passwd"}', "64 hex digits"),
    (b'{"cmd": "reconcile", "plan": "' + b"0" * 64 + b'"}', "cannot read"),
])
async def test_hostile_commands_are_rejected_and_the_run_goes_on(
        tmp_path: Path, autojump_clock, line: bytes, fragment: str) -> None:
    engine, rejected = await steer(tmp_path, [line + b"\n"])
    assert fragment in rejected[1].reason
    assert not events_of(engine, ev.BudgetGranted)


async def test_a_bare_carriage_return_does_not_shift_the_answers(tmp_path: Path,
                                                                 autojump_clock) -> None:
    """Lines end at \\n for writer and engine alike: a client is shown its own answer."""
    engine, rejected = await steer(tmp_path, [b'{"cmd": "fly"}\r{"cmd": "cancel"}\n'])
    assert list(rejected) == [1] and "not JSON" in rejected[1].reason
    assert [a.line for a in events_of(engine, ev.ControlApplied)] == [2]


async def test_a_command_after_an_unfinished_line_is_a_line_of_its_own(
        tmp_path: Path, autojump_clock) -> None:
    engine, rejected = await steer(tmp_path, [b'{"cmd": "cancel", "agent": "root.si'])
    assert "not JSON" in rejected[1].reason
    assert [a.line for a in events_of(engine, ev.ControlApplied)] == [2]


async def test_an_over_long_line_is_rejected_and_the_next_applied(tmp_path: Path,
                                                                  autojump_clock) -> None:
    huge = b'{"cmd": "message", "agent": "root.side", "text": "' + b"x" * (3 << 20) + b'"}\n'
    engine, rejected = await steer(tmp_path, [huge])
    assert f"a command is at most {MAX_COMMAND} bytes" in rejected[1].reason
    assert not [m for m in events_of(engine, ev.AgentMessage) if m.sender == "human"]


def test_a_line_without_end_is_never_held_whole(tmp_path: Path) -> None:
    """A 64 MB line with no newline: the follower keeps at most the bound of it."""
    path = tmp_path / "control.jsonl"
    follower = LineFollower(path, max_line=MAX_COMMAND)
    block = b"x" * (1 << 20)
    with open(path, "wb") as f:
        for _ in range(64):
            f.write(block)
    tracemalloc.start()
    try:
        assert follower.new_lines() == []
        with open(path, "ab") as f:
            f.write(block + b'\n{"cmd": "cancel"}\n')
        lines = follower.new_lines()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20
    assert [(n, len(raw)) for n, raw in lines] == [(1, MAX_COMMAND + 1), (2, 17)]


async def test_a_control_file_cut_back_is_reported_and_followed_on(tmp_path: Path,
                                                                   autojump_clock) -> None:
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        control = engine.run_dir / "control.jsonl"
        append_command(engine.run_dir, Message(agent="root.side", text="a"))
        await trio.sleep(POLL_S * 2)
        control.write_bytes(b"")  # someone empties the file under the engine
        await trio.sleep(POLL_S * 2)
        line = append_command(engine.run_dir, Cancel(agent="root.mid"))
        await trio.sleep(POLL_S * 2)
        engine.cancel("root", "test over")
    assert line == 1
    assert [(a.line, a.cmd) for a in events_of(engine, ev.ControlApplied)] == \
        [(1, "message"), (1, "cancel")]
    notes = [r.reason for r in events_of(engine, ev.ControlRejected) if r.line == 0]
    assert len(notes) == 1 and "was cut back to 0 bytes" in notes[0]


class EngineWithABug(Engine):
    """An engine whose ``cancel`` fails: any bug met while applying a command."""

    def cancel(self, agent_id: str, reason: str) -> bool:
        if reason == "cancelled by a control command":
            raise RuntimeError("a bug nobody foresaw")
        return super().cancel(agent_id, reason)


async def test_any_failure_of_a_command_is_its_rejection(tmp_path: Path,
                                                         autojump_clock) -> None:
    engine = EngineWithABug(parse_plan(WAITERS, source="test.edn"), tmp_path / "run",
                            durability="none")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        first = append_command(engine.run_dir, Cancel(agent="root.mid"))
        second = append_command(engine.run_dir, Message(agent="root.side", text="still here?"))
        while len(engine.state.control) < 2:
            await trio.sleep(POLL_S)
        engine.cancel("root", "test over")
    rejected = events_of(engine, ev.ControlRejected)
    assert [(r.line, r.cmd) for r in rejected] == [(first, "cancel")]
    assert "RuntimeError: a bug nobody foresaw" in rejected[0].reason
    assert "crash.log" in rejected[0].reason
    assert "a bug nobody foresaw" in (engine.run_dir / "crash.log").read_text()
    assert [a.line for a in events_of(engine, ev.ControlApplied)] == [second]


def test_the_cli_refuses_hostile_input_before_sending(tmp_path: Path, capsys) -> None:
    """From the CLI, the same inputs never reach the engine: one line, exit 2."""
    from agenttree.cli import main

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "events.jsonl").touch()  # a run whose engine has not written yet
    (run_dir / "plan.edn").write_bytes(b'{:task/id "root" :goal "caf\xe9"}')
    for argv, fragment in ((["grant", str(run_dir), "root", "tool-calls=1e23"], "must be at most"),
                           (["grant", str(run_dir), "root", "tool-calls=0.5"], "whole number"),
                           (["reconcile", str(run_dir)], "cannot read")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert fragment in err and err.count("\n") == 1
    assert not (run_dir / "control.jsonl").exists()
