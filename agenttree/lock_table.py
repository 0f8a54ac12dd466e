"""The lock table: the pure state machine behind the lock service.

No I/O, no clock of its own (every call takes ``now``), no tasks: the lock service task owns
one table and is the only caller, so the table needs no locking itself, and tests can drive it
step by step. Semantics:

* ``write`` is exclusive, ``read`` is shared; a read holder may upgrade to write when it is the
  only holder.
* Every grant carries a fencing token, strictly increasing across the table. A write is
  accepted only with the current token of a write hold (:meth:`LockTable.check_write`).
* Holds expire ``ttl_s`` after their last renewal. After an *expiry* (as opposed to a release)
  the path is not granted again for ``lock_delay_s`` (Chubby's lock-delay).
* Waiters queue FIFO per path with a deadline. A release grants the head writer, or the
  contiguous run of readers at the head; a reader behind a queued writer waits (no writer
  starvation). A waiter is granted, times out, or is withdrawn exactly once.
* A request that would close a cycle in the wait-for graph is refused at once
  (:class:`Deadlock`), so the youngest request of the cycle is the one refused.
"""

from __future__ import annotations

import math
from collections import deque

import attrs

READ, WRITE = "read", "write"
MODES = (READ, WRITE)
DECISIONS = ("sequence", "ask-release", "fork", "cancel")
"""How the lowest common ancestor may decide a conflict (the lock service carries it out)."""


class LockError(Exception):
    """A request that cannot be honoured (bad arguments, not held, busy)."""


class Deadlock(LockError):
    """Waiting would close a cycle: ``cycle`` lists the agents, requester first."""

    def __init__(self, cycle: list[str], path: str) -> None:
        self.cycle = cycle
        self.path = path
        super().__init__(f"waiting for {path} would deadlock: "
                         + " -> ".join([*cycle, cycle[0]]))


@attrs.define(kw_only=True)
class Hold:
    """A granted lock."""

    agent: str
    path: str
    mode: str
    token: int
    since: float
    ttl_s: float
    expires: float


@attrs.frozen(kw_only=True)
class Forked:
    """The requester was given its own copy to work on instead of the contended path."""

    path: str
    hold: Hold


@attrs.define(kw_only=True)
class Waiter:
    """A queued request."""

    id: int
    agent: str
    path: str
    mode: str
    ttl_s: float
    deadline: float
    since: float


@attrs.define
class _Path:
    holds: dict[str, Hold] = attrs.Factory(dict)
    queue: deque[Waiter] = attrs.Factory(deque)
    delay_until: float = -math.inf


@attrs.define
class Changes:
    """What a step did, for the service to log and to answer waiting requesters."""

    granted: list[tuple[Waiter, Hold]] = attrs.Factory(list)
    expired: list[Hold] = attrs.Factory(list)
    timed_out: list[Waiter] = attrs.Factory(list)
    released: list[Hold] = attrs.Factory(list)
    withdrawn: list[Waiter] = attrs.Factory(list)


class LockTable:
    """Locks on workspace paths, held by agents. See the module docstring for the rules."""

    def __init__(self, *, lock_delay_s: float = 1.0) -> None:
        self.lock_delay_s = lock_delay_s
        self.paths: dict[str, _Path] = {}
        self.waiting: dict[str, Waiter] = {}
        self.last_token = 0
        self._next_wait = 1

    # --- queries --------------------------------------------------------------------------

    def holds_of(self, agent: str) -> list[Hold]:
        """Every lock ``agent`` holds."""
        return [h for p in self.paths.values() for h in p.holds.values() if h.agent == agent]

    def holders(self, path: str) -> list[Hold]:
        """Who holds ``path`` now."""
        state = self.paths.get(path)
        return list(state.holds.values()) if state else []

    def queue(self, path: str) -> list[Waiter]:
        """Who waits for ``path``, in order."""
        state = self.paths.get(path)
        return list(state.queue) if state else []

    def next_deadline(self) -> float:
        """The earliest time at which :meth:`advance` has something to do."""
        soonest = math.inf
        for state in self.paths.values():
            for hold in state.holds.values():
                soonest = min(soonest, hold.expires)
            for waiter in state.queue:
                soonest = min(soonest, waiter.deadline)
            if state.queue and state.delay_until > -math.inf:
                soonest = min(soonest, state.delay_until)
        return soonest

    def restore(self, agent: str, path: str, mode: str, token: int, *, ttl_s: float,
                now: float) -> Hold:
        """Put back a hold a resumed run's log shows (its TTL starts again from ``now``)."""
        hold = Hold(agent=agent, path=path, mode=mode, token=token, since=now, ttl_s=ttl_s,
                    expires=now + ttl_s)
        self.paths.setdefault(path, _Path()).holds[agent] = hold
        self.last_token = max(self.last_token, token)
        return hold

    # --- requests -------------------------------------------------------------------------

    def acquire(self, agent: str, path: str, mode: str, *, ttl_s: float, wait_s: float,
                now: float) -> Hold | Waiter:
        """Grant at once (a :class:`Hold`) or queue (a :class:`Waiter`).

        Raises:
            LockError: bad arguments, already waiting, busy with ``wait_s == 0``, or an
                upgrade while others read. :class:`Deadlock` when waiting would close a cycle.
        """
        if mode not in MODES:
            raise LockError(f"mode must be read or write, got {mode!r}")
        if not ttl_s > 0:
            raise LockError(f"ttl must be positive, got {ttl_s}")
        if not wait_s >= 0:
            raise LockError(f"wait must not be negative, got {wait_s}")
        if agent in self.waiting:
            raise LockError(f"{agent} is already waiting for {self.waiting[agent].path}")
        state = self.paths.setdefault(path, _Path())
        held = state.holds.get(agent)
        if held is not None:
            return self._again(state, held, mode, ttl_s, now)
        if not state.queue and self._grantable(state, mode, now):
            return self._grant(state, agent, path, mode, ttl_s, now)
        if wait_s == 0:
            raise LockError(f"{path} is busy (held by {self._describe(state)})")
        cycle = self._cycle(agent, state)
        if cycle:
            raise Deadlock(cycle, path)
        waiter = Waiter(id=self._next_wait, agent=agent, path=path, mode=mode, ttl_s=ttl_s,
                        deadline=now + wait_s, since=now)
        self._next_wait += 1
        state.queue.append(waiter)
        self.waiting[agent] = waiter
        return waiter

    def grant_now(self, agent: str, path: str, mode: str, *, ttl_s: float,
                  now: float) -> Hold | None:
        """The uncontended case of :meth:`acquire`: a fresh hold, granted at once, when
        nothing stands in the way (no holder to wait for, nobody queued, no lock-delay, no
        hold of the path past its expiry, ``agent`` neither waiting nor holding ``path``
        already); ``None`` otherwise, with nothing changed (then :meth:`acquire` decides).
        Never raises, never queues."""
        if mode not in MODES or not ttl_s > 0 or agent in self.waiting:
            return None
        state = self.paths.get(path)
        if state is None:
            state = self.paths[path] = _Path()
        elif (state.queue or agent in state.holds or not self._grantable(state, mode, now)
              or any(h.expires <= now for h in state.holds.values())):
            return None
        return self._grant(state, agent, path, mode, ttl_s, now)

    def _again(self, state: _Path, held: Hold, mode: str, ttl_s: float, now: float) -> Hold:
        if mode == held.mode or held.mode == WRITE:  # re-entrant; write covers read
            held.ttl_s, held.expires = ttl_s, now + ttl_s
            return held
        if len(state.holds) > 1:
            others = ", ".join(a for a in state.holds if a != held.agent)
            raise LockError(f"cannot upgrade {held.path} to write while {others} also read it")
        self.last_token += 1
        held.mode, held.token, held.ttl_s, held.expires = WRITE, self.last_token, ttl_s, \
            now + ttl_s
        return held

    def release(self, agent: str, path: str, now: float) -> Changes:
        """Give a lock back; waiters may be granted."""
        state = self.paths.get(path)
        hold = state.holds.pop(agent, None) if state else None
        if hold is None:
            raise LockError(f"{agent} does not hold {path}")
        changes = Changes(released=[hold])
        self._pump(path, now, changes)
        return changes

    def release_all(self, agent: str, now: float) -> Changes:
        """An agent ended: drop its holds and its waiting request."""
        changes = Changes()
        waiter = self.waiting.pop(agent, None)
        if waiter is not None:
            self.paths[waiter.path].queue.remove(waiter)
            changes.withdrawn.append(waiter)
            self._pump(waiter.path, now, changes)
        for path, state in list(self.paths.items()):
            hold = state.holds.pop(agent, None)
            if hold is not None:
                changes.released.append(hold)
                self._pump(path, now, changes)
        return changes

    def withdraw(self, waiter_id: int, now: float) -> Changes:
        """A waiting requester gave up (it was cancelled)."""
        changes = Changes()
        for agent, waiter in list(self.waiting.items()):
            if waiter.id == waiter_id:
                del self.waiting[agent]
                self.paths[waiter.path].queue.remove(waiter)
                changes.withdrawn.append(waiter)
                self._pump(waiter.path, now, changes)
        return changes

    def heartbeat(self, agent: str, now: float) -> int:
        """Renew every lock of ``agent``; returns how many."""
        holds = self.holds_of(agent)
        for hold in holds:
            hold.expires = now + hold.ttl_s
        return len(holds)

    def advance(self, now: float) -> Changes:
        """Expire holds and waits whose time has come; grant what became free."""
        changes = Changes()
        for path, state in list(self.paths.items()):
            for agent, hold in list(state.holds.items()):
                if hold.expires <= now:
                    del state.holds[agent]
                    changes.expired.append(hold)
                    state.delay_until = max(state.delay_until, now + self.lock_delay_s)
            for waiter in list(state.queue):
                if waiter.deadline <= now:
                    state.queue.remove(waiter)
                    del self.waiting[waiter.agent]
                    changes.timed_out.append(waiter)
            self._pump(path, now, changes)
        return changes

    def check_write(self, agent: str, path: str, token: int | None) -> Hold:
        """The write hold that allows ``agent`` to write ``path`` with ``token``.

        ``token=None`` accepts the agent's current write hold, whatever its token.

        Raises:
            LockError: no write hold, or a stale token (a newer grant exists).
        """
        state = self.paths.get(path)
        hold = state.holds.get(agent) if state else None
        if hold is None or hold.mode != WRITE:
            raise LockError(f"{agent} holds no write lock on {path}"
                            + (f" (token {token} is no longer valid)" if token else ""))
        if token is not None and token != hold.token:
            raise LockError(f"fencing token {token} for {path} is stale; the current one is "
                            f"{hold.token}")
        return hold

    # --- internals -----------------------------------------------------------------------

    def _grantable(self, state: _Path, mode: str, now: float) -> bool:
        if now < state.delay_until:
            return False
        if not state.holds:
            return True
        return mode == READ and all(h.mode == READ for h in state.holds.values())

    def _grant(self, state: _Path, agent: str, path: str, mode: str, ttl_s: float,
               now: float) -> Hold:
        self.last_token += 1
        hold = Hold(agent=agent, path=path, mode=mode, token=self.last_token, since=now,
                    ttl_s=ttl_s, expires=now + ttl_s)
        state.holds[agent] = hold
        return hold

    def _pump(self, path: str, now: float, changes: Changes) -> None:
        state = self.paths[path]
        while state.queue:
            head = state.queue[0]
            if not self._grantable(state, head.mode, now):
                break
            state.queue.popleft()
            del self.waiting[head.agent]
            hold = self._grant(state, head.agent, path, head.mode, head.ttl_s, now)
            changes.granted.append((head, hold))
            if head.mode == WRITE:
                break
        if not state.holds and not state.queue and now >= state.delay_until:
            del self.paths[path]

    def _cycle(self, agent: str, state: _Path) -> list[str]:
        """The wait-for cycle ``agent`` would close by waiting on ``state``'s holders."""
        stack = [(holder, [agent]) for holder in state.holds]
        seen: set[str] = set()
        while stack:
            current, trail = stack.pop()
            if current == agent:
                return trail
            if current in seen:
                continue
            seen.add(current)
            waiter = self.waiting.get(current)
            if waiter is not None:
                stack.extend((h, [*trail, current]) for h in self.paths[waiter.path].holds)
        return []

    @staticmethod
    def _describe(state: _Path) -> str:
        return ", ".join(f"{h.agent} ({h.mode})" for h in state.holds.values()) or \
            "nobody, but in lock-delay after an expiry"
