"""An agent: one task of the plan, run as a Trio task inside its parent's nursery.

Life of an agent (see docs/architecture.md):

1. ``agent/spawned``; the plan's children start in a nursery the agent owns (opened only when it
   has children or may spawn them), each with a policy and budget narrowed from its own.
2. The conversation: ask the model, run the tool calls it returns, until it answers without
   calls (or calls ``finish``). Between turns the inbox is drained into the transcript.
3. When it is done talking but children still run, it sleeps on its inbox: woken by a child's
   message or end, or by the watchdog (``:watchdog-s``): when no child made progress since the
   last tick, the model gets a turn with a digest of its running children. News that arrives
   goes back to the model.
4. Acceptance commands; on failure the output goes back to the model, within ``:retries``.
5. ``agent/finished`` with ``done``, ``failed``, ``cancelled`` or ``budget-exhausted``; cleanup
   (synchronous, so nothing can cancel or delay it) leaves the router, releases its locks,
   returns the unspent budget to the parent and wakes it.

Cancelling an agent cancels its scope, hence its whole subtree.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .. import events as ev
from ..budget import PER_AGENT, POOLED, BudgetExhausted, Meter
from ..errors import AgentTreeError, ToolError
from ..models.base import ModelClient, ModelError, ModelRequest, ModelResponse, Retry, ToolCall
from ..plan import TOOL_CHOICES, ModelSettings, Task, is_scripted
from ..policy import offered_tools
from ..prompt import imposed
from ..tool_names import wire_name
from ..tools.agents import spawn_record
from ..tools.base import check_args
from . import grants
from .context_window import ContextWindow
from .grants import Grant
from .inbox import Inbox
from .recording import LIVE, Source
from .records import AgentSpec, ChildDone, Outcome, RestoredChildren
from .router import parent_of
from .tasks import Respawn
from .watchdog import digest_text, last_progress, survey

if TYPE_CHECKING:
    from .engine import Engine

INBOX_SIZE = 256
"""Mail that may wait in an agent's inbox beyond one item for each running child
(:class:`~agenttree.runtime.inbox.Inbox`)."""
NEWS_LINES = 50
"""At most this many news lines go to the model at once; the rest are counted."""
EMPTY_NUDGE = ("Your last answer was empty: no text and no tool call. Call one of your tools "
               "to go on, or answer in text (or call finish) when the task is done.")
"""Sent back to a model whose answer was empty; a second empty answer in a row fails the
agent (an empty answer is never taken as a final one)."""

ONE_CALL: dict[str, float] = {"tool_calls": 1}
"""What a live tool call is charged, as its ``tool/requested`` carries it (one dict for every
call: never changed)."""


@functools.lru_cache(maxsize=1024)
def _offered_tools(tools: frozenset[str], has_parent: bool, may_have_children: bool,
                   locks_required: bool, has_saved_outputs: bool) -> frozenset[str]:
    """:func:`~agenttree.policy.offered_tools`, shared: the agents of a wide tree hold one set
    (and look up its schemas by a hash computed once)."""
    return offered_tools(tools, has_parent=has_parent, may_have_children=may_have_children,
                         locks_required=locks_required, has_saved_outputs=has_saved_outputs)


@functools.lru_cache(maxsize=1024)
def _policy_names(models: tuple[str, ...], tools: frozenset[str]) -> tuple[list[str], list[str]]:
    """A policy's models and its tools, sorted, as ``agent/spawned`` logs them: one pair of
    lists for all the agents of a policy, which the event and the folded state share (neither
    is ever changed: a grant's fold puts new lists in their place)."""
    return list(models), sorted(tools)


class Agent:
    """A running agent, opened and run by its parent (the engine, for the root).

    Tools receive it as their context.
    """

    __slots__ = (
        "_next_child",
        "call_ids",
        "cancel_reason",
        "child_tasks",
        "ended",
        "ending",
        "engine",
        "id",
        "inbox",
        "meter",
        "model",
        "model_name",
        "nursery",
        "parent",
        "policy",
        "progressed",
        "prompt_logged",
        "result",
        "scope",
        "source",
        "spec",
        "task",
        "transcript",
        "turn",
        "uses_locks",
        "watchdog_turns",
        "window",
    )

    def __init__(self, engine: Engine, spec: AgentSpec) -> None:
        self.engine = engine
        self.spec = spec
        self.id = spec.id
        self.task = spec.task
        self.parent = parent_of(spec.id)
        self.meter = Meter(spec.budget)
        self.policy = spec.policy  # widened only by an ancestor's grant
        self.model_name = spec.model
        self.model: ModelClient | None = None
        self.inbox = Inbox(INBOX_SIZE, senders=self.meter)  # room for each running child's news
        self.scope: trio.CancelScope | None = None
        self.nursery: trio.Nursery | None = None
        self.ended: dict[str, ChildDone] = {}
        self.child_tasks: dict[str, Task] = {}
        self.transcript: list[dict[str, Any]] = []
        self.result: str | None = None
        self.cancel_reason: str | None = None
        self.turn = 0
        self.watchdog_turns = 0
        """How many of :attr:`turn` were watchdog turns (a scripted model skips them)."""
        self.progressed = trio.current_time()
        """When this agent last made progress (a model answer, a tool result, a check)."""
        self.uses_locks = False
        self.ending = False
        self._next_child = 1
        self.call_ids: set[str] | None = None
        """The ids of this attempt's calls so far (:meth:`_unique_ids`; made with the first)."""
        self.prompt_logged = False
        """Whether a ``model/requested`` carried the system prompt (the first one written
        does: after a resume, the first after the replayed turns)."""
        self.window = ContextWindow(self.id, engine.outputs, engine.emit)
        cursor = None if engine.replayer is None else engine.replayer.cursor(self)
        self.source: Source = LIVE if cursor is None else cursor
        if self.source.holds_locks:
            self.uses_locks = True  # a resumed agent that held locks when the engine died
        """Where model answers, tool and check results come from: live, or recorded (a
        resume, a regression replay)."""

    @property
    def running(self) -> Mapping[str, Mapping[str, float]]:
        """The running children's envelopes by agent id (kept by the meter)."""
        return self.meter.children

    # --- the life ------------------------------------------------------------------------

    def open(self) -> None:
        """Make the agent reachable and log ``agent/spawned`` (in the parent's task, so the
        log's order of siblings is the plan's and a message sent right after a spawn arrives).
        """
        engine, spec = self.engine, self.spec
        engine.router.register(self.id, self.inbox)
        engine.book.opened(self)
        models, tools = _policy_names(spec.policy.models, spec.policy.tools)
        engine.emit(ev.AgentSpawned(
            agent=self.id, parent=self.parent, task=self.task.id, goal=self.task.goal,
            depth=spec.depth, model=spec.model, models=models, tools=tools,
            budget=dict(spec.budget), cwd=self.task.cwd,
            dynamic=spec.dynamic, attempt=spec.attempt,
            spawn=spawn_record(self.task) if spec.dynamic or self.task.id not in engine.places
            else None))

    async def run(self) -> str:
        """Run the opened agent to its end; returns its final status. Only cancellation
        escapes."""
        spec = self.spec
        outcome: Outcome | None = None
        try:
            with trio.CancelScope(deadline=spec.deadline) as scope:
                self.scope = scope
                if self.cancel_reason is not None:  # cancelled between open() and now
                    scope.cancel()
                # (A leaf runs its work directly: a coroutine frame less per agent.)
                outcome = await (self._live() if self.needs_nursery else self._work())
            if scope.cancelled_caught:
                outcome = self._why_cancelled(scope)
        finally:
            if outcome is None:
                outcome = Outcome(status="cancelled",
                                  reason=self.cancel_reason or "an ancestor was cancelled")
            self._end(outcome)  # a plain call: it cannot block or be cancelled
        return outcome.status

    def _why_cancelled(self, scope: trio.CancelScope) -> Outcome:
        if self.cancel_reason is None and trio.current_time() >= scope.deadline:
            limit = self.spec.budget.get("wall_s") or 0
            self.engine.emit(ev.BudgetExhausted(agent=self.id, kind="wall_s", used=limit,
                                                limit=limit))
            return Outcome(status="budget-exhausted",
                           reason="wall_s budget exhausted (deadline passed)")
        return Outcome(status="cancelled", reason=self.cancel_reason or "cancelled")

    @property
    def needs_nursery(self) -> bool:
        """An agent opens a nursery only when it has children or may spawn them."""
        return bool(self.task.children) or "spawn" in self.policy.tools

    async def _live(self) -> Outcome:
        """The work of an agent that has (or may start) children, in the nursery they run in."""
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            try:
                # Tasks done in an earlier attempt stay done (a reopened parent, a resume).
                children = [c for c in self.task.children
                            if not self.engine.book.settled(c.id)]
                restored = self.source.restore_children(self, children)
                if restored is not None:  # a resume: children as the log left them
                    children = self._take_back(restored)
                for i, child in enumerate(children):
                    # Equal shares: child i gets remaining / (children left + the parent's own).
                    self.start_child(child, share=len(children) - i + 1)
                outcome = await self._work()
            finally:
                # From here on the nursery only drains (it may close before this task runs
                # again): a reconcile must not start children in it.
                self.ending = True
            if self.running:
                self._cancel_children(f"parent {self.id} ended {outcome.status}")
        return outcome

    async def _work(self) -> Outcome:
        """The conversation and its acceptance checks, to the agent's outcome. A budget that
        runs out, a model's or agenttree's error, and a bug (which must end this agent, not the
        whole tree) each end it with an outcome of their own. (One method, not a guard around
        a worker: a coroutine frame less for each of thousands of agents.)"""
        try:
            self.model = self.engine.model_for(self)
            first = self.task.goal or f"Carry out task {self.task.id}."
            if self.spec.note:
                first += "\n\n" + self.spec.note
            self.transcript = [{"role": "system",
                                "content": self.engine.system_prompt(self, self._offered())},
                               {"role": "user", "content": first}]
            attempt = 1
            while True:
                final = await self._converse()
                if not self.task.acceptance:
                    return Outcome(status="done", result=final)
                ok, report = await self._accept(attempt)
                while ok and self.running:  # a child was added (reconcile) while checks ran
                    self._take_news(await self._wait_children())
                    ok, report = await self._accept(attempt)
                if ok:
                    return Outcome(status="done", result=final)
                left = self.meter.remaining("retries")
                if left is not None and left < 1:
                    used = self.meter.used.get("retries", 0)
                    self.engine.emit(ev.BudgetExhausted(agent=self.id, kind="retries", used=used,
                                                        limit=self.meter.limits["retries"]))
                    return Outcome(status="failed", result=final,
                                   reason=f"acceptance failed, no retries left: {report}")
                self.charge("retries", 1)
                attempt += 1
                self.result = None
                self.transcript.append({"role": "user", "content": "Acceptance checks failed:\n"
                                        f"{report}\nFix this, then finish."})
        except BudgetExhausted as exc:
            self.engine.emit(ev.BudgetExhausted(agent=self.id, kind=exc.kind, used=exc.used,
                                                limit=exc.limit))
            return Outcome(status="budget-exhausted", reason=str(exc), result=self.result or "")
        except (ModelError, AgentTreeError) as exc:
            return Outcome(status="failed", reason=str(exc))
        except Exception as exc:  # a bug must end this agent, not the whole tree
            self.engine.report_crash(self.id, traceback.format_exc())
            return Outcome(status="failed", reason=f"internal error: {exc!r}")

    async def _converse(self) -> str:
        """Model turns until a final answer, then wait for children (more turns if news came).

        An empty answer (no text, no tool call) is not a final one: the model is nudged once;
        a second empty answer in a row fails the agent.
        """
        nudged = False
        while True:
            self._take_news(self._drain())
            response = await self._ask_model()
            if not response.calls and not response.text.strip():
                if nudged:
                    raise ModelError(f"{self.model_name}: answered with nothing (no text, no "
                                     "tool call) twice in a row")
                nudged = True
                self.set_status("nudged", "the model's answer was empty; asked again")
                self.transcript.append({"role": "user", "content": EMPTY_NUDGE})
                continue
            nudged = False
            if response.calls:
                await self._run_calls(response.calls)
                if self.result is None:
                    continue
                final, finished = self.result, True
            else:
                final, finished = response.text, False
            # Replaying, the recording, not the timing of news, says whether another turn came.
            planned = None if finished else self.source.more_turns(self.turn)
            if planned and not self.source.strict:
                continue  # a resume replays to its live point without waiting
            news = await self._wait_children()
            self._take_news(news)
            if planned or (news and not finished and planned is None):
                continue
            return final

    # --- the model and tools ---------------------------------------------------------------

    def charge(self, kind: str, amount: float) -> None:
        """Spend from this agent's budget, logged."""
        used = self.meter.charge(kind, amount)
        if not self.source.quiet:
            self.engine.emit(ev.BudgetCharged(agent=self.id, kind=kind, amount=amount,
                                              used=used, limit=self.meter.limits.get(kind)))

    def model_retry(self, retry: Retry) -> None:
        """The model client is about to retry: charge it to ``retries`` and log it."""
        self.charge("retries", 1)
        self.engine.emit(ev.ModelRetry(agent=self.id, turn=self.turn, attempt=retry.attempt,
                                       reason=retry.reason, delay_s=round(retry.delay_s, 3)))

    def model_delta(self, text: str) -> None:
        """Streamed model text, for views that show an agent typing."""
        self.engine.emit(ev.ModelDelta(agent=self.id, turn=self.turn, text=text))

    def heartbeat(self) -> None:
        """Renew this agent's locks: called whenever it makes progress (a stuck agent stops
        renewing, and its locks expire after their TTL)."""
        if self.uses_locks:
            self.engine.locks.heartbeat_nowait(self.id)

    @property
    def watchdog_s(self) -> float:
        """How often a waiting parent checks on its children (``:watchdog-s``: the task's,
        else its tier's, else 30 s; a reconcile's new value applies at once)."""
        return self.engine.plan.watchdog_s(self.task, self.spec.depth)

    @property
    def output_cap(self) -> int:
        """Characters of one tool output this agent's transcript takes (``:tool-output-chars``,
        see :class:`~agenttree.plan.ModelSettings`)."""
        return self.model_settings().output_cap

    def model_settings(self) -> ModelSettings:
        """The engine's :meth:`~agenttree.runtime.engine.Engine.model_settings_for` this agent
        (as the plan, the task and the model are now)."""
        return self.engine.model_settings_for(self)

    def _offered(self) -> frozenset[str]:
        """The tools whose schemas this agent is sent (:func:`~agenttree.policy.offered_tools`)."""
        return _offered_tools(self.policy.tools, self.parent is not None, self.needs_nursery,
                              self.engine.plan.locks.mode == "required", self.window.has_saved)

    @property
    def tick_s(self) -> float:
        """How long a waiting agent sleeps at most: its watchdog interval, and shorter than
        any lock TTL while it holds locks (each wake-up renews them)."""
        if self.uses_locks:
            return min(self.watchdog_s, self.engine.plan.locks.ttl_ms / 3000)
        return self.watchdog_s

    async def _ask_model(self, *, watchdog: bool = False) -> ModelResponse:
        """One model turn: the request logged, the answer (live, or recorded) charged, logged
        and added to the transcript. The work before and after the call is done in plain
        methods: an agent waiting on its model holds this frame's few locals, not theirs."""
        assert self.model is not None
        watchdog, earlier_watchdog_turns = self._next_turn(watchdog)
        source = self.source
        # (Live, nothing is recorded: no coroutine made and awaited for that answer.)
        recorded = None if source.live else await source.model(self.id, self.turn)
        quiet = source.quiet  # replaying what the log holds: its events are not built
        request = self._request(watchdog, earlier_watchdog_turns, quiet=quiet)
        started = trio.current_time()
        # Tools named as plans and logs name them (models see wire names; a recorded response
        # was logged so named).
        response = recorded or self._plan_named(
            self._unique_ids(await self.model.complete(request)))
        self._take_answer(request, response, started, quiet=quiet)
        return response

    def _next_turn(self, watchdog: bool) -> tuple[bool, int]:
        """Count a new turn (tokens must be left for it); returns whether it is a watchdog
        turn and how many of the earlier turns were."""
        self.heartbeat()
        self.meter.check("tokens", 1)
        self.turn += 1
        earlier_watchdog_turns = self.watchdog_turns
        if self.source.is_watchdog(self.turn):
            watchdog = True  # the recording says this turn was one, whoever asks for it now
        if watchdog:
            self.watchdog_turns += 1
        return watchdog, earlier_watchdog_turns

    def _request(self, watchdog: bool, earlier_watchdog_turns: int, *,
                 quiet: bool) -> ModelRequest:
        """The turn's request, the transcript fitted to the window; ``model/requested`` logged
        unless ``quiet``."""
        assert self.model is not None
        offered = self._offered()
        tools = self.engine.tool_schemas(offered)
        settings = self.model_settings()
        self.transcript = self.window.fit(self.transcript, tools, settings, turn=self.turn,
                                          model=self.model.name)
        request = ModelRequest(agent=self.id, turn=self.turn, messages=self.transcript,
                               tools=tools, settings=settings,
                               tool_choice=self._tool_choice(tools), watchdog=watchdog,
                               watchdog_turns=earlier_watchdog_turns)
        if not quiet and self.engine.emit(ev.ModelRequested(
                agent=self.id, model=self.model.name, turn=self.turn,
                messages=len(self.transcript), watchdog=watchdog,
                params=self.model.params(request),
                tools=self.engine.tool_schema_names(offered),
                system_prompt=None if self.prompt_logged else self.transcript[0]["content"])):
            self.prompt_logged = True  # written (a resume's replayed turns are not)
        return request

    def _take_answer(self, request: ModelRequest, response: ModelResponse, started: float, *,
                     quiet: bool) -> None:
        """Charge the answer, log ``model/responded`` (unless ``quiet``) and add it to the
        transcript. Raises :class:`BudgetExhausted` when it went over a limit."""
        assert self.model is not None
        if response.calls:
            if self.call_ids is None:
                self.call_ids = set()
            self.call_ids.update(c.id for c in response.calls)
        self.progressed = trio.current_time()
        self.window.observe(request, response.usage)
        calls = [{"id": c.id, "tool": c.tool, "args": c.args} for c in response.calls]
        usage = response.usage
        # The answer's charges ride on its model/responded (no budget/charged of their own).
        charged: dict[str, float] = {"tokens": usage.total}
        cost = self.engine.cost_of(self.model.name, usage.prompt, usage.completion)
        if cost:
            charged["cost"] = round(cost, 9)
        meter = self.meter
        for kind, amount in charged.items():
            meter.charge(kind, amount)
        if not quiet:
            self.engine.emit(ev.ModelResponded(
                agent=self.id, model=self.model.name, turn=self.turn, text=response.text,
                calls=calls, usage={"prompt": usage.prompt, "completion": usage.completion,
                                    "estimated": usage.estimated},
                latency_ms=round((trio.current_time() - started) * 1000, 3), charged=charged))
        message: dict[str, Any] = {"role": "assistant", "content": response.text}
        if calls:
            message["tool_calls"] = [{**c, "tool": wire_name(c["tool"])} for c in calls]
        self.transcript.append(message)
        for kind in ("tokens", "cost"):
            if meter.over(kind):
                raise BudgetExhausted(kind, meter.used[kind], meter.limits[kind])

    def _plan_named(self, response: ModelResponse) -> ModelResponse:
        """``response`` with its calls' tools named as plans name them (the same object when
        they are already: any call but an MCP tool's)."""
        named = [self.engine.plan_tool_name(c.tool) for c in response.calls]
        if all(name == c.tool for name, c in zip(named, response.calls, strict=True)):
            return response
        return attrs.evolve(response, calls=tuple(
            attrs.evolve(c, tool=name) for c, name in zip(response.calls, named, strict=True)))

    def _unique_ids(self, response: ModelResponse) -> ModelResponse:
        """``response`` with call ids unique within the run, as they are logged and addressed
        (``agenttree approve RUN_DIR CALL``): a later attempt of the task, whose model numbers
        its calls from turn 1 again, marks its ids with the attempt (``root.lib#1.0@2``), and an
        id the model gave before in this attempt gets a ``~n`` suffix."""
        seen = self.call_ids or ()
        if self.spec.attempt == 1:  # the common case, checked at once: every id new and its own
            ids = {c.id for c in response.calls}
            if len(ids) == len(response.calls) and ids.isdisjoint(seen):
                return response
        calls = []
        for call in response.calls:
            base = call.id if self.spec.attempt == 1 else f"{call.id}@{self.spec.attempt}"
            unique, n = base, 1
            while unique in seen or any(c.id == unique for c in calls):
                n += 1
                unique = f"{base}~{n}"
            calls.append(call if unique == call.id else attrs.evolve(call, id=unique))
        return attrs.evolve(response, calls=tuple(calls))

    def _tool_choice(self, tools: list[dict[str, Any]]) -> str | None:
        """The task's (else its tier's) ``:tool-choice`` for this turn: a named tool is forced
        on the first turn only, then ``auto`` (so the agent can still finish); not sent for a
        tool the agent is not offered."""
        choice = self.task.tool_choice or self.engine.plan.tier_for(self.spec.depth).tool_choice
        if choice is None or choice in TOOL_CHOICES:
            return choice
        if not any(t["function"]["name"] == wire_name(choice) for t in tools):
            return None
        return wire_name(choice) if self.turn == 1 else "auto"

    async def _run_calls(self, calls: tuple[ToolCall, ...]) -> None:
        for call in calls:
            if self.result is not None:
                output, ok = "skipped: the agent already called finish", False
            else:
                self.heartbeat()
                # A call the crashed engine had started (and charged, in the log) runs again
                # without a second charge: however often a run is resumed, a call costs once.
                uncertain = self.source.uncertain(call.id)
                if not uncertain:
                    self.meter.check("tool_calls", 1)
                recorded = self.source.tool(call)
                if not uncertain:
                    self.meter.charge("tool_calls", 1)
                if not self.source.quiet:  # (a replayed call's events are in the log)
                    self.engine.emit(ev.ToolRequested(
                        agent=self.id, call=call.id, tool=call.tool, args=call.args,
                        charged=None if uncertain else ONE_CALL))
                started = trio.current_time()
                ok, output = recorded or await self._run_tool(call)
                self.progressed = trio.current_time()
                if not self.source.quiet:
                    self.engine.emit(ev.ToolResult(
                        agent=self.id, call=call.id, tool=call.tool, ok=ok, output=output,
                        duration_ms=round((self.progressed - started) * 1000, 3),
                        replayed_uncertain=uncertain))
            self.transcript.append(self.window.tool_message(call.id, ok, output))

    async def _run_tool(self, call: ToolCall) -> tuple[bool, str]:
        """Run a call live; a long output comes back cut, kept whole on disk."""
        tool = self.engine.tool(call.tool)
        try:
            if tool is None and self.policy.allows_tool(call.tool):
                raise ToolError(self.engine.missing_tool(call.tool))
            if tool is None or not self.policy.allows_tool(call.tool):
                raise ToolError(f"tool {call.tool!r} is not available to {self.id}; it has: "
                                f"{', '.join(sorted(self.policy.tools)) or 'none'}")
            args = check_args(tool, call.args)
            await self._approval(call)
            ok, output = True, await tool.run(self, args)
        except ToolError as exc:
            ok, output = False, str(exc)
        cap = self.output_cap
        if len(output) > cap:  # (most outputs fit: no coroutine for them)
            output = await self.window.keep_output(call.id, output, cap)
        return ok, output

    async def _approval(self, call: ToolCall) -> None:
        """Wait for a person when the call's tool needs approval (``:approve``); a recorded
        decision (a resume) stands. Raises :class:`ToolError` with the reason when denied."""
        if not self.policy.needs_approval(call.tool):
            return
        decision = self.source.approval(call.id) or await self.engine.approvals.ask(
            self.id, call, self.engine.plan.approve_timeout_s(self.task, self.spec.depth))
        self.progressed = trio.current_time()
        if not decision.approved:
            raise ToolError(f"denied: {decision.reason or 'no reason given'} ({call.tool} "
                            "calls need a person's approval here; this one was not given)")

    async def _accept(self, attempt: int) -> tuple[bool, str]:
        self.set_status("acceptance", f"attempt {attempt}")
        failures = []
        for check in self.task.acceptance:
            result = self.source.check(attempt) or await self.engine.run_command(
                self, check.cmd, timeout_s=check.timeout_s)
            ok = result.exit_code == 0
            tail = result.output[-4000:]
            self.progressed = trio.current_time()
            self.engine.emit(ev.AcceptanceResult(agent=self.id, cmd=check.cmd, ok=ok,
                                                 exit_code=result.exit_code, output=tail,
                                                 attempt=attempt))
            if not ok:
                why = "timed out" if result.timed_out else f"exit {result.exit_code}"
                failures.append((f"`{check.cmd}` ({why})", tail))
        summary = "; ".join(head for head, _ in failures)
        details = "\n".join(f"$ {head}\n{tail}" for head, tail in failures)
        return not failures, f"{summary}\n{details}" if failures else ""

    # --- inbox and children -----------------------------------------------------------------

    def set_status(self, status: str, detail: str = "") -> None:
        """Log a change of activity (shown in views)."""
        self.engine.emit(ev.AgentState(agent=self.id, status=status, detail=detail))

    def _drain(self) -> list[str]:
        news: list[str] = []
        inbox = self.inbox
        while inbox:  # (what waits in either lane: no exception raised to find it empty)
            self._handle(inbox.receive_nowait(), news)
        return news

    async def wait_for_news(self, timeout_s: float) -> list[str]:
        """Sleep on the inbox until something arrives or ``timeout_s`` passes; drain the rest.

        Returns at once when something is already buffered.
        """
        news = self._drain()
        if news:
            return news
        deadline = trio.current_time() + timeout_s
        while not news and trio.current_time() < deadline:
            with trio.move_on_at(min(deadline, trio.current_time() + self.tick_s)):
                self._handle(await self.inbox.receive(), news)
            self.heartbeat()
        news.extend(self._drain())
        return news

    async def _wait_children(self) -> list[str]:
        """Sleep on the inbox until every child has ended; returns the news that came.

        Every :attr:`watchdog_s` the watchdog looks at the children: when none of them (nor
        anyone below them) made progress since its last look, the model gets a turn with a
        digest of them (news so far included), charged like any turn; then waiting goes on.
        """
        news = self._drain()
        if not self.running:
            return news
        self.set_status("waiting", f"{len(self.running)} children running")
        looked = trio.current_time()
        while self.running:
            with trio.move_on_at(min(looked + self.watchdog_s,
                                     trio.current_time() + self.tick_s)):
                while self.running:
                    self._handle(await self.inbox.receive(), news)
                    # The rest of what waits, in this step: a scheduler pass per item would
                    # wake the senders parked on a full mail lane one at a time.
                    news.extend(self._drain())
                    self.heartbeat()
            self.heartbeat()
            now = trio.current_time()
            if self.running and now >= looked + self.watchdog_s:
                if self._watchdog_due(looked):
                    await self._watchdog_turn(news, quiet_s=now - looked)
                looked = trio.current_time()
        news.extend(self._drain())
        return news

    def _watchdog_due(self, looked: float) -> bool:
        """Whether the watchdog gives the model a turn now: live, when no child progressed
        since ``looked``; replaying, where the recording has one (the recording decides)."""
        if not self.source.live:
            return self.source.is_watchdog(self.turn + 1)
        return last_progress(self) <= looked

    async def _watchdog_turn(self, news: list[str], *, quiet_s: float) -> None:
        """A model turn about stalled children: the news so far and a digest of each."""
        self.set_status("waiting", f"watchdog: no progress from {len(self.running)} children "
                                   f"in {quiet_s:.0f}s")
        self._take_news(news)
        news.clear()
        found = survey(self, quiet_s)
        self.engine.emit(found)
        self.transcript.append({"role": "user", "content": digest_text(found)})
        response = await self._ask_model(watchdog=True)
        if response.calls:
            finished, self.result = self.result, None  # act, even after an earlier finish
            await self._run_calls(response.calls)
            if self.result is None:
                self.result = finished
        self.set_status("waiting", f"{len(self.running)} children running")

    def _handle(self, item: Any, news: list[str]) -> None:
        if isinstance(item, ev.AgentMessage):  # mail: the event the router logged
            via = f" via {item.bridge}" if item.bridge else ""
            news.append(f"[{item.kind} from {item.sender}{via}] {item.text}".rstrip())
        elif isinstance(item, ChildDone):
            self.meter.take_back(item.agent, item.lent, item.used)
            self.engine.emit(ev.BudgetRolledUp(agent=self.id, child=item.agent, used={
                kind: self.meter.used[kind] for kind in POOLED}))
            self.ended[item.agent] = item
            detail = item.reason or item.result
            news.append(f"[child {item.agent} finished {item.status}] {detail}".rstrip())
            respawn = self.engine.book.take_respawn(item.agent)
            if respawn is not None and not self.ending \
                    and self.engine.book.agent_on(respawn.task.id) is None:  # not restarted
                self._respawn(item.agent, respawn)
                news.append(f"[{item.agent} restarted: task {respawn.task.id} was reassigned]")
        elif isinstance(item, Grant):
            if item.budget:
                news.append(grants.take_budget(self.engine.emit, self.id, self.meter, item.budget,
                                               by=item.by))
            if item.models or item.tools:
                self._widen(item)
                news.append(f"[granted by {item.by}] models {list(item.models)} tools "
                            f"{list(item.tools)}; you now use {self.model_name}")

    def _respawn(self, old: str, respawn: Respawn) -> None:
        self.start_child(respawn.task, key=old.rpartition(".")[2], note=respawn.note,
                         dynamic=respawn.dynamic)

    def _widen(self, grant: Grant) -> None:
        models = tuple(dict.fromkeys((*grant.models, *self.policy.models)))
        self.policy = attrs.evolve(self.policy, models=models,
                                   tools=self.policy.tools | frozenset(grant.tools))
        if grant.models:
            was_scripted = is_scripted(self.model_name)
            self.model_name = grant.models[0]
            if self.model is not None and was_scripted and is_scripted(self.model_name):
                self.model.name = self.model_name  # the offline model keeps its script
            else:
                self.model = self.engine.model_for(self)
        self.engine.emit(ev.PolicyGranted(agent=self.id, by=grant.by,
                                          models=list(grant.models), tools=list(grant.tools),
                                          model=self.model_name))

    def _take_news(self, news: list[str]) -> None:
        if not news:
            return
        shown = news[:NEWS_LINES]
        if len(news) > NEWS_LINES:
            shown.append(f"... and {len(news) - NEWS_LINES} more")
        self.transcript.append({"role": "user", "content": "\n".join(shown)})

    def start_child(self, task: Task, *, key: str | None = None, dynamic: bool = False,
                    extra: dict[str, float] | None = None, share: int = 2,
                    note: str = "") -> str:
        """Start a child for ``task`` in this agent's nursery; returns its agent id.

        Its envelope is carved out of this agent's remaining budget: what the task or its tier
        asks for (plus ``extra``), capped by what is left; a kind it does not ask for gets
        ``remaining / share``.
        """
        if self.nursery is None:
            raise ToolError(f"{self.id} cannot start children")
        child_id = f"{self.id}.{key or task.id}"
        depth = self.spec.depth + 1
        policy = self.engine.child_policy(self.policy, task, depth)
        wanted = self.engine.budget_wanted(task, depth)
        if extra:
            for kind, amount in extra.items():
                inherited = self.meter.limits.get(kind, 0) if kind in PER_AGENT else 0
                wanted[kind] = wanted.get(kind, inherited) + amount
        envelope = self.meter.lend_to(child_id, wanted, share=share)
        wall = wanted.get("wall_s")
        deadline = self.spec.deadline
        if wall is not None:
            deadline = min(deadline, trio.current_time() + wall)
            envelope["wall_s"] = wall
        spec = AgentSpec(id=child_id, task=task, depth=depth, policy=policy,
                         model=policy.choose_model(task), budget=envelope, deadline=deadline,
                         dynamic=dynamic, attempt=self.engine.book.attempts(task.id) + 1,
                         note=note, prompts=imposed(self.spec.prompts, self.engine.plan, task,
                                                    depth))
        self._start(spec)
        return child_id

    def _start(self, spec: AgentSpec) -> None:
        assert self.nursery is not None
        self.child_tasks[spec.id] = spec.task
        child = Agent(self.engine, spec)
        child.open()
        self.nursery.start_soon(child.run, name=spec.id)

    def _take_back(self, restored: RestoredChildren) -> list[Task]:
        """A resume: take back the children the log shows (running ones start again, ended
        ones are settled); returns the plan children still to start."""
        self.child_tasks.update(restored.tasks)
        for done in restored.ended:
            self.meter.adopt(done.agent, done.lent)
            self.meter.take_back(done.agent, done.lent, done.used)
            self.ended[done.agent] = done
        for spec, envelope in restored.running:
            self.meter.adopt(spec.id, envelope)
            self._start(spec)
        return list(restored.fresh)

    def catch_up(self, used: dict[str, float], news: list[ChildDone]) -> None:
        """A resume: this agent's recording ran out. Its meter counts what the log says it
        used; the ends of children it had not yet heard of come as news."""
        self.meter.catch_up(used)
        for done in news:
            self.inbox.notify(done)

    def finish(self, result: str) -> None:
        """The ``finish`` tool: the model declared the task done with ``result``."""
        self.result = result

    def will_lock(self) -> None:
        """The agent is about to ask the lock service for a lock: from now on it renews its
        locks as it makes progress, and releases all it holds as it ends."""
        self.uses_locks = True

    def follow(self, task: Task) -> None:
        """The plan changed around this agent's task, not the task itself: keep the new
        record (its children list may differ)."""
        self.task = task

    def next_child_key(self) -> tuple[str, str]:
        """A fresh (agent id key, task id) for a dynamically spawned child."""
        while True:
            n = self._next_child
            self._next_child += 1
            task_id = f"{self.task.id}-{n}"
            if f"{self.id}.{n}" not in self.running and self.engine.book.claim(task_id):
                return str(n), task_id

    async def grant_policy(self, child_id: str, models: tuple[str, ...],
                           tools: tuple[str, ...]) -> str:
        """Give a running child models or tools out of this agent's own policy."""
        return grants.grant_policy(self, child_id, models, tools)

    async def grant(self, child_id: str, budget: dict[str, float]) -> str:
        """Give a child more budget from this agent's own; restart it if it ran out."""
        return grants.grant_budget(self, child_id, budget)

    def restart_exhausted(self, child_id: str, budget: dict[str, float]) -> None:
        """Start again a child that ran out of budget, with ``budget`` more than its task
        asks for."""
        done = self.ended.pop(child_id)
        self.start_child(self.child_tasks[child_id], key=child_id.rpartition(".")[2],
                         extra=budget, note=f"Your previous attempt ran out of budget "
                         f"({done.reason}); you have been given more. Finish the task.")

    def _cancel_children(self, reason: str) -> None:
        for child_id in list(self.running):
            child = self.engine.book.agent(child_id)
            if child is not None:
                child.cancel(reason)

    def cancel(self, reason: str) -> None:
        """Cancel this agent and its subtree (it ends ``cancelled`` with ``reason``)."""
        if self.cancel_reason is None:
            self.cancel_reason = reason
        if self.scope is not None:
            self.scope.cancel()

    def _end(self, outcome: Outcome) -> None:
        engine, status = self.engine, outcome.status
        self.source.go_live()  # a resumed agent's end is always logged
        engine.emit(ev.AgentFinished(agent=self.id, status=status, reason=outcome.reason,
                                     result=outcome.result))
        engine.router.unregister(self.id)
        waiting = engine.book.closed(self, status)
        if self.uses_locks:
            engine.locks.release_all_nowait(self.id)
        self.inbox.close()
        if self.parent is not None:  # (a parent that is ending too has gone: nobody to tell)
            engine.router.notify(self.parent, ChildDone(
                agent=self.id, status=status, reason=outcome.reason, result=outcome.result,
                lent=self.spec.budget, used=dict(self.meter.used)))
        for callback in waiting:
            callback()
