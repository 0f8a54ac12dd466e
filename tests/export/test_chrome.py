"""``agenttree export --format chrome-trace``, checked against the Trace Event Format document
(the JSON Object Format: ``traceEvents``; complete events ``X`` with ``ts``/``dur`` in
microseconds; metadata events ``M`` naming the process and threads; instant events ``i``)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agenttree import events as ev
from agenttree.cli import main

from .conftest import RECORDED, RUNS, entries
from .test_traces import expected_spans

_ID = {"type": "integer", "minimum": 0}
_US = {"type": "number", "minimum": 0}
TRACE_EVENT_FORMAT = {
    "type": "object",
    "required": ["traceEvents"],
    "properties": {
        "traceEvents": {"type": "array", "items": {"oneOf": [
            {"type": "object", "required": ["name", "ph", "ts", "dur", "pid", "tid"],
             "properties": {"ph": {"const": "X"}, "name": {"type": "string"},
                            "cat": {"type": "string"}, "ts": _US, "dur": _US, "pid": _ID,
                            "tid": _ID, "args": {"type": "object"}}},
            {"type": "object", "required": ["name", "ph", "pid", "args"],
             "properties": {"ph": {"const": "M"},
                            "name": {"enum": ["process_name", "thread_name",
                                              "thread_sort_index"]},
                            "pid": _ID, "tid": _ID, "args": {"type": "object"}}},
            {"type": "object", "required": ["name", "ph", "ts", "pid"],
             "properties": {"ph": {"const": "i"}, "s": {"enum": ["g", "p", "t"]},
                            "ts": _US, "pid": _ID, "tid": _ID}},
        ]}},
        "displayTimeUnit": {"enum": ["ms", "ns"]},
        "otherData": {"type": "object"},
    },
}


def export(run_dir: Path, out: Path) -> dict[str, Any]:
    assert main(["export", str(run_dir), "--format", "chrome-trace", "-o", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize("run", RUNS)
def test_the_chrome_trace_keeps_to_the_documented_format(run: str, tmp_path: Path) -> None:
    data = export(RECORDED / run, tmp_path / "trace.json")
    jsonschema.validate(data, TRACE_EVENT_FORMAT)
    events = data["traceEvents"]
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    assert any(e["ph"] == "M" and e["name"] == "process_name" for e in events)
    rows: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        if e["ph"] == "X":
            assert (e["pid"], e["tid"]) in names  # every row is named
            rows[(e["pid"], e["tid"])].append(e)
    for row in rows.values():  # complete events on one thread nest; they never half-overlap
        row.sort(key=lambda e: (e["ts"], -e["dur"]))
        open_ends: list[int] = []
        for e in row:
            while open_ends and open_ends[-1] <= e["ts"]:
                open_ends.pop()
            assert not open_ends or e["ts"] + e["dur"] <= open_ends[-1], e
            open_ends.append(e["ts"] + e["dur"])


@pytest.mark.parametrize("run", RUNS)
def test_the_chrome_trace_has_every_agent_and_call_on_its_agents_row(
        run: str, tmp_path: Path) -> None:
    data = export(RECORDED / run, tmp_path / "trace.json")
    events = data["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    found = {}
    for e in events:
        if e["ph"] == "X":
            agent = e["args"].get("agenttree.agent.id")
            assert names[e["tid"]] == (agent if agent is not None else "run")
            found[e["args"]["span_id"]] = (e["cat"], agent, e["args"].get("parent_span_id"))
    assert found == expected_spans(entries(run))
    log = entries(run)
    start = log[0].t
    first = next(e for e in events if e["ph"] == "X" and e["cat"] == "run")
    assert (first["ts"], first["dur"]) == (0, (log[-1].t - start) * 1000)  # microseconds
    sort_index = {e["tid"]: e["args"]["sort_index"] for e in events
                  if e["ph"] == "M" and e["name"] == "thread_sort_index"}
    rows = [names[tid] for tid in sorted(names, key=sort_index.__getitem__)]
    parents = {e.event.agent: e.event.parent for e in log if isinstance(e.event, ev.AgentSpawned)}
    assert rows[0] == "run" and parents[rows[1]] is None
    for agent in rows[2:]:  # the tree's order: each agent below its parent
        assert rows.index(parents[agent]) < rows.index(agent)


def test_a_resume_is_a_global_instant_event(tmp_path: Path) -> None:
    data = export(RECORDED / "web-fold", tmp_path / "trace.json")
    marks = [e for e in data["traceEvents"] if e["ph"] == "i"]
    assert [(m["name"], m["s"], m["args"]["agenttree.from_seq"]) for m in marks] == \
        [("resumed", "g", 65)]
