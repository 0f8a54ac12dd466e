"""The lock service: one task owns the lock table; agents talk to it with requests.

Every request carries its own reply slot (a :class:`_Call`); the service task serves them in
order. It logs every change (``lock/*`` events) and runs the table's timers (TTL expiry, wait
timeouts, lock-delay, conflict escalation) on Trio's clock, so tests run on ``MockClock``.

The uncontended case skips the round trip: when no request is queued for the service, an
``acquire`` that the :class:`~agenttree.lock_table.LockTable` can grant at once
(:meth:`~agenttree.lock_table.LockTable.grant_now`), and a ``release`` that nobody waits
behind, are carried out in the caller's task, as one synchronous step (Trio runs one task at a
time), their events logged before the caller sees the result. Whatever must wait, every timer
and every conflict stays with the service task.

A request that must wait opens a **conflict thread**: requester, owners, and their lowest common
ancestor, whose inbox gets a ``conflict`` message. The ancestor decides with the
``resolve-conflict`` tool: ``sequence`` (stay queued), ``ask-release`` (the owners are asked to
release), ``fork`` (the requester works on a copy ``PATH.fork-<agent>``), or ``cancel`` (one
side is cancelled). Without a decision within ``:escalate-after-ms``, ``sequence`` applies.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

import attrs
import trio

from .. import events as ev
from ..lock_table import (
    DECISIONS,
    WRITE,
    Changes,
    Deadlock,
    Forked,
    Hold,
    LockError,
    LockTable,
    Waiter,
)
from ..plan import LockPolicy
from .router import lowest_common_ancestor

SERVICE = "lock-service"
"""Sender id of the service's messages."""
class _Call:
    """A request and its reply slot, filled once by the service."""

    __slots__ = ("done", "error", "request", "value")

    def __init__(self, request: Any) -> None:
        self.request = request
        self.done = trio.Event()
        self.value: Any = None
        self.error: Exception | None = None

    def reply(self, value: Any = None, error: Exception | None = None) -> None:
        if not self.done.is_set():
            self.value, self.error = value, error
            self.done.set()

    async def result(self) -> Any:
        await self.done.wait()
        if self.error is not None:
            raise self.error
        return self.value


@attrs.frozen
class _Acquire:
    agent: str
    path: str
    mode: str
    ttl_ms: int
    wait_ms: int


@attrs.frozen
class _Release:
    agent: str
    path: str


@attrs.frozen
class _ReleaseAll:
    agent: str


@attrs.frozen
class _Heartbeat:
    agent: str


@attrs.frozen
class _Withdraw:
    call: _Call


@attrs.frozen
class _CheckWrite:
    agent: str
    path: str
    token: int | None
    required: bool


@attrs.frozen
class _WhoHolds:
    path: str | None


@attrs.frozen
class _Resolve:
    by: str
    conflict: str
    decision: str
    cancel: str | None = None
    fork_path: str | None = None


@attrs.define(kw_only=True)
class _Conflict:
    id: str
    path: str
    requester: str
    owners: list[str]
    lca: str
    waiter: Waiter
    call: _Call
    escalate_at: float


class LockService:
    """The lock service. Start :meth:`run` in a nursery; agents call the async methods.

    Args:
        emit: the event log's ``emit``.
        policy: the plan's lock policy.
        deliver: put a message in an inbox
            (``deliver(agent, kind, text, data) -> bool``), bypassing the conversation graph:
            the conflict thread itself is the permission.
        cancel: cancel an agent (``cancel(agent, reason) -> bool``).
        is_running: whether an agent id names a running agent (requests from others are
            refused).
    """

    def __init__(self, emit: Callable[[ev.Event], int], policy: LockPolicy, *,
                 deliver: Callable[[str, str, str, dict[str, Any]], bool],
                 cancel: Callable[[str, str], bool],
                 is_running: Callable[[str], bool] = lambda agent: True) -> None:
        self._emit = emit
        self._is_running = is_running
        self.policy = policy
        self._deliver = deliver
        self._cancel = cancel
        self.table = LockTable(lock_delay_s=policy.delay_ms / 1000)
        # A deque and a parking lot, not a memory channel: this is every lock operation's path.
        self._inbox: deque[_Call] = deque()
        self._lot = trio.lowlevel.ParkingLot()
        self._handlers: dict[type, Callable[[_Call, Any, float], Any]] = {
            _Acquire: self._on_acquire, _Release: self._on_release,
            _ReleaseAll: self._on_releaseall, _Heartbeat: self._on_heartbeat,
            _Withdraw: self._on_withdraw, _CheckWrite: self._on_checkwrite,
            _WhoHolds: self._on_whoholds, _Resolve: self._on_resolve}
        self._calls: dict[int, _Call] = {}  # waiter id -> the acquire waiting on it
        self._waiters: dict[int, Waiter] = {}  # id(call) -> its waiter
        self._conflicts: dict[str, _Conflict] = {}
        self._next_conflict = 1
        self._timer: trio.CancelScope | None = None
        """The service task's wait for its next deadline (a grant in a caller's task may
        bring it forward)."""

    def restore(self, holds: dict[str, dict[str, Any]], *, last_token: int,
                conflicts: int) -> int:
        """Before :meth:`run`, on a resume: the holds the log shows (``path -> {agent: {mode,
        token, ttl_ms}}``), fencing tokens going on after ``last_token``, conflict ids after
        the ``conflicts`` already opened. Returns the number of holds restored."""
        now = trio.current_time()
        count = 0
        for path, holders in holds.items():
            for agent, hold in holders.items():
                self.table.restore(agent, path, hold["mode"], hold["token"],
                                   ttl_s=hold["ttl_ms"] / 1000, now=now)
                count += 1
        self.table.last_token = max(self.table.last_token, last_token)
        self._next_conflict = conflicts + 1
        return count

    # --- the client side (called from agents' tasks) -------------------------------------------

    def _post(self, call: _Call) -> None:
        self._inbox.append(call)
        if self._lot:
            self._lot.unpark()

    async def _call(self, request: Any) -> Any:
        call = _Call(request)
        self._post(call)
        return await call.result()

    async def acquire(self, agent: str, path: str, mode: str = WRITE, *,
                      ttl_ms: int | None = None, wait_ms: int | None = None) -> Hold | Forked:
        """Take a lock, waiting in line if need be; returns the hold (or a fork to work on).

        Raises:
            LockError: refused (bad request, busy without waiting, deadlock, wait timed out).
        Cancelling the caller withdraws it from the queue.
        """
        ttl = self.policy.ttl_ms if ttl_ms is None else ttl_ms
        if not 0 < ttl <= self.policy.max_ttl_ms:
            raise LockError(f"ttl must be between 1 and {self.policy.max_ttl_ms} ms, got {ttl}")
        if not self._inbox and self._is_running(agent):
            await trio.lowlevel.checkpoint_if_cancelled()
            hold = self.table.grant_now(agent, path, mode, ttl_s=ttl / 1000,
                                        now=trio.current_time())
            if hold is not None:
                self._emit(ev.LockRequested(agent=agent, path=path, mode=mode, ttl_ms=ttl,
                                            wait_ms=self.policy.wait_ms if wait_ms is None
                                            else wait_ms))
                self._acquired(hold, 0.0)
                if self._timer is not None and hold.expires < self._timer.deadline:
                    self._timer.deadline = hold.expires  # the service expires it in time
                await trio.lowlevel.cancel_shielded_checkpoint()
                return hold
        request = _Acquire(agent, path, mode, ttl, self.policy.wait_ms if wait_ms is None
                           else wait_ms)
        call = _Call(request)
        self._post(call)
        try:
            return await call.result()
        except trio.Cancelled:
            self._post(_Call(_Withdraw(call)))
            raise

    async def release(self, agent: str, path: str) -> None:
        """Give a lock back. Raises LockError if it is not held."""
        if self._inbox or self.table.queue(path):
            await self._call(_Release(agent, path))
            return
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            now = trio.current_time()
            self._apply(self.table.release(agent, path, now), now)
        finally:
            await trio.lowlevel.cancel_shielded_checkpoint()

    def release_all_nowait(self, agent: str) -> None:
        """An agent is ending: release its locks and leave queues (never blocks)."""
        self._post(_Call(_ReleaseAll(agent)))

    def heartbeat_nowait(self, agent: str) -> None:
        """Renew all of an agent's locks (never blocks)."""
        self._post(_Call(_Heartbeat(agent)))

    async def check_write(self, agent: str, path: str, token: int | None, *,
                          required: bool) -> None:
        """Fencing: may ``agent`` write ``path`` now? Raises LockError when not.

        With ``required`` false and no token, any write is allowed (and logged when another
        agent holds a lock on the path).
        """
        await self._call(_CheckWrite(agent, path, token, required))

    async def who_holds(self, path: str | None) -> dict[str, tuple[list[Hold], list[Waiter]]]:
        """Holders and queue per path: of ``path``, or of every locked path (``None``)."""
        return await self._call(_WhoHolds(path))

    async def resolve(self, by: str, conflict: str, decision: str, *, cancel: str | None = None,
                      fork_path: str | None = None) -> str:
        """The lowest common ancestor decides a conflict; returns what was done."""
        return await self._call(_Resolve(by, conflict, decision, cancel, fork_path))

    # --- the service task ------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve requests and run the timers until cancelled."""
        task_status.started()
        inbox = self._inbox
        while True:
            with trio.move_on_at(self._next_deadline()) as self._timer:
                while not inbox:
                    await self._lot.park()
            while inbox:  # everything queued, before looking at the clock again
                self._serve(inbox.popleft())
            now = trio.current_time()
            if now >= self.table.next_deadline():
                self._apply(self.table.advance(now), now)
            self._escalate(now)

    def _next_deadline(self) -> float:
        soonest = self.table.next_deadline()
        for conflict in self._conflicts.values():
            soonest = min(soonest, conflict.escalate_at)
        return soonest

    def _serve(self, call: _Call) -> None:
        request = call.request
        try:
            value = self._handlers[type(request)](call, request, trio.current_time())
        except _Pending:
            return  # queued: the reply comes when the waiter is granted or leaves the queue
        except LockError as exc:
            call.reply(error=exc)
            return
        call.reply(value)

    def _on_acquire(self, call: _Call, r: _Acquire, now: float) -> Any:
        if not self._is_running(r.agent):
            raise LockError(f"unknown agent {r.agent!r} (not running)")
        self._emit(ev.LockRequested(agent=r.agent, path=r.path, mode=r.mode, ttl_ms=r.ttl_ms,
                                    wait_ms=r.wait_ms))
        try:
            got = self.table.acquire(r.agent, r.path, r.mode, ttl_s=r.ttl_ms / 1000,
                                     wait_s=r.wait_ms / 1000, now=now)
        except Deadlock as exc:
            self._deadlock(exc)
            raise
        if isinstance(got, Hold):
            self._acquired(got, 0.0)
            return got
        self._calls[got.id] = call
        self._waiters[id(call)] = got
        self._open_conflict(got, call, now)
        raise _Pending

    def _on_release(self, call: _Call, r: _Release, now: float) -> None:
        self._apply(self.table.release(r.agent, r.path, now), now)

    def _on_releaseall(self, call: _Call, r: _ReleaseAll, now: float) -> None:
        self._apply(self.table.release_all(r.agent, now), now, reason="agent ended")

    def _on_heartbeat(self, call: _Call, r: _Heartbeat, now: float) -> int:
        return self.table.heartbeat(r.agent, now)

    def _on_withdraw(self, call: _Call, r: _Withdraw, now: float) -> None:
        waiter = self._waiters.get(id(r.call))
        if waiter is not None:
            self._apply(self.table.withdraw(waiter.id, now), now)
        elif isinstance(r.call.value, Hold):  # granted just as its requester was cancelled
            hold = r.call.value
            if any(h.token == hold.token for h in self.table.holders(hold.path)):
                self._apply(self.table.release(hold.agent, hold.path, now), now)

    def _on_checkwrite(self, call: _Call, r: _CheckWrite, now: float) -> None:
        if r.token is not None or r.required:
            self.table.check_write(r.agent, r.path, r.token)
            return
        others = [h.agent for h in self.table.holders(r.path) if h.agent != r.agent]
        if others:
            self._emit(ev.LockUnheldWrite(agent=r.agent, path=r.path, holders=others))

    def _on_whoholds(self, call: _Call, r: _WhoHolds, now: float) -> Any:
        paths = list(self.table.paths) if r.path is None else [r.path]
        return {p: (self.table.holders(p), self.table.queue(p)) for p in paths
                if self.table.holders(p) or self.table.queue(p)}

    def _on_resolve(self, call: _Call, r: _Resolve, now: float) -> str:
        conflict = self._conflicts.get(r.conflict)
        if conflict is None:
            raise LockError(f"no open conflict {r.conflict!r}")
        if r.by != conflict.lca:
            raise LockError(f"only {conflict.lca}, the lowest common ancestor, may resolve "
                            f"{r.conflict}")
        if r.decision not in DECISIONS:
            raise LockError(f"decision must be one of {', '.join(DECISIONS)}")
        detail = getattr(self, f"_decide_{r.decision.replace('-', '_')}")(conflict, r, now)
        self._close_conflict(conflict, r.decision, r.by, detail)
        return detail

    # --- conflict decisions --------------------------------------------------------------------

    def _decide_sequence(self, c: _Conflict, r: _Resolve, now: float) -> str:
        return f"{c.requester} stays queued for {c.path}"

    def _decide_ask_release(self, c: _Conflict, r: _Resolve, now: float) -> str:
        for owner in c.owners:
            self._deliver(owner, "chat", f"please release {c.path}: {c.requester} needs it "
                          f"(conflict {c.id}, from {r.by})",
                          {"conflict": c.id, "path": c.path, "release": True})
        return f"asked {', '.join(c.owners)} to release {c.path}"

    def _decide_fork(self, c: _Conflict, r: _Resolve, now: float) -> str:
        fork_path = r.fork_path or f"{c.path}.fork-{c.requester.replace('.', '-')}"
        changes = self.table.withdraw(c.waiter.id, now)
        self._forget(c.waiter, c.call)
        hold = self.table.acquire(c.requester, fork_path, WRITE, ttl_s=c.waiter.ttl_s,
                                  wait_s=0, now=now)
        assert isinstance(hold, Hold)
        self._acquired(hold, (now - c.waiter.since) * 1000)
        c.call.reply(Forked(path=fork_path, hold=hold))
        self._apply(changes, now)
        return f"{c.requester} works on {fork_path} instead of {c.path}"

    def _decide_cancel(self, c: _Conflict, r: _Resolve, now: float) -> str:
        side = r.cancel or "requester"
        if side not in ("requester", "owner"):
            raise LockError('cancel must name "requester" or "owner"')
        targets = [c.requester] if side == "requester" else c.owners
        for agent in targets:
            self._cancel(agent, f"cancelled by {r.by} to resolve {c.id} over {c.path}")
        return f"cancelled {', '.join(targets)}"

    def _open_conflict(self, waiter: Waiter, call: _Call, now: float) -> None:
        owners = [h.agent for h in self.table.holders(waiter.path)] or \
            [w.agent for w in self.table.queue(waiter.path) if w.id != waiter.id][:1]
        self._emit(ev.LockConflict(agent=waiter.agent, path=waiter.path, mode=waiter.mode,
                                   holders=owners))
        lca = _lca([waiter.agent, *owners])
        conflict = _Conflict(id=f"c{self._next_conflict}", path=waiter.path,
                             requester=waiter.agent, owners=owners, lca=lca, waiter=waiter,
                             call=call, escalate_at=now + self.policy.escalate_after_ms / 1000)
        self._next_conflict += 1
        self._conflicts[conflict.id] = conflict
        self._emit(ev.ConflictOpened(conflict=conflict.id, path=waiter.path,
                                     requester=waiter.agent, owners=owners, lca=lca))
        if lca != waiter.agent:
            self._deliver(lca, "conflict",
                          f"{waiter.agent} waits for {waiter.path} ({waiter.mode}), held by "
                          f"{', '.join(owners)}. Decide with resolve-conflict "
                          f"{{conflict: {conflict.id}, decision: sequence|ask-release|fork|"
                          f"cancel}}; without a decision it stays queued.",
                          {"conflict": conflict.id, "path": waiter.path,
                           "requester": waiter.agent, "owners": owners})

    def _close_conflict(self, conflict: _Conflict, decision: str, by: str, detail: str) -> None:
        self._conflicts.pop(conflict.id, None)
        self._emit(ev.ConflictResolved(conflict=conflict.id, decision=decision, by=by,
                                       detail=detail))

    def _escalate(self, now: float) -> None:
        for conflict in list(self._conflicts.values()):
            if conflict.escalate_at <= now:
                self._close_conflict(conflict, "sequence", SERVICE,
                                     "no decision in time: the request stays queued")

    def _deadlock(self, exc: Deadlock) -> None:
        requester = exc.cycle[0]
        self._emit(ev.LockDeadlock(agent=requester, path=exc.path, cycle=exc.cycle))
        cid = f"c{self._next_conflict}"
        self._next_conflict += 1
        lca = _lca(exc.cycle)
        self._emit(ev.ConflictOpened(conflict=cid, path=exc.path, requester=requester,
                                     owners=exc.cycle[1:], lca=lca, kind="deadlock"))
        self._deliver(lca, "conflict", f"deadlock broken: {exc}; {requester}'s request was "
                      "refused", {"conflict": cid, "cycle": exc.cycle, "path": exc.path})
        self._emit(ev.ConflictResolved(conflict=cid, decision="refuse-youngest", by=SERVICE,
                                       detail=f"{requester}'s request for {exc.path} refused"))

    # --- applying table changes ------------------------------------------------------------

    def _acquired(self, hold: Hold, waited_ms: float) -> None:
        self._emit(ev.LockAcquired(agent=hold.agent, path=hold.path, mode=hold.mode,
                                   token=hold.token, ttl_ms=round(hold.ttl_s * 1000),
                                   waited_ms=round(waited_ms, 3)))

    def _forget(self, waiter: Waiter, call: _Call) -> None:
        self._calls.pop(waiter.id, None)
        self._waiters.pop(id(call), None)
        for conflict in list(self._conflicts.values()):
            if conflict.waiter.id == waiter.id:
                self._conflicts.pop(conflict.id)

    def _apply(self, changes: Changes, now: float, reason: str = "released") -> None:
        for hold in changes.released:
            self._emit(ev.LockReleased(agent=hold.agent, path=hold.path, token=hold.token,
                                       reason=reason))
        for hold in changes.expired:
            self._emit(ev.LockExpired(agent=hold.agent, path=hold.path, token=hold.token,
                                      delay_ms=self.policy.delay_ms))
        for waiter, hold in changes.granted:
            self._acquired(hold, (now - waiter.since) * 1000)
            self._settle(waiter, "granted", value=hold)
        for waiter in changes.timed_out:
            self._settle(waiter, "timed out", error=LockError(
                f"gave up waiting for {waiter.path} after "
                f"{(waiter.deadline - waiter.since) * 1000:g} ms"))
        for waiter in changes.withdrawn:
            self._settle(waiter, "withdrawn", error=LockError("withdrawn"))

    def _settle(self, waiter: Waiter, outcome: str, *, value: Any = None,
                error: Exception | None = None) -> None:
        call = self._calls.pop(waiter.id, None)
        if call is not None:
            self._waiters.pop(id(call), None)
            call.reply(value, error)
        if outcome != "granted":
            self._emit(ev.LockWaitEnded(agent=waiter.agent, path=waiter.path, reason=outcome))
        for conflict in list(self._conflicts.values()):
            if conflict.waiter.id == waiter.id:
                self._close_conflict(conflict, outcome, SERVICE, f"{waiter.agent} {outcome}")


class _Pending(LockError):
    """Internal: the request is queued; its reply comes later."""


def _lca(agents: list[str]) -> str:
    lca = agents[0]
    for other in agents[1:]:
        lca = lowest_common_ancestor(lca, other) or lca
    return lca
