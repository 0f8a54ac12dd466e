"""What a run recorded for each agent, and the cursors that feed it back.

A :class:`Recording` is built from a log, one entry at a time: per agent *attempt* (an agent id
and its ``attempt`` number) the model responses by turn, the tool results by call id, the calls
that were requested, and the acceptance results. A :class:`Cursor` hands one attempt's record
back to its restarted agent, which asks it before each model call, tool call and acceptance
check. Two modes:

* **resume** (``agenttree resume``): the model, tools and checks are all fed from the
  record. The first request the record cannot answer puts the agent *live*, for good: from
  then on it calls the model and runs tools as usual (``on_live`` is told once).
* **strict** (``agenttree run --replay-from``): only the model is fed; tools and checks run
  with today's code. A model turn the record does not have is a divergence (``on_diverge``).

The record also decides whether the agent takes another turn (:meth:`Cursor.more_turns`) and
whether a turn was its watchdog's (:meth:`Cursor.is_watchdog`): when the agent ran, those
depended on when news arrived and how its children were doing; on replay the record says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import attrs
import trio

from .. import events as ev
from ..models.base import ModelError, ModelResponse, ToolCall, Usage
from ..plan import Task
from ..sandbox.procs import CommandResult
from .approvals import Decision

RERUN = frozenset({"finish"})
"""Tools whose only effect is on the agent's own memory: replay runs them again (their result
is recorded too), so the restarted agent knows it called them."""


@attrs.define
class AgentRecord:
    """One agent attempt as the log recorded it."""

    models: dict[int, ev.ModelResponded] = attrs.Factory(dict)
    """By turn: the response as logged (:func:`recorded_response` makes it a
    :class:`ModelResponse` when it is replayed: most records never are)."""
    tools: dict[str, tuple[bool, str]] = attrs.Factory(dict)
    requested: set[str] = attrs.Factory(set)
    approvals: dict[str, Decision] = attrs.Factory(dict)
    """By call id: what a person (or the timeout) decided."""
    checks: dict[tuple[int, int], tuple[bool, int | None, str]] = attrs.Factory(dict)
    watchdog_turns: set[int] = attrs.Factory(set)
    """Turns the agent's watchdog gave it."""
    last_turn: int = 0
    last_turn_seq: int = 0
    """The seq of the last recorded model response (news after it was never seen)."""


class Recording:
    """Per-attempt records of a log; feed it every entry in order with :meth:`add`."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, int], AgentRecord] = {}
        self.finished_seq: dict[str, int] = {}
        """Each agent's last ``agent/finished`` seq."""
        self.last_token = 0
        """The highest fencing token the log shows."""
        self.spawned: dict[str, dict[str, Any]] = {}
        """Each agent on a task spawned at run time: its task as the spawn call gave it."""
        self._spawning: dict[str, dict[str, Any]] = {}
        """A ``spawn`` call in progress, by the calling agent: its arguments."""
        self._current: dict[str, AgentRecord] = {}
        self._adders: dict[type[ev.Event], Callable[[Any, int], None]] = {
            ev.AgentSpawned: self._spawned, ev.ModelRequested: self._asked,
            ev.ModelResponded: self._responded,
            ev.ToolRequested: self._requested, ev.ToolResult: self._result,
            ev.AcceptanceResult: self._checked, ev.AgentFinished: self._finished,
            ev.LockAcquired: self._locked, ev.ToolApproved: self._decided,
            ev.ToolDenied: self._decided,
        }

    def add(self, entry: ev.Entry) -> None:
        """Take one log entry into the record."""
        adder = self._adders.get(type(entry.event))
        if adder is not None:
            adder(entry.event, entry.seq)

    def get(self, agent: str, attempt: int) -> AgentRecord | None:
        """The record of one attempt of an agent, if the log has it."""
        return self.records.get((agent, attempt))

    def _record(self, agent: str) -> AgentRecord:
        record = self._current.get(agent)
        if record is None:  # an event before its agent's spawn: keep it apart
            record = self._current[agent] = AgentRecord()
        return record

    def _spawned(self, e: ev.AgentSpawned, seq: int) -> None:
        record = self.records[(e.agent, e.attempt)] = AgentRecord()
        self._current[e.agent] = record
        if e.spawn is not None:
            self.spawned[e.agent] = e.spawn
        elif e.dynamic and e.parent in self._spawning:
            # A log from before agent/spawned carried the task: a spawned child's agent/spawned
            # comes while its parent's spawn call runs, whose arguments give the task.
            self.spawned[e.agent] = self._spawning[e.parent]

    def _asked(self, e: ev.ModelRequested, seq: int) -> None:
        if e.watchdog:
            self._record(e.agent).watchdog_turns.add(e.turn)

    def _responded(self, e: ev.ModelResponded, seq: int) -> None:
        record = self._record(e.agent)
        record.models[e.turn] = e
        if e.turn > record.last_turn:
            record.last_turn, record.last_turn_seq = e.turn, seq

    def _requested(self, e: ev.ToolRequested, seq: int) -> None:
        self._record(e.agent).requested.add(e.call)
        if e.tool == "spawn":
            self._spawning[e.agent] = e.args

    def _result(self, e: ev.ToolResult, seq: int) -> None:
        self._record(e.agent).tools[e.call] = (e.ok, e.output)
        if e.tool == "spawn":
            self._spawning.pop(e.agent, None)

    def _decided(self, e: ev.ToolApproved | ev.ToolDenied, seq: int) -> None:
        self._record(e.agent).approvals[e.call] = Decision(
            approved=isinstance(e, ev.ToolApproved),
            reason=e.reason if isinstance(e, ev.ToolDenied) else "")

    def _checked(self, e: ev.AcceptanceResult, seq: int) -> None:
        checks = self._record(e.agent).checks
        index = sum(1 for attempt, _ in checks if attempt == e.attempt)
        checks[(e.attempt, index)] = (e.ok, e.exit_code, e.output)

    def _finished(self, e: ev.AgentFinished, seq: int) -> None:
        self.finished_seq[e.agent] = seq

    def _locked(self, e: ev.LockAcquired, seq: int) -> None:
        self.last_token = max(self.last_token, e.token)


def recorded_response(e: ev.ModelResponded) -> ModelResponse:
    """The model's answer a ``model/responded`` logged."""
    usage = e.usage
    return ModelResponse(
        text=e.text,
        calls=tuple(ToolCall(id=c["id"], tool=c["tool"], args=c.get("args") or {})
                    for c in e.calls),
        usage=Usage(prompt=int(usage.get("prompt", 0)),
                    completion=int(usage.get("completion", 0)),
                    estimated=bool(usage.get("estimated", False))))


class Source(Protocol):
    """Where an agent's model answers, tool results and check results come from: a recording
    (:class:`Cursor`), or nowhere (:data:`LIVE`: every answer is live). The agent asks it the
    same way either way, before each model call, tool call and check; ``None`` means: do it
    live. Only a source knows whether it replays."""

    live: bool
    strict: bool
    holds_locks: bool
    """Whether the agent held locks as the recording ends (a resume)."""

    @property
    def quiet(self) -> bool:
        """Whether the agent's turn events stay out of the log (a resume replays what the log
        holds already): the agent does not build them."""
        ...

    def restore_children(self, agent: Any, children: list[Task]) -> Any: ...
    def go_live(self) -> None: ...
    async def model(self, agent: str, turn: int) -> ModelResponse | None: ...
    def is_watchdog(self, turn: int) -> bool: ...
    def tool(self, call: ToolCall) -> tuple[bool, str] | None: ...
    def uncertain(self, call_id: str) -> bool: ...
    def approval(self, call_id: str) -> Decision | None: ...
    def check(self, attempt: int) -> CommandResult | None: ...
    def more_turns(self, turn: int) -> bool | None: ...


class Live:
    """The source of an agent that replays nothing: every answer is live."""

    live = True
    strict = False
    holds_locks = False
    quiet = False

    def restore_children(self, agent: Any, children: list[Task]) -> None:
        """Nothing to restore: the plan's children start afresh."""
        return None

    def go_live(self) -> None:
        """Live already."""

    async def model(self, agent: str, turn: int) -> None:
        """Ask the model."""
        return None

    def is_watchdog(self, turn: int) -> bool:
        """The watchdog decides, live."""
        return False

    def tool(self, call: ToolCall) -> None:
        """Run the tool."""
        return None

    def uncertain(self, call_id: str) -> bool:
        """No call ran before."""
        return False

    def approval(self, call_id: str) -> None:
        """Ask a person."""
        return None

    def check(self, attempt: int) -> None:
        """Run the command."""
        return None

    def more_turns(self, turn: int) -> None:
        """The agent decides as usual."""
        return None


LIVE = Live()


class ReplayDiverged(ModelError):
    """Regression replay: today's code asked for something the recording does not have."""


class Cursor:
    """Feeds one agent attempt its recorded results (see the module docstring).

    Args:
        record: what the log holds for the attempt (``None``: nothing).
        strict: regression replay rather than resume.
        on_live: resume: called once, when the agent goes live.
        on_diverge: strict: called with a report when the agent asks for an unrecorded turn.
    """

    def __init__(self, record: AgentRecord | None, *, strict: bool = False,
                 on_live: Callable[[], None] | None = None,
                 on_diverge: Callable[[str], None] | None = None,
                 restore: Callable[[Any, list[Task]], Any] | None = None,
                 holds_locks: bool = False) -> None:
        self.record = record if record is not None else AgentRecord()
        self.strict = strict
        self.holds_locks = holds_locks
        self.live = False
        self._on_live = on_live
        self._on_diverge = on_diverge
        self._restore = restore
        self._checks_taken: dict[int, int] = {}

    @property
    def quiet(self) -> bool:
        """Resume, until live: the log has the agent's events (the engine's replayer keeps them
        out of it too, :meth:`~agenttree.runtime.resume.Restorer.admits`)."""
        return not self.live and not self.strict

    def restore_children(self, agent: Any, children: list[Task]) -> Any:
        """Resume: the agent's children as the log left them (a
        :class:`~agenttree.runtime.agent.RestoredChildren` the agent takes back itself);
        ``None``: start the plan's children afresh."""
        return None if self._restore is None else self._restore(agent, children)

    def go_live(self) -> None:
        """Resume: stop replaying (the agent's own events are logged again from here on)."""
        if not self.live and not self.strict:
            self.live = True
            if self._on_live is not None:
                self._on_live()

    async def model(self, agent: str, turn: int) -> ModelResponse | None:
        """The recorded response for ``turn``; ``None`` means: ask the model (live).

        Strict mode takes as long as the model took (the timing of a turn can matter to the
        tools that run after it). Resume returns at once, *without a checkpoint*: a restarted
        agent replays to its live point in one step, before any other task hears from it.
        """
        if self.live:
            return None
        found = self.record.models.get(turn)
        if found is not None:
            if self.strict:
                await trio.sleep(found.latency_ms / 1000)
            return recorded_response(found)
        if self.strict:
            report = (f"{agent} asked the model for turn {turn}; the recording has "
                      f"{self.record.last_turn} turn(s) for it")
            if self._on_diverge is not None:
                self._on_diverge(report)
            raise ReplayDiverged(report)
        self.go_live()
        return None

    def is_watchdog(self, turn: int) -> bool:
        """Whether the record's ``turn`` was a watchdog turn (never, once live)."""
        return not self.live and turn in self.record.watchdog_turns

    def tool(self, call: ToolCall) -> tuple[bool, str] | None:
        """Resume: the recorded result of a call; ``None`` means: run the tool."""
        if self.live or self.strict or call.tool in RERUN:
            return None
        found = self.record.tools.get(call.id)
        if found is None:
            self.go_live()
        return found

    def uncertain(self, call_id: str) -> bool:
        """Whether a call was requested before the crash but has no recorded result (so the
        tool that runs now may be running for the second time)."""
        return (not self.strict and call_id in self.record.requested
                and call_id not in self.record.tools)

    def approval(self, call_id: str) -> Decision | None:
        """The decision the log recorded for a call that asked for approval (also once live:
        the call the engine died in may have been decided); ``None``: ask a person."""
        return self.record.approvals.get(call_id)

    def check(self, attempt: int) -> CommandResult | None:
        """Resume: the recorded result of the agent's next acceptance command of ``attempt``;
        ``None`` means: run it."""
        if self.live or self.strict:
            return None
        index = self._checks_taken.get(attempt, 0)
        found = self.record.checks.get((attempt, index))
        if found is None:
            self.go_live()
            return None
        self._checks_taken[attempt] = index + 1
        _, exit_code, output = found
        return CommandResult(exit_code=exit_code, output=output, truncated=False,
                             timed_out=exit_code is None, duration_s=0.0, pgid=0,
                             sandboxed=False)

    def more_turns(self, turn: int) -> bool | None:
        """After a turn without tool calls: ``True`` when the record has a later turn (take it
        now), ``False`` when it has none but the agent must not go live yet (strict, or
        acceptance results still to replay), ``None`` when the agent is live and decides as
        usual."""
        if self.live:
            return None
        if self.record.last_turn > turn:
            return True
        if self.strict or sum(self._checks_taken.values()) < len(self.record.checks):
            return False  # no more turns; (resume) acceptance results are still to replay
        self.go_live()
        return None
