"""The event log: one writer task appending framed JSON lines, a reader, and a tailer.

Framing: each line is the event's compact JSON object with a last key ``"crc"``, the CRC32
(zlib) of the line's bytes without that key (i.e. of ``line[:crc_pos] + b"}"``). So every line
is plain JSON for ``jq``, and a bit flip anywhere in it is detected. A line longer than
:data:`MAX_LINE` bytes is never written and never accepted: the writer cuts an event's longest
fields to fit (:mod:`agenttree.fit`), so every event keeps its type.

Torn tail vs corruption: a crash can cut the last write short, so a bad *last* line is dropped
and reported (:class:`TornTail`); a bad line with good lines after it cannot come from a crash,
so it is a hard :class:`~agenttree.errors.LogCorrupt` error naming the line.

Followers (:class:`LineFollower`, :class:`Tailer`) never consume a partial last line: they read
it again from its start at their next call, so when a resume cuts a torn last line off and
writes on, they read the new records, not the old bytes glued to the new.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

import attrs
import orjson
import trio

from .durability import DURABILITY
from .errors import LogCorrupt, UserError
from .events import FIELD_VIEWS, WIRE_ENCODERS, Entry, Event, from_wire, to_wire
from .fit import fit_event
from .log_lines import (
    CRC_KEY,
    MAX_LINE,
    READ_BLOCK,
    FileCutBack,
    LineFollower,
    unframe,
)
from .redact import holds_secret, redact_data

BATCH_FSYNC_S = 0.05
"""In ``batch`` mode an event is fsynced at most this long after it is written (in practice
within :data:`FSYNC_GAP_S` and an fsync's duration)."""

FSYNC_GAP_S = 0.01
"""In ``batch`` mode an fsync starts at least this long after the previous one started, unless
a flush or close waits on it: a busy run pays for at most ~100 fsyncs a second (each a thread
hand-off that stalls the event loop), not one after another."""

LINGER_S = 0.001
"""After the writer wakes, it waits this long for more events before writing a batch."""

_new_tuple = tuple.__new__

T = TypeVar("T")


def encode(seq: int, t: int, run: str, ev: Event) -> bytes:
    """Serialise one event as a framed line (ending in a newline)."""
    body = orjson.dumps(to_wire(seq, t, run, ev))
    return b"%b%b%d}\n" % (body[:-1], CRC_KEY, zlib.crc32(body))


def decode(line: bytes) -> Entry:
    """Parse and check one framed line (without its newline).

    Raises:
        ValueError: the line is too long, has no or a wrong CRC, or is not an event.
    """
    wire = unframe(line)
    try:
        return from_wire(wire)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not an event: {exc}") from None


@attrs.frozen(kw_only=True)
class TornTail:
    """A last line cut short by a crash: dropped, and reported."""

    line: int
    offset: int
    length: int
    reason: str

    def __str__(self) -> str:
        return (f"dropped a torn last record at line {self.line} "
                f"(byte {self.offset}, {self.length} bytes): {self.reason}")


class LineReader(Generic[T]):
    """Reads a whole file of records, one a line, with the torn-tail rule: a bad *last* line
    (cut short by a crash) is dropped and reported in :attr:`torn`; a bad line with lines after
    it is :class:`~agenttree.errors.LogCorrupt`.

    Iterate it for the records ``decode`` makes of each line (it raises ``ValueError`` for a bad
    one). After iteration, :attr:`end` is the byte offset after the last good line (where a
    writer that goes on must truncate to: :meth:`cut_torn_tail`).
    """

    def __init__(self, path: str | os.PathLike[str], decode: Callable[[bytes], T],
                 what: str = "record", *, start: int = 0, first_line: int = 1) -> None:
        self.path = Path(path)
        self.torn: TornTail | None = None
        self.end = start
        self._decode = decode
        self._what = what
        self._rejected: str | None = None
        """Set by a consumer of :meth:`_lines` to why the line it holds is bad."""
        self._start = start
        """Where reading starts: the beginning of line ``first_line``."""
        self._first_line = first_line

    def __iter__(self) -> Iterator[T]:
        return self._read(self._decode)

    def _read(self, decode: Callable[[bytes], Any]) -> Iterator[Any]:
        for line in self._lines():
            try:
                record = decode(line)
            except ValueError as exc:
                self._rejected = str(exc)
                continue
            yield record

    def _lines(self) -> Iterator[bytes]:
        """Each line of the file (without its newline), with the torn-tail rule's bookkeeping.

        A consumer that finds a line bad sets :attr:`_rejected` to the reason before it takes
        the next line; a line it takes is good, and :attr:`end` already counts it while the
        consumer has it (so a consumer that stops after a record sees the end after it).
        """
        try:
            f = open(self.path, "rb")  # noqa: SIM115 (closed when the iteration ends)
        except FileNotFoundError:
            raise UserError(f"{self.path}: no such file") from None
        with f:
            f.seek(self._start)
            self.torn, self.end = None, self._start  # each iteration reads the file afresh
            self._rejected = None
            line_no, offset = self._first_line - 1, self._start
            bad: TornTail | None = None  # a bad line: torn if nothing follows it, else corrupt
            rest = b""  # the bytes after the last newline read so far
            # A block at a time, split in one call: memory stays bounded by the block (not the
            # file), and finding lines costs C speed, not a Python step per line.
            while block := f.read(READ_BLOCK):
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                for line in lines:
                    line_no += 1
                    if bad is not None:
                        self._corrupt(bad)
                    offset += len(line) + 1
                    self.end = offset
                    yield line
                    if self._rejected is not None:
                        offset -= len(line) + 1
                        self.end = offset
                        bad = TornTail(line=line_no, offset=offset, length=len(line) + 1,
                                       reason=self._rejected)
                        self._rejected = None
            if bad is not None:
                if rest:
                    self._corrupt(bad)
                self.torn = bad
            elif rest:
                self.torn = TornTail(line=line_no + 1, offset=offset, length=len(rest),
                                     reason="no newline at the end (write cut short)")

    def _corrupt(self, bad: TornTail) -> None:
        raise LogCorrupt(
            f"{self.path}:{bad.line}: corrupt {self._what} (byte {bad.offset}): {bad.reason}; "
            "records after it are intact, so this is not a torn write")

    def cut_torn_tail(self) -> TornTail | None:
        """After iterating: truncate the file to its last good line if a torn last line was
        dropped (fsynced, so a writer can append after it); returns what was cut."""
        if self.torn is not None:
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.ftruncate(fd, self.end)
                os.fsync(fd)
            finally:
                os.close(fd)
        return self.torn


class LogReader(LineReader[Entry]):
    """Reads a whole event log (:class:`LineReader`), checking each record's framing and that
    ``seq`` goes 1, 2, 3…; :attr:`last_seq` is the last good one.

    With ``start`` and ``after_seq``, it reads from byte ``start`` on, where line (and seq)
    ``after_seq + 1`` begins (a reader that folded up to there before knows both).
    """

    def __init__(self, path: str | os.PathLike[str], *, start: int = 0,
                 after_seq: int = 0) -> None:
        super().__init__(path, self._entry, "event record", start=start,
                         first_line=after_seq + 1)
        self._after_seq = after_seq
        self.last_seq = after_seq

    def __iter__(self) -> Iterator[Entry]:
        self._start_reading()
        return self._read(self._entry)

    def fold_into(self, state: Any, handlers: Mapping[type, Callable[[Any, Any, int], None]],
                  until: int | None = None) -> None:
        """Fold the log's events (up to and including seq ``until``) into ``state``: for each,
        set ``state.seq`` and ``state.t`` (and ``state.run``, while empty), then call
        ``handlers[type(event)](state, event, t)`` — :func:`agenttree.state.fold`'s loop.

        An event may be a :class:`~agenttree.events.FieldView` (the wire dict as the record's
        attributes, no record built), so a handler must read its fields and keep no event.
        Checks, errors, :attr:`torn`, :attr:`end` and :attr:`last_seq` are as when iterating
        (folding stops at the first event after ``until``, as ``itertools.takewhile`` would).
        """
        loads, crc32, views, new_object = orjson.loads, zlib.crc32, FIELD_VIEWS, object.__new__
        until = sys.maxsize if until is None else until
        self._start_reading()
        # Decoding inlined (one step per line, no call, no Entry): this is replay's hot loop.
        # Anything unusual (a bad line, an unknown type, fields missing, extra or in another
        # order) goes the way of iterating, which builds the record or finds the line bad.
        for line in self._lines():
            try:
                wire = loads(line)
                crc = wire.pop("crc")
                view, keys = views[wire["type"]]
                seq = wire["seq"]
            except (ValueError, KeyError, TypeError, AttributeError):
                view = None
            if (view is None or type(crc) is not int or len(line) >= MAX_LINE
                    or (pos := line.rfind(CRC_KEY)) < 0
                    or crc32(b"}", crc32(line[:pos])) != crc or seq != self.last_seq + 1
                    or tuple(wire) != keys):
                try:
                    seq, t, run, event = self._entry(line)
                except ValueError as exc:
                    self._rejected = str(exc)
                    continue
            else:
                self.last_seq = seq
                event = new_object(view)
                event.__dict__ = wire
                t, run = wire["t"], wire["run"]
            if seq > until:
                return
            state.seq, state.t = seq, t
            if not state.run:
                state.run = run
            handlers[type(event)](state, event, t)

    def _start_reading(self) -> None:
        if not self.path.exists():
            raise UserError(f"{self.path}: no such event log")
        self.last_seq = self._after_seq

    def _entry(self, line: bytes) -> Entry:
        entry = decode(line)
        if entry.seq != self.last_seq + 1:
            raise ValueError(f"seq {entry.seq} where {self.last_seq + 1} was expected")
        self.last_seq = entry.seq
        return entry


def read_events(path: str | os.PathLike[str],
                on_torn: Callable[[TornTail], None] | None = None) -> Iterator[Entry]:
    """Yield every entry of a log; a torn last line is dropped and passed to ``on_torn``."""
    reader = LogReader(path)
    yield from reader
    if reader.torn is not None and on_torn is not None:
        on_torn(reader.torn)


class Tailer:
    """Follows a growing log: each :meth:`poll` returns the complete new entries.

    Synchronous and cheap, so a UI thread or a CLI loop can call it.
    """

    def __init__(self, path: str | os.PathLike[str], *, start_seq: int = 1,
                 chunk: int | None = None) -> None:
        self.path = Path(path)
        self._lines = LineFollower(path, chunk, max_line=MAX_LINE)
        self._expected = 1
        self._start_seq = start_seq

    def poll(self) -> list[Entry]:
        """Read what was appended since the last call (about ``chunk`` bytes of it, if set).

        Raises:
            LogCorrupt: a line fails its CRC or ``seq`` check (the error carries the good
                entries read before it), or the log was cut back before records already read.
        """
        try:
            return [entry for entry, _ in self.poll_lines()]
        except LogCorrupt as exc:
            raise LogCorrupt(str(exc), [entry for entry, _ in exc.entries]) from None

    def poll_lines(self) -> list[tuple[Entry, bytes]]:
        """Like :meth:`poll`, with each entry's line as read (without its newline), for a
        reader that passes the log on as it is (the error carries (entry, line) pairs)."""
        out: list[tuple[Entry, bytes]] = []
        try:
            lines = self._lines.new_lines()
        except FileCutBack as exc:
            raise LogCorrupt(str(exc)) from None
        for number, raw in lines:
            try:
                entry = decode(raw)
            except ValueError as exc:
                raise LogCorrupt(f"{self.path}:{number}: corrupt event record: {exc}",
                                 out) from None
            if entry.seq != self._expected:
                raise LogCorrupt(f"{self.path}:{number}: seq {entry.seq} where "
                                 f"{self._expected} was expected", out)
            self._expected += 1
            if entry.seq >= self._start_seq:
                out.append((entry, raw))
        return out


# --- the writer ------------------------------------------------------------------------------


def _sync_new_file(fd: int, path: Path) -> None:
    """Make a newly created file and its directory entry durable."""
    os.fsync(fd)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    """Make a new directory entry durable (after creating a file in ``path``)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_whole(path: Path, data: bytes, *, durable: bool = False) -> None:
    """Write ``data`` as ``path``, whole or not at all: a temporary file beside it, renamed over
    it (readers never see half a file; concurrent writers never share a temporary file).
    ``durable``: also survive a machine crash (the file and its directory entry synced).

    Raises:
        OSError: it cannot be written there (no temporary file is left behind).
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


class EventLog:
    """The single writer of ``events.jsonl``.

    :meth:`emit` is a plain function (never blocks): it stamps the event with the next ``seq``
    and the wall-clock time and queues it, in order, for the writer task, which drains the queue
    in batches (one ``write`` per batch). Durability:

    * ``none``: written to the OS per batch, never fsynced;
    * ``batch`` (default): written per batch, fsynced at most :data:`BATCH_FSYNC_S` later by a
      syncer task (the writer never waits for the disk);
    * ``every``: fsynced after every write, before any later event is written (group commit).

    Every written entry is passed to ``on_write`` (the engine folds its state there), in order.
    """

    def __init__(self, path: str | os.PathLike[str], *, run: str, durability: str = "batch",
                 wall_clock: Callable[[], float] = time.time, next_seq: int = 1,
                 on_write: Callable[[Entry], None] | None = None) -> None:
        if durability not in DURABILITY:
            raise UserError(f"--durability must be one of {', '.join(DURABILITY)}")
        self.path = Path(path)
        self.run_id = run
        self.durability = durability
        self._wall_clock = wall_clock
        self._next_seq = next_seq
        self._on_write = on_write
        # A deque and a parking lot rather than a memory channel: one consumer, and emit()
        # must cost as little as possible (it runs for every event).
        self._queue: deque[tuple[int, int, Event]] = deque()
        self._flushes: list[trio.Event] = []
        """Flushes waiting for every event queued before them (answered after the batch that
        holds those events: the writer takes the whole queue at once)."""
        self._lot = trio.lowlevel.ParkingLot()
        self._parked = False
        """Whether the writer waits in ``_lot`` (a plain flag: ``emit`` tests it per event)."""
        self._linger = trio.CancelScope()
        self._gap = trio.CancelScope()
        self._fsync_started = -math.inf
        self.written_seq = next_seq - 1
        self.synced_seq = next_seq - 1
        self._closed = False
        self._writer_done = False
        self._dirty = trio.Event()
        self._sync_waiters: list[tuple[int, trio.Event]] = []

    @property
    def last_seq(self) -> int:
        """The seq of the last event emitted (written or not)."""
        return self._next_seq - 1

    def emit(self, ev: Event) -> int:
        """Queue ``ev`` for writing; returns its ``seq``. Never blocks."""
        if self._closed:
            raise RuntimeError(f"event log closed; cannot emit {ev.TYPE}")
        seq = self._next_seq
        self._next_seq = seq + 1
        self._queue.append((seq, int(self._wall_clock() * 1000), ev))
        if self._parked:
            self._parked = False
            self._lot.unpark()
        return seq

    async def flush(self) -> None:
        """Wait until every event emitted so far is written (and fsynced unless ``none``)."""
        done = trio.Event()
        self._flushes.append(done)
        if self._parked:
            self._parked = False
            self._lot.unpark()
        self._linger.cancel()
        await done.wait()

    def close(self) -> None:
        """No more events; the writer drains what is queued and returns."""
        self._closed = True
        self._lot.unpark_all()
        self._linger.cancel()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The writer task: runs until :meth:`close`, then writes the rest and fsyncs.

        It is shielded from cancellation: the writer must outlive every agent so their ends are
        logged; it stops only when the log is closed.
        """
        new = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if new and self.durability != "batch":
                _sync_new_file(fd, self.path)
            task_status.started()
            with trio.CancelScope(shield=True):
                async with trio.open_nursery() as nursery:
                    if self.durability == "batch":
                        nursery.start_soon(self._syncer, fd, new)
                    await self._serve(fd)
                    self._writer_done = True
                    self._gap.cancel()
                    self._dirty.set()
        finally:
            os.close(fd)

    async def _serve(self, fd: int) -> None:
        queue = self._queue
        while True:
            if not queue and not self._flushes:
                if self._closed:
                    return
                self._parked = True
                await self._lot.park()
                self._parked = False  # also when close() woke it
                # Woken by a first event: let more arrive before writing, so a busy run pays
                # for one writer wake-up per LINGER_S rather than one per event. A flush or
                # close cuts the wait short.
                with trio.move_on_after(LINGER_S) as self._linger:
                    await trio.sleep_forever()
                continue
            batch = list(queue)
            queue.clear()
            waiters, self._flushes = self._flushes, []
            if batch:
                self._write_batch(fd, batch)
            if self.durability == "every":
                await self._fsync(fd)
            if self.durability == "batch":
                # The syncer fsyncs (and answers flushes) while we go on writing.
                if waiters:
                    self._sync_waiters.extend((self.written_seq, w) for w in waiters)
                    self._gap.cancel()
                self._dirty.set()
            else:
                for waiter in waiters:
                    waiter.set()
            # Let the emitters run between batches, so batches stay large and cheap.
            await trio.lowlevel.checkpoint()

    async def _syncer(self, fd: int, new: bool) -> None:
        """``batch`` mode: fsync whatever was written, one fsync at a time (group commit), so
        an event is durable a few milliseconds after its write and the writer never waits.
        A new file and its directory entry are made durable first (in a thread, while the run
        starts), before any event counts as durable."""
        if new:
            await trio.to_thread.run_sync(_sync_new_file, fd, self.path)
        while True:
            await self._dirty.wait()
            self._dirty = trio.Event()
            if self.written_seq > self.synced_seq:  # (not a wake-up the last fsync answered)
                gap_ends = self._fsync_started + FSYNC_GAP_S
                if gap_ends > trio.current_time() and not (self._sync_waiters
                                                            or self._writer_done):
                    with trio.move_on_at(gap_ends) as self._gap:  # (nobody waits: space them)
                        await trio.sleep_forever()
                self._fsync_started = trio.current_time()
            await self._fsync(fd)
            done = [w for w in self._sync_waiters if w[0] <= self.synced_seq]
            self._sync_waiters = [w for w in self._sync_waiters if w[0] > self.synced_seq]
            for _, waiter in done:
                waiter.set()
            if self._writer_done and self.synced_seq >= self.written_seq:
                return

    def _write_batch(self, fd: int, items: list[tuple[int, int, Event]]) -> None:
        data = self._frame_quickly(items)
        if data is None:
            framed = [self._frame(*item) for item in items]
            data = b"".join([line for line, _ in framed])
            items = [item for _, item in framed]
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:  # a full disk...: say which file
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        self.written_seq = items[-1][0]
        if self._on_write is not None:
            run, on_write = self.run_id, self._on_write
            for seq, t, ev in items:
                on_write(_new_tuple(Entry, (seq, t, run, ev)))

    def _frame_quickly(self, items: list[tuple[int, int, Event]]) -> bytes | None:
        """A batch's framed lines, built in one loop with the checks done once per batch;
        ``None`` if some event needs :meth:`_frame`'s care (a value JSON cannot hold, an
        unregistered type, a remembered key in its text, a line over the bound)."""
        run, encoders, dumps, crc32 = self.run_id, WIRE_ENCODERS, orjson.dumps, zlib.crc32
        frame = b"%b" + CRC_KEY + b"%d}\n"
        try:
            lines = [frame % ((body := dumps(encoders[type(ev)](seq, t, run, ev)))[:-1],
                              crc32(body))
                     for seq, t, ev in items]
        except (KeyError, TypeError, orjson.JSONEncodeError):
            return None
        data = b"".join(lines)
        if holds_secret(data):  # e.g. a server's error message echoing the key
            return None
        if len(data) > MAX_LINE and max(map(len, lines)) > MAX_LINE:
            return None
        return data

    def _frame(self, seq: int, t: int, ev: Event) -> tuple[bytes, tuple[int, int, Event]]:
        """One event's framed line, with a remembered key redacted and cut to
        :data:`MAX_LINE`, and the item as written."""
        try:
            line = encode(seq, t, self.run_id, ev)
        except (TypeError, orjson.JSONEncodeError):
            line = b""  # a value JSON cannot hold: fit_event replaces it
        if line and holds_secret(line):
            ev = _redacted(ev)
            line = encode(seq, t, self.run_id, ev)
        if not line or len(line) > MAX_LINE:
            ev = fit_event(ev, lambda e: len(encode(seq, t, self.run_id, e)), MAX_LINE)
            line = encode(seq, t, self.run_id, ev)
        return line, (seq, t, ev)

    async def _fsync(self, fd: int) -> None:
        target = self.written_seq
        if target > self.synced_seq:
            await trio.to_thread.run_sync(os.fsync, fd)
            self.synced_seq = target


def _redacted(ev: Event) -> Event:
    """``ev`` with every API key in its text replaced (:mod:`agenttree.redact`)."""
    return from_wire(redact_data(to_wire(0, 0, "", ev))).event


@asynccontextmanager
async def open_event_log(path: str | os.PathLike[str], **kwargs: Any) -> Any:
    """Run an :class:`EventLog` writer for the body of the ``async with``.

    On exit (also on cancel) the log is closed and the writer writes everything queued.
    """
    log = EventLog(path, **kwargs)
    async with trio.open_nursery() as nursery:
        # Shielded: a cancel landing here would leave the writer (shielded itself, once
        # started) in start()'s cancelled nursery, waiting forever for a close() that never
        # comes. The writer starts at once (no checkpoint before started()).
        with trio.CancelScope(shield=True):
            await nursery.start(log.run)
        try:
            yield log
        finally:
            log.close()
