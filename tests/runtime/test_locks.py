"""The lock service through the engine: agents, the scripted model, virtual time."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from agenttree import events as ev

from .test_engine import events_of, finished, make_engine

WAIT = '{:call :wait :args {:timeout_s 100000}}'


def _lock(path: str) -> str:
    return f'{{:call :lock :args {{:path "{path}"}}}}'


def _tool_outputs(engine, agent: str, tool: str) -> list[str]:
    return [r.output for r in events_of(engine, ev.ToolResult)
            if r.agent == agent and r.tool == tool]


async def test_ttl_expiry_lock_delay_and_fencing(tmp_path: Path, autojump_clock) -> None:
    """A holder that stops making progress loses its lock after the TTL; the next holder gets
    it only after the lock-delay; the old holder's late write is refused by its stale token."""
    text = f"""
{{:locks {{:ttl-ms 1000 :delay-ms 500 :wait-ms 60000}}
 :task {{:task/id "root" :script [{{:say "go"}}]
        :children [{{:task/id "slow"
                     :script [{_lock("x.txt")}
                              {{:call :write-file :args {{:path "x.txt" :content "a" :token 1}}}}
                              {{:call :report-state :args {{:facts {{}}}} :delay-ms 5000}}
                              {{:call :write-file :args {{:path "x.txt" :content "late" :token 1}}}}
                              {{:say "done"}}]}}
                   {{:task/id "next" :script [{{:call :wait :args {{:timeout_s 0.1}}}}
                                              {_lock("x.txt")}
                                              {{:call :write-file
                                                :args {{:path "x.txt" :content "b" :token 2}}}}
                                              {{:say "done"}}]}}]}}}}
"""
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    expired = events_of(engine, ev.LockExpired)
    assert [(e.agent, e.token, e.delay_ms) for e in expired] == [("root.slow", 1, 500)]
    acquired = {e.agent: e for e in events_of(engine, ev.LockAcquired)}
    assert acquired["root.next"].token == 2
    # granted TTL (1 s) + lock-delay (0.5 s) after slow's grant, less next's 0.1 s head start
    assert acquired["root.next"].waited_ms == pytest.approx(1400, abs=1)
    writes = _tool_outputs(engine, "root.slow", "write-file")
    assert writes[0].startswith("wrote") and "fencing" not in writes[0]
    assert "holds no write lock on x.txt (token 1 is no longer valid)" in writes[1]
    assert (engine.run_dir / "workspace" / "x.txt").read_text() == "b"


async def test_heartbeats_keep_a_waiting_holder_alive(tmp_path: Path, autojump_clock) -> None:
    text = f"""
{{:locks {{:ttl-ms 900}}
 :task {{:task/id "root" :script [{{:say "go"}}]
        :children [{{:task/id "h" :script [{_lock("y.txt")}
                                           {{:call :wait :args {{:timeout_s 3}}}}
                                           {{:call :write-file
                                             :args {{:path "y.txt" :content "ok" :token 1}}}}
                                           {{:say "done"}}]}}]}}}}
"""
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    assert events_of(engine, ev.LockExpired) == []
    assert _tool_outputs(engine, "root.h", "write-file")[0].startswith("wrote")
    released = events_of(engine, ev.LockReleased)
    assert [(r.agent, r.reason) for r in released] == [("root.h", "agent ended")]


async def test_cancelling_a_subtree_with_100_locks_hands_them_all_over(
        tmp_path: Path, autojump_clock) -> None:
    holders = " ".join(f'{{:task/id "h{i}" :script [{_lock(f"f{i}")} {WAIT}]}}'
                       for i in range(100))
    waiters = " ".join(
        f'{{:task/id "w{i}" :script [{{:call :wait :args {{:timeout_s 1}}}} '
        f'{_lock(f"f{i}")} {{:say "got it"}}]}}' for i in range(100))
    text = f"""
{{:locks {{:ttl-ms 600000 :wait-ms 600000 :escalate-after-ms 600000}}
 :tiers [{{:depth 0 :budget {{:tool-calls 100000 :tokens 100000000}}}}]
 :task {{:task/id "root" :script [{{:say "go"}}]
        :children [{{:task/id "holders" :script [{WAIT}] :children [{holders}]}}
                   {{:task/id "waiters" :script [{{:say "waiting"}}] :children [{waiters}]}}]}}}}
"""
    engine = make_engine(tmp_path, text)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.sleep(5)  # everyone is in place: 100 holds, 100 queued
        await trio.testing.wait_all_tasks_blocked()
        assert len(engine.locks.table.waiting) == 100
        cancelled_at = trio.current_time()
        engine.cancel("root.holders", "test")
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == cancelled_at  # no time passed: one tick of work
        assert engine.locks.table.waiting == {}
        holders_now = {h.agent for p in list(engine.locks.table.paths)
                       for h in engine.locks.table.holders(p)}
        assert not any(a.startswith("root.holders") for a in holders_now)
        engine.cancel("root", "test over")
    granted = [e for e in events_of(engine, ev.LockAcquired) if e.agent.startswith("root.w")]
    assert len(granted) == 100
    assert {finished(engine)[f"root.waiters.w{i}"] for i in range(100)} == {"done"}


CONFLICT = """
{{:locks {{:ttl-ms 600000 :wait-ms 600000 :escalate-after-ms {escalate}}}
 :task {{:task/id "root" :script [{{:say "go"}}]
        :children [{{:task/id "p"
                     :script [{wait} {resolve} {{:say "resolved"}}]
                     :children [{{:task/id "a"
                                 :script [{lock} {{:call :wait :args {{:timeout_s 50}}}}
                                                       {{:call :unlock :args {{:path "x.txt"}}}}
                                                       {{:say "a done"}}]}}
                                {{:task/id "b" :script [{{:call :wait :args {{:timeout_s 1}}}}
                                                       {lock}
                                                       {{:say "b done"}}]}}]}}]}}}}
"""


@pytest.mark.parametrize("decision,extra,check", [
    ("sequence", "", "b-granted-after-a"),
    ("ask-release", "", "a-asked"),
    ("fork", "", "b-forked"),
    ("cancel", ':cancel "owner"', "a-cancelled"),
])
async def test_each_conflict_decision(tmp_path: Path, autojump_clock, decision: str,
                                      extra: str, check: str) -> None:
    resolve = (f'{{:call :resolve-conflict :args {{:conflict "c1" :decision "{decision}" '
               f'{extra}}}}}')
    text = CONFLICT.format(escalate=600000, wait=WAIT.replace("100000", "30"), resolve=resolve,
                           lock=_lock("x.txt"))
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    opened = events_of(engine, ev.ConflictOpened)
    assert [(c.requester, c.owners, c.lca) for c in opened] == [
        ("root.p.b", ["root.p.a"], "root.p")]  # siblings -> their parent
    resolved = events_of(engine, ev.ConflictResolved)
    assert [(r.decision, r.by) for r in resolved] == [(decision, "root.p")]
    status = finished(engine)
    if check == "b-granted-after-a":
        acquired = [e.agent for e in events_of(engine, ev.LockAcquired)]
        assert acquired == ["root.p.a", "root.p.b"]
    elif check == "a-asked":
        asks = [m for m in events_of(engine, ev.AgentMessage) if m.to == "root.p.a"
                and "please release x.txt" in m.text]
        assert asks and asks[0].sender == "lock-service"
    elif check == "b-forked":
        out = _tool_outputs(engine, "root.p.b", "lock")[0]
        assert out.startswith("forked:") and "x.txt.fork-root-p-b" in out
    elif check == "a-cancelled":
        assert status["root.p.a"] == "cancelled" and status["root.p.b"] == "done"


async def test_no_decision_defaults_to_sequence(tmp_path: Path, autojump_clock) -> None:
    text = CONFLICT.format(escalate=2000, wait=WAIT.replace("100000", "30"),
                           resolve='{:say "thinking"}', lock=_lock("x.txt"))
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    resolved = events_of(engine, ev.ConflictResolved)
    assert [(r.decision, r.by) for r in resolved] == [("sequence", "lock-service")]


async def test_cousins_conflict_goes_to_the_grandparent(tmp_path: Path, autojump_clock) -> None:
    text = f"""
{{:locks {{:escalate-after-ms 1000}}
 :task {{:task/id "root" :script [{{:say "go"}}]
        :children [{{:task/id "l" :script [{{:say "l"}}]
                     :children [{{:task/id "x"
                                 :script [{_lock("f")} {{:call :wait :args {{:timeout_s 5}}}}
                                                       {{:say "x done"}}]}}]}}
                   {{:task/id "r" :script [{{:say "r"}}]
                     :children [{{:task/id "y" :script [{{:call :wait :args {{:timeout_s 1}}}}
                                                       {_lock("f")} {{:say "y done"}}]}}]}}]}}}}
"""
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    opened = events_of(engine, ev.ConflictOpened)
    assert [(c.requester, c.lca) for c in opened] == [("root.r.y", "root")]
    to_root = [m for m in events_of(engine, ev.AgentMessage)
               if m.to == "root" and m.kind == "conflict"]
    assert to_root and to_root[0].data["conflict"] == "c1"


@pytest.mark.parametrize("ring", [2, 5])
async def test_deadlock_rings_are_refused_and_the_run_finishes(tmp_path: Path, autojump_clock,
                                                               ring: int) -> None:
    members = " ".join(
        f'{{:task/id "a{i}" :script [{_lock(f"p{i}")} {{:call :wait :args {{:timeout_s {1 + i}}}}}'
        f' {_lock(f"p{(i + 1) % ring}")} {{:say "done"}}]}}' for i in range(ring))
    text = f"""
{{:locks {{:ttl-ms 600000 :wait-ms 600000 :escalate-after-ms 600000}}
 :task {{:task/id "root" :script [{{:say "go"}}] :children [{members}]}}}}
"""
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    deadlocks = events_of(engine, ev.LockDeadlock)
    assert len(deadlocks) == 1
    assert deadlocks[0].agent == f"root.a{ring - 1}"  # the youngest request closes the ring
    assert len(deadlocks[0].cycle) == ring
    refused = _tool_outputs(engine, f"root.a{ring - 1}", "lock")[1]
    assert "would deadlock" in refused


async def test_bad_lock_requests_are_clear_errors(tmp_path: Path, autojump_clock) -> None:
    text = f"""
{{:locks {{:mode :required}}
 :task {{:task/id "root"
        :script [{_lock("../outside")}
                 {{:call :lock :args {{:path "a" :mode "exclusive"}}}}
                 {{:call :lock :args {{:path "a" :ttl_ms -5}}}}
                 {{:call :unlock :args {{:path "never-held"}}}}
                 {{:call :write-file :args {{:path "a" :content "no lock"}}}}
                 {{:call :resolve-conflict :args {{:conflict "c9" :decision "sequence"}}}}
                 {_lock("a")}
                 {{:call :write-file :args {{:path "a" :content "x" :token 999}}}}
                 {{:call :write-file :args {{:path "a" :content "x"}}}}
                 {{:call :who-holds :args {{:path "a"}}}}
                 {{:say "done"}}]}}}}
"""
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    results = [(r.tool, r.ok, r.output) for r in events_of(engine, ev.ToolResult)]
    assert results[0][:2] == ("lock", False) and "leaves the workspace" in results[0][2]
    assert "mode must be read or write" in results[1][2]
    assert "ttl must be between 1 and" in results[2][2]
    assert "does not hold never-held" in results[3][2]
    assert not results[4][1] and "requires a write lock" in results[4][2]
    assert "no open conflict 'c9'" in results[5][2]
    assert results[6][1] and "token 1" in results[6][2]
    assert "fencing token 999 for a is stale" in results[7][2]
    assert results[8][1]  # the current hold, no token given: allowed in required mode
    assert "held by root (write, token 1)" in results[9][2]


async def test_advisory_write_to_a_locked_path_is_logged(tmp_path: Path, autojump_clock) -> None:
    text = f"""
{{:task {{:task/id "root" :script [{{:say "go"}}]
        :children [{{:task/id "a" :script [{_lock("f")} {{:call :wait :args {{:timeout_s 5}}}}
                                          {{:say "a"}}]}}
                   {{:task/id "b" :script [{{:call :wait :args {{:timeout_s 1}}}}
                                          {{:call :write-file :args {{:path "f" :content "b"}}}}
                                          {{:say "b"}}]}}]}}}}
"""
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    assert [(w.agent, w.holders) for w in events_of(engine, ev.LockUnheldWrite)] == [
        ("root.b", ["root.a"])]


async def test_service_refuses_unknown_agents_and_keeps_serving(autojump_clock) -> None:
    from agenttree.lock_table import LockError
    from agenttree.plan import LockPolicy
    from agenttree.runtime.locks import LockService

    running = {"root.a"}
    service = LockService(lambda e: 0, LockPolicy(), deliver=lambda *a: True,
                          cancel=lambda *a: True, is_running=running.__contains__)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        with pytest.raises(LockError, match=r"unknown agent 'root\.ghost'"):
            await service.acquire("root.ghost", "f")
        with pytest.raises(LockError, match="ttl must be between"):
            await service.acquire("root.a", "f", ttl_ms=-1)
        with pytest.raises(LockError, match="does not hold f"):
            await service.release("root.a", "f")
        hold = await service.acquire("root.a", "f")
        assert hold.token == 1  # still serving after every refusal
        nursery.cancel_scope.cancel()


def _service(events: list[ev.Event], **policy):
    from agenttree.plan import LockPolicy
    from agenttree.runtime.locks import LockService

    return LockService(lambda e: events.append(e) or len(events), LockPolicy(**policy),
                       deliver=lambda *a: True, cancel=lambda *a: True)


async def test_an_uncontended_lock_is_granted_and_released_in_the_callers_task(
        autojump_clock) -> None:
    """No service task runs here at all: the uncontended acquire and release are carried out
    in the caller's task, each with its events logged before it returns."""
    events: list[ev.Event] = []
    service = _service(events)
    hold = await service.acquire("root.a", "f.txt", ttl_ms=5000)
    assert (hold.agent, hold.path, hold.token) == ("root.a", "f.txt", 1)
    assert [type(e) for e in events] == [ev.LockRequested, ev.LockAcquired]
    assert events[1].token == 1 and events[1].waited_ms == 0
    await service.release("root.a", "f.txt")
    assert isinstance(events[-1], ev.LockReleased) and events[-1].token == 1
    assert service.table.holders("f.txt") == []
    hold = await service.acquire("root.b", "f.txt", mode="read")
    assert hold.token == 2  # fencing tokens go on increasing across the fast path


async def test_a_fast_grant_still_expires_on_time(autojump_clock) -> None:
    """The service task sleeps until its next deadline; a hold granted in a caller's task
    brings that deadline forward, so its TTL is enforced to the moment."""
    events: list[ev.Event] = []
    service = _service(events, delay_ms=0)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        await trio.testing.wait_all_tasks_blocked()  # the service sleeps: nothing to time
        t0 = trio.current_time()
        await service.acquire("root.a", "f.txt", ttl_ms=1500)
        await trio.sleep(10)
        expired = [e for e in events if isinstance(e, ev.LockExpired)]
        assert [(e.agent, e.token) for e in expired] == [("root.a", 1)]
        assert service.table.holders("f.txt") == []
        nursery.cancel_scope.cancel()
    assert trio.current_time() - t0 >= 1.5


async def test_a_contended_lock_still_waits_with_the_service(autojump_clock) -> None:
    events: list[ev.Event] = []
    service = _service(events, wait_ms=60_000)
    got: list[str] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        await service.acquire("root.a", "f.txt")

        async def second() -> None:
            await service.acquire("root.b", "f.txt")
            got.append("root.b")

        nursery.start_soon(second)
        await trio.testing.wait_all_tasks_blocked()
        assert got == [] and [w.agent for w in service.table.queue("f.txt")] == ["root.b"]
        await service.release("root.a", "f.txt")  # someone waits: through the service
        await trio.testing.wait_all_tasks_blocked()
        assert got == ["root.b"]
        assert [e.agent for e in events if isinstance(e, ev.LockAcquired)] == ["root.a",
                                                                               "root.b"]
        nursery.cancel_scope.cancel()
