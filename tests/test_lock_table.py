"""The lock table as a state machine: hypothesis drives acquire/release/heartbeat/expire/cancel
over many agents and paths and checks the invariants after every step."""

from __future__ import annotations

import copy
import math
import statistics

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from agenttree.lock_table import READ, WRITE, Deadlock, Hold, LockError, LockTable, Waiter

AGENTS = [f"root.a{i}" for i in range(6)]
PATHS = ["a.txt", "b.txt", "c.txt"]
STEPS: list[int] = []


class LockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.table = LockTable(lock_delay_s=0.5)
        self.now = 0.0
        self.tokens_seen = 0
        self.open_waits: dict[int, Waiter] = {}
        self.resolved: set[int] = set()
        self.steps = 0

    def _resolve(self, changes) -> None:
        for waiter, hold in changes.granted:
            self._close(waiter.id)
            assert hold.since <= waiter.deadline, "granted after its wait expired"
            assert hold.agent == waiter.agent and hold.mode == waiter.mode
            self._check_token(hold.token)
        for waiter in [*changes.timed_out, *changes.withdrawn]:
            self._close(waiter.id)

    def _close(self, wait_id: int) -> None:
        assert wait_id in self.open_waits, "a waiter resolved twice (or never queued)"
        assert wait_id not in self.resolved
        del self.open_waits[wait_id]
        self.resolved.add(wait_id)

    def _check_token(self, token: int) -> None:
        assert token > self.tokens_seen, "fencing tokens must strictly increase"
        self.tokens_seen = token

    @rule(agent=st.sampled_from(AGENTS), path=st.sampled_from(PATHS),
          mode=st.sampled_from([READ, WRITE]), ttl=st.sampled_from([0.5, 1.0, 5.0]),
          wait=st.sampled_from([0.0, 0.3, 2.0]))
    def acquire(self, agent, path, mode, ttl, wait) -> None:
        self.steps += 1
        before = {h.agent: h.token for h in self.table.holders(path)}
        try:
            got = self.table.acquire(agent, path, mode, ttl_s=ttl, wait_s=wait, now=self.now)
        except Deadlock as exc:
            assert exc.cycle[0] == agent
            return
        except LockError:
            return
        if isinstance(got, Waiter):
            self.open_waits[got.id] = got
        elif got.token != before.get(agent):
            self._check_token(got.token)

    @rule(agent=st.sampled_from(AGENTS), path=st.sampled_from(PATHS),
          mode=st.sampled_from([READ, WRITE]), ttl=st.sampled_from([0.5, 1.0, 5.0]))
    def grant_now(self, agent, path, mode, ttl) -> None:
        """The fast path grants exactly what a non-waiting acquire would, or changes nothing."""
        self.steps += 1
        twin = copy.deepcopy(self.table)
        before = self._picture()
        hold = self.table.grant_now(agent, path, mode, ttl_s=ttl, now=self.now)
        if hold is None:
            assert self._picture() == before
            return
        self._check_token(hold.token)
        got = twin.acquire(agent, path, mode, ttl_s=ttl, wait_s=0, now=self.now)
        assert isinstance(got, Hold)
        assert (got.agent, got.mode, got.token, got.expires) == (
            hold.agent, hold.mode, hold.token, hold.expires)

    def _picture(self) -> tuple:
        return (self.table.last_token, sorted(self.table.waiting),
                {p: (sorted((h.agent, h.token, h.expires) for h in self.table.holders(p)),
                     [w.id for w in self.table.queue(p)]) for p in PATHS})

    @rule(agent=st.sampled_from(AGENTS), path=st.sampled_from(PATHS))
    def release(self, agent, path) -> None:
        self.steps += 1
        held = any(h.agent == agent for h in self.table.holders(path))
        try:
            self._resolve(self.table.release(agent, path, self.now))
        except LockError:
            assert not held
        else:
            assert held

    @rule(agent=st.sampled_from(AGENTS))
    def heartbeat(self, agent) -> None:
        self.steps += 1
        self.table.heartbeat(agent, self.now)
        for hold in self.table.holds_of(agent):
            assert hold.expires == self.now + hold.ttl_s

    @rule(agent=st.sampled_from(AGENTS))
    def cancel(self, agent) -> None:
        self.steps += 1
        self._resolve(self.table.release_all(agent, self.now))
        assert not self.table.holds_of(agent) and agent not in self.table.waiting

    @rule(dt=st.sampled_from([0.1, 0.4, 1.0, 3.0]))
    def tick(self, dt) -> None:
        self.steps += 1
        self.now += dt
        changes = self.table.advance(self.now)
        for hold in changes.expired:
            assert hold.expires <= self.now
        self._resolve(changes)

    @precondition(lambda self: self.open_waits)
    @rule(data=st.data())
    def withdraw(self, data) -> None:
        self.steps += 1
        wait_id = data.draw(st.sampled_from(sorted(self.open_waits)))
        self._resolve(self.table.withdraw(wait_id, self.now))

    @invariant()
    def exclusive_writers_shared_readers(self) -> None:
        for path in PATHS:
            holds = self.table.holders(path)
            writers = [h for h in holds if h.mode == WRITE]
            assert len(writers) <= 1, "two write holders"
            assert not writers or len(holds) == 1, "a writer beside a reader"

    @invariant()
    def queues_and_waiting_agree(self) -> None:
        queued = {w.id for p in PATHS for w in self.table.queue(p)}
        assert queued == {w.id for w in self.table.waiting.values()} == set(self.open_waits)

    @invariant()
    def nobody_waits_on_a_free_path(self) -> None:
        for path in PATHS:
            queue = self.table.queue(path)
            state = self.table.paths.get(path)
            if queue and not self.table.holders(path) and state.delay_until <= self.now:
                pytest.fail(f"{path} is free but {queue[0].agent} still waits")

    def teardown(self) -> None:
        # Everyone goes away: every waiter must end exactly once, granted or timed out.
        for agent in AGENTS:
            self._resolve(self.table.release_all(agent, self.now))
        self._resolve(self.table.advance(math.inf))
        assert not self.open_waits, "a waiter was lost"
        STEPS.append(self.steps)


def test_lock_table_state_machine() -> None:
    STEPS.clear()
    LockMachine.TestCase.settings = settings(max_examples=1000, stateful_step_count=100,
                                             deadline=None)
    LockMachine.TestCase().runTest()
    mean = statistics.mean(STEPS)
    print(f"lock table state machine: {len(STEPS)} examples, mean {mean:.1f} steps")
    assert mean >= 50
