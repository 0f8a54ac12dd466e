"""The event log's framing, its readers and its tailer (the writer task is
:mod:`agenttree.log_writer`, the one part that needs Trio).

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

import os
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar

import attrs
import orjson

from .errors import LogCorrupt, UserError
from .events import EVENT_KINDS, Entry, Event, from_wire, to_wire
from .log_lines import (
    CRC_KEY,
    MAX_LINE,
    READ_BLOCK,
    FileCutBack,
    LineFollower,
    unframe,
)

T = TypeVar("T")

_new_tuple = tuple.__new__


def _sound(line: bytes, crc: object, seq: object, last_seq: int, crc32: Any = zlib.crc32) -> bool:
    """Whether a decoded line is framed as the writer frames one: its ``crc`` that of the line
    without it, the line under the bound, and its ``seq`` the one after ``last_seq`` (the fast
    reads' check; a line that fails it goes the typed way, which says what is wrong)."""
    return (type(crc) is int and len(line) < MAX_LINE and (pos := line.rfind(CRC_KEY)) >= 0
            and crc32(b"}", crc32(line[:pos])) == crc and seq == last_seq + 1)


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
        self._bad: TornTail | None = None
        """A bad line read: torn if nothing follows it, else corrupt."""
        self._block_at = (first_line - 1, start)
        """The line number before the block being read, and its offset."""
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
        for lines in self._blocks():
            end = self._block_at[1]
            for index, line in enumerate(lines):
                end += len(line) + 1
                self.end = end
                yield line
                if self._rejected is not None:
                    reason, self._rejected = self._rejected, None
                    self._reject(lines, index, reason)

    def _blocks(self) -> Iterator[list[bytes]]:
        """The file's lines (without their newlines), a block of them at a time, with the
        torn-tail rule's bookkeeping: a consumer takes a block's lines in order, calls
        :meth:`_reject` for a bad one, and, if it stops before the block's end, sets
        :attr:`end` after the last line it took (:meth:`_stop_after`).

        A block is split in one call: memory stays bounded by the block (not the file), and
        finding lines costs C speed, not a Python step per line.
        """
        try:
            f = open(self.path, "rb")  # noqa: SIM115 (closed when the iteration ends)
        except FileNotFoundError:
            raise UserError(f"{self.path}: no such file") from None
        with f:
            f.seek(self._start)
            self.torn, self.end = None, self._start  # each iteration reads the file afresh
            self._rejected = self._bad = None
            line_no, offset = self._first_line - 1, self._start
            rest = b""  # the bytes after the last newline read so far
            while block := f.read(READ_BLOCK):
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                if not lines:
                    continue
                if self._bad is not None:  # a bad line with lines after it
                    self._corrupt(self._bad)
                size = sum(map(len, lines)) + len(lines)
                self._block_at = (line_no, offset)
                self.end = offset + size  # as if the consumer takes every line
                yield lines
                line_no, offset = line_no + len(lines), offset + size
            if self._bad is not None:
                if rest:
                    self._corrupt(self._bad)
                self.torn = self._bad
            elif rest:
                self.torn = TornTail(line=line_no + 1, offset=offset, length=len(rest),
                                     reason="no newline at the end (write cut short)")

    def _reject(self, lines: list[bytes], index: int, reason: str) -> None:
        """Line ``index`` of the block being read is bad: :class:`LogCorrupt` if a line follows
        it, else the torn tail (unless lines follow it in a later block), and :attr:`end` is
        before it."""
        line_no, offset = self._block_at
        offset += sum(map(len, lines[:index])) + index
        bad = TornTail(line=line_no + index + 1, offset=offset, length=len(lines[index]) + 1,
                       reason=reason)
        self.end = offset
        if index + 1 < len(lines):
            self._corrupt(bad)
        self._bad = bad

    def _stop_after(self, lines: list[bytes], index: int) -> None:
        """The consumer stops after line ``index`` of the block being read."""
        self.end = self._block_at[1] + sum(map(len, lines[:index + 1])) + index + 1

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
        return self._records()

    def fold_into(self, state: Any, handlers: Mapping[type, Callable[[Any, Any, int], None]],
                  until: int | None = None) -> None:
        """Fold the log's events (up to and including seq ``until``) into ``state``: for each,
        set ``state.seq`` and ``state.t`` (and ``state.run``, while empty), then call
        ``handlers[type(event)](state, event, t)`` — :func:`agenttree.state.fold`'s loop.

        An event may be a :class:`~agenttree.events.FieldView` (the wire dict as the record's
        attributes, no record built), so a handler must read its fields and keep no event.
        Checks, errors, :attr:`torn`, :attr:`end` and :attr:`last_seq` are as when iterating
        (folding stops after the event ``until``: the line after it is not read, so a bad one
        there is no error).
        """
        loads, crc32, kinds, new_object = orjson.loads, zlib.crc32, EVENT_KINDS, object.__new__
        until = sys.maxsize if until is None else until
        self._start_reading()
        # Decoding inlined (one step per line, no call, no Entry, no generator between a
        # block's lines and the handlers): this is replay's hot loop. Anything unusual (a bad
        # line, an unknown type, fields missing, extra or in another order) goes the way of
        # iterating, which builds the record or finds the line bad.
        for lines in self._blocks():
            index = -1
            try:
                for index, line in enumerate(lines):
                    try:
                        wire = loads(line)
                        crc = wire.pop("crc")
                        view, keys, _ = kinds[wire["type"]]
                        seq = wire["seq"]
                    except (ValueError, KeyError, TypeError, AttributeError):
                        view = None
                    # (:func:`_sound`, inlined: a call per line costs the fold 2%, callgrind)
                    if (view is None or type(crc) is not int or len(line) >= MAX_LINE
                            or (pos := line.rfind(CRC_KEY)) < 0
                            or crc32(b"}", crc32(line[:pos])) != crc
                            or seq != self.last_seq + 1 or tuple(wire) != keys):
                        try:
                            seq, t, run, event = self._entry(line)
                        except ValueError as exc:
                            self._reject(lines, index, str(exc))
                            continue
                    else:
                        self.last_seq = seq
                        event = new_object(view)
                        event.__dict__ = wire
                        t, run = wire["t"], wire["run"]
                    if seq > until:
                        self._stop_after(lines, index)
                        return
                    state.seq, state.t = seq, t
                    if not state.run:
                        state.run = run
                    handlers[type(event)](state, event, t)
                    if seq == until:  # (seqs go up by one: no line after it is read)
                        self._stop_after(lines, index)
                        return
            except LogCorrupt:
                raise
            except BaseException:  # a handler's error: the end after its line, as iterating
                self._stop_after(lines, index)
                raise

    def _records(self) -> Iterator[Entry]:
        """The entry of each good line, its record built (iterating the reader).

        Decoding is inlined as in :meth:`fold_into` (no call per line but the record's class:
        a resume reads its whole log this way). Anything unusual goes :meth:`_entry`'s way.
        """
        loads, sound, kinds = orjson.loads, _sound, EVENT_KINDS
        for line in self._lines():
            try:
                wire = loads(line)
                crc = wire.pop("crc")
                _, _, cls = kinds[wire["type"]]
                seq = wire["seq"]
            except (ValueError, KeyError, TypeError, AttributeError):
                cls = None
            if cls is None or not sound(line, crc, seq, self.last_seq):
                try:
                    entry = self._entry(line)
                except ValueError as exc:
                    self._rejected = str(exc)
                    continue
                yield entry
                continue
            t, run = wire.pop("t"), wire.pop("run")  # from_wire, inlined
            del wire["seq"], wire["type"]
            try:
                event = cls(**wire)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:  # as decode's
                self._rejected = f"not an event: {exc}"
                continue
            self.last_seq = seq
            yield _new_tuple(Entry, (seq, t, run, event))

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
