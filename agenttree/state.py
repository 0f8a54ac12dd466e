"""RunState: the state of a run, as a fold over its events.

``state = fold(entries)`` is how every reader (the engine at the end, ``replay``, the TUI, the
web view, resume) knows what happened. :func:`apply` depends only on the state and the entry
(no clock, no I/O, no randomness), so folding the same log always gives the same state. It
updates the state in place for speed (a million events fold in seconds, not minutes); a reader
that wants snapshots copies the state (:mod:`agenttree.snapshots` copies all but the
conversation items the fold no longer changes).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import attrs
import cattrs

from . import events as ev
from .collector import collector_paused
from .events import Entry
from .log import LogReader

FINISHED = frozenset({"done", "failed", "cancelled", "budget-exhausted"})
"""Statuses an agent or task ends in."""


@attrs.define(kw_only=True)
class AgentView:
    """One agent as the log tells it."""

    id: str
    parent: str | None
    task: str
    goal: str
    depth: int
    model: str
    models: list[str]
    tools: list[str]
    cwd: str = "."
    dynamic: bool = False
    attempt: int = 1
    status: str = "running"
    detail: str = ""
    facts: dict[str, Any] | None = None
    reason: str = ""
    result: str = ""
    children: list[str] = attrs.Factory(list)
    limits: dict[str, Any] = attrs.Factory(dict)
    used: dict[str, float] = attrs.Factory(dict)
    exhausted: str | None = None
    tool_calls: int = 0
    turns: int = 0
    tokens: int = 0
    started_t: int = 0
    finished_t: int | None = None
    acceptance: list[dict[str, Any]] = attrs.Factory(list)
    conversation: list[dict[str, Any]] = attrs.Factory(list)
    open_calls: dict[str, dict[str, Any]] = attrs.Factory(dict)
    """The conversation items of tool calls requested and not yet answered, by call id."""
    waiting_call: str | None = None
    """The call that waits for a person's approval (status ``needs-you``), if one does."""

    @property
    def finished(self) -> bool:
        """Whether the agent has ended."""
        return self.status in FINISHED

    def wall_s(self, now_t: int | None = None) -> float:
        """Seconds from spawn to finish (or to ``now_t`` while it runs)."""
        end = self.finished_t if self.finished_t is not None else now_t
        return 0.0 if end is None else max(0, end - self.started_t) / 1000


@attrs.define(kw_only=True)
class TaskView:
    """A task of the plan (or spawned at run time) and the agent currently on it."""

    id: str
    agent: str
    status: str = "pending"
    attempts: int = 0
    removed: bool = False
    """Taken out of the plan by a reconcile (its end no longer counts against the run)."""


@attrs.define(kw_only=True)
class RunState:
    """Everything a reader needs to draw or resume a run."""

    run: str = ""
    plan_name: str = ""
    plan_source: str = ""
    plan_edn: str = ""
    plan_base_dir: str = ""
    """Where the plan's relative paths resolve (``plan/loaded``; empty: the working
    directory)."""
    plan_parts: list[str] = attrs.Factory(list)
    """``plan/part`` texts read since the last plan event (joined by the next one)."""
    seed: int = 0
    model_override: str | None = None
    format: int = ev.FORMAT
    resumes: int = 0
    status: str = "pending"
    reason: str = ""
    seq: int = 0
    t: int = 0
    started_t: int = 0
    finished_t: int | None = None
    root: str | None = None
    agents: dict[str, AgentView] = attrs.Factory(dict)
    tasks: dict[str, TaskView] = attrs.Factory(dict)
    bridges: dict[str, dict[str, str]] = attrs.Factory(dict)
    processes: dict[int, str] = attrs.Factory(dict)
    control: list[dict[str, Any]] = attrs.Factory(list)
    locks: dict[str, dict[str, Any]] = attrs.Factory(dict)
    conflicts: dict[str, dict[str, Any]] = attrs.Factory(dict)
    containers: dict[str, dict[str, Any]] = attrs.Factory(dict)
    """Sandbox containers by ``"case/name"``: backend, ref, status, exit code, log."""
    approvals: dict[str, dict[str, Any]] = attrs.Factory(dict)
    """Calls that asked a person, by call id: agent, tool, args, timeout, and ``status``
    (``pending``, ``approved`` or ``denied``, with the ``reason``)."""
    unknown: int = 0

    def subtree(self, agent_id: str) -> list[str]:
        """``agent_id`` and all its descendants, pre-order."""
        out, stack = [], [agent_id]
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(reversed(self.agents[current].children))
        return out

    def counts(self) -> dict[str, int]:
        """Number of agents per status."""
        counts: dict[str, int] = {}
        for agent in self.agents.values():
            counts[agent.status] = counts.get(agent.status, 0) + 1
        return counts


# --- the fold --------------------------------------------------------------------------------


def _run_started(s: RunState, e: ev.RunStarted, t: int) -> None:
    s.plan_name, s.plan_source, s.seed, s.format = e.plan_name, e.plan_path, e.seed, e.format
    s.model_override = e.model
    s.status = "running"
    if not s.started_t:
        s.started_t = t
    s.finished_t = None


def _run_resumed(s: RunState, e: ev.RunResumed, t: int) -> None:
    s.status, s.reason, s.finished_t, s.format = "running", "", None, e.format
    s.resumes += 1


def _run_finished(s: RunState, e: ev.RunFinished, t: int) -> None:
    s.status, s.reason, s.finished_t = e.status, e.reason, t


def _plan_part(s: RunState, e: ev.PlanPart, t: int) -> None:
    if e.index == 0:
        s.plan_parts = []
    s.plan_parts.append(e.text)


def _plan_text(s: RunState, e: ev.PlanLoaded | ev.PlanReconciled) -> str:
    edn = "".join(s.plan_parts[-e.parts:]) if e.parts else e.edn
    s.plan_parts = []
    return edn


def _plan_loaded(s: RunState, e: ev.PlanLoaded, t: int) -> None:
    s.plan_name, s.plan_source, s.plan_edn = e.name, e.source, _plan_text(s, e)
    s.plan_base_dir = e.base_dir


def _plan_reconciled(s: RunState, e: ev.PlanReconciled, t: int) -> None:
    s.plan_edn = _plan_text(s, e)
    for key, removed in (("removed", True), ("added", False)):
        for task_id in e.diff.get(key) or ():
            task = s.tasks.get(task_id) if isinstance(task_id, str) else None
            if task is not None:
                task.removed = removed


def _agent_spawned(s: RunState, e: ev.AgentSpawned, t: int) -> None:
    s.agents[e.agent] = AgentView(
        id=e.agent, parent=e.parent, task=e.task, goal=e.goal, depth=e.depth, model=e.model,
        models=e.models, tools=e.tools, cwd=e.cwd, dynamic=e.dynamic, attempt=e.attempt,
        limits=dict(e.budget), started_t=t,
    )
    if e.parent is None:
        s.root = e.agent
    else:
        siblings = s.agents[e.parent].children
        if e.attempt == 1 or e.agent not in siblings:  # a restart keeps its place
            siblings.append(e.agent)
    task = s.tasks.get(e.task)
    if task is None:
        task = s.tasks[e.task] = TaskView(id=e.task, agent=e.agent)
    task.agent, task.status, task.attempts = e.agent, "running", task.attempts + 1


def _agent_message(s: RunState, e: ev.AgentMessage, t: int) -> None:
    item = {"kind": e.kind, "from": e.sender, "to": e.to, "text": e.text, "seq": s.seq}
    if e.data is not None:
        item["data"] = e.data
    if e.bridge is not None:
        item["bridge"] = e.bridge
    for party in (e.sender, e.to):
        agent = s.agents.get(party)
        if agent is not None:
            agent.conversation.append(item)


def _agent_state(s: RunState, e: ev.AgentState, t: int) -> None:
    agent = s.agents[e.agent]
    agent.status, agent.detail = e.status, e.detail
    if e.facts is not None:
        agent.facts = e.facts


def _agent_finished(s: RunState, e: ev.AgentFinished, t: int) -> None:
    agent = s.agents[e.agent]
    agent.status, agent.reason, agent.result, agent.finished_t = e.status, e.reason, e.result, t
    agent.detail = ""
    if agent.waiting_call is not None:  # it ended (cancelled) while a call waited
        if (entry := s.approvals.get(agent.waiting_call)) is not None:
            entry["status"] = "withdrawn"
        agent.waiting_call = None
    _set_task(s, agent.task, e.agent, e.status)  # an agent's end is its task's


def _task_state(s: RunState, e: ev.TaskStateChanged, t: int) -> None:
    _set_task(s, e.task, e.agent, e.status)


def _set_task(s: RunState, task_id: str, agent_id: str, status: str) -> None:
    task = s.tasks.get(task_id)
    if task is None:
        task = s.tasks[task_id] = TaskView(id=task_id, agent=agent_id)
    elif task.agent != agent_id and task.agent in s.agents and not s.agents[task.agent].finished:
        return  # the end of an attempt that a newer one (a move, a reassign) already replaced
    task.status, task.agent = status, agent_id


def _charge(agent: AgentView, charged: dict[str, float] | None) -> None:
    """Add the charges an event carries to the agent's totals (as its meter did)."""
    if charged:
        used = agent.used
        for kind, amount in charged.items():
            used[kind] = used.get(kind, 0) + amount


def _model_requested(s: RunState, e: ev.ModelRequested, t: int) -> None:
    agent = s.agents[e.agent]
    agent.status, agent.detail = "thinking", f"turn {e.turn}"


def _model_responded(s: RunState, e: ev.ModelResponded, t: int) -> None:
    agent = s.agents[e.agent]
    agent.turns += 1
    agent.tokens += int(e.usage.get("prompt", 0)) + int(e.usage.get("completion", 0))
    _charge(agent, e.charged)
    agent.status, agent.detail = "running", ""
    agent.conversation.append(
        {"kind": "model", "turn": e.turn, "text": e.text, "calls": e.calls, "seq": s.seq})


def _tool_requested(s: RunState, e: ev.ToolRequested, t: int) -> None:
    agent = s.agents[e.agent]
    agent.status, agent.detail = "tool", e.tool
    _charge(agent, e.charged)
    if e.call in agent.open_calls:
        return  # requested again after a resume (its result was never logged): one entry
    agent.tool_calls += 1
    item = {"kind": "tool", "call": e.call, "tool": e.tool, "args": e.args, "seq": s.seq}
    agent.open_calls[e.call] = item
    agent.conversation.append(item)


def _tool_result(s: RunState, e: ev.ToolResult, t: int) -> None:
    agent = s.agents[e.agent]
    item = agent.open_calls.pop(e.call, None)
    if item is None:
        item = {"kind": "tool", "call": e.call, "tool": e.tool, "args": {}, "seq": s.seq}
        agent.conversation.append(item)
    item["ok"], item["output"] = e.ok, e.output
    if agent.status == "tool":
        agent.status, agent.detail = "running", ""


def _approval_requested(s: RunState, e: ev.ApprovalRequested, t: int) -> None:
    s.approvals[e.call] = {"agent": e.agent, "tool": e.tool, "args": e.args,
                           "timeout_s": e.timeout_s, "status": "pending", "seq": s.seq}
    agent = s.agents[e.agent]
    agent.status, agent.detail = "needs-you", f"approve {e.tool} ({e.call})"
    agent.waiting_call = e.call
    if (item := agent.open_calls.get(e.call)) is not None:
        item["approval"] = "pending"


def _approval_decided(s: RunState, e: ev.ToolApproved | ev.ToolDenied, t: int) -> None:
    status = "approved" if e.TYPE == ev.ToolApproved.TYPE else "denied"
    entry = s.approvals.setdefault(e.call, {"agent": e.agent, "tool": e.tool, "args": {}})
    entry["status"] = status
    if status == "denied":
        entry["reason"] = e.reason
    agent = s.agents[e.agent]
    if agent.waiting_call == e.call:
        agent.status, agent.detail, agent.waiting_call = "tool", e.tool, None
    if (item := agent.open_calls.get(e.call)) is not None:
        item["approval"] = status


def _acceptance(s: RunState, e: ev.AcceptanceResult, t: int) -> None:
    s.agents[e.agent].acceptance.append(
        {"cmd": e.cmd, "ok": e.ok, "exit_code": e.exit_code, "attempt": e.attempt})


def _process_started(s: RunState, e: ev.ProcessStarted, t: int) -> None:
    s.processes[e.pgid] = e.agent


def _bridge_opened(s: RunState, e: ev.BridgeOpened, t: int) -> None:
    s.bridges[e.bridge] = {"by": e.by, "a": e.a, "b": e.b}


def _bridge_closed(s: RunState, e: ev.BridgeClosed, t: int) -> None:
    s.bridges.pop(e.bridge, None)


def _budget_charged(s: RunState, e: ev.BudgetCharged, t: int) -> None:
    s.agents[e.agent].used[e.kind] = e.used


def _budget_rolled_up(s: RunState, e: ev.BudgetRolledUp, t: int) -> None:
    s.agents[e.agent].used.update(e.used)


def _budget_exhausted(s: RunState, e: ev.BudgetExhausted, t: int) -> None:
    s.agents[e.agent].exhausted = e.kind


def _budget_granted(s: RunState, e: ev.BudgetGranted, t: int) -> None:
    limits = s.agents[e.agent].limits
    for kind, amount in e.budget.items():
        if limits.get(kind) is not None:
            limits[kind] += amount


def _control(s: RunState, e: ev.ControlApplied | ev.ControlRejected, t: int) -> None:
    applied = e.TYPE == ev.ControlApplied.TYPE
    s.control.append({"line": e.line, "cmd": e.cmd, "applied": applied,
                      "detail": e.detail if applied else e.reason})


def _lock_entry(s: RunState, path: str) -> dict[str, Any]:
    entry = s.locks.get(path)
    if entry is None:
        entry = s.locks[path] = {"holders": {}, "waiters": []}
    return entry


def _lock_prune(s: RunState, path: str) -> None:
    entry = s.locks.get(path)
    if entry is not None and not entry["holders"] and not entry["waiters"]:
        del s.locks[path]


def _lock_acquired(s: RunState, e: ev.LockAcquired, t: int) -> None:
    entry = _lock_entry(s, e.path)
    entry["holders"][e.agent] = {"mode": e.mode, "token": e.token, "since": t,
                                 "ttl_ms": e.ttl_ms}
    if e.agent in entry["waiters"]:
        entry["waiters"].remove(e.agent)


def _lock_gone(s: RunState, e: ev.LockReleased | ev.LockExpired, t: int) -> None:
    entry = s.locks.get(e.path)
    if entry is not None and entry["holders"].get(e.agent, {}).get("token") == e.token:
        del entry["holders"][e.agent]
        _lock_prune(s, e.path)


def _lock_conflict(s: RunState, e: ev.LockConflict, t: int) -> None:
    _lock_entry(s, e.path)["waiters"].append(e.agent)


def _lock_wait_ended(s: RunState, e: ev.LockWaitEnded, t: int) -> None:
    entry = s.locks.get(e.path)
    if entry is not None and e.agent in entry["waiters"]:
        entry["waiters"].remove(e.agent)
        _lock_prune(s, e.path)


def _conflict_opened(s: RunState, e: ev.ConflictOpened, t: int) -> None:
    s.conflicts[e.conflict] = {"path": e.path, "requester": e.requester, "owners": e.owners,
                               "lca": e.lca, "kind": e.kind, "status": "open"}


def _conflict_resolved(s: RunState, e: ev.ConflictResolved, t: int) -> None:
    conflict = s.conflicts.get(e.conflict)
    if conflict is not None:
        conflict.update(status=e.decision, by=e.by, detail=e.detail)


def _policy_granted(s: RunState, e: ev.PolicyGranted, t: int) -> None:
    agent = s.agents[e.agent]
    agent.models = list(dict.fromkeys([*e.models, *agent.models]))
    agent.tools = sorted(set(agent.tools) | set(e.tools))
    agent.model = e.model


def _container(s: RunState, case: str, name: str) -> dict[str, Any]:
    return s.containers.setdefault(f"{case}/{name}", {"case": case, "name": name})


def _container_started(s: RunState, e: ev.ContainerStarted, t: int) -> None:
    _container(s, e.case, e.name).update(backend=e.backend, ref=e.ref, image=e.image,
                                         status="started", started_t=t)


def _container_healthy(s: RunState, e: ev.ContainerHealthy, t: int) -> None:
    _container(s, e.case, e.name).update(status="healthy", checks=e.checks)


def _container_exited(s: RunState, e: ev.ContainerExited, t: int) -> None:
    _container(s, e.case, e.name).update(status=e.reason, exit_code=e.exit_code,
                                         finished_t=t)


def _container_logs(s: RunState, e: ev.ContainerLogs, t: int) -> None:
    _container(s, e.case, e.name).update(log=e.path, log_bytes=e.bytes, log_tail=e.tail)


def _nothing(s: RunState, e: ev.Event, t: int) -> None:
    """Events that are history only (the views show them from the log)."""


def _unknown(s: RunState, e: ev.UnknownEvent, t: int) -> None:
    s.unknown += 1


_HANDLERS: dict[type[ev.Event], Callable[[RunState, Any, int], None]] = {
    ev.RunStarted: _run_started, ev.RunResumed: _run_resumed, ev.RunFinished: _run_finished,
    ev.PlanLoaded: _plan_loaded, ev.PlanPart: _plan_part,
    ev.AgentSpawned: _agent_spawned, ev.AgentMessage: _agent_message,
    ev.AgentState: _agent_state, ev.AgentFinished: _agent_finished,
    ev.TaskStateChanged: _task_state, ev.ModelRequested: _model_requested,
    ev.ModelResponded: _model_responded, ev.ToolRequested: _tool_requested,
    ev.ToolResult: _tool_result, ev.AcceptanceResult: _acceptance,
    ev.ApprovalRequested: _approval_requested, ev.ToolApproved: _approval_decided,
    ev.ToolDenied: _approval_decided,
    ev.ProcessStarted: _process_started, ev.BridgeOpened: _bridge_opened,
    ev.BridgeClosed: _bridge_closed, ev.BudgetCharged: _budget_charged,
    ev.BudgetExhausted: _budget_exhausted, ev.BudgetGranted: _budget_granted,
    ev.BudgetRolledUp: _budget_rolled_up,
    ev.ModelDelta: _nothing, ev.ModelRetry: _nothing, ev.PolicyGranted: _policy_granted,
    ev.AgentWatchdog: _nothing, ev.ContextCompacted: _nothing,
    ev.LockRequested: _nothing, ev.LockAcquired: _lock_acquired, ev.LockReleased: _lock_gone,
    ev.LockExpired: _lock_gone, ev.LockConflict: _lock_conflict,
    ev.LockWaitEnded: _lock_wait_ended, ev.LockDeadlock: _nothing, ev.LockUnheldWrite: _nothing,
    ev.ConflictOpened: _conflict_opened, ev.ConflictResolved: _conflict_resolved,
    ev.ContainerStarted: _container_started, ev.ContainerHealthy: _container_healthy,
    ev.ContainerExited: _container_exited, ev.ContainerLogs: _container_logs,
    ev.McpStarted: _nothing, ev.McpFailed: _nothing,
    ev.ControlApplied: _control, ev.ControlRejected: _control,
    ev.PlanReconciled: _plan_reconciled, ev.UnknownEvent: _unknown,
}

_missing = set(ev.REGISTRY.values()) - set(_HANDLERS)
if _missing:
    raise ImportError(f"event types without a fold handler: {_missing}")
# A fold of a log file hands handlers field views (ev.FieldView), not records: a handler reads
# its event's fields, tells types apart by ``TYPE`` (not ``isinstance``) and keeps no event.
_HANDLERS.update({ev.VIEW_CLASSES[cls]: handler for cls, handler in _HANDLERS.items()
                  if cls in ev.VIEW_CLASSES})


def apply(state: RunState, entry: Entry) -> RunState:
    """Fold one entry into ``state`` (in place) and return it."""
    seq, t, run, event = entry
    state.seq, state.t = seq, t
    if not state.run:
        state.run = run
    _HANDLERS[type(event)](state, event, t)
    return state


_NAMING = ("agent", "parent", "sender", "to")
"""The event fields that name the agents :func:`apply` may change."""


@functools.cache
def _naming_fields(cls: type[ev.Event]) -> tuple[str, ...]:
    return tuple(name for name in _NAMING if name in attrs.fields_dict(cls))


def agents_touched(event: ev.Event) -> tuple[str, ...]:
    """The agents whose view folding ``event`` may change: those it names (a spawn changes its
    parent's children, a message both parties' conversations). ``tests/test_state_touched.py``
    checks every handler keeps to it."""
    return tuple(v for name in _naming_fields(type(event))
                 if type(v := getattr(event, name)) is str)


def agents_touched_by(events: Sequence[ev.Event]) -> set[str]:
    """:func:`agents_touched` of each of ``events``, together (one pass in C per naming field,
    not a call per event: the web hub asks it of every poll)."""
    found: set[Any] = set()
    for name in _NAMING:
        found.update(map(getattr, events, itertools.repeat(name), itertools.repeat(None)))
    return {agent for agent in found if type(agent) is str}


def _through(entries: Iterable[Entry], until: int) -> Iterator[Entry]:
    """``entries`` up to and including seq ``until``, the one after it not read (seqs go up by
    one: a bad line after ``until`` is no error of a fold to it)."""
    for entry in entries:
        if entry.seq > until:
            return
        yield entry
        if entry.seq == until:
            return


def fold(entries: Iterable[Entry], state: RunState | None = None,
         until: int | None = None) -> RunState:
    """Fold ``entries`` (up to and including seq ``until``) into a state."""
    state = RunState() if state is None else state
    handlers = _HANDLERS
    with collector_paused():
        if isinstance(entries, LogReader):  # no event escapes the fold: field views will do
            entries.fold_into(state, handlers, until)
            return state
        if until is not None:
            entries = _through(entries, until)
        for seq, t, run, event in entries:  # apply(), inlined: this is replay's hot loop
            state.seq, state.t = seq, t
            if not state.run:
                state.run = run
            handlers[type(event)](state, event, t)
    return state


_json = cattrs.Converter()


def state_to_json(state: RunState) -> dict[str, Any]:
    """The state as plain JSON data (for ``replay --json`` and the web view)."""
    data = _json.unstructure(attrs.evolve(state, agents={}))
    data.pop("plan_parts", None)
    data["agents"] = {key: agent_to_json(agent) for key, agent in state.agents.items()}
    data["processes"] = {str(k): v for k, v in data["processes"].items()}
    return data


def agent_to_json(agent: AgentView) -> dict[str, Any]:
    """One agent as plain JSON data (as in :func:`state_to_json`)."""
    data = _json.unstructure(agent)
    data.pop("open_calls", None)
    return data
