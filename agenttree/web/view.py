"""What the page shows, taken from the hub's :class:`~agenttree.state.RunState`: the tree's rows
as a snapshot, then as deltas (the rows the events of one poll changed), and one agent's detail.

The page folds nothing itself: every row it draws is a projection of an
:class:`~agenttree.state.AgentView` that :func:`~agenttree.state.apply` made, so the page, the
TUI, ``replay`` and ``resume`` agree by construction. Messages (JSON objects, ``kind`` first)::

    {"kind": "snapshot", "seq", "t", "run": {name, status, reason, started_t, finished_t},
     "root", "rows": [ROW, …], "locks", "containers", "events": [[seq, type, who], …]}
    {"kind": "delta", "seq", "t", "rows": [ROW, …], "events": […], and "run", "root", "locks",
     "containers" when they changed}

``t`` is the last event's time (epoch ms; every time here is), so a page can tell how far a
live run has got without trusting its own clock.
    {"kind": "detail", "seq", "id", "agent": the agent as in /api/state, or null}
    {"kind": "marks", "seq", "marks": {id: [MARK, …]}}  (the agents the page's Activity panel
     shows: all of them when it asks, then those whose marks changed)
    {"kind": "budgets", "id", "rows": [SPEND, …], "tokens": [[t, total], …]}  (when changed)
    {"kind": "error", "error": "why a message from the page was refused"}

A ``MARK`` is ``[kind, seq, t, end_t, ok, label]`` (:meth:`agenttree.activity.Mark.to_json`),
a ``SPEND`` a :class:`agenttree.spending.Spend` (the selected agent's subtree, then each
child's; the root's when none is selected), ``tokens`` that subtree's tokens over the run.

A ``ROW`` is ``{id, parent, depth, status, detail, finished, tool_calls, tokens, attempt,
start_t, end_t, waiting_call}`` plus
its children: ``children`` (the whole list) in a snapshot, for an agent new to the page, or when
the list was replaced (a re-opened parent starts with no children), else ``added`` (the ids
appended since the last delta) when there are any. A delta holds only rows that changed.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from ..activity import Activity
from ..events import Entry
from ..spending import spending, tokens_over_time
from ..state import AgentView, RunState, agent_to_json, agents_touched_by

EVENTS_SHOWN = 200
"""The most recent events the page lists."""
DETAIL_ITEMS = 100
"""The last conversation items sent in an agent's detail."""
MARKS_SENT = 500
"""The last marks of an agent sent to the Activity panel."""
TOKEN_SLICES = 60
"""Points of the tokens-over-time line."""

Row = dict[str, Any]

_event_of = operator.attrgetter("event")


def row(agent: AgentView) -> Row:
    """The fields of ``agent`` a tree row shows (children apart)."""
    return {"id": agent.id, "parent": agent.parent, "depth": agent.depth,
            "status": agent.status, "detail": agent.detail, "finished": agent.finished,
            "tool_calls": agent.tool_calls, "tokens": agent.tokens, "attempt": agent.attempt,
            "start_t": agent.started_t, "end_t": agent.finished_t,
            "waiting_call": agent.waiting_call}


def detail(state: RunState, agent_id: str | None) -> dict[str, Any]:
    """The ``detail`` message for ``agent_id`` (its last :data:`DETAIL_ITEMS` conversation
    items; ``agent`` is null for an unknown id or none)."""
    agent = state.agents.get(agent_id) if agent_id is not None else None
    data = None
    if agent is not None:
        data = agent_to_json(agent)
        data["conversation"] = data["conversation"][-DETAIL_ITEMS:]
    return {"kind": "detail", "seq": state.seq, "id": agent_id, "agent": data}


def marks(activity: Activity, state: RunState, agent_ids: Iterable[str]) -> dict[str, Any]:
    """The ``marks`` message for ``agent_ids`` (those the state knows; each its last
    :data:`MARKS_SENT`)."""
    return {"kind": "marks", "seq": state.seq,
            "marks": {a: [m.to_json() for m in activity.marks_of(a)[-MARKS_SENT:]]
                      for a in agent_ids if a in state.agents}}


def budgets(activity: Activity, state: RunState, agent_id: str | None) -> dict[str, Any]:
    """The ``budgets`` message for ``agent_id``'s subtree (the root's for None or an unknown
    id; no rows before the root is spawned). Times are as of the last event."""
    focus = agent_id if agent_id in state.agents else state.root
    if focus is None:
        return {"kind": "budgets", "id": None, "rows": [], "tokens": []}
    return {"kind": "budgets", "id": focus,
            "rows": [s.to_json() for s in spending(state, activity, focus, state.t)],
            "tokens": tokens_over_time(state, activity, focus, state.t, TOKEN_SLICES)}


def _listed(entry: Entry) -> list[Any]:
    """An event as the page's event list shows it: seq, type, who."""
    event = entry.event
    who = getattr(event, "agent", None) or getattr(event, "sender", None) or ""
    return [entry.seq, event.TYPE, who if isinstance(who, str) else ""]


class View:
    """Turns the entries the hub folds into the page's messages.

    Call :meth:`note` after folding each poll's entries and :meth:`delta` once per poll (read
    :attr:`touched` and :attr:`marked` first: a delta starts them afresh). The baseline a
    delta is taken against is the previous delta; a :meth:`snapshot` taken between polls equals
    it, so a page that starts from a snapshot and applies the deltas after it has every row.
    """

    def __init__(self, state: RunState, activity: Activity) -> None:
        self.state = state
        self.activity = activity
        self.touched: set[str] = set()
        """Agents the entries since the last delta named."""
        self.marked: set[str] = set()
        """Agents whose marks the entries since the last delta changed."""
        self._recent: deque[Entry] = deque(maxlen=EVENTS_SHOWN)
        self._new_events = 0
        self._rows: dict[str, Row] = {}
        self._children: dict[str, tuple[list[str], int]] = {}
        self._panels = {k: orjson.dumps(v) for k, v in self._run_panels().items()}

    def note(self, entries: Sequence[Entry]) -> None:
        """Take note of entries just folded (one poll's, in seq order)."""
        self.touched |= agents_touched_by(list(map(_event_of, entries)))
        self.marked |= self.activity.extend(entries)
        self._recent.extend(entries[-EVENTS_SHOWN:])
        self._new_events += len(entries)

    def delta(self) -> dict[str, Any] | None:
        """The changes since the last delta (None when nothing the page shows changed)."""
        rows = []
        for agent_id in self.touched:
            agent = self.state.agents.get(agent_id)
            if agent is None:
                continue
            fields = row(agent)
            children = self._children_change(agent)
            if not children and self._rows.get(agent_id) == fields:
                continue
            self._rows[agent_id] = fields
            rows.append({**fields, **children})
        self.touched, self.marked = set(), set()
        panels = self._run_panels()
        sent, self._panels = self._panels, {k: orjson.dumps(v) for k, v in panels.items()}
        changed = {k: v for k, v in panels.items() if sent[k] != self._panels[k]}
        count, self._new_events = min(self._new_events, EVENTS_SHOWN), 0
        if not (rows or changed or count):
            return None
        events = [_listed(e) for e in list(self._recent)[len(self._recent) - count:]]
        return {"kind": "delta", "seq": self.state.seq, "t": self.state.t, "rows": rows, **changed,
                "events": events}

    def snapshot(self) -> dict[str, Any]:
        """Everything the page shows, as of the last delta."""
        rows = [{**row(a), "children": list(a.children)} for a in self.state.agents.values()]
        return {"kind": "snapshot", "seq": self.state.seq, "t": self.state.t,
                **self._run_panels(), "rows": rows,
                "events": [_listed(e) for e in self._recent]}

    def _children_change(self, agent: AgentView) -> dict[str, list[str]]:
        kids = agent.children
        sent = self._children.get(agent.id)
        self._children[agent.id] = (kids, len(kids))
        if sent is None or sent[0] is not kids or len(kids) < sent[1]:
            return {"children": list(kids)}
        if len(kids) > sent[1]:
            return {"added": kids[sent[1]:]}
        return {}

    def _run_panels(self) -> dict[str, Any]:
        s = self.state
        return {"run": {"name": s.plan_name, "status": s.status, "reason": s.reason,
                        "started_t": s.started_t, "finished_t": s.finished_t},
                "root": s.root, "locks": s.locks, "containers": s.containers}

