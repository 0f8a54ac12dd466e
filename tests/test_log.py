"""The event log: framing, torn tails, corruption, durability modes, tailing."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import orjson
import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from agenttree import events as ev
from agenttree import log as logmod
from agenttree import log_writer as writermod
from agenttree.errors import LogCorrupt
from agenttree.log import (
    MAX_LINE,
    LineReader,
    LogReader,
    Tailer,
    encode,
    read_events,
)
from agenttree.log_lines import complete_end, lines_backward
from agenttree.log_writer import EventLog, open_event_log
from agenttree.redact import REDACTED, add_secret


def _events(n: int) -> list[ev.Event]:
    return [ev.AgentState(agent=f"root.{i}", status="running", detail="x" * (i % 7))
            for i in range(n)]


def _write(path: Path, events: list[ev.Event]) -> bytes:
    data = b"".join(encode(i + 1, 1000 + i, "r", e) for i, e in enumerate(events))
    path.write_bytes(data)
    return data


def test_reader_yields_all_in_order(tmp_path: Path) -> None:
    events = _events(20)
    _write(tmp_path / "e.jsonl", events)
    entries = list(read_events(tmp_path / "e.jsonl"))
    assert [e.event for e in entries] == events
    assert [e.seq for e in entries] == list(range(1, 21))


def test_a_reader_read_twice_reads_the_whole_log_again(tmp_path: Path) -> None:
    data = _write(tmp_path / "e.jsonl", _events(3))
    (tmp_path / "e.jsonl").write_bytes(data[:-5])  # a live log: its last line half written
    reader = LogReader(tmp_path / "e.jsonl")
    assert len(list(reader)) == 2 and reader.torn is not None
    (tmp_path / "e.jsonl").write_bytes(data)  # the writer finished the line
    assert [e.seq for e in reader] == [1, 2, 3]
    assert (reader.torn, reader.last_seq, reader.end) == (None, 3, len(data))


def test_truncating_last_record_at_every_offset_keeps_earlier_events(tmp_path: Path) -> None:
    events = _events(5)
    data = _write(tmp_path / "full", events)
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    path = tmp_path / "e.jsonl"
    for cut in range(last_start, len(data)):
        path.write_bytes(data[:cut])
        reader = LogReader(path)
        got = [e.event for e in reader]
        assert got == events[:4], cut
        if cut == last_start:
            assert reader.torn is None  # the log simply ends after record 4
        else:
            assert reader.torn is not None and reader.torn.line == 5
        assert reader.end == last_start


def test_flipped_bit_anywhere_is_detected(tmp_path: Path) -> None:
    events = _events(3)
    data = _write(tmp_path / "full", events)
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    path = tmp_path / "e.jsonl"
    for pos in range(len(data)):
        for bit in range(8):
            flipped = bytearray(data)
            flipped[pos] ^= 1 << bit
            path.write_bytes(bytes(flipped))
            reader = LogReader(path)
            try:
                got = [e.event for e in reader]
            except LogCorrupt:
                assert pos < last_start - 1 or flipped[pos:pos + 1] != b"\n", (pos, bit)
                continue
            # Not fatal: only allowed when the damage is confined to the last record.
            assert pos >= last_start - 1, (pos, bit)
            assert reader.torn is not None, (pos, bit)
            assert got == events[: len(got)]


def test_corrupt_middle_line_is_a_hard_error_naming_the_line(tmp_path: Path) -> None:
    data = _write(tmp_path / "e.jsonl", _events(4))
    lines = data.split(b"\n")
    lines[1] = lines[1].replace(b"running", b"runnin!")
    (tmp_path / "e.jsonl").write_bytes(b"\n".join(lines))
    with pytest.raises(LogCorrupt, match=r"e\.jsonl:2: corrupt event record .*CRC mismatch"):
        list(read_events(tmp_path / "e.jsonl"))


def test_seq_gap_is_corruption(tmp_path: Path) -> None:
    events = _events(3)
    data = encode(1, 0, "r", events[0]) + encode(3, 0, "r", events[1]) + encode(4, 0, "r",
                                                                                  events[2])
    (tmp_path / "e.jsonl").write_bytes(data)
    with pytest.raises(LogCorrupt, match="seq 3 where 2 was expected"):
        list(read_events(tmp_path / "e.jsonl"))


def test_overlong_record_is_rejected(tmp_path: Path) -> None:
    good = encode(1, 0, "r", _events(1)[0])
    huge = encode(2, 0, "r", ev.AgentState(agent="a", status="s", detail="x" * MAX_LINE))
    (tmp_path / "e.jsonl").write_bytes(good + huge + good.replace(b'"seq":1', b'"seq":3'))
    with pytest.raises(LogCorrupt, match="exceeds"):
        list(read_events(tmp_path / "e.jsonl"))


async def test_writer_writes_in_order_and_cuts_oversize_fields(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    written: list[ev.Entry] = []
    async with open_event_log(path, run="r", on_write=written.append) as log:
        for e in _events(50):
            log.emit(e)
        log.emit(ev.AgentState(agent="a", status="s", detail="y" * MAX_LINE))
    entries = list(read_events(path))
    assert entries == written
    assert [e.seq for e in entries] == list(range(1, 52))
    last = entries[-1].event
    assert isinstance(last, ev.AgentState) and (last.agent, last.status) == ("a", "s")
    assert last.detail.startswith("yyy")
    assert last.detail.endswith(f"…[cut to fit the log: {MAX_LINE + 2:,} bytes in all]")
    assert len(path.read_bytes().splitlines()[-1]) < MAX_LINE


async def test_writer_redacts_only_the_event_of_a_batch_that_holds_a_key(tmp_path: Path) -> None:
    add_secret("sk-batch-0123456789abcdef")
    path = tmp_path / "e.jsonl"
    written: list[ev.Entry] = []
    async with open_event_log(path, run="r", on_write=written.append) as log:
        for detail in ("plain", "key sk-batch-0123456789abcdef here", "plain again"):
            log.emit(ev.AgentState(agent="a", status="s", detail=detail))  # one batch
    entries = list(read_events(path))
    assert entries == written
    assert [e.event.detail for e in entries] == ["plain", f"key {REDACTED} here",
                                                 "plain again"]
    assert b"sk-batch-0123456789abcdef" not in path.read_bytes()


async def test_writer_appends_to_existing_log_with_next_seq(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    async with open_event_log(path, run="r") as log:
        log.emit(_events(1)[0])
    async with open_event_log(path, run="r", next_seq=2) as log:
        log.emit(_events(2)[1])
    assert [e.seq for e in read_events(path)] == [1, 2]


async def test_new_log_fsyncs_its_directory(tmp_path: Path, monkeypatch) -> None:
    synced: list[Path] = []
    real = writermod.fsync_dir
    monkeypatch.setattr(writermod, "fsync_dir", lambda p: (synced.append(p), real(p)))
    async with open_event_log(tmp_path / "e.jsonl", run="r"):
        pass
    async with open_event_log(tmp_path / "e.jsonl", run="r"):
        pass
    assert synced == [tmp_path]


async def test_batch_mode_makes_a_new_file_durable_off_the_event_loop_first(
        tmp_path: Path, monkeypatch) -> None:
    """In ``batch`` mode the run starts while a thread fsyncs the new file and its directory
    (the event loop does not wait for them); no event counts as durable before they are done."""
    synced: list[tuple[str, bool, int]] = []
    real_fsync, real_dir = os.fsync, writermod.fsync_dir
    log = EventLog(tmp_path / "e.jsonl", run="r", durability="batch")

    def note(what: str) -> None:
        synced.append((what, threading.current_thread() is threading.main_thread(),
                       log.synced_seq))

    monkeypatch.setattr(logmod.os, "fsync", lambda fd: (note("file"), real_fsync(fd)))
    monkeypatch.setattr(writermod, "fsync_dir", lambda p: (note("dir"), real_dir(p)))
    async with trio.open_nursery() as nursery:
        await nursery.start(log.run)
        log.emit(_events(1)[0])
        await log.flush()
        log.close()
    assert synced[:2] == [("file", False, 0), ("dir", False, 0)]
    assert log.synced_seq == 1


class _FsyncCounter:
    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        real = os.fsync

        def counting(fd: int) -> None:
            self.calls += 1
            real(fd)

        monkeypatch.setattr(logmod.os, "fsync", counting)


async def test_batch_mode_fsyncs_each_written_batch_without_a_flush(tmp_path: Path,
                                                                    monkeypatch) -> None:
    # How soon the fsync lands is a duration (`make bench`); what is tested is that the write
    # alone brings exactly one fsync, with no flush or close asking for it.
    counter = _FsyncCounter(monkeypatch)
    (tmp_path / "e.jsonl").touch()  # not new: no fsync of its creation
    log = EventLog(tmp_path / "e.jsonl", run="r", durability="batch")
    async with trio.open_nursery() as nursery:
        await nursery.start(log.run)
        base = counter.calls
        log.emit(_events(1)[0])
        while log.written_seq < 1:
            await trio.sleep(0)
        while log.synced_seq < 1:  # the syncer works in a thread: wait on the condition
            await trio.sleep(0.001)
        assert counter.calls == base + 1
        await log.flush()
        assert log.synced_seq == log.written_seq == 1
        log.close()


async def test_batch_mode_spaces_its_fsyncs_but_a_flush_never_waits(
        tmp_path: Path, monkeypatch, autojump_clock) -> None:
    # (The clock takes no virtual time for a thread hop: each step has a known virtual time.)
    synced_at: list[float] = []
    real = os.fsync

    def timed(fd: int) -> None:
        synced_at.append(round(autojump_clock.current_time() - start, 6))
        real(fd)

    (tmp_path / "e.jsonl").touch()  # not new: no fsync of its creation among the timed ones
    log = EventLog(tmp_path / "e.jsonl", run="r", durability="batch")
    linger, gap = writermod.LINGER_S, writermod.FSYNC_GAP_S
    async with trio.open_nursery() as nursery:
        await nursery.start(log.run)
        monkeypatch.setattr(logmod.os, "fsync", timed)
        start = trio.current_time()
        try:
            for e in _events(5):  # five batches, one every 2 ms
                log.emit(e)
                await trio.sleep(2 * linger)
            await trio.sleep(gap)
            first = list(synced_at)
            log.emit(_events(1)[0])
            await trio.sleep(2 * linger)
            second = list(synced_at)
            log.emit(_events(1)[0])
            await trio.sleep(2 * linger)
            asked = trio.current_time()
            await log.flush()  # within a gap of the last fsync
            flushed = trio.current_time()
        finally:
            log.close()
    # The first write is fsynced at once; the next four share one fsync, a gap later.
    assert first == [linger, linger + gap]
    assert second == [*first, round(11 * linger + gap, 6)]  # the gap was over: at once
    assert round(flushed - asked, 6) <= linger < gap  # the flush cut the gap short
    assert synced_at[:4] == [*second, round(flushed - start, 6)]
    assert log.synced_seq == 7


async def test_every_mode_fsyncs_before_the_next_write(tmp_path: Path, monkeypatch) -> None:
    counter = _FsyncCounter(monkeypatch)
    log = EventLog(tmp_path / "e.jsonl", run="r", durability="every")
    async with trio.open_nursery() as nursery:
        await nursery.start(log.run)
        base = counter.calls
        for e in _events(3):
            log.emit(e)
            await log.flush()
            assert log.synced_seq == log.written_seq == log.last_seq
        assert counter.calls == base + 3
        log.close()


async def test_none_mode_never_fsyncs(tmp_path: Path, monkeypatch) -> None:
    log = EventLog(tmp_path / "e.jsonl", run="r", durability="none")
    async with trio.open_nursery() as nursery:
        await nursery.start(log.run)
        counter = _FsyncCounter(monkeypatch)
        for e in _events(10):
            log.emit(e)
        await log.flush()
        log.close()
    assert counter.calls == 0
    assert len(list(read_events(tmp_path / "e.jsonl"))) == 10


def test_tailer_follows_growth_and_holds_back_partial_lines(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    lines = [encode(i + 1, 0, "r", e) for i, e in enumerate(_events(3))]
    tailer = Tailer(path)
    assert tailer.poll() == []
    path.write_bytes(lines[0] + lines[1][:10])
    assert [e.seq for e in tailer.poll()] == [1]
    with open(path, "ab") as f:
        f.write(lines[1][10:] + lines[2])
    assert [e.seq for e in tailer.poll()] == [2, 3]
    assert tailer.poll() == []


def test_unknown_durability_is_a_user_error(tmp_path: Path) -> None:
    from agenttree.errors import UserError

    with pytest.raises(UserError, match="--durability"):
        EventLog(tmp_path / "e.jsonl", run="r", durability="sometimes")


def test_tailer_reads_in_chunks_and_holds_back_a_half_written_line(tmp_path: Path) -> None:
    data = _write(tmp_path / "full", _events(30))
    lines = data.splitlines(keepends=True)
    half = len(lines[5]) // 2
    path = tmp_path / "e.jsonl"
    path.write_bytes(b"".join(lines[:5]) + lines[5][:half])
    tail, got = Tailer(path, chunk=100), []
    while batch := tail.poll():
        assert len(batch) <= 2  # about a chunk at a time
        got += batch
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]  # line 6 is not finished yet
    with open(path, "ab") as f:
        f.write(lines[5][half:] + b"".join(lines[6:]))
    while batch := tail.poll():
        got += batch
    assert got == list(LogReader(tmp_path / "full"))


def test_tailer_reads_a_line_longer_than_its_chunk(tmp_path: Path) -> None:
    _write(tmp_path / "e.jsonl", _events(10))
    tail, got = Tailer(tmp_path / "e.jsonl", chunk=16), []
    while batch := tail.poll():
        got += batch
    assert got == list(LogReader(tmp_path / "e.jsonl"))


def test_tailer_error_carries_the_good_entries_before_the_bad_line(tmp_path: Path) -> None:
    lines = _write(tmp_path / "e.jsonl", _events(5)).splitlines(keepends=True)
    lines[2] = lines[2].replace(b"running", b"runnin_", 1)
    (tmp_path / "e.jsonl").write_bytes(b"".join(lines))
    with pytest.raises(LogCorrupt, match=r"e.jsonl:3: corrupt event record") as caught:
        Tailer(tmp_path / "e.jsonl").poll()
    assert [e.seq for e in caught.value.entries] == [1, 2]


def test_tailer_of_a_missing_log_waits_for_it(tmp_path: Path) -> None:
    assert Tailer(tmp_path / "e.jsonl").poll() == []


def test_lines_end_at_newline_only(tmp_path: Path) -> None:
    """As writers count them: a bare \\r (or \\x0b, \\x1c...) stays inside its line."""
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"a\rb\x0bc\x1cd\nnext\r\n")
    assert logmod.LineFollower(path).new_lines() == [(1, b"a\rb\x0bc\x1cd"), (2, b"next\r")]


@pytest.mark.parametrize("grow_first", [False, True])
def test_tailer_follows_a_torn_log_that_a_resume_cut_back_and_wrote_on(
        tmp_path: Path, grow_first: bool) -> None:
    """The torn last line is never consumed: after the cut, the new records are read, not
    the old bytes glued to them (whether the follower looks before or after the log regrows
    past where the torn line ended)."""
    path = tmp_path / "e.jsonl"
    old = [encode(i + 1, 0, "r", e) for i, e in enumerate(_events(4))]
    torn = old[3][: len(old[3]) // 2]
    path.write_bytes(b"".join(old[:3]) + torn)
    tailer = Tailer(path)
    assert [e.seq for e in tailer.poll()] == [1, 2, 3]
    assert tailer.poll() == []
    reader = LogReader(path)
    assert len(list(reader)) == 3 and reader.cut_torn_tail() is not None  # what resume does
    new = [encode(i + 4, 1, "r", ev.RunFinished(status=f"status {i}" * 9)) for i in range(3)]
    if not grow_first:
        assert tailer.poll() == []  # the log is shorter than the torn line's end now
    with open(path, "ab") as f:
        f.write(b"".join(new))
    got = tailer.poll()
    assert [e.seq for e in got] == [4, 5, 6]
    assert [e.event for e in got] == [e.event for e in read_events(path)][3:]


def test_tailer_says_so_when_records_it_read_are_cut_away(tmp_path: Path) -> None:
    lines = _write(tmp_path / "e.jsonl", _events(3)).splitlines(keepends=True)
    tailer = Tailer(tmp_path / "e.jsonl")
    assert len(tailer.poll()) == 3
    (tmp_path / "e.jsonl").write_bytes(lines[0])
    with pytest.raises(LogCorrupt, match=r"was cut back to .* before lines already read"):
        tailer.poll()


@given(st.lists(st.binary(max_size=6).map(lambda b: b.replace(b"\n", b"x")), max_size=12),
       st.sampled_from([b"", b"torn"]), st.sampled_from([1, 2, 3, 7, 1 << 20]))
def test_lines_backward_gives_every_complete_line_last_first(lines: list[bytes], tail: bytes,
                                                             block: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f"
        path.write_bytes(b"".join(line + b"\n" for line in lines) + tail)
        offsets = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
        assert list(lines_backward(path, block)) == list(zip(offsets, lines, strict=True))[::-1]
        assert complete_end(path) == sum(len(x) + 1 for x in lines)


def test_complete_end_of_a_missing_file_is_its_start(tmp_path: Path) -> None:
    assert complete_end(tmp_path / "nothing.jsonl") == 0


def test_line_reader_applies_the_torn_tail_rule_to_any_records(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3')
    reader = LineReader(path, orjson.loads, "report line")
    assert list(reader) == [{"a": 1}, {"a": 2}]
    assert reader.torn is not None and reader.torn.line == 3
    reader.cut_torn_tail()
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    path.write_bytes(b'{"a": 1}\nnope\n{"a": 3}\n')
    with pytest.raises(LogCorrupt, match=r"r\.jsonl:2: corrupt report line"):
        list(LineReader(path, orjson.loads, "report line"))


def _long_log(path: Path) -> bytes:
    """A log a few read blocks long, so lines straddle the blocks a reader reads."""
    events = [ev.AgentState(agent=f"root.{i}", status="running", detail="y" * (i % 300))
              for i in range(3 * logmod.READ_BLOCK // 150)]
    data = _write(path, events)
    assert len(data) > 2 * logmod.READ_BLOCK
    return data


def test_a_log_longer_than_a_read_block_reads_whole_with_its_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    data = _long_log(path)
    lines = data.count(b"\n")
    path.write_bytes(data[:-7])  # the last record torn
    reader = LogReader(path)
    assert [e.seq for e in reader] == list(range(1, lines))
    last_start = data.rstrip(b"\n").rfind(b"\n") + 1
    assert reader.torn is not None
    assert (reader.torn.line, reader.torn.offset, reader.torn.length) == (
        lines, last_start, len(data) - 7 - last_start)
    assert reader.end == last_start


def test_a_bad_line_in_a_later_read_block_is_corruption_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    data = _long_log(path)
    at = data.index(b"\n", 2 * logmod.READ_BLOCK) + 1  # a line in the third block
    number = data[:at].count(b"\n") + 1
    flip = data.index(b"running", at)
    path.write_bytes(data[:flip] + b"R" + data[flip + 1:])
    with pytest.raises(LogCorrupt, match=rf"e\.jsonl:{number}: corrupt event record "
                                         rf"\(byte {at}\): CRC mismatch"):
        list(LogReader(path))


def test_a_bad_last_line_before_a_half_written_one_is_corruption(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    data = _write(path, _events(3))
    lines = data.split(b"\n")
    lines[2] = lines[2].replace(b"running", b"runnin!")  # the last whole line, then a partial
    path.write_bytes(b"\n".join(lines) + b'{"seq":4')
    with pytest.raises(LogCorrupt, match=r"e\.jsonl:3: corrupt"):
        list(LogReader(path))


def test_replace_whole_leaves_the_old_file_or_the_new_one_never_a_part(tmp_path, monkeypatch):
    target = tmp_path / "plan.edn"
    target.write_bytes(b"old")
    logmod.replace_whole(target, b"new", durable=True)
    assert target.read_bytes() == b"new"

    def fail(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(logmod.os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        logmod.replace_whole(target, b"newer")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.edn"]  # no temporary file left
