"""Who did what when: each agent's marks in time, read from the log, for the activity views.

The fold (:mod:`agenttree.state`) says what each agent is now and when it was spawned and
finished; it keeps no times for the things an agent did. :class:`Activity` reads the same
entries and keeps, per agent, a mark for each model call (requested → responded),
tool call (requested → result), acceptance run, lock wait (conflict → acquired or given up)
and message (sent or received), with the seq of the event that opens it: held as rows of
machine integers, read as :class:`Mark` objects (:meth:`Activity.marks_of`). It also counts what
each agent itself was charged (tokens, tool calls, cost), with the time of each token charge,
for :mod:`agenttree.spending`.

Pure: no clock, no I/O. The TUI's Activity tab and the web page's Activity panel both draw
from it (the web hub keeps one beside its fold), so they agree by construction.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar, overload

import attrs

from . import events as ev
from .events import Entry
from .state import AgentView, RunState

KINDS = ("model", "tool", "acceptance", "lock", "message")
"""Kinds of mark, in the order a legend lists them."""
_MODEL, _TOOL, _ACCEPTANCE, _LOCK, _MESSAGE = range(len(KINDS))
CHARGED = ("tokens", "tool_calls", "cost")
"""Budget kinds whose charges :attr:`Activity.charged` adds up per agent."""


@attrs.define(slots=True, kw_only=True)
class Mark:
    """Something an agent did, from ``t`` to ``end_t`` (epoch ms).

    ``end_t`` is None while it is still open (a model call awaiting its answer, a lock still
    awaited); a point in time (an acceptance run's result, a message) has ``end_t == t``.
    ``seq`` is the event that opened it, ``ok`` False for a failed call, a failed check or a
    lock wait given up, ``label`` a few words (the tool, the command, the path, the peer).
    """

    kind: str
    seq: int
    t: int
    end_t: int | None
    ok: bool = True
    label: str = ""
    tokens: int = 0

    def to_json(self) -> list[object]:
        """``[kind, seq, t, end_t, ok, label]``: the web page's compact form."""
        return [self.kind, self.seq, self.t, self.end_t, self.ok, self.label]


_OPEN = -(1 << 63)
"""``end_t`` of a mark still open, in the compact rows."""
_SEQ, _T, _END, _TOKENS, _PACKED = range(5)
"""A mark's fields in an agent's row array (five machine integers a mark: 40 bytes, where a
:class:`Mark` object with its integers and label was about 260, the bulk of what a viewer's
memory grew by in a live run). ``_PACKED`` is the kind, ``ok`` (bit 3) and the label's index
in :attr:`Activity._labels` (from bit 4)."""
_FIELDS = 5
_OK = 8


_NO_ROWS: array[int] = array("q")


class Marks(Sequence[Mark]):
    """An agent's marks (up to a seq), each :class:`Mark` made when it is read."""

    __slots__ = ("_labels", "_n", "_rows")

    def __init__(self, rows: array[int], labels: list[str], n: int) -> None:
        self._rows, self._labels, self._n = rows, labels, n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> Mark: ...

    @overload
    def __getitem__(self, index: slice) -> list[Mark]: ...

    def __getitem__(self, index: int | slice) -> Mark | list[Mark]:
        if isinstance(index, slice):
            return [self._mark(i) for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(index)
        return self._mark(index)

    def _mark(self, i: int) -> Mark:
        rows, at = self._rows, i * _FIELDS
        end_t, packed = rows[at + _END], rows[at + _PACKED]
        return Mark(kind=KINDS[packed & 7], seq=rows[at + _SEQ], t=rows[at + _T],
                    end_t=None if end_t == _OPEN else end_t, ok=bool(packed & _OK),
                    label=self._labels[packed >> 4], tokens=rows[at + _TOKENS])


class TokenTimes(Mapping[str, list[tuple[int, int]]]):
    """Agent id -> ``(t, tokens)`` of each of its token charges, in time order (read from
    two columns of machine integers an agent)."""

    __slots__ = ("_times",)

    def __init__(self, times: dict[str, tuple[array[int], array[int]]]) -> None:
        self._times = times

    def __getitem__(self, agent: str) -> list[tuple[int, int]]:
        t, tokens = self._times[agent]
        return list(zip(t, tokens, strict=True))

    def __iter__(self) -> Iterator[str]:
        return iter(self._times)

    def __len__(self) -> int:
        return len(self._times)


class Activity:
    """Marks and charges per agent, built entry by entry (:meth:`extend`)."""

    def __init__(self) -> None:
        self._rows: dict[str, array[int]] = {}
        """Agent id -> its marks in seq order, :data:`_FIELDS` integers each (read them with
        :meth:`marks_of`)."""
        self._labels: list[str] = []
        self._label_ids: dict[str, int] = {}
        self.charged: dict[str, dict[str, float]] = {}
        """Agent id -> what it was charged itself, by kind (not its children's roll-ups)."""
        self._token_times: dict[str, tuple[array[int], array[int]]] = {}
        self.token_times = TokenTimes(self._token_times)
        """Agent id -> ``(t, tokens)`` of each token charge, in time order."""
        self._open: dict[tuple[str, str], int] = {}
        """(agent, what) -> where its open mark's row starts."""
        self._open_keys: dict[str, set[str]] = {}

    def extend(self, entries: Iterable[Entry]) -> set[str]:
        """Take in entries (in seq order); returns the agents whose marks changed."""
        touched: set[str] = set()
        handlers = self._HANDLERS
        for seq, t, _, event in entries:
            handler = handlers.get(type(event))
            if handler is not None:
                touched.update(handler(self, event, seq, t))
        return touched

    def _model_requested(self, e: ev.ModelRequested, seq: int, t: int) -> tuple[str, ...]:
        self._start(e.agent, "model", _MODEL, seq, t, e.model)
        return (e.agent,)

    def _model_responded(self, e: ev.ModelResponded, seq: int, t: int) -> tuple[str, ...]:
        i = self._finish(e.agent, "model", t)
        if i is None:  # a replayed turn (its request was not logged again)
            i = self._put(e.agent, _MODEL, seq, t, t, e.model)
        self._rows[e.agent][i + _TOKENS] = (int(e.usage.get("prompt", 0))
                                            + int(e.usage.get("completion", 0)))
        self._add_charges(e.agent, e.charged, t)
        return (e.agent,)

    def _tool_requested(self, e: ev.ToolRequested, seq: int, t: int) -> tuple[str, ...]:
        self._add_charges(e.agent, e.charged, t)
        key = f"tool {e.call}"
        if (e.agent, key) not in self._open:  # requested again after a resume: one mark
            self._start(e.agent, key, _TOOL, seq, t, e.tool)
        return (e.agent,)

    def _tool_result(self, e: ev.ToolResult, seq: int, t: int) -> tuple[str, ...]:
        i = self._finish(e.agent, f"tool {e.call}", t)
        if i is None:
            i = self._put(e.agent, _TOOL, seq, t, t, e.tool)
        self._set_ok(e.agent, i, e.ok)
        return (e.agent,)

    def _acceptance(self, e: ev.AcceptanceResult, seq: int, t: int) -> tuple[str, ...]:
        self._put(e.agent, _ACCEPTANCE, seq, t, t, e.cmd, ok=e.ok)
        return (e.agent,)

    def _lock_conflict(self, e: ev.LockConflict, seq: int, t: int) -> tuple[str, ...]:
        self._start(e.agent, f"lock {e.path}", _LOCK, seq, t, e.path)
        return (e.agent,)

    def _lock_acquired(self, e: ev.LockAcquired, seq: int, t: int) -> tuple[str, ...]:
        return (e.agent,) if self._finish(e.agent, f"lock {e.path}", t) is not None else ()

    def _lock_wait_ended(self, e: ev.LockWaitEnded, seq: int, t: int) -> tuple[str, ...]:
        i = self._finish(e.agent, f"lock {e.path}", t)
        if i is None:
            return ()
        self._set_ok(e.agent, i, False)
        return (e.agent,)

    def _message(self, e: ev.AgentMessage, seq: int, t: int) -> tuple[str, ...]:
        self._put(e.sender, _MESSAGE, seq, t, t, f"→ {e.to}")
        self._put(e.to, _MESSAGE, seq, t, t, f"← {e.sender}")
        return (e.sender, e.to)

    def _charged(self, e: ev.BudgetCharged, seq: int, t: int) -> tuple[str, ...]:
        if e.kind not in CHARGED:
            return ()
        self._add_charges(e.agent, {e.kind: e.amount}, t)
        return (e.agent,)

    def _add_charges(self, agent: str, charged: dict[str, float] | None, t: int) -> None:
        """Count charges to ``agent`` (a ``budget/charged``'s, or those a model answer or a
        tool call carries)."""
        if not charged:
            return
        own = self.charged.get(agent)
        if own is None:
            own = self.charged[agent] = {}
        for kind, amount in charged.items():
            if kind in CHARGED:
                own[kind] = own.get(kind, 0.0) + amount
                if kind == "tokens":
                    times = self._token_times.get(agent)
                    if times is None:
                        times = self._token_times[agent] = (array("q"), array("q"))
                    times[0].append(t)
                    times[1].append(int(amount))

    def _finished(self, e: ev.AgentFinished, seq: int, t: int) -> tuple[str, ...]:
        """What the agent left open ends with it."""
        keys = self._open_keys.pop(e.agent, ())
        for key in keys:
            self._finish(e.agent, key, t)
        return (e.agent,)

    def marks_of(self, agent_id: str, until: int | None = None) -> Marks:
        """``agent_id``'s marks (those opened by seq ``until`` at most, when given)."""
        rows = self._rows.get(agent_id, _NO_ROWS)
        n = len(rows) // _FIELDS
        if until is not None:
            n = bisect.bisect_right(range(n), until, key=lambda i: rows[i * _FIELDS + _SEQ])
        return Marks(rows, self._labels, n)

    def _put(self, agent_id: str, kind: int, seq: int, t: int, end_t: int | None, label: str,
             ok: bool = True) -> int:
        """Add a mark to ``agent_id``'s; returns where its row starts."""
        rows = self._rows.get(agent_id)
        if rows is None:
            rows = self._rows[agent_id] = array("q")
        label_id = self._label_ids.get(label)
        if label_id is None:
            label_id = self._label_ids[label] = len(self._labels)
            self._labels.append(label)
        at = len(rows)
        rows.extend((seq, t, _OPEN if end_t is None else end_t, 0,
                     kind | (_OK if ok else 0) | label_id << 4))
        return at

    def _set_ok(self, agent_id: str, at: int, ok: bool) -> None:
        rows = self._rows[agent_id]
        rows[at + _PACKED] = rows[at + _PACKED] & ~_OK | (_OK if ok else 0)

    def _start(self, agent_id: str, key: str, kind: int, seq: int, t: int, label: str) -> None:
        self._open[agent_id, key] = self._put(agent_id, kind, seq, t, None, label)
        self._open_keys.setdefault(agent_id, set()).add(key)

    def _finish(self, agent_id: str, key: str, t: int) -> int | None:
        """End ``agent_id``'s open mark ``key`` at ``t``; where its row starts (None if none
        is open)."""
        at = self._open.pop((agent_id, key), None)
        if at is not None:
            self._rows[agent_id][at + _END] = t
            self._open_keys.get(agent_id, set()).discard(key)
        return at

    _HANDLERS: ClassVar[dict[type[ev.Event], Callable[[Any, Any, int, int], tuple[str, ...]]]] = {
        ev.ModelRequested: _model_requested, ev.ModelResponded: _model_responded,
        ev.ToolRequested: _tool_requested, ev.ToolResult: _tool_result,
        ev.AcceptanceResult: _acceptance, ev.LockConflict: _lock_conflict,
        ev.LockAcquired: _lock_acquired, ev.LockWaitEnded: _lock_wait_ended,
        ev.AgentMessage: _message, ev.BudgetCharged: _charged, ev.AgentFinished: _finished,
    }
    """The events that make or end marks (or charge a budget), and what each does."""



def end_of(mark: Mark, agent: AgentView | None, now_t: int) -> int:
    """Where to draw ``mark``'s end: its own end, else its agent's finish, else ``now_t``;
    an end after ``now_t`` (viewing the past) is not known yet, so it is drawn at ``now_t``."""
    if mark.end_t is not None and mark.end_t <= now_t:
        return mark.end_t
    if agent is not None and agent.finished_t is not None and agent.finished_t <= now_t:
        return agent.finished_t
    return now_t


def time_span(state: RunState, now_t: int) -> tuple[int, int]:
    """The run's extent in epoch ms: its first spawn (or start) to its end (or ``now_t``)."""
    start = state.started_t or min((a.started_t for a in state.agents.values()), default=now_t)
    end = state.finished_t if state.finished_t is not None else max(now_t, state.t)
    return start, max(end, start + 1)
