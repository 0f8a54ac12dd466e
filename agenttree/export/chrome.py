"""A trace in Chrome's Trace Event Format, for chrome://tracing and Perfetto (ui.perfetto.dev).

The format (the "Trace Event Format" document): a JSON object whose ``traceEvents`` is a list of
events. Every span is a complete event (``"ph": "X"``, ``ts`` and ``dur`` in microseconds);
the run is one process and each agent one thread (``pid``/``tid``), so an agent's attempts,
model calls, tool calls and acceptance runs nest on its row. Metadata events (``"ph": "M"``)
name the process and the threads and sort the rows in tree order; a resume is a global instant
event (``"ph": "i"``). Times are counted from the run's first event (its epoch time is in
``otherData``).
"""

from __future__ import annotations

from typing import Any

from ..traces import Span, Trace
from .attributes import event_attributes, span_attributes, span_name

PID = 1
RUN_TID = 0
"""The row of the run span itself."""


def _tree_order(trace: Trace) -> list[str]:
    """Agent ids, each after its parent, siblings in spawn order (the rows of the viewer)."""
    agent_of = {s.id: s.agent for s in trace.spans if s.kind == "agent"}
    children: dict[str | None, list[str]] = {}
    seen: set[str] = set()
    for span in trace.spans:
        if span.kind != "agent" or span.agent is None or span.agent in seen:
            continue  # a later attempt keeps the row of the first
        seen.add(span.agent)
        children.setdefault(agent_of.get(span.parent or 0), []).append(span.agent)
    order: list[str] = []
    stack = list(reversed(children.get(None, [])))
    while stack:
        agent = stack.pop()
        order.append(agent)
        stack.extend(reversed(children.get(agent, [])))
    return order + sorted(seen - set(order))


def _us(trace: Trace, t: int) -> int:
    return (t - trace.start_t) * 1000


def _complete(trace: Trace, span: Span, tid: int) -> dict[str, Any]:
    args: dict[str, Any] = dict(span_attributes(trace, span))
    args["span_id"] = span.id
    if span.parent is not None:
        args["parent_span_id"] = span.parent
    args["status"] = span.status
    if span.message:
        args["status_message"] = span.message
    return {"name": span_name(span), "cat": span.kind, "ph": "X", "ts": _us(trace, span.start_t),
            "dur": _us(trace, span.end_t) - _us(trace, span.start_t), "pid": PID, "tid": tid,
            "args": args}


def chrome_trace(trace: Trace) -> dict[str, Any]:
    """The trace as a Trace Event Format JSON object."""
    order = _tree_order(trace)
    tids = {agent: n for n, agent in enumerate(order, start=1)}
    events: list[dict[str, Any]] = [
        {"name": "process_name", "ph": "M", "pid": PID, "tid": RUN_TID,
         "args": {"name": f"agenttree run {trace.run}"}},
        {"name": "thread_name", "ph": "M", "pid": PID, "tid": RUN_TID, "args": {"name": "run"}},
        {"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": RUN_TID,
         "args": {"sort_index": RUN_TID}},
    ]
    for agent, tid in tids.items():
        events.append({"name": "thread_name", "ph": "M", "pid": PID, "tid": tid,
                       "args": {"name": agent}})
        events.append({"name": "thread_sort_index", "ph": "M", "pid": PID, "tid": tid,
                       "args": {"sort_index": tid}})
    for span in trace.spans:
        events.append(_complete(trace, span, tids.get(str(span.agent), RUN_TID)))
        if span.kind != "run":
            continue
        for mark in span.events:
            events.append({"name": mark.name, "cat": "run", "ph": "i", "s": "g",
                           "ts": _us(trace, mark.t), "pid": PID, "tid": RUN_TID,
                           "args": event_attributes(mark.fields)})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"run": trace.run, "start_epoch_ms": trace.start_t,
                          "last_seq": trace.last_seq}}
