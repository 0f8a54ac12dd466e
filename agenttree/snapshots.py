"""Snapshots of a run's folded state, so the state as of any seq is cheap to rebuild.

A reader that folds a log as it grows (the web hub) notes its state every :data:`EVERY`
events (further apart in a long log: :data:`GROWTH`): the state pickled, with the seq and the
byte offset of the log line after it. The state as of seq ``n`` is then the last snapshot at or
before ``n``, unpickled, plus a fold of the events after it, read from that offset — not a fold
of the whole log.

Memory is bounded: when the snapshots hold more than :data:`BUDGET` bytes, every other one is
dropped and the spacing doubles (so the pickling work stays proportional to the log, too).
"""

from __future__ import annotations

import bisect
import os
import pickle

import attrs

from .log import LogReader
from .state import RunState, fold

EVERY = 10_000
"""Events between snapshots (at first)."""
GROWTH = 4
"""Past ``GROWTH * EVERY`` events, snapshots are a ``1/GROWTH`` of the log apart: each pickles the
whole state, so at a fixed spacing their cost would grow with the square of the log's length;
this way it stays a bounded share of the fold's."""
BUDGET = 64 << 20
"""Bytes of pickled state kept at most (at least one snapshot is kept, however large)."""


@attrs.frozen
class Snapshot:
    """The state as of ``seq`` (pickled); line ``seq + 1`` of the log begins at ``offset``."""

    seq: int
    offset: int
    state: bytes


class Snapshots:
    """The snapshots of one log, taken as a reader folds it (see the module's docstring).

    Not thread-safe: note and look up on one thread (the event loop); the fold from a snapshot
    (:func:`state_from`) may run in another.
    """

    def __init__(self, every: int = EVERY, budget: int = BUDGET) -> None:
        self.every = every
        self.budget = budget
        self.taken: list[Snapshot] = []
        self._bytes = 0

    def note(self, state: RunState, offset: int) -> None:
        """The reader folded the log up to ``state.seq``, whose line ends before ``offset``:
        snapshot it if ``every`` events passed since the last snapshot."""
        last = self.taken[-1].seq if self.taken else 0
        if state.seq - last < max(self.every, last // GROWTH):
            return
        blob = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
        self.taken.append(Snapshot(state.seq, offset, blob))
        self._bytes += len(blob)
        while self._bytes > self.budget and len(self.taken) > 1:
            self.taken = self.taken[1::2]  # every other, the latest kept
            self._bytes = sum(len(s.state) for s in self.taken)
            self.every *= 2

    def before(self, seq: int) -> Snapshot | None:
        """The last snapshot as of ``seq`` or earlier (None: fold from the start)."""
        index = bisect.bisect_right(self.taken, seq, key=lambda s: s.seq)
        return self.taken[index - 1] if index else None


def state_from(path: str | os.PathLike[str], base: Snapshot | None, seq: int) -> RunState:
    """The state of the log at ``path`` as of ``seq``: ``base`` (if any) and the events after it.

    Blocks (reads the file): run it in a thread from async code.

    Raises:
        LogCorrupt: a record between the snapshot and ``seq`` is corrupt.
    """
    if base is None:
        return fold(LogReader(path), until=seq)
    state = pickle.loads(base.state)  # our own bytes, never from outside
    if seq == base.seq:
        return state
    return fold(LogReader(path, start=base.offset, after_seq=base.seq), state, until=seq)
