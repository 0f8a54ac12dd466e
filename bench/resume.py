"""Resume of a 100,000-event log: from ``agenttree resume`` starting to every agent live again.

The log is generated: a root and 100 agents each ~165 turns into a conversation (every turn a
model response with a tool call and its result, the charges on their events, as the engine
writes them: 6 events; ``mix="older"`` writes an older engine's 8, with a ``budget/charged``
for each charge, so ~125 turns), as a SIGKILL would leave it. The baseline is a plain fold of
the same log: a resume must fold it too, and on top it records what each agent did, restarts
the 100 agents and replays their recorded turns until each one is live again.
"""

from __future__ import annotations

import gc
import shutil
import statistics
import time
from pathlib import Path

import trio

from agenttree import events as ev
from agenttree.log import LogReader, encode
from agenttree.plan import parse_plan, plan_to_edn
from agenttree.runtime.engine import Engine, tune_gc
from agenttree.runtime.resume import Restorer, read_run
from agenttree.state import fold
from agenttree.tool_names import TOOL_NAMES

AGENTS = 100
PER_TURN = {"engine": 6, "older": 8}
"""Events a turn: model/requested, model/responded, tool/requested, agent/state,
agent/message, tool/result; an older engine also logged two budget/charged."""


def _plan(agents: int) -> str:
    children = " ".join(f'{{:task/id "t{i}" :goal "work"}}' for i in range(agents))
    return f"""
{{:run/name "resume-bench"
 :tiers [{{:depth 0 :models ["scripted"] :tools :all
          :budget {{:tool-calls 10000000 :tokens 1000000000}}}}]
 :task {{:task/id "root" :script [{{:say "go"}}] :children [{children}]}}}}
"""


def _agent_turns(agent: str, turns: int, mix: str = "engine") -> list[ev.Event]:
    """``turns`` turns of ``agent``: as the engine writes them now (each charge on its
    ``model/responded`` or ``tool/requested``), or with ``mix="older"`` as an older engine did
    (a ``budget/charged`` after each); :data:`PER_TURN` events a turn."""
    older = mix == "older"
    out: list[ev.Event] = []
    for turn in range(1, turns + 1):
        call = f"{agent}#{turn}.0"
        facts = {"step": turn}
        tokens = 40 * turn + 12
        turn_events = [
            ev.ModelRequested(agent=agent, model="scripted", turn=turn, messages=2 * turn),
            ev.ModelResponded(agent=agent, model="scripted", turn=turn, text="",
                              calls=[{"id": call, "tool": "report-state",
                                      "args": {"facts": facts}}],
                              usage={"prompt": 40 * turn, "completion": 12, "estimated": True},
                              latency_ms=0.1, charged=None if older else {"tokens": tokens}),
            ev.BudgetCharged(agent=agent, kind="tokens", amount=tokens,
                             used=(20 * turn + 32) * turn),
            ev.ToolRequested(agent=agent, call=call, tool="report-state",
                             args={"facts": facts},
                             charged=None if older else {"tool_calls": 1}),
            ev.BudgetCharged(agent=agent, kind="tool_calls", amount=1, used=turn),
            ev.AgentState(agent=agent, status="running", facts=facts),
            ev.AgentMessage(sender=agent, to="root", kind="state", text=f'{{"step":{turn}}}',
                            data=facts),
            ev.ToolResult(agent=agent, call=call, tool="report-state", ok=True,
                          output="reported", duration_ms=0.2),
        ]
        out += turn_events if older else [
            e for e in turn_events if not isinstance(e, ev.BudgetCharged)]
    return out


def make_log(events: int, tmp: Path, mix: str = "engine") -> Path:
    """A run directory whose log is ``events`` events of agents deep in conversation, in the
    engine's event mix or an older one (:func:`_agent_turns`)."""
    per_turn = PER_TURN[mix]
    agents = AGENTS if events >= 10 * AGENTS * per_turn else max(1, events // 100)
    turns = max(1, (events - 2 * agents - 6) // (agents * per_turn))
    plan = parse_plan(_plan(agents), source="bench.edn")
    run_dir = tmp / "resume-source"
    shutil.rmtree(run_dir, ignore_errors=True)
    (run_dir / "workspace").mkdir(parents=True)
    edn = plan_to_edn(plan)
    (run_dir / "plan.edn").write_text(edn)
    (run_dir / "control.jsonl").touch()
    tools = sorted(TOOL_NAMES)
    head: list[ev.Event] = [
        ev.RunStarted(plan_name="resume-bench", plan_path="bench.edn", run_dir=str(run_dir),
                      seed=0, durability="none", version="bench"),
        ev.PlanLoaded(name="resume-bench", source="bench.edn", tasks=agents + 1, edn=edn),
        ev.AgentSpawned(agent="root", parent=None, task="root", goal="", depth=0,
                        model="scripted", models=["scripted"], tools=tools,
                        budget={"tool_calls": 10_000_000, "tokens": 1_000_000_000}),
    ]
    head += [ev.AgentSpawned(agent=f"root.t{i}", parent="root", task=f"t{i}", goal="work",
                             depth=1, model="scripted", models=["scripted"], tools=tools,
                             budget={"tool_calls": 100_000, "tokens": 10_000_000})
             for i in range(agents)]
    head += [ev.ModelRequested(agent="root", model="scripted", turn=1, messages=2),
             ev.ModelResponded(agent="root", model="scripted", turn=1, text="go", calls=[],
                               usage={"prompt": 10, "completion": 1, "estimated": True}),
             ev.AgentState(agent="root", status="waiting", detail=f"{agents} children")]
    streams = [_agent_turns(f"root.t{i}", turns, mix) for i in range(agents)]
    body = [e for turn in range(turns) for s in streams
            for e in s[turn * per_turn:(turn + 1) * per_turn]]
    everything = (head + body)[:events]
    with open(run_dir / "events.jsonl", "wb") as f:
        f.write(b"".join(encode(seq, 1_790_000_000_000 + seq, "resume-bench", e)
                         for seq, e in enumerate(everything, start=1)))
    return run_dir


async def _until_live(engine: Engine, restorer: Restorer) -> float:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        while not restorer.all_live:
            await trio.sleep(0.001)
        live = time.perf_counter()
        nursery.cancel_scope.cancel()
    return live


def _resume_once(source: Path, tmp: Path) -> tuple[float, float, int]:
    run_dir = tmp / "resume-copy"
    shutil.rmtree(run_dir, ignore_errors=True)
    shutil.copytree(source, run_dir)
    t0 = time.perf_counter()
    found, reader = read_run(run_dir / "events.jsonl")
    gc.freeze()  # as agenttree resume does
    reader.cut_torn_tail()
    read = time.perf_counter() - t0
    tune_gc()  # as agenttree resume does
    plan = parse_plan(found.state.plan_edn, source="bench.edn")
    engine = Engine(plan, run_dir, durability="none", state=found.state)
    restorer = engine.replayer = Restorer(found, [])
    live = trio.run(_until_live, engine, restorer)
    return read, live - t0, len(restorer.restart)


def _fold_once(path: Path) -> float:
    t0 = time.perf_counter()
    fold(LogReader(path))
    return time.perf_counter() - t0


def bench_resume(events: int, runs: int, tmp: Path,
                 mix: str = "engine") -> list[tuple[str, str, str]]:
    source = make_log(events, tmp, mix)
    path = source / "events.jsonl"
    size_mb = path.stat().st_size / 1e6
    base = statistics.median(_fold_once(path) for _ in range(runs))
    got = [_resume_once(source, tmp) for _ in range(runs)]
    read = statistics.median(g[0] for g in got)
    live = statistics.median(g[1] for g in got)
    return [
        (f"baseline: fold a {events:,}-event log ({size_mb:.1f} MB)", f"{base:.3f} s",
         "baseline"),
        ("resume: read the log (fold + record each agent's results, cut a torn tail)",
         f"{read:.3f} s ({read / base:.2f}x fold)", ""),
        (f"resume: start to live again ({got[0][2]:,} agents restarted, each replaying its "
         "recorded turns)", f"{live:.3f} s ({live / base:.2f}x fold)", "< 1 s"),
    ]
