"""Who did what when: each agent's marks in time, read from the log, for the activity views.

The fold (:mod:`agenttree.state`) says what each agent is now and when it was spawned and
finished; it keeps no times for the things an agent did. :class:`Activity` reads the same
entries and keeps, per agent, a :class:`Mark` for each model call (requested → responded),
tool call (requested → result), acceptance run, lock wait (conflict → acquired or given up)
and message (sent or received), with the seq of the event that opens it. It also counts what
each agent itself was charged (tokens, tool calls, cost), with the time of each token charge,
for :mod:`agenttree.spending`.

Pure: no clock, no I/O. The TUI's Activity tab and the web page's Activity panel both draw
from it (the web hub keeps one beside its fold), so they agree by construction.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import attrs

from . import events as ev
from .events import Entry
from .state import AgentView, RunState

KINDS = ("model", "tool", "acceptance", "lock", "message")
"""Kinds of mark, in the order a legend lists them."""
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


class Activity:
    """Marks and charges per agent, built entry by entry (:meth:`extend`)."""

    def __init__(self) -> None:
        self.marks: dict[str, list[Mark]] = {}
        """Agent id -> its marks in seq order."""
        self.charged: dict[str, dict[str, float]] = {}
        """Agent id -> what it was charged itself, by kind (not its children's roll-ups)."""
        self.token_times: dict[str, list[tuple[int, int]]] = {}
        """Agent id -> ``(t, tokens)`` of each token charge, in time order."""
        self._open: dict[tuple[str, str], Mark] = {}
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

    def add(self, entry: Entry) -> tuple[str, ...]:
        """Take in one entry; returns the agents whose marks or charges changed."""
        handler = self._HANDLERS.get(type(entry.event))
        return () if handler is None else handler(self, entry.event, entry.seq, entry.t)

    def _model_requested(self, e: ev.ModelRequested, seq: int, t: int) -> tuple[str, ...]:
        self._start(e.agent, "model", Mark(kind="model", seq=seq, t=t, end_t=None,
                                           label=e.model))
        return (e.agent,)

    def _model_responded(self, e: ev.ModelResponded, seq: int, t: int) -> tuple[str, ...]:
        mark = self._finish(e.agent, "model", t)
        if mark is None:  # a replayed turn (its request was not logged again)
            mark = self._put(e.agent, Mark(kind="model", seq=seq, t=t, end_t=t, label=e.model))
        mark.tokens = int(e.usage.get("prompt", 0)) + int(e.usage.get("completion", 0))
        self._add_charges(e.agent, e.charged, t)
        return (e.agent,)

    def _tool_requested(self, e: ev.ToolRequested, seq: int, t: int) -> tuple[str, ...]:
        self._add_charges(e.agent, e.charged, t)
        key = f"tool {e.call}"
        if (e.agent, key) not in self._open:  # requested again after a resume: one mark
            self._start(e.agent, key, Mark(kind="tool", seq=seq, t=t, end_t=None,
                                           label=e.tool))
        return (e.agent,)

    def _tool_result(self, e: ev.ToolResult, seq: int, t: int) -> tuple[str, ...]:
        mark = self._finish(e.agent, f"tool {e.call}", t)
        if mark is None:
            mark = self._put(e.agent, Mark(kind="tool", seq=seq, t=t, end_t=t, label=e.tool))
        mark.ok = e.ok
        return (e.agent,)

    def _acceptance(self, e: ev.AcceptanceResult, seq: int, t: int) -> tuple[str, ...]:
        self._put(e.agent, Mark(kind="acceptance", seq=seq, t=t, end_t=t, ok=e.ok,
                                label=e.cmd))
        return (e.agent,)

    def _lock_conflict(self, e: ev.LockConflict, seq: int, t: int) -> tuple[str, ...]:
        self._start(e.agent, f"lock {e.path}", Mark(kind="lock", seq=seq, t=t, end_t=None,
                                                    label=e.path))
        return (e.agent,)

    def _lock_acquired(self, e: ev.LockAcquired, seq: int, t: int) -> tuple[str, ...]:
        return (e.agent,) if self._finish(e.agent, f"lock {e.path}", t) else ()

    def _lock_wait_ended(self, e: ev.LockWaitEnded, seq: int, t: int) -> tuple[str, ...]:
        mark = self._finish(e.agent, f"lock {e.path}", t)
        if mark is None:
            return ()
        mark.ok = False
        return (e.agent,)

    def _message(self, e: ev.AgentMessage, seq: int, t: int) -> tuple[str, ...]:
        self._put(e.sender, Mark(kind="message", seq=seq, t=t, end_t=t, label=f"→ {e.to}"))
        self._put(e.to, Mark(kind="message", seq=seq, t=t, end_t=t, label=f"← {e.sender}"))
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
                    self.token_times.setdefault(agent, []).append((t, int(amount)))

    def _finished(self, e: ev.AgentFinished, seq: int, t: int) -> tuple[str, ...]:
        """What the agent left open ends with it."""
        keys = self._open_keys.pop(e.agent, ())
        for key in keys:
            self._finish(e.agent, key, t)
        return (e.agent,)

    def marks_of(self, agent_id: str, until: int | None = None) -> list[Mark]:
        """``agent_id``'s marks (those opened by seq ``until`` at most, when given)."""
        marks = self.marks.get(agent_id, [])
        if until is None:
            return marks
        return marks[:bisect.bisect_right(marks, until, key=lambda m: m.seq)]

    def _put(self, agent_id: str, mark: Mark) -> Mark:
        self.marks.setdefault(agent_id, []).append(mark)
        return mark

    def _start(self, agent_id: str, key: str, mark: Mark) -> None:
        self._open[agent_id, key] = self._put(agent_id, mark)
        self._open_keys.setdefault(agent_id, set()).add(key)

    def _finish(self, agent_id: str, key: str, t: int) -> Mark | None:
        mark = self._open.pop((agent_id, key), None)
        if mark is not None:
            mark.end_t = t
            self._open_keys.get(agent_id, set()).discard(key)
        return mark

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
