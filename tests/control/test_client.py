"""The control client against a real engine: commands in, answers out, and only the log's
tail read (a command costs the same on a short run and a long one)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from agenttree import events as ev
from agenttree.cli import main
from agenttree.control import Answer, Cancel, ControlClient, Message, Reassign
from agenttree.control import client as client_module
from agenttree.control.client import append_line
from agenttree.errors import LogCorrupt, UserError
from agenttree.log import encode, read_events
from agenttree.log_lines import complete_end, unframe

from ..clock import beside
from ..runtime.test_engine import WAITERS, events_of, make_engine
from ..test_file_changes import require_notification, without_notification


async def test_answers_are_read_from_the_tail_after_the_command(tmp_path: Path,
                                                                autojump_clock) -> None:
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        client = ControlClient(engine.run_dir)
        assert client.finished() is None
        first = client.send_nowait(Cancel(agent="root.mid"))
        second = client.send_nowait(Cancel(agent="root.nobody"))
        third = client.send_nowait(Reassign(task="nope"))
        assert [first.line, second.line, third.line] == [1, 2, 3]
        assert first.log_offset == complete_end(engine.run_dir / "events.jsonl")
        with trio.fail_after(5):
            answers = [await client.wait_async(sent) for sent in (third, first, second)]
        engine.cancel("root", "test over")
    assert answers == [
        Answer(line=3, cmd="reassign", applied=False, detail="task 'nope' is not in the plan"),
        Answer(line=1, cmd="cancel", applied=True,
               detail="cancelling root.mid and its subtree"),
        Answer(line=2, cmd="cancel", applied=False, detail="no running agent 'root.nobody'"),
    ]
    assert ControlClient(engine.run_dir).finished() == "cancelled"


async def test_a_run_that_ends_without_answering_ends_the_wait(
        tmp_path: Path, autojump_clock, monkeypatch: pytest.MonkeyPatch) -> None:
    # Polling only (in virtual time): a change notification, from a real thread, could have
    # the engine read the command before the cancel ends the run.
    without_notification(monkeypatch)
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        client = ControlClient(engine.run_dir)
        sent = client.send_nowait(Message(agent="root.side", text="too late"))
        engine.cancel("root", "ended before the control file is read again")
        with trio.fail_after(5):
            assert await client.wait_async(sent) is None
    assert events_of(engine, ev.ControlApplied) == []
    with pytest.raises(UserError, match=r"the run has finished \(cancelled\)"):
        client.require_engine("message")


async def test_a_command_never_reads_the_head_of_the_log(tmp_path: Path, autojump_clock,
                                                         capsys) -> None:
    """The CLI finds whether the run goes on and the answer from the log's last lines: its
    first line, damaged here after the engine wrote it, is never read (before, every command
    folded the whole log first and died on it)."""
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        log = engine.run_dir / "events.jsonl"
        while b'"agent":"root.side"' not in log.read_bytes():  # the writer uses a thread
            await trio.sleep(0.01)
        with open(log, "r+b") as f:  # same length, so the engine's appends are unaffected
            head = f.readline()
            f.seek(0)
            f.write(head.replace(b"run/started", b"run/startex"))
        code = await beside(
            main, ["say", str(engine.run_dir), "root.side", "hello", "--wait", "30"])
        engine.cancel("root", "test over")
    out = capsys.readouterr()
    assert (code, out.out) == (0, "delivered to root.side\n"), out.err
    with pytest.raises(Exception, match="corrupt event record"):
        list(read_events(log))  # a fold would have met it


def test_line_numbers_count_what_is_in_the_file(tmp_path: Path) -> None:
    (tmp_path / "control.jsonl").write_bytes(b'{"cmd":"cancel","agent":"a"}\n{"cmd"')
    assert append_line(tmp_path, b'{"cmd":"cancel","agent":"b"}') == 3  # after the torn one
    assert (tmp_path / "control.jsonl").read_bytes().split(b"\n")[2] == \
        b'{"cmd":"cancel","agent":"b"}'


def test_a_directory_without_a_log_is_no_run(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not a run directory"):
        ControlClient(tmp_path)


async def test_an_async_wait_ends_on_the_logs_change_notification(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The web view waits for answers this way: with its poll out of reach, the answer can
    only be seen because the log's change was notified (real clock, as in production)."""
    await require_notification(tmp_path)
    monkeypatch.setattr(client_module, "ASYNC_POLL_S", 1e9)
    engine = make_engine(tmp_path, WAITERS)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        client = ControlClient(engine.run_dir)
        sent = client.send_nowait(Message(agent="root.mid", text="hello"))
        answer = await client.wait_async(sent)
        engine.cancel("root", "test over")
    assert answer == Answer(line=1, cmd="message", applied=True, detail="delivered to root.mid")


@pytest.mark.parametrize("event", [
    ev.ControlApplied(line=3, cmd="cancel", detail="cancelling root.mid and its subtree"),
    ev.ControlApplied(line=1, cmd="message"),
    ev.ControlRejected(line=2, cmd="grant", reason="no running agent 'root.x'"),
])
def test_an_answer_read_from_the_wire_is_the_events_answer(event) -> None:
    """The client reads its answers without the event classes: the same answer as the typed
    event gives (the TUI's way), from the line the engine writes."""
    assert event.TYPE in (client_module.APPLIED, client_module.REJECTED)
    assert client_module.FINISHED == ev.RunFinished.TYPE
    wire = unframe(encode(7, 1_800_000_000_000, "r", event)[:-1])
    assert Answer.of_wire(wire) == Answer.of(event)


def _live_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "events.jsonl").write_bytes(
        encode(1, 1_800_000_000_000, "r", ev.RunStarted(
            plan_name="p", plan_path="p.edn", run_dir=str(run_dir), seed=0, durability="batch")))
    return run_dir


@pytest.mark.parametrize(("answer", "why"), [
    (lambda line: line.replace(b'"line":1', b'"line":7'), "CRC mismatch"),
    (lambda line: line[:line.rfind(b',"crc"')] + b"}", "no CRC"),
    (lambda _: encode(2, 1, "r", ev.UnknownEvent(type="control/applied", fields={"line": 1})),
     "'cmd'"),
    (lambda _: encode(2, 1, "r", ev.UnknownEvent(type="control/rejected", fields={
        "line": "1", "cmd": "cancel", "reason": "no"})), "not a control/rejected event"),
    (lambda _: encode(2, 1, "r", ev.UnknownEvent(type="run/finished", fields={})), "'status'"),
])
def test_a_damaged_answer_is_a_corrupt_record_never_a_wrong_answer(
        answer, why: str, tmp_path: Path, capsys) -> None:
    run_dir = _live_run(tmp_path)
    client = ControlClient(run_dir)
    sent = client.send_nowait(Cancel(agent="root.mid"))
    good = encode(2, 1, "r", ev.ControlApplied(line=1, cmd="cancel", detail="cancelling"))
    with open(run_dir / "events.jsonl", "ab") as log:
        log.write(answer(good).rstrip(b"\n") + b"\n")
    with pytest.raises(LogCorrupt, match=f"corrupt event record: .*{why}"):
        client.wait(sent, 0)
    assert main(["say", str(run_dir), "root", "hello", "--wait", "0"]) == 2  # the last line
    err = capsys.readouterr().err
    assert (err.count("\n"), "corrupt event record" in err) == (1, True), err
