"""Snapshots of a run's folded state, so the state as of any seq is cheap to rebuild.

A reader that folds a log as it grows (the web hub) notes its state every :data:`EVERY`
events (further apart in a long log: :data:`GROWTH`): the state as plain data, with the seq and
the byte offset of the log line after it. The state as of seq ``n`` is then the last snapshot at
or before ``n``, rebuilt, plus a fold of the events after it, read from that offset — not a fold
of the whole log.

Most of a long run's state is its agents' conversations, and a conversation item, once
appended, can change only while it is an open tool call's
(:attr:`~agenttree.state.AgentView.open_calls`: its result, its approval); the others are
settled. So a snapshot does not copy settled items: it keeps them, as they are, and copies only
the open calls' items and the rest of the state. An agent's items up to its first open call go
into parts that every later snapshot shares (a snapshot adds a part with the items settled since
the last), the items after it are kept as a list of their own. The copy is :mod:`marshal` of
plain lists and dicts (the state is JSON data in attrs classes): about three times faster than
pickling the same data, and, like pickle, it keeps the objects one write shares (an open call's
item is in its agent's ``open_calls`` and, restored, in its conversation). A rebuilt state
shares the settled items too, which is safe for the same reason: no fold changes them.

Memory is bounded: when the snapshots hold more than :data:`BUDGET` bytes, every other one is
dropped and the spacing doubles (so the work stays proportional to the log, too).
"""

from __future__ import annotations

import bisect
import itertools
import marshal
import operator
import os
from typing import Any

import attrs

from .collector import collector_paused
from .log import LogReader
from .state import AgentView, RunState, TaskView, fold

EVERY = 10_000
"""Events between snapshots (at first)."""
GROWTH = 4
"""Past ``GROWTH * EVERY`` events, snapshots are a ``1/GROWTH`` of the log apart: each writes
every agent's fields again, so at a fixed spacing their cost would grow with the square of the
log's length; this way it stays a bounded share of the fold's."""
BUDGET = 64 << 20
"""Bytes of snapshots kept at most (at least one snapshot is kept, however large)."""

_RUN_FIELDS = tuple(f.name for f in attrs.fields(RunState) if f.name not in ("agents", "tasks"))
_AGENT_FIELDS = tuple(f.name for f in attrs.fields(AgentView) if f.name != "conversation")
_TASK_FIELDS = tuple(f.name for f in attrs.fields(TaskView))
_run_values = operator.attrgetter(*_RUN_FIELDS)
_agent_values = operator.attrgetter(*_AGENT_FIELDS)
_task_values = operator.attrgetter(*_TASK_FIELDS)

Item = dict[str, Any]
"""A conversation item (:attr:`~agenttree.state.AgentView.conversation`)."""
Parts = tuple[tuple[Item, ...], ...]
"""An agent's conversation items in order, in parts: the first ones shared between snapshots."""
POINTER = 8
"""Bytes a snapshot holds per conversation item it keeps (the item itself is the fold's)."""


@attrs.frozen(eq=False)
class Snapshot:
    """The state as of ``seq``; line ``seq + 1`` of the log begins at ``offset``.

    ``state`` is the state marshalled without its agents' conversations, which are
    ``conversations`` (by agent id, their items kept as they are; each open call's item copied
    in ``state``, with its position). Rebuild it with :meth:`restore`.
    """

    seq: int
    offset: int
    state: bytes
    conversations: dict[str, Parts]

    def restore(self) -> RunState:
        """A new :class:`RunState` equal to the one snapshotted (sharing its settled items)."""
        run, tasks, agents = marshal.loads(self.state)  # our own bytes, never from outside
        state = RunState(**dict(zip(_RUN_FIELDS, run, strict=True)))
        state.tasks = {key: TaskView(**dict(zip(_TASK_FIELDS, values, strict=True)))
                       for key, values in tasks.items()}
        conversations = self.conversations
        for agent_id, (values, open_at) in agents.items():
            agent = AgentView(**dict(zip(_AGENT_FIELDS, values, strict=True)),
                              conversation=[*itertools.chain.from_iterable(
                                  conversations.get(agent_id, ()))])
            for call, index in open_at:  # the copy, which the fold after goes on to change
                agent.conversation[index] = agent.open_calls[call]
            state.agents[agent_id] = agent
        return state


class Snapshots:
    """The snapshots of one log, taken as a reader folds it (see the module's docstring).

    Not thread-safe: note and look up on one thread (the event loop); a taken snapshot never
    changes, so rebuilding one (:func:`state_from`) may run in another.
    """

    def __init__(self, every: int = EVERY, budget: int = BUDGET) -> None:
        self.every = every
        self.budget = budget
        self.taken: list[Snapshot] = []
        self._bytes = 0
        self._settled: dict[str, tuple[list[Item], int, Parts]] = {}
        """Agent id -> its conversation list, how many of its first items settled, in which
        parts."""

    def note(self, state: RunState, offset: int) -> None:
        """The reader folded the log up to ``state.seq``, whose line ends before ``offset``:
        snapshot it if ``every`` events passed since the last snapshot."""
        last = self.taken[-1].seq if self.taken else 0
        if state.seq - last < max(self.every, last // GROWTH):
            return
        self._bytes += self._take(state, offset)
        while self._bytes > self.budget and len(self.taken) > 1:
            self.taken = self.taken[1::2]  # every other, the latest kept
            self._bytes = self.held()
            self.every *= 2

    def held(self) -> int:
        """Bytes the kept snapshots hold (a part shared by several counted once)."""
        parts = {id(part): len(part) for snapshot in self.taken
                 for conversation in snapshot.conversations.values() for part in conversation}
        return sum(len(s.state) for s in self.taken) + POINTER * sum(parts.values())

    def before(self, seq: int) -> Snapshot | None:
        """The last snapshot as of ``seq`` or earlier (None: fold from the start)."""
        index = bisect.bisect_right(self.taken, seq, key=lambda s: s.seq)
        return self.taken[index - 1] if index else None

    def _take(self, state: RunState, offset: int) -> int:
        """Snapshot ``state``; returns the bytes newly held."""
        was, self._settled = self._settled, {}  # agents no longer in the state are forgotten
        conversations: dict[str, Parts] = {}
        agents = {}
        added = 0
        for agent_id, agent in state.agents.items():
            conversation = agent.conversation
            known = was.get(agent_id)
            if known is None or known[0] is not conversation or len(conversation) < known[1]:
                known = (conversation, 0, ())  # new, or a new attempt's new list
            _, done, parts = known
            open_at = _positions(conversation, agent.open_calls, done)
            end = min((index for _, index in open_at), default=len(conversation))
            if end > done:
                parts = (*parts, tuple(conversation[done:end]))
            self._settled[agent_id] = (conversation, end, parts)
            if end < len(conversation):
                conversations[agent_id] = (*parts, tuple(conversation[end:]))
            elif parts:
                conversations[agent_id] = parts
            added += POINTER * (len(conversation) - done)
            agents[agent_id] = (_agent_values(agent), open_at)
        tasks = {key: _task_values(task) for key, task in state.tasks.items()}
        blob = marshal.dumps((_run_values(state), tasks, agents))
        self.taken.append(Snapshot(state.seq, offset, blob, conversations))
        return added + len(blob)


def _positions(conversation: list[Item], open_calls: dict[str, Item],
               start: int) -> tuple[tuple[str, int], ...]:
    """Each open call whose item is in ``conversation`` (from ``start`` on), and where (looked
    for from the end: open calls are the latest items)."""
    if not open_calls:
        return ()
    wanted = {id(item): call for call, item in open_calls.items()}
    found = []
    for index in range(len(conversation) - 1, start - 1, -1):
        call = wanted.pop(id(conversation[index]), None)
        if call is not None:
            found.append((call, index))
            if not wanted:
                break
    return tuple(found)


def state_from(path: str | os.PathLike[str], base: Snapshot | None, seq: int) -> RunState:
    """The state of the log at ``path`` as of ``seq``: ``base`` (if any) and the events after it.

    Blocks (reads the file): run it in a thread from async code.

    Raises:
        LogCorrupt: a record between the snapshot and ``seq`` is corrupt.
    """
    if base is None:
        return fold(LogReader(path), until=seq)
    with collector_paused():  # many new objects, none of them garbage
        state = base.restore()
    if seq == base.seq:
        return state
    return fold(LogReader(path, start=base.offset, after_seq=base.seq), state, until=seq)
