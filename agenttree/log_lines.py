"""The event log's file below its event types: the framing of one line, and a file of lines
read as it grows (forward from an offset: :class:`LineFollower`) or from its end
(:func:`lines_backward`).

It imports neither the event classes nor Trio, so a reader that needs only a few fields of a
few lines (the control client, waiting for its answer) starts fast; :mod:`agenttree.log` builds
the typed log on it.

Framing: each line is the event's compact JSON object with a last key ``"crc"``, the CRC32
(zlib) of the line's bytes without that key (i.e. of ``line[:crc_pos] + b"}"``).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

MAX_LINE = 1 << 20
"""Bound on one record's length in bytes (newline included)."""

CRC_KEY = b',"crc":'
"""Where a line's CRC begins: its last key."""

READ_BLOCK = 1 << 20
"""Bytes a reader or follower reads at a time."""


def unframe(line: bytes) -> dict[str, Any]:
    """The wire dict of one framed line (without its newline), its CRC checked and removed.

    Raises:
        ValueError: the line is too long, is not JSON, or has no or a wrong CRC.
    """
    if len(line) >= MAX_LINE:
        raise ValueError(f"record of {len(line)} bytes exceeds the {MAX_LINE}-byte bound")
    pos = line.rfind(CRC_KEY)
    if pos < 0:
        raise ValueError("no CRC")
    try:
        wire = orjson.loads(line)  # the whole line is JSON, CRC key included
    except orjson.JSONDecodeError:
        raise ValueError("not JSON") from None
    crc = wire.pop("crc", None) if type(wire) is dict else None
    if type(crc) is not int or zlib.crc32(b"}", zlib.crc32(line[:pos])) != crc:
        raise ValueError("CRC mismatch")
    return wire


class FileCutBack(Exception):
    """A followed file became shorter than the lines already read from it."""

    def __init__(self, path: Path, size: int, read: int) -> None:
        super().__init__(f"{path} was cut back to {size} bytes, before lines already read "
                         f"(up to byte {read})")


class LineFollower:
    """Follows a growing file: each :meth:`new_lines` returns the complete lines appended since
    the last call. Lines end at ``\\n`` only (as writers count them).

    A partial last line is not consumed: the next call reads it again from its start, so a
    file cut back to its last complete line and written on is followed correctly. A line longer
    than ``max_line`` bytes is returned cut to ``max_line + 1`` bytes (so the caller sees it is
    too long) and is never held whole: its bytes past the bound are skipped as they arrive.

    With ``chunk``, a call reads about that many bytes (at least one whole line), so a reader
    of a large file gets its first lines early; without, it reads everything there is.
    """

    def __init__(self, path: str | os.PathLike[str], chunk: int | None = None,
                 max_line: int | None = None, start: int = 0) -> None:
        self.path = Path(path)
        self.chunk = chunk
        self.max_line = max_line
        self.lines_read = 0
        """Lines returned so far (numbers count from ``start``, which must begin a line)."""
        self._start = start
        """The offset after the last complete line returned."""
        self._long: bytes | None = None
        """The head of an over-long line still being skipped, read up to ``_scan``."""
        self._scan = 0

    def new_lines(self) -> list[tuple[int, bytes]]:
        """The new complete lines as (1-based line number, bytes without the newline).

        Raises:
            FileCutBack: the file is now shorter than the lines already returned.
        """
        try:
            f = open(self.path, "rb")  # noqa: SIM115 (closed below; a missing file is no error)
        except FileNotFoundError:
            return []
        with f:
            size = os.fstat(f.fileno()).st_size
            if size < self._start:
                raise FileCutBack(self.path, size, self._start)
            if self._long is not None and size < self._scan:
                self._long = None  # cut back inside the long line: read it again
            pos = self._scan if self._long is not None else self._start
            f.seek(pos)
            return self._read(f, pos)

    def _read(self, f: Any, pos: int) -> list[tuple[int, bytes]]:
        lines: list[bytes] = []
        partial = b""  # the unfinished line read so far (it starts at self._start)
        block = self.chunk or READ_BLOCK
        while not (lines and self.chunk is not None) and (data := f.read(block)):
            pos += len(data)
            if self._long is not None:
                nl = data.find(b"\n")
                if nl < 0:
                    continue  # still inside the over-long line
                lines.append(self._long)
                self._long = None
                data = data[nl + 1:]
                self._start = pos - len(data)
            data = partial + data
            cut = data.rfind(b"\n") + 1
            if cut:
                lines.extend(data[:cut - 1].split(b"\n"))
                self._start = pos - len(data) + cut
            partial = data[cut:]
            if self.max_line is not None and len(partial) > self.max_line:
                self._long, partial = partial[:self.max_line + 1], b""
        self._scan = pos
        if self.max_line is not None:
            lines = [line[:self.max_line + 1] for line in lines]
        first = self.lines_read + 1
        self.lines_read += len(lines)
        return list(enumerate(lines, start=first))

    def skip_to_end(self) -> None:
        """After :class:`FileCutBack`: follow the file from its current last complete line
        (line numbers go on from the lines it holds now)."""
        self.lines_read, self._start, self._long = 0, 0, None
        for _ in iter(self.new_lines, []):
            pass


def lines_backward(path: str | os.PathLike[str],
                   block: int = READ_BLOCK) -> Iterator[tuple[int, bytes]]:
    """The complete lines of a file, last first, as (offset, bytes without the newline); an
    unfinished last line is skipped. Reads only as far back as the caller iterates."""
    with open(path, "rb") as f:
        pos = os.fstat(f.fileno()).st_size
        head = b""  # the bytes from ``pos`` to the first complete line not yet yielded
        ended = False  # whether the end of the last complete line has been found
        while pos > 0:
            step = min(block, pos)
            pos -= step
            f.seek(pos)
            head = f.read(step) + head
            if not ended:
                nl = head.rfind(b"\n")
                if nl < 0:
                    continue
                head, ended = head[:nl], True
            lines = head.split(b"\n")
            head = lines[0]  # it may begin before ``pos``
            offset = pos + len(head) + 1
            found = []
            for line in lines[1:]:
                found.append((offset, line))
                offset += len(line) + 1
            yield from reversed(found)
        if ended:
            yield 0, head


def complete_end(path: str | os.PathLike[str]) -> int:
    """The offset after a file's last complete line (0 for a missing or empty file): a
    follower that starts there misses nothing, even when a torn last line is cut off later."""
    try:
        for offset, line in lines_backward(path):
            return offset + len(line) + 1
    except FileNotFoundError:
        pass
    return 0
