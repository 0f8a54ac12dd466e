"""A burst of lock conflicts: nothing the engine sends is lost, however many arrive at once."""

from __future__ import annotations

from pathlib import Path

from agenttree import events as ev

from .test_engine import events_of, make_engine

WORKERS = 1200
WORKER = ('{{:task/id "w{i}" :script [{{:call :lock :args {{:path "f.md"}} :delay-ms 10}}'
          ' {{:call :unlock :args {{:path "f.md"}}}} {{:say "done"}}]}}')
BURST = """
{:locks {:ttl-ms 600000 :max-ttl-ms 600000 :wait-ms 600000 :escalate-after-ms 600000}
 :tiers [{:depth 0 :models ["scripted"] :tools :all
          :budget {:tool-calls 10000 :tokens 100000000}}]
 :task {:task/id "root" :script [{:say "watching"}]
        :children [{:task/id "holder"
                    :script [{:call :lock :args {:path "f.md"}}
                             {:call :wait :args {:timeout_s 60}}
                             {:call :unlock :args {:path "f.md"}} {:say "done"}]}
                   WORKERS]}}
""".replace("WORKERS", "\n".join(WORKER.format(i=i) for i in range(WORKERS)))


async def test_a_burst_of_lock_conflicts_reaches_the_deciding_ancestor_whole(
        tmp_path: Path, autojump_clock) -> None:
    """1,200 workers ask for one held lock at once: their common ancestor (root) gets every
    conflict notice, though it cannot read them as fast as they come."""
    engine = make_engine(tmp_path, BURST)
    assert await engine.run() == "done"
    conflicts = events_of(engine, ev.ConflictOpened)
    notices = [m for m in events_of(engine, ev.AgentMessage)
               if m.to == "root" and m.kind == "conflict"]
    assert len(conflicts) >= WORKERS
    assert sorted(m.data["conflict"] for m in notices) == sorted(c.conflict for c in conflicts)
    assert all(a.status == "done" for a in engine.state.agents.values())
    assert engine.state.locks == {}
