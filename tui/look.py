"""How things look: display statuses, budget gauges, one-line event summaries.

Status glyphs and colours are the console's (:data:`agenttree.console.STATUS_LOOK`): ANSI
names, so they come from the terminal's own palette and stay readable on light and dark
backgrounds alike.
"""

from __future__ import annotations

import time
from typing import Any

import attrs
from rich.text import Text

from agenttree import events as ev
from agenttree.console import STATUS_LOOK, glyph
from agenttree.events import Entry
from agenttree.state import AgentView, RunState

DISPLAY_ORDER = ("pending", "running", "waiting", "blocked", "needs-you", "done", "failed",
                 "cancelled", "budget-exhausted")
"""The statuses the UI draws (:func:`display_status`), in the order counts are shown."""
NEEDS_YOU = frozenset({"needs-you", "help", "blocked-on-human", "question"})
"""Statuses an agent may report (``report-state``) to say a person must act."""
_RUNNING = frozenset({"running", "thinking", "tool", "acceptance"})


def lock_waiters(state: RunState) -> frozenset[str]:
    """The agents queued for a lock."""
    return frozenset(w for lock in state.locks.values() for w in lock["waiters"])


def display_status(state: RunState, agent: AgentView,
                   waiters: frozenset[str] | None = None) -> str:
    """The status to draw: the folded status, with lock waits shown as ``blocked`` and a
    root that ran out of budget (nobody above it can grant more) as ``needs-you``.
    ``waiters`` (:func:`lock_waiters`) saves recomputing it for many agents."""
    status = agent.status
    if agent.finished:
        if status == "budget-exhausted" and agent.parent is None and state.status == "running":
            return "needs-you"
        return status
    if status in NEEDS_YOU:
        return "needs-you"
    if agent.id in (lock_waiters(state) if waiters is None else waiters):
        return "blocked"
    if status in _RUNNING:
        return "running"
    if status in DISPLAY_ORDER:
        return status
    return "running"  # a status an agent reported about itself: it is still going


def status_counts(state: RunState, agents: list[str] | None = None) -> dict[str, int]:
    """Display status -> number of agents (of ``agents``, default all)."""
    counts: dict[str, int] = {}
    waiters = lock_waiters(state)
    for agent_id in state.agents if agents is None else agents:
        status = display_status(state, state.agents[agent_id], waiters)
        counts[status] = counts.get(status, 0) + 1
    return counts


def counts_text(counts: dict[str, int]) -> Text:
    """``▶3 ✓12 ✗1`` in display order, coloured."""
    out = Text()
    for status in DISPLAY_ORDER:
        n = counts.get(status)
        if n:
            if out:
                out.append(" ")
            out.append_text(glyph(status))
            out.append(str(n), style=STATUS_LOOK[status][1])
    return out


MAIN_KINDS = ("cost", "tool_calls", "tokens")
"""Budget kinds in the order a gauge prefers them."""


def main_budget(agent: AgentView) -> tuple[str, float, float] | None:
    """(kind, used, limit) of the first limited kind in :data:`MAIN_KINDS`, if any."""
    for kind in MAIN_KINDS:
        limit = agent.limits.get(kind)
        if limit:
            return kind, float(agent.used.get(kind, 0)), float(limit)
    return None


def gauge(used: float, limit: float, width: int = 5) -> Text:
    """A small bar: ``▰▰▱▱▱``, yellow past 70 %, red when spent."""
    frac = 0.0 if limit <= 0 else min(1.0, used / limit)
    full = round(frac * width)
    style = "red" if frac >= 1 else "yellow" if frac >= 0.7 else "green"
    return Text.assemble(("▰" * full, style), ("▱" * (width - full), "bright_black"))


def amount(kind: str, value: float) -> str:
    """A budget figure, short: ``$0.42``, ``12.3k``, ``7``."""
    if kind == "cost":
        return f"${value:.2f}"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:g}"


def clock(t_ms: int) -> str:
    """``HH:MM:SS.mmm`` (UTC) of an epoch-milliseconds stamp."""
    seconds, ms = divmod(t_ms, 1000)
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}"


def _short(value: Any, width: int = 60) -> str:
    text = str(value).replace("\n", "⏎ ")
    return text if len(text) <= width else text[: width - 1] + "…"


def summary(event: ev.Event) -> str:
    """What an event says, in a few words (without its type and agent)."""
    match event:
        case ev.AgentSpawned():
            return f"spawned under {event.parent or '—'} ({event.model}): {_short(event.goal, 50)}"
        case ev.AgentFinished():
            tail = f": {_short(event.reason or event.result, 50)}" if (
                event.reason or event.result) else ""
            return f"{event.status}{tail}"
        case ev.AgentMessage():
            return f"{event.sender} → {event.to} ({event.kind}): {_short(event.text)}"
        case ev.AgentState():
            return f"{event.status} {_short(event.detail, 50)}".rstrip()
        case ev.ModelResponded():
            calls = ", ".join(c.get("tool", "?") for c in event.calls)
            said = f" → {calls}" if calls else f": {_short(event.text)}"
            return f"turn {event.turn}{_charges(event.charged)}{said}"
        case ev.ToolRequested():
            return f"{event.tool} {_short(event.args, 50)}"
        case ev.ToolResult():
            return f"{event.tool} {'ok' if event.ok else 'FAILED'}: {_short(event.output, 50)}"
        case ev.AcceptanceResult():
            return f"{'passed' if event.ok else 'FAILED'} `{_short(event.cmd, 40)}`"
        case ev.BudgetCharged():
            limit = "∞" if event.limit is None else amount(event.kind, event.limit)
            return f"{event.kind} +{amount(event.kind, event.amount)} → " \
                   f"{amount(event.kind, event.used)}/{limit}"
        case ev.BudgetRolledUp():
            totals = ", ".join(f"{k} {amount(k, v)}" for k, v in event.used.items() if v)
            return f"{event.child} ended: {event.agent}'s subtree has spent {totals or 'nothing'}"
        case ev.AgentWatchdog():
            stalled = ", ".join(str(c.get("agent")) for c in event.children)
            return f"no progress in {event.quiet_s:g}s from {_short(stalled, 50)}"
        case ev.ControlApplied():
            return f"line {event.line} {event.cmd}: {event.detail}"
        case ev.ControlRejected():
            return f"line {event.line} {event.cmd or '?'} REJECTED: {event.reason}"
        case ev.UnknownEvent():
            return _short(event.fields)
    fields = {k: v for k, v in vars_of(event).items() if k != "agent"}
    return _short(" ".join(f"{k}={v}" for k, v in fields.items()), 80)


def _charges(charged: dict[str, float] | None) -> str:
    """``(tokens +420, cost +$0.01)``: what an answer was charged, or nothing."""
    spent = ", ".join(f"{kind} +{amount(kind, value)}" for kind, value in (charged or {}).items())
    return f" ({spent})" if spent else ""


def vars_of(event: ev.Event) -> dict[str, Any]:
    """An event's fields as a dict."""
    return {f.name: getattr(event, f.name) for f in attrs.fields(type(event))}


def event_type(event: ev.Event) -> str:
    """The wire type of an event (an unknown one keeps its own)."""
    return event.type if isinstance(event, ev.UnknownEvent) else event.TYPE


def is_failure(event: ev.Event) -> bool:
    """Whether an event reports something going wrong."""
    match event:
        case ev.AgentFinished():
            return event.status != "done"
        case ev.ToolResult() | ev.AcceptanceResult():
            return not event.ok
        case ev.ControlRejected() | ev.BudgetExhausted() | ev.LockDeadlock() | ev.ModelRetry():
            return True
        case ev.RunFinished():
            return event.status != "done"
    return False


def event_agent(event: ev.Event) -> str:
    """The agent an event is about (the sender of a message, the requester of a conflict)."""
    for name in ("agent", "sender", "requester"):
        value = getattr(event, name, None)
        if isinstance(value, str):
            return value
    return ""


def event_line(entry: Entry, start_t: int, narrow: bool = False) -> str:
    """One line of the events strip: seq, time since the run started, type, agent, summary
    (``narrow``: without the time, for 80 columns)."""
    event = entry.event
    agent = event_agent(event)
    mark = "✗" if is_failure(event) else " "
    if narrow:
        return f"{entry.seq:>5}{mark}{event_type(event):<18} {agent:<12} {summary(event)}"
    since = max(0, entry.t - start_t) / 1000 if start_t else 0.0
    return (f"{entry.seq:>6} {since:>8.3f}s {mark} {event_type(event):<18} "
            f"{agent:<16} {summary(event)}")
