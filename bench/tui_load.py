"""TUI load: a recorded 100,000-event log of 10,000 agents, and a live feed of 1,000 events/s.

Measures ``agenttree tui`` (headless, through Textual's Pilot) beside a baseline measured in the
same run: a plain ``fold`` of the same log. Figures: time to first paint, time to catch up with
the whole log, and key-press-to-screen latency while events are appended.
Run alone: ``python -m bench.tui_load [--quick]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from agenttree import events as ev
from agenttree.log import encode

RUN = "bench-tui"
T0 = 1_800_000_000_000
EVENTS_PER_AGENT = 10


def _agent_events(agent: str, parent: str | None, depth: int) -> list[ev.Event]:
    call = f"{agent}#1.0"
    return [
        ev.AgentSpawned(agent=agent, parent=parent, task=agent.rsplit(".", 1)[-1],
                        goal=f"work on {agent}", depth=depth, model="scripted",
                        models=["scripted"], tools=["sh"], budget={"tool_calls": 10},
                        cwd=".", dynamic=False, attempt=1),
        ev.ModelRequested(agent=agent, model="scripted", turn=1, messages=2),
        ev.ModelResponded(agent=agent, model="scripted", turn=1, text="working on it",
                          calls=[{"id": call, "tool": "sh", "args": {"cmd": "true"}}],
                          usage={"prompt": 50, "completion": 10, "estimated": True},
                          latency_ms=1.0),
        ev.BudgetCharged(agent=agent, kind="tokens", amount=60, used=60, limit=None),
        ev.ToolRequested(agent=agent, call=call, tool="sh", args={"cmd": "true"}),
        ev.BudgetCharged(agent=agent, kind="tool_calls", amount=1, used=1, limit=10),
        ev.ToolResult(agent=agent, call=call, tool="sh", ok=True, output="", duration_ms=1.0),
        ev.AgentState(agent=agent, status="waiting", detail="children", facts=None),
        ev.AgentFinished(agent=agent, status="done", reason="", result="ok"),
        ev.TaskStateChanged(task=agent.rsplit(".", 1)[-1], agent=agent, status="done",
                            prev="running"),
    ]


def synth_events(agents: int, fanout: int = 100) -> Iterator[ev.Event]:
    """A run of ``agents`` agents (root, ``fanout`` children, theirs...), ten events each.

    Agents start in waves so that events of many agents interleave, as in a real run.
    """
    yield ev.RunStarted(plan_name=RUN, plan_path="bench.edn", run_dir=RUN, seed=0,
                        durability="none", format=ev.FORMAT, version="bench", pid=0)
    ids: list[tuple[str, str | None, int]] = [("root", None, 0)]
    i = 0
    while len(ids) < agents:
        parent, _, depth = ids[i]
        for k in range(1, fanout + 1):
            if len(ids) == agents:
                break
            ids.append((f"{parent}.{k}", parent, depth + 1))
        i += 1
    wave = 200
    for start in range(0, len(ids), wave):
        streams = [_agent_events(*spec) for spec in ids[start:start + wave]]
        for step in range(EVENTS_PER_AGENT):
            for stream in streams:
                yield stream[step]


def write_log(path: Path, agents: int) -> int:
    """Write the synthetic run's log to ``path``; returns the number of events."""
    seq = 0
    with open(path, "wb") as f:
        for seq, event in enumerate(synth_events(agents), start=1):
            f.write(encode(seq, T0 + seq, RUN, event))
    return seq
