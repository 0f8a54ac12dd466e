"""One tailer per run directory, fanned out to every websocket client.

The hub's task follows ``events.jsonl`` (:class:`~agenttree.log.Tailer`), folds each new entry into
its :class:`~agenttree.state.RunState`, and passes the new lines on as they were read (joined
into shared chunks, never decoded and encoded again) to every subscriber's buffer (a trio memory
channel) with ``send_nowait``; the page's viewers get the poll's delta of the tree's rows
(:mod:`~agenttree.web.view`), built and encoded once. The hub never waits for a client, so a
slow client can slow neither the others nor the engine (which only ever writes a file). A
client with more than its bound of events still queued from earlier polls is dropped: its
channel is closed, and it is told, in the websocket close reason, the seq to resume from. (The
bound is checked per poll, not per event, so one large burst, say a resumed run's, never drops
a client that keeps up.)

A subscriber that starts at an older seq first gets the lines before its live start straight
from the file (seq ``n`` is line ``n`` of the log), then its live buffer: every seq exactly once.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio

from ..activity import Activity
from ..collector import collector_paused
from ..control import ControlClient, parse_command
from ..errors import LogCorrupt, UserError
from ..events import Entry
from ..file_changes import FileChanges
from ..log import Tailer
from ..snapshots import EVERY as SNAPSHOT_EVERY
from ..snapshots import Snapshots
from ..state import FINISHED, RunState, fold
from .view import View, budgets, detail, marks

POLL_S = 0.05
"""How often the log is read when no change is notified (where notification is unavailable)."""
GAP_S = 0.05
"""The most often the log is read: a busy log is read in batches, a quiet one as soon as it
changes."""
READ_CHUNK = 4 << 20
"""Bytes of log read and folded at a time (a long log is caught up chunk by chunk, with a
checkpoint between, so the server and Ctrl-C never wait for a whole log's fold)."""
BUFFER = 10_000
"""Events a client may fall behind by before it is dropped."""
ACK_WAIT_S = 10.0
"""How long a control request waits for the engine's answer."""
CHUNK_BYTES = 256 << 10
"""About the most log text sent in one websocket message."""
VIEW_BUFFER = 100
"""Deltas a viewer may have queued before it is sent a fresh snapshot instead."""
BUDGET_POLLS = 10
"""Polls between two budget pictures sent to a page (they add up a whole subtree: at 10,000
agents, too much work for every poll); a selection or a snapshot sends them at once."""
MAX_WATCHED = 500
"""The most agents a page's Activity panel may ask the marks of at once."""


class BadRequest(Exception):
    """A request the hub refuses; the message says why, for the client."""


@attrs.frozen
class Chunk:
    """Consecutive log lines (seqs ``first``…``last``), newline-terminated, as one text: built
    once per poll and shared by every client."""

    first: int
    last: int
    text: str

    def since(self, seq: int) -> Chunk:
        """The part of this chunk from ``seq`` on (``seq`` within it)."""
        lines = self.text.splitlines(keepends=True)[seq - self.first:]
        return Chunk(seq, self.last, "".join(lines))


class Subscriber:
    """One client's view of the stream: history lines up to ``live_from - 1``, then its buffer.

    The hub never blocks on a subscriber: each poll's chunks are queued whole (one poll holds
    what the log grew by in one interval), and a client is dropped when, at a poll, more than
    ``limit`` events from earlier polls are still waiting to be sent to it.

    Attributes:
        start: the first seq this client wants.
        live_from: the first seq that comes through the buffer (earlier ones come from the file).
        queued: events in the buffer, not yet taken by the client's task.
        dropped: why the hub dropped this client (None while it keeps up).
    """

    def __init__(self, start: int, live_from: int, limit: int) -> None:
        self.start = start
        self.live_from = live_from
        self.limit = limit
        self.queued = 0
        self.dropped: str | None = None
        self.sent = start - 1
        self._send, self.receive = trio.open_memory_channel[Chunk](math.inf)

    def lagging(self) -> bool:
        """Whether the client fell too far behind (checked before each poll's chunks)."""
        if self.queued > self.limit:
            self.drop(f"fell more than {self.limit} events behind")
        return self.dropped is not None

    def push(self, chunk: Chunk) -> None:
        """Queue a chunk (never blocks; the buffer is bounded by :meth:`lagging`)."""
        if chunk.last < self.start:  # it asked for a seq beyond what the hub had seen
            return
        if chunk.first < self.start:
            chunk = chunk.since(self.start)
        try:
            self._send.send_nowait(chunk)
        except trio.ClosedResourceError:
            return
        self.queued += chunk.last - chunk.first + 1

    def took(self, chunk: Chunk) -> None:
        """The client's task took ``chunk`` from the buffer."""
        self.queued -= chunk.last - chunk.first + 1

    def drop(self, reason: str) -> None:
        """End this client's stream; it is told ``reason``."""
        if self.dropped is None:
            self.dropped = reason
        self._send.close()


class Viewer:
    """One page's feed: a snapshot, then the shared deltas, and its selected agent's detail.

    The hub never blocks on a viewer: each poll's delta is queued, and a viewer that still has
    ``limit`` deltas queued when another comes is sent a fresh snapshot in their place (rows
    are state, not history: skipping to the present loses nothing).

    Attributes:
        selected: the agent whose detail (and subtree's budgets) this page shows (None: none).
        watching: the agents whose marks this page's Activity panel shows.
        stale: the next thing to send is a snapshot (at the start, and after falling behind).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.selected: str | None = None
        self.watching: frozenset[str] = frozenset()
        self.marks_due: set[str] = set()
        self.stale = True
        self.detail_due = False
        self.budgets_due = True
        self.budgets_now = True
        """Send the budgets without waiting for :data:`BUDGET_POLLS` polls to pass."""
        self.budgets_poll = 0
        self.budgets_sent = ""
        self.deltas: deque[str] = deque()
        self.errors: list[str] = []
        self.dropped: str | None = None
        """Why the hub ended this feed (None while it goes on)."""
        self._wake = trio.Event()

    def push(self, delta: str, touched: set[str], marked: set[str]) -> None:
        """Queue a poll's delta (``touched``: the agents its events named; ``marked``: those
        whose marks changed)."""
        if len(self.deltas) >= self.limit:
            self.deltas.clear()
            self.stale = True
        else:
            self.deltas.append(delta)
        if self.selected in touched:
            self.detail_due = True
        self.marks_due |= marked & self.watching
        self.budgets_due = True
        self._wake.set()

    def select(self, agent_id: str | None) -> None:
        """Show ``agent_id``'s detail and budgets from now on (both are sent at once)."""
        self.selected, self.detail_due = agent_id, True
        self.budgets_due = self.budgets_now = True
        self._wake.set()

    def watch(self, agent_ids: frozenset[str]) -> None:
        """Show the marks of ``agent_ids`` from now on (those new to the page are sent at
        once)."""
        self.marks_due |= agent_ids - self.watching
        self.marks_due &= agent_ids
        self.watching = agent_ids
        self._wake.set()

    def drop(self, reason: str) -> None:
        """End this feed; the page is told ``reason``."""
        self.dropped = reason
        self._wake.set()

    def refuse(self, reason: str) -> None:
        """Tell the page a message it sent was refused (and why)."""
        self.errors.append(orjson.dumps({"kind": "error", "error": reason}).decode())
        self._wake.set()

    def wake(self) -> None:
        """Something may be due: let the viewer's task look."""
        self._wake.set()

    async def wait(self) -> None:
        """Wait until there is something to send (returns at once if there is)."""
        await self._wake.wait()
        self._wake = trio.Event()


class Hub:
    """The live view of one run directory: its folded state and its event stream.

    Start it with ``await nursery.start(hub.run)``; it is then current as of its last poll.
    """

    def __init__(self, run_dir: str | os.PathLike[str], *, buffer: int = BUFFER,
                 poll_s: float = POLL_S, gap_s: float = GAP_S,
                 snapshot_every: int = SNAPSHOT_EVERY) -> None:
        self.run_dir = Path(run_dir)
        self.log_path = self.run_dir / "events.jsonl"
        self.state = RunState()
        self.error: str | None = None
        self.buffer = buffer
        self.poll_s = poll_s
        self.gap_s = gap_s
        self.activity = Activity()
        """Each agent's marks in time, beside the fold (the page's Activity panel)."""
        self.view = View(self.state, self.activity)
        self._tailer = Tailer(self.log_path, chunk=READ_CHUNK)
        self._subscribers: set[Subscriber] = set()
        self._viewers: set[Viewer] = set()
        self.polls = 0
        """How many times the log was polled (the clock of :data:`BUDGET_POLLS`)."""
        self._cache: dict[tuple[str, str | None], str] = {}
        """Encoded messages valid until the next fold: the snapshot (key None), details."""
        self.snapshots = Snapshots(snapshot_every)
        """The state every so many events (``GET /api/state?seq=N`` starts from one)."""
        self._offset = 0
        """Where the line after the last one folded begins."""

    @property
    def seq(self) -> int:
        """The last seq folded."""
        return self.state.seq

    @property
    def clients(self) -> int:
        """How many clients (event subscribers and page viewers) are attached."""
        return len(self._subscribers) + len(self._viewers)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Follow the log until cancelled (after a first read of what is there): read it as
        soon as a change is notified (:mod:`~agenttree.file_changes`) but not more often than
        every ``gap_s``, and every ``poll_s`` where no notification comes."""
        changes = FileChanges(self.log_path, poll_s=self.poll_s)
        async with trio.open_nursery() as nursery:
            await nursery.start(changes.run)
            await self._catch_up()
            task_status.started()
            next_read = trio.current_time() + self.gap_s
            while True:
                await changes.wait()
                await trio.sleep_until(next_read)
                next_read = trio.current_time() + self.gap_s
                await self._catch_up()

    async def _catch_up(self) -> None:
        while self.poll():
            await trio.lowlevel.checkpoint()

    def poll(self) -> bool:
        """Fold and fan out what was appended since the last poll (about :data:`READ_CHUNK`
        bytes of it); returns whether anything was."""
        if self.error is not None:
            return False
        self.polls += 1
        for viewer in self._viewers:  # budgets held back by BUDGET_POLLS are due now
            if viewer.budgets_due and self.polls - viewer.budgets_poll == BUDGET_POLLS:
                viewer.wake()
        with collector_paused():  # a poll builds long-lived objects, as a fold does
            try:
                lines = self._tailer.poll_lines()
            except LogCorrupt as exc:
                self._fan_out(exc.entries)  # what came before the bad line still goes out
                self.error = str(exc)
                self.drop_all(f"the event log is corrupt: {exc}")
                return False
            self._fan_out(lines)
        return bool(lines)

    def _fan_out(self, lines: list[tuple[Entry, bytes]]) -> None:
        if not lines:
            return
        entries, raws = zip(*lines, strict=True)  # two tuples, split in C
        fold(entries, self.state)
        self.view.note(entries)
        text = b"\n".join(raws) + b"\n"  # the lines as in the file
        self._offset += len(text)
        self.snapshots.note(self.state, self._offset)
        self._cache.clear()
        chunks = list(_chunks(entries[0].seq, text))
        for sub in list(self._subscribers):
            if sub.lagging():
                self._subscribers.discard(sub)
                continue
            for chunk in chunks:
                sub.push(chunk)
        touched, marked = self.view.touched, self.view.marked
        delta = self.view.delta()
        if delta is not None:
            text = orjson.dumps(delta).decode()
            for viewer in self._viewers:
                viewer.push(text, touched, marked)

    def subscribe(self, start: int) -> Subscriber:
        """Attach a client that wants every event from seq ``start`` on.

        A ``start`` beyond the last seq seen waits for it (the client may have read the log
        before the hub's last poll), unless the run has finished.

        Raises:
            BadRequest: ``start`` is below 1, or beyond the end of a finished run's log.
        """
        if start < 1:
            raise BadRequest(f"from={start}: seqs start at 1")
        if start > self.seq + 1 and self.state.status in FINISHED:
            raise BadRequest(f"from={start} is past the end of the log (last seq {self.seq}) "
                             "and the run has finished")
        if self.error is not None:
            raise BadRequest(f"the event log is corrupt: {self.error}")
        sub = Subscriber(start, self.seq + 1, self.buffer)
        self._subscribers.add(sub)
        return sub

    def watch(self) -> Viewer:
        """Attach a page; its first message is a snapshot.

        Raises:
            BadRequest: the event log is corrupt.
        """
        if self.error is not None:
            raise BadRequest(f"the event log is corrupt: {self.error}")
        viewer = Viewer(VIEW_BUFFER)
        self._viewers.add(viewer)
        return viewer

    def unwatch(self, viewer: Viewer) -> None:
        """Detach a page (it went away)."""
        self._viewers.discard(viewer)

    def messages_for(self, viewer: Viewer) -> list[str]:
        """What to send ``viewer`` now, in order (taking it from its queue). Plain: the snapshot
        and the deltas after it are taken together, so the page misses nothing."""
        out = viewer.errors
        viewer.errors = []
        if viewer.stale:
            viewer.stale = False
            viewer.detail_due = viewer.detail_due or viewer.selected is not None
            viewer.budgets_due = viewer.budgets_now = True
            viewer.budgets_sent = ""
            viewer.marks_due |= viewer.watching
            viewer.deltas.clear()
            out.append(self._encoded(("snapshot", None), self.view.snapshot))
        out.extend(viewer.deltas)
        viewer.deltas.clear()
        if viewer.detail_due:
            viewer.detail_due = False
            selected = viewer.selected
            out.append(self._encoded(("detail", selected), lambda: detail(self.state, selected)))
        if viewer.budgets_due and (viewer.budgets_now
                                   or self.polls - viewer.budgets_poll >= BUDGET_POLLS):
            viewer.budgets_due = viewer.budgets_now = False
            viewer.budgets_poll = self.polls
            selected = viewer.selected
            text = self._encoded(("budgets", selected),
                                 lambda: budgets(self.activity, self.state, selected))
            if text != viewer.budgets_sent:  # the page has these figures already
                viewer.budgets_sent = text
                out.append(text)
        if viewer.marks_due:
            due, viewer.marks_due = viewer.marks_due, set()
            out.append(orjson.dumps(marks(self.activity, self.state, sorted(due))).decode())
        return out

    def _encoded(self, key: tuple[str, str | None], message: Any) -> str:
        text = self._cache.get(key)
        if text is None:
            text = self._cache[key] = orjson.dumps(message()).decode()
        return text

    def drop_all(self, reason: str) -> None:
        """Drop every client, telling each ``reason`` and where to resume."""
        for sub in self._subscribers:
            sub.drop(reason)
        self._subscribers.clear()
        for viewer in self._viewers:
            viewer.drop(reason)
        self._viewers.clear()

    def unsubscribe(self, sub: Subscriber) -> None:
        """Detach a client (it went away)."""
        self._subscribers.discard(sub)
        sub.drop("closed")

    def history(self, sub: Subscriber) -> Iterator[bytes]:
        """The log lines (with newlines) from ``sub.start`` to before its live start.

        Plain reads, yielded in batches of about :data:`CHUNK_BYTES`; the caller checkpoints
        between batches it sends. (Every line up to the hub's last poll is whole: the tailer
        folded it.)
        """
        if sub.start >= sub.live_from:  # all live (the log may not even exist yet)
            return
        batch: list[bytes] = []
        size = 0
        with open(self.log_path, "rb") as f:
            for line in itertools.islice(f, sub.start - 1, sub.live_from - 1):
                batch.append(line)
                size += len(line)
                if size >= CHUNK_BYTES:
                    yield b"".join(batch)
                    batch, size = [], 0
        if batch:
            yield b"".join(batch)

    # --- control -----------------------------------------------------------------------------

    async def control(self, data: Any) -> dict[str, Any]:
        """Append a command (parsed JSON, checked against the control protocol) to
        ``control.jsonl`` and wait for the engine's answer.

        Returns ``{"line", "status": "applied"|"rejected"|"pending", "detail"}``; ``pending`` when
        no answer came within :data:`ACK_WAIT_S` (the engine is busy or gone).

        Raises:
            BadRequest: not a command (:func:`~agenttree.control.parse_command` says why), or
                the run has finished.
        """
        try:
            command = parse_command(data)
            if self.state.status in FINISHED:
                raise BadRequest(f"the run has finished ({self.state.status}); nothing to "
                                 "control")
            client = ControlClient(self.run_dir)
        except UserError as exc:
            raise BadRequest(str(exc)) from None
        sent = client.send_nowait(command)
        answer = None
        with trio.move_on_after(ACK_WAIT_S):
            answer = await client.wait_async(sent)
        if answer is None:
            return {"line": sent.line, "status": "pending",
                    "detail": f"queued as line {sent.line}; no engine answered within "
                              f"{ACK_WAIT_S:g}s"}
        return {"line": sent.line, "status": "applied" if answer.applied else "rejected",
                "detail": answer.detail}


def _chunks(first: int, text: bytes) -> Iterator[Chunk]:
    """``text`` (lines with seqs from ``first``, each newline-terminated) as chunks of at most
    about :data:`CHUNK_BYTES`, cut at the end of the line that reaches the size (the cuts and
    the lines in each found in C, not a Python loop per line)."""
    start, seq = 0, first
    while start < len(text):
        end = text.find(b"\n", start + CHUNK_BYTES - 1) + 1 or len(text)
        piece = text[start:end]
        count = piece.count(b"\n")
        yield Chunk(seq, seq + count - 1, piece.decode())
        start, seq = end, seq + count
