"""Reading ``events.jsonl`` in bounded chunks, from the start and then as it grows.

The TUI's tail thread calls :meth:`LogTail.read` in a loop. Reading a chunk at a time (rather
than the whole file) lets the first screen paint from the first few thousand events of a large
recorded run while the rest is still being decoded. A line without its newline yet is held back
until the writer finishes it, so a live log's half-written last line is never an error.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from agenttree.errors import LogCorrupt
from agenttree.events import Entry
from agenttree.log import decode

CHUNK = 1 << 20
"""Bytes read per call: about 4,000 events of a typical log."""


class LogTail:
    """Follows one event log, checking framing and ``seq`` continuity like ``LogReader``.

    Plain blocking file reads (never long): meant for a worker thread.
    """

    def __init__(self, path: str | os.PathLike[str], chunk: int = CHUNK) -> None:
        self.path = Path(path)
        self.chunk = chunk
        self.offset = 0
        """Byte offset after the last complete line consumed."""
        self.line = 0
        self.expected = 1
        self._file: BinaryIO | None = None
        self._error: LogCorrupt | None = None

    def read(self) -> list[Entry]:
        """Decode the complete lines of the next chunk; ``[]`` when there is nothing new.

        Raises:
            LogCorrupt: a complete line fails its CRC or ``seq`` check (the entries before it
                are returned first).
        """
        if self._error is not None:
            raise self._error
        if self._file is None:
            try:
                self._file = open(self.path, "rb")  # noqa: SIM115 - kept open while tailing
            except FileNotFoundError:
                return []
        self._file.seek(self.offset)
        data = b""
        while True:  # a line longer than a chunk is read whole
            more = self._file.read(self.chunk)
            data += more
            cut = data.rfind(b"\n") + 1
            if cut or len(more) < self.chunk:
                break
        return self._decode(data, cut) if cut else []

    def _decode(self, data: bytes, cut: int) -> list[Entry]:
        """The entries of ``data[:cut]``; at a bad line, the good ones before it (the error
        is raised by the next :meth:`read`)."""
        out = []
        for raw in data[:cut].split(b"\n")[:-1]:
            try:
                entry = decode(raw)
            except ValueError as exc:
                self._error = LogCorrupt(
                    f"{self.path}:{self.line + 1}: corrupt event record: {exc}")
            else:
                if entry.seq != self.expected:
                    self._error = LogCorrupt(f"{self.path}:{self.line + 1}: seq {entry.seq} "
                                             f"where {self.expected} was expected")
            if self._error is not None:
                if not out:
                    raise self._error
                return out
            self.line += 1
            self.offset += len(raw) + 1
            self.expected += 1
            out.append(entry)
        return out

    def __enter__(self) -> LogTail:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the file."""
        if self._file is not None:
            self._file.close()
            self._file = None
