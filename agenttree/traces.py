"""A run as spans: who ran when, inside whom, and what each model call, tool call and acceptance
run took.

:func:`trace_of` reads a log's entries once and returns a :class:`Trace`: one span for the run,
one per agent attempt (its parent: the span of the parent agent's attempt that spawned it, or
the run's), and under each agent one span per model call, tool call and acceptance command.
Exporters (``agenttree export``: Chrome's trace format, OTLP) turn these into their formats;
this module knows nothing of them.

A span's ``id`` is the ``seq`` of the event that opened it, so it is unique in a run, the same
every time the log is read, and leads straight to the event. Times are the log's stamps (epoch
ms). The log need not be complete:

- a **live run** (or a torn last line) ends with spans still open: they end at the last event's
  stamp and are marked ``open``;
- a **resumed run**: model, tool and acceptance spans open when the engine died end at the last
  event it wrote, as errors (a re-run after the resume is a span of its own); agent spans go
  on across the gap, and the run span and each restarted agent's span get a ``resumed`` event;
- a **restarted agent** (a grant, a reconcile re-opening it): each attempt is a span.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import attrs

from . import events as ev
from .events import Entry, Json

Kind = Literal["run", "agent", "model", "tool", "acceptance"]
Status = Literal["ok", "error", "unset"]

MESSAGE_CHARS = 200
"""Longest status message (an error's first line) a span carries."""


@attrs.frozen(kw_only=True)
class SpanEvent:
    """Something that happened at one moment of a span (a model retry, a resume)."""

    name: str
    t: int
    fields: dict[str, Json] = attrs.Factory(dict)


@attrs.define(kw_only=True)
class Span:
    """One timed piece of a run.

    ``fields`` are the log's facts about it, by kind: an agent's ``agent``, ``task``, ``goal``,
    ``attempt``, ``depth``, ``model``, ``status``, ``reason``; a model call's ``model``,
    ``turn``, ``messages``, and once answered ``response_model``, ``input_tokens``,
    ``output_tokens``, ``estimated``, ``latency_ms``, ``calls``; a tool call's ``call``,
    ``tool``, ``args``, ``ok``, ``duration_ms``, ``replayed_uncertain``; an acceptance run's
    ``cmd``, ``ok``, ``exit_code``, ``attempt``; the run's ``run``, ``plan``, ``status``.
    """

    id: int
    parent: int | None
    kind: Kind
    agent: str | None
    start_t: int
    end_t: int
    open: bool = True
    """Still running when the log ended (``end_t`` is then the log's last stamp)."""
    status: Status = "unset"
    message: str = ""
    fields: dict[str, Json] = attrs.Factory(dict)
    events: list[SpanEvent] = attrs.Factory(list)


@attrs.frozen(kw_only=True)
class Trace:
    """The spans of one run, in the order they opened (a parent before its children)."""

    run: str
    spans: list[Span]
    start_t: int
    last_seq: int


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= MESSAGE_CHARS else line[:MESSAGE_CHARS] + "…"


class _Builder:
    """The spans open so far and the ones done; one method per event type that matters."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.run_span: Span | None = None
        self.agents: dict[str, Span] = {}
        """Each agent's latest attempt (open or not): where its calls and children go."""
        self.calls: dict[tuple[str, str], Span] = {}
        """Open model calls (key ``(agent, "model")``) and tool calls (``(agent, call id)``)."""
        self.acceptance_from: dict[str, int] = {}
        """When each agent's next acceptance command started (its acceptance phase or the
        previous command's end)."""
        self.last_t = 0
        self.last_seq = 0
        self.run = ""

    def open(self, seq: int, t: int, kind: Kind, agent: str | None, parent: Span | None, /,
             **fields: Json) -> Span:
        span = Span(id=seq, parent=None if parent is None else parent.id, kind=kind,
                    agent=agent, start_t=t, end_t=t, fields=fields)
        self.spans.append(span)
        return span

    @staticmethod
    def close(span: Span, t: int, status: Status, message: str = "") -> None:
        span.end_t, span.open, span.status, span.message = max(t, span.start_t), False, \
            status, message

    def parent_of(self, agent: str | None) -> Span | None:
        """The span ``agent``'s calls and children go under (the run's, for no agent)."""
        return self.run_span if agent is None else self.agents.get(agent, self.run_span)

    def add(self, entry: Entry) -> None:
        handler = _HANDLERS.get(type(entry.event))
        if handler is not None:
            handler(self, entry.seq, entry.t, entry.event)
        if not self.run:
            self.run = entry.run
        self.last_t, self.last_seq = entry.t, entry.seq

    # --- the run ---------------------------------------------------------------------------

    def run_started(self, seq: int, t: int, e: ev.RunStarted) -> None:
        if self.run_span is None:
            self.run_span = self.open(seq, t, "run", None, None, plan=e.plan_name)

    def run_resumed(self, seq: int, t: int, e: ev.RunResumed) -> None:
        died = self.last_t  # the last stamp the dead engine wrote
        why = f"the engine stopped before it ended (resumed at event {seq})"
        for span in self.calls.values():
            self.close(span, died, "error", why)
        self.calls.clear()
        self.acceptance_from.clear()
        resumed = SpanEvent(name="resumed", t=t, fields={
            "from_seq": e.from_seq, "restarted": list(e.restarted), "torn": e.torn})
        if self.run_span is not None:
            self.run_span.events.append(resumed)
        for agent in e.restarted:
            span = self.agents.get(agent)
            if span is not None and span.open:
                span.events.append(resumed)

    def run_finished(self, seq: int, t: int, e: ev.RunFinished) -> None:
        if self.run_span is not None:
            self.run_span.fields["status"] = e.status
            self.close(self.run_span, t, "ok" if e.status == "done" else "error", e.reason)

    # --- agents ----------------------------------------------------------------------------

    def agent_spawned(self, seq: int, t: int, e: ev.AgentSpawned) -> None:
        earlier = self.agents.get(e.agent)
        if earlier is not None and earlier.open:  # restarted without an end of its own
            self.end_calls(e.agent, t, "replaced by a new attempt")
            self.close(earlier, t, "unset", f"replaced by attempt {e.attempt}")
        self.agents[e.agent] = self.open(
            seq, t, "agent", e.agent, self.parent_of(e.parent), agent=e.agent, task=e.task,
            goal=e.goal, attempt=e.attempt, depth=e.depth, model=e.model, dynamic=e.dynamic)

    def agent_state(self, seq: int, t: int, e: ev.AgentState) -> None:
        if e.status == "acceptance":
            self.acceptance_from[e.agent] = t

    def agent_finished(self, seq: int, t: int, e: ev.AgentFinished) -> None:
        span = self.agents.get(e.agent)
        if span is None or not span.open:
            return
        self.end_calls(e.agent, t, f"the agent ended {e.status} first")
        span.fields.update(status=e.status, reason=e.reason)
        status: Status = {"done": "ok", "cancelled": "unset"}.get(e.status, "error")
        self.close(span, t, status, "" if status == "ok" else _first_line(e.reason))

    def end_calls(self, agent: str, t: int, why: str) -> None:
        """End ``agent``'s open calls: it ended (or restarted) before their answers."""
        for key in [k for k in self.calls if k[0] == agent]:
            self.close(self.calls.pop(key), t, "error", why)
        self.acceptance_from.pop(agent, None)

    # --- model and tool calls --------------------------------------------------------------

    def model_requested(self, seq: int, t: int, e: ev.ModelRequested) -> None:
        key = (e.agent, "model")
        if key in self.calls:
            self.close(self.calls.pop(key), t, "error", "asked again before an answer")
        self.calls[key] = self.open(seq, t, "model", e.agent, self.parent_of(e.agent),
                                    model=e.model, turn=e.turn, messages=e.messages,
                                    watchdog=e.watchdog)

    def model_responded(self, seq: int, t: int, e: ev.ModelResponded) -> None:
        span = self.calls.pop((e.agent, "model"), None)
        if span is None:  # an answer whose request is not in the log: a moment's span
            span = self.open(seq, t, "model", e.agent, self.parent_of(e.agent),
                             model=e.model, turn=e.turn)
        span.fields.update(
            response_model=e.model, input_tokens=int(e.usage.get("prompt", 0)),
            output_tokens=int(e.usage.get("completion", 0)),
            estimated=bool(e.usage.get("estimated", False)), latency_ms=e.latency_ms,
            calls=len(e.calls))
        self.close(span, t, "ok")

    def model_retry(self, seq: int, t: int, e: ev.ModelRetry) -> None:
        span = self.calls.get((e.agent, "model"))
        if span is not None:
            span.events.append(SpanEvent(name="retry", t=t, fields={
                "attempt": e.attempt, "reason": e.reason, "delay_s": e.delay_s}))

    def tool_requested(self, seq: int, t: int, e: ev.ToolRequested) -> None:
        key = (e.agent, e.call)
        if key in self.calls:
            self.close(self.calls.pop(key), t, "error", "requested again before a result")
        self.calls[key] = self.open(seq, t, "tool", e.agent, self.parent_of(e.agent),
                                    call=e.call, tool=e.tool, args=e.args)

    def tool_result(self, seq: int, t: int, e: ev.ToolResult) -> None:
        span = self.calls.pop((e.agent, e.call), None)
        if span is None:  # a result whose request is not in the log
            span = self.open(seq, t, "tool", e.agent, self.parent_of(e.agent),
                             call=e.call, tool=e.tool, args={})
        span.fields.update(ok=e.ok, duration_ms=e.duration_ms,
                           replayed_uncertain=e.replayed_uncertain)
        self.close(span, t, "ok" if e.ok else "error", "" if e.ok else _first_line(e.output))

    def acceptance_result(self, seq: int, t: int, e: ev.AcceptanceResult) -> None:
        start = self.acceptance_from.get(e.agent, t)
        span = self.open(seq, start, "acceptance", e.agent, self.parent_of(e.agent),
                         cmd=e.cmd, ok=e.ok, exit_code=e.exit_code, attempt=e.attempt)
        why = "" if e.ok else (f"exit {e.exit_code}" if e.exit_code is not None
                               else "no exit status (timed out or killed)")
        self.close(span, t, "ok" if e.ok else "error", why)
        self.acceptance_from[e.agent] = t

    def finish(self) -> Trace:
        """The trace as of the last entry: what is still open ends there, marked open."""
        for span in self.spans:
            if span.open:
                span.end_t = max(self.last_t, span.start_t)
        start = self.spans[0].start_t if self.spans else self.last_t
        return Trace(run=self.run, spans=self.spans, start_t=start, last_seq=self.last_seq)


_HANDLERS: dict[type[ev.Event], Any] = {
    ev.RunStarted: _Builder.run_started, ev.RunResumed: _Builder.run_resumed,
    ev.RunFinished: _Builder.run_finished, ev.AgentSpawned: _Builder.agent_spawned,
    ev.AgentState: _Builder.agent_state, ev.AgentFinished: _Builder.agent_finished,
    ev.ModelRequested: _Builder.model_requested, ev.ModelResponded: _Builder.model_responded,
    ev.ModelRetry: _Builder.model_retry, ev.ToolRequested: _Builder.tool_requested,
    ev.ToolResult: _Builder.tool_result, ev.AcceptanceResult: _Builder.acceptance_result,
}


def trace_of(entries: Iterable[Entry]) -> Trace:
    """The spans of the run the ``entries`` (a log, in order) tell."""
    builder = _Builder()
    for entry in entries:
        builder.add(entry)
    return builder.finish()
