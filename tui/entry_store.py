"""Every entry read so far, as a sequence, with only the recent ones held decoded.

A decoded entry costs about 2 KB; a live run of a few thousand agents logs a thousand events a
second, so keeping them all made the TUI outgrow the engine it watches. The store keeps the
newest :data:`RECENT` entries (what the live screen draws) and the byte offset in the log of
every :data:`BLOCK`-th one; an older entry is read back from the log (time travel, a filter
scanning back, an agent's Events tab, an Activity mark): its block's lines are read at once and
the last :data:`CACHED_BLOCKS` blocks read stay as lines (a third of their decoded size), each
entry decoded when asked for. Without a log to read back from (``path`` None), it keeps every
entry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import overload

from agenttree.errors import LogCorrupt
from agenttree.events import Entry
from agenttree.log import decode

BLOCK = 1000
"""Entries read back from the log at a time."""
RECENT = 2 * BLOCK
"""Newest entries kept decoded (at least; whole blocks are dropped at once): as many as the
events strip keeps (:data:`~tui.widgets.event_list.MAX_LINES`), which holds them anyway."""
CACHED_BLOCKS = 4
"""Older blocks' lines kept once read back (least recently used dropped first)."""


class EntryStore(Sequence[Entry]):
    """Entries ``seq`` 1, 2, 3… of one log: ``store[i]`` is the entry of seq ``i + 1``."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._count = 0
        self._recent: list[Entry] = []
        self._recent_first = 0
        """The index of ``_recent[0]`` (a multiple of :data:`BLOCK`)."""
        self._block_starts: list[int] = []
        """Byte offset in the log of the first entry of each block."""
        self._blocks: OrderedDict[int, list[bytes]] = OrderedDict()
        """Block -> its lines, as read back from the log."""
        self._gap = False

    def __len__(self) -> int:
        return self._count

    @property
    def held(self) -> int:
        """Entries held decoded now."""
        return len(self._recent)

    def extend(self, entries: Sequence[Entry], offsets: Sequence[int] | None = None) -> None:
        """Add the next entries; ``offsets`` are their lines' byte offsets in the log (needed
        to read them back; without them every entry stays decoded)."""
        if not self._gap:
            for i in range(-self._count % BLOCK, len(entries), BLOCK):  # each block's first
                if offsets is None:
                    self._gap = True  # blocks from here on cannot be found in the log
                    break
                self._block_starts.append(offsets[i])
        self._recent.extend(entries)
        self._count += len(entries)
        self._drop_old()

    def _drop_old(self) -> None:
        if self.path is None:
            return
        readable = len(self._block_starts) * BLOCK  # entries that can be read back
        keep_from = min(self._count - RECENT, readable) // BLOCK * BLOCK
        if keep_from > self._recent_first:
            del self._recent[:keep_from - self._recent_first]
            self._recent_first = keep_from

    @overload
    def __getitem__(self, index: int) -> Entry: ...

    @overload
    def __getitem__(self, index: slice) -> list[Entry]: ...

    def __getitem__(self, index: int | slice) -> Entry | list[Entry]:
        if isinstance(index, slice):
            start, stop, step = index.indices(self._count)
            if step == 1:
                return list(self.between(start, stop))
            return [self[i] for i in range(start, stop, step)]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        if index >= self._recent_first:
            return self._recent[index - self._recent_first]
        return self._read_back(index, self._block(index // BLOCK)[index % BLOCK])

    def between(self, start: int, stop: int) -> Iterator[Entry]:
        """The entries of indices ``start`` to ``stop`` (exclusive), in order."""
        i = max(0, start)
        stop = min(stop, self._count)
        while i < stop and i < self._recent_first:
            block = i // BLOCK
            end = min(stop, (block + 1) * BLOCK)
            for index, line in enumerate(self._block(block)[i - block * BLOCK:end - block * BLOCK],
                                         start=i):
                yield self._read_back(index, line)
            i = end
        if i < stop:
            yield from self._recent[i - self._recent_first:stop - self._recent_first]

    def _block(self, block: int) -> list[bytes]:
        """The lines of ``block``, read from the log (or the cache)."""
        cached = self._blocks.get(block)
        if cached is not None:
            self._blocks.move_to_end(block)
            return cached
        assert self.path is not None  # blocks are dropped only with a log to read them from
        with self.path.open("rb") as f:
            f.seek(self._block_starts[block])
            lines = [line.rstrip(b"\n") for line in islice(f, BLOCK)]
        self._blocks[block] = lines
        if len(self._blocks) > CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return lines

    def _read_back(self, index: int, line: bytes) -> Entry:
        """The entry of ``index``, decoded from its line in the log."""
        try:
            entry = decode(line)
        except ValueError as exc:
            raise LogCorrupt(f"{self.path}: seq {index + 1} read back: {exc}") from None
        if entry.seq != index + 1:
            raise LogCorrupt(f"{self.path}: seq {entry.seq} read back where {index + 1} was "
                             "expected")
        return entry

    def __iter__(self) -> Iterator[Entry]:
        return self.between(0, self._count)

    def __reversed__(self) -> Iterator[Entry]:
        for i in range(self._count - 1, -1, -1):
            yield self[i]
