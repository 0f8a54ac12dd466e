"""The event log's writer: one task appending framed JSON lines to ``events.jsonl``.

Framing, the torn-tail rule and reading are :mod:`agenttree.log`'s; this module is the only
part of the log that needs Trio, so the readers of a run (the terminal UI, ``agenttree say``)
import :mod:`agenttree.log` without it.
"""

from __future__ import annotations

import math
import os
import time
import zlib
from collections import deque
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import trio

from .durability import DURABILITY
from .errors import UserError
from .events import WIRE_ENCODERS, Entry, Event, from_wire, to_wire
from .fit import fit_event
from .log import encode, fsync_dir
from .log_lines import CRC_KEY, MAX_LINE
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


def _sync_new_file(fd: int, path: Path) -> None:
    """Make a newly created file and its directory entry durable."""
    os.fsync(fd)
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
