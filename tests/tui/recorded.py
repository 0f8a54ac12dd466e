"""A small recorded run, written deterministically (fixed stamps): the snapshot tests' fixture.

root has three children: ``api`` (running, holding a write lock), ``ui`` (waiting for that lock:
an open conflict decided by root) and ``docs`` (failed its acceptance); ``api`` has a child
``db`` that is done.
"""

from __future__ import annotations

from pathlib import Path

from agenttree import events as ev
from agenttree.log import encode

T0 = 1_800_000_000_000
RUN = "recorded"
PLAN = """{:run/name "recorded"
 :tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 40 :tokens 100000}}]
 :task {:task/id "root" :goal "ship the service"
        :children [{:task/id "api" :goal "write the API"
                    :children [{:task/id "db" :goal "schema"}]}
                   {:task/id "ui" :goal "write the UI"}
                   {:task/id "docs" :goal "write the docs"
                    :acceptance [(sh "grep -q usage README.md")]}]}}
"""


def _spawn(agent: str, parent: str | None, depth: int, calls: int) -> ev.AgentSpawned:
    return ev.AgentSpawned(agent=agent, parent=parent, task=agent.rsplit(".", 1)[-1],
                           goal=f"work on {agent}", depth=depth, model="scripted",
                           models=["scripted", "scripted:small"], tools=["sh", "write-file"],
                           budget={"tool_calls": calls, "tokens": 20000})


def recorded_events() -> list[ev.Event]:
    """The run, event by event."""
    return [
        ev.RunStarted(plan_name=RUN, plan_path="plan.edn", run_dir=RUN, seed=0,
                      durability="batch"),
        ev.PlanLoaded(name=RUN, source="plan.edn", tasks=5, edn=PLAN),
        _spawn("root", None, 0, 40),
        _spawn("root.api", "root", 1, 10),
        _spawn("root.ui", "root", 1, 10),
        _spawn("root.docs", "root", 1, 4),
        _spawn("root.api.db", "root.api", 2, 5),
        ev.ModelRequested(agent="root", model="scripted", turn=1, messages=2),
        ev.ModelResponded(agent="root", model="scripted", turn=1,
                          text="Plan: **api** first, then *ui*; docs in parallel.",
                          calls=[], usage={"prompt": 120, "completion": 30}, latency_ms=1.0),
        ev.BudgetCharged(agent="root", kind="tokens", amount=150, used=150, limit=100000),
        ev.ToolRequested(agent="root.api", call="root.api#1.0", tool="write-file",
                         args={"path": "api.py"}),
        ev.BudgetCharged(agent="root.api", kind="tool_calls", amount=1, used=6, limit=10),
        ev.LockAcquired(agent="root.api", path="api.py", mode="write", token=7, ttl_ms=30000),
        ev.ToolResult(agent="root.api", call="root.api#1.0", tool="write-file", ok=True,
                      output="wrote 120 bytes to api.py", duration_ms=0.5),
        ev.LockConflict(agent="root.ui", path="api.py", mode="read", holders=["root.api"]),
        ev.ConflictOpened(conflict="c1", path="api.py", requester="root.ui",
                          owners=["root.api"], lca="root"),
        ev.AgentMessage(sender="root.api", to="root", kind="chat",
                        text="api.py is half done; ui must wait for it"),
        ev.AgentFinished(agent="root.api.db", status="done", reason="", result="schema ready"),
        ev.AcceptanceResult(agent="root.docs", cmd="grep -q usage README.md", ok=False,
                            exit_code=1, output=""),
        ev.AgentFinished(agent="root.docs", status="failed", reason="acceptance failed twice",
                         result=""),
        ev.AgentState(agent="root", status="waiting", detail="children", facts=None),
    ]


def write_recorded_run(run_dir: Path) -> Path:
    """Write the run's ``events.jsonl`` and ``plan.edn`` into ``run_dir``; returns it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "plan.edn").write_text(PLAN)
    with open(run_dir / "events.jsonl", "wb") as f:
        for seq, event in enumerate(recorded_events(), start=1):
            f.write(encode(seq, T0 + 250 * seq, RUN, event))
    return run_dir
