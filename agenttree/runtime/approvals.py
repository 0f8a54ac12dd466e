"""Approvals: tool calls that wait for a person (``:approve`` in a plan, docs/tools.md).

An agent whose call matches its policy's ``:approve`` patterns asks the run's
:class:`ApprovalDesk` and sleeps until someone decides: ``agenttree approve|deny`` (the control
commands), the TUI's keys, the web page's buttons, or the clock (``:approve-timeout-s``, after
which the call is denied with reason ``"timed out"``). The desk owns the table of waiting calls;
the waiting agent and the control tail each reach it through one plain operation
(:meth:`ApprovalDesk.ask`, :meth:`ApprovalDesk.decide`), both on the engine's Trio thread.

Every step is an event: ``tool/approval-requested``, then ``tool/approved`` or ``tool/denied``.
A resumed run asks again for a call the log shows still waiting, and takes a recorded decision
as it was (:meth:`~agenttree.runtime.recording.Cursor.approval`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import trio

from .. import events as ev
from ..models.base import ToolCall

TIMED_OUT = "timed out"
"""The reason of a call denied because nobody decided within ``:approve-timeout-s``."""


@attrs.frozen(kw_only=True)
class Decision:
    """What became of a call that asked for approval."""

    approved: bool
    reason: str = ""


class ApprovalRefused(Exception):
    """A decision that cannot be taken (no such waiting call, or decided already); the message
    says which, in one line."""


@attrs.define
class _Waiting:
    agent: str
    tool: str
    decided: trio.Event = attrs.Factory(trio.Event)
    decision: Decision | None = None


class ApprovalDesk:
    """The calls of a run that wait for a person, by call id.

    Args:
        emit: the run's ``emit``.
        history: the state of approvals as the log has them (``RunState.approvals``), to tell
            a call decided already from one the run never asked about.
    """

    def __init__(self, emit: Callable[[ev.Event], int],
                 history: Callable[[str], dict[str, object] | None]) -> None:
        self._emit = emit
        self._history = history
        self._waiting: dict[str, _Waiting] = {}
        self._decided: dict[str, str] = {}
        """How calls decided by this engine went (the fold of the log may lag behind)."""

    async def ask(self, agent: str, call: ToolCall, timeout_s: float | None) -> Decision:
        """Log the request and wait for a decision; after ``timeout_s`` (``None``: never) the
        call is denied with reason :data:`TIMED_OUT`. On cancel (the agent is cancelled, the
        run stops) the call stops waiting and nothing more is logged for it."""
        waiting = self._waiting[call.id] = _Waiting(agent=agent, tool=call.tool)
        self._emit(ev.ApprovalRequested(agent=agent, call=call.id, tool=call.tool,
                                        args=call.args, timeout_s=timeout_s))
        try:
            with trio.move_on_after(math.inf if timeout_s is None else timeout_s):
                await waiting.decided.wait()
        finally:
            del self._waiting[call.id]
        if waiting.decision is None:
            waiting.decision = Decision(approved=False, reason=TIMED_OUT)
            self._decided[call.id] = "denied (it timed out)"
            self._emit(ev.ToolDenied(agent=agent, call=call.id, tool=call.tool,
                                     reason=TIMED_OUT, timed_out=True))
        return waiting.decision

    def decide(self, call: str, decision: Decision) -> str:
        """Approve or deny the waiting ``call`` (logged at once; its agent wakes); returns what
        was done.

        Raises:
            ApprovalRefused: no call of that id waits (unknown, or decided already).
        """
        waiting = self._waiting.get(call)
        if call in self._decided:
            raise ApprovalRefused(f"call {call!r} was {self._decided[call]} already")
        if waiting is None:
            known = self._history(call)
            if known is None:
                raise ApprovalRefused(f"no call {call!r} in this run asked for approval")
            if known.get("status") == "pending":  # a resumed agent has not asked again yet
                raise ApprovalRefused(f"call {call!r} is not waiting yet (its agent is being "
                                      "restarted); try again in a moment")
            if known.get("status") == "withdrawn":
                raise ApprovalRefused(f"call {call!r} no longer waits: its agent ended")
            raise ApprovalRefused(f"call {call!r} was {known.get('status')} already")
        waiting.decision = decision
        verb = "approved" if decision.approved else "denied"
        self._decided[call] = verb
        if decision.approved:
            self._emit(ev.ToolApproved(agent=waiting.agent, call=call, tool=waiting.tool))
        else:
            self._emit(ev.ToolDenied(agent=waiting.agent, call=call, tool=waiting.tool,
                                     reason=decision.reason))
        waiting.decided.set()
        return f"{verb} {call} ({waiting.tool} for {waiting.agent})"
