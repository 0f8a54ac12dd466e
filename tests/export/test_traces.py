"""A run's spans (agenttree.traces): every agent and call of a log, under the right parent."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.events import Entry
from agenttree.log import LogReader
from agenttree.traces import Span, trace_of

from .conftest import RECORDED, RUNS, entries

Expected = dict[int, tuple[str, str | None, int | None]]


def expected_spans(log: list[Entry]) -> Expected:
    """What the log says the spans are, worked out independently: span id (the opening
    event's seq) -> kind, agent, parent span id. A call's parent is its agent's latest spawn
    before it; an agent's is its parent's latest spawn (or the run)."""
    out: Expected = {}
    run = None
    latest: dict[str, int] = {}
    for seq, _, _, e in log:
        if isinstance(e, ev.RunStarted) and run is None:
            run = seq
            out[seq] = ("run", None, None)
        elif isinstance(e, ev.AgentSpawned):
            out[seq] = ("agent", e.agent, latest[e.parent] if e.parent else run)
            latest[e.agent] = seq
        elif isinstance(e, ev.ModelRequested | ev.ToolRequested | ev.AcceptanceResult):
            kind = {ev.ModelRequested: "model", ev.ToolRequested: "tool"}.get(
                type(e), "acceptance")
            out[seq] = (kind, e.agent, latest[e.agent])
    return out


def as_found(spans: list[Span]) -> Expected:
    return {s.id: (s.kind, s.agent, s.parent) for s in spans}


@pytest.mark.parametrize("run", RUNS)
def test_every_agent_and_call_of_a_recorded_run_is_a_span_under_its_parent(run: str) -> None:
    log = entries(run)
    trace = trace_of(log)
    assert as_found(trace.spans) == expected_spans(log)
    ids = [s.id for s in trace.spans]
    assert len(ids) == len(set(ids))
    assert all(s.parent is None or s.parent in ids for s in trace.spans)
    assert not any(s.open for s in trace.spans)  # a finished run closes everything
    for span in trace.spans:  # a child never starts before its parent
        parent = next((p for p in trace.spans if p.id == span.parent), None)
        assert span.start_t <= span.end_t
        assert parent is None or parent.start_t <= span.start_t <= span.end_t <= parent.end_t


@pytest.mark.parametrize("run", RUNS)
def test_model_spans_time_each_call_and_carry_its_usage(run: str) -> None:
    log = entries(run)
    by_id = {s.id: s for s in trace_of(log).spans}
    asked: dict[str, Entry] = {}
    answered = 0
    for entry in log:
        e = entry.event
        if isinstance(e, ev.ModelRequested):
            asked[e.agent] = entry
        elif isinstance(e, ev.ModelResponded):
            request = asked.pop(e.agent)
            span = by_id[request.seq]
            assert (span.start_t, span.end_t, span.status) == (request.t, entry.t, "ok")
            assert span.fields["input_tokens"] == e.usage["prompt"]
            assert span.fields["output_tokens"] == e.usage["completion"]
            assert span.fields["model"] == e.model and span.fields["turn"] == e.turn
            answered += 1
    assert answered > 0


def test_a_failed_acceptance_run_is_an_error_timed_from_the_acceptance_phase() -> None:
    log = entries("demo")
    trace = trace_of(log)
    runs = [s for s in trace.spans if s.kind == "acceptance"]
    assert len(runs) == sum(isinstance(e.event, ev.AcceptanceResult) for e in log)
    failed = [s for s in runs if s.status == "error"]
    assert [(s.agent, s.fields["attempt"], s.message) for s in failed] == \
        [("root.lib", 1, "exit 1")]
    phase_start = {(e.event.agent, e.event.detail): e.t for e in log
                   if isinstance(e.event, ev.AgentState) and e.event.status == "acceptance"}
    for span in runs:
        assert span.start_t == phase_start[(span.agent, f"attempt {span.fields['attempt']}")]


def test_a_resumed_run_keeps_its_agents_and_ends_what_the_dead_engine_left_open() -> None:
    log = entries("web-fold")
    trace = trace_of(log)
    resumed = next(e for e in log if isinstance(e.event, ev.RunResumed))
    died = log[resumed.seq - 2].t  # the dead engine's last stamp
    attempts = [s for s in trace.spans if s.kind == "agent" and s.agent == "root.a"]
    assert [s.fields["attempt"] for s in attempts] == [1, 2]
    assert attempts[0].end_t <= attempts[1].start_t
    children = {s.agent: s.parent for s in trace.spans if s.kind == "agent"}
    assert children["root.a.a1"] == attempts[0].id and children["root.a.a2"] == attempts[1].id
    sleeps = [s for s in trace.spans if s.kind == "tool" and s.fields["call"] == "root.slow#2.0"]
    assert [(s.status, s.end_t == died) for s in sleeps] == [("error", True), ("ok", False)]
    assert "engine stopped" in sleeps[0].message and sleeps[1].fields["replayed_uncertain"]
    slow = next(s for s in trace.spans if s.kind == "agent" and s.agent == "root.slow")
    assert slow.status == "ok" and slow.end_t > resumed.t  # one span across the gap
    assert [m.name for m in slow.events] == ["resumed"]
    assert trace.spans[0].events[0].fields["restarted"] == ["root", "root.slow"]


def test_a_live_run_with_a_torn_tail_ends_its_open_spans_at_the_last_event(
        tmp_path: Path) -> None:
    data = (RECORDED / "demo" / "events.jsonl").read_bytes()
    cut = data.index(b"\n", len(data) // 2) + 40  # halfway, into the middle of a line
    (tmp_path / "events.jsonl").write_bytes(data[:cut])
    reader = LogReader(tmp_path / "events.jsonl")
    log = list(reader)
    assert reader.torn is not None
    trace = trace_of(log)
    assert as_found(trace.spans) == expected_spans(log)
    still = [s for s in trace.spans if s.open]
    assert {s.kind for s in still} >= {"run", "agent"}
    assert all(s.end_t == log[-1].t and s.status == "unset" for s in still)
    assert trace.last_seq == log[-1].seq


def test_an_agent_that_ends_mid_call_closes_the_call_as_an_error() -> None:
    def spawned(seq: int, agent: str, parent: str | None) -> Entry:
        return Entry(seq, seq, "r", ev.AgentSpawned(
            agent=agent, parent=parent, task=agent, goal="g", depth=0, model="scripted",
            models=[], tools=[], budget={}))

    log = [Entry(1, 1, "r", ev.RunStarted(plan_name="p", plan_path="p.edn", run_dir="r",
                                           seed=0, durability="batch")),
           spawned(2, "root", None),
           Entry(3, 3, "r", ev.ToolRequested(agent="root", call="c1", tool="sh", args={})),
           Entry(4, 9, "r", ev.AgentFinished(agent="root", status="cancelled"))]
    tool, agent = trace_of(log).spans[2], trace_of(log).spans[1]
    assert (tool.status, tool.end_t, tool.open) == ("error", 9, False)
    assert "ended cancelled" in tool.message
    assert (agent.status, agent.open) == ("unset", False)


def test_an_empty_log_has_no_spans() -> None:
    assert trace_of([]).spans == []
