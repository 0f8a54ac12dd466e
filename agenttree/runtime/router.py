"""The router: who may talk to whom, and delivery into agents' inboxes.

Agent ids are dotted task paths (``root.frontend.3``), so the tree relations (parent, sibling,
lowest common ancestor) follow from the ids alone. Parent and child may always talk; siblings
only when the plan's ``:talk`` has ``:siblings``; anyone else only through a bridge that their
lowest common ancestor opened. A refusal is a :class:`~agenttree.errors.ToolError` that goes back
to the sender's tool call.

The router's tables (inboxes, bridges) change only in plain (non-async) methods, so in Trio's
single thread each change is atomic; no lock and no actor hop sits on the message path.

Messages between agents go into an inbox's bounded mail lane (a sender waits while it is
full); the engine's own notices (:meth:`Router.deliver`) go into its unbounded notice lane, so
none is ever dropped (:mod:`~agenttree.runtime.inbox`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from .. import events as ev
from ..errors import ToolError
from .inbox import Inbox

HUMAN = "human"
"""Sender id of messages typed by a person (control commands)."""

SEND_TIMEOUT_S = 30.0
"""How long a send may wait on a full inbox before the sender is told."""


def parent_of(agent_id: str) -> str | None:
    """The parent's id, or ``None`` for the root."""
    head, dot, _ = agent_id.rpartition(".")
    return head if dot else None


def lowest_common_ancestor(a: str, b: str) -> str | None:
    """The deepest agent that is an ancestor of (or equal to) both ``a`` and ``b``."""
    common = []
    for x, y in zip(a.split("."), b.split("."), strict=False):
        if x != y:
            break
        common.append(x)
    return ".".join(common) or None


def is_ancestor(ancestor: str, agent_id: str) -> bool:
    """Whether ``ancestor`` is ``agent_id`` or above it."""
    return agent_id == ancestor or agent_id.startswith(ancestor + ".")


class Router:
    """Delivers messages between agents, enforcing the conversation graph, and logs each."""

    def __init__(self, emit: Callable[[ev.Event], int], talk: frozenset[str]) -> None:
        self._emit = emit
        self.siblings = "siblings" in talk
        self._inboxes: dict[str, Inbox] = {}
        self._bridges: dict[frozenset[str], str] = {}
        self._bridge_ids: dict[str, frozenset[str]] = {}

    def register(self, agent_id: str, inbox: Inbox) -> None:
        """Make an agent reachable."""
        self._inboxes[agent_id] = inbox

    def unregister(self, agent_id: str) -> None:
        """The agent ended: messages to it are refused from now on."""
        self._inboxes.pop(agent_id, None)

    def inbox(self, agent_id: str) -> Inbox | None:
        """The live inbox of ``agent_id``, if it is running."""
        return self._inboxes.get(agent_id)

    def route(self, sender: str, to: str) -> str | None:
        """Check that ``sender`` may message ``to``; returns the bridge id used, if any."""
        if to and (to.rpartition(".")[0] == sender or sender.rpartition(".")[0] == to):
            return None  # child and parent: the common case, tested first and inline
        if to == sender:
            raise ToolError("an agent cannot message itself")
        if sender == HUMAN:
            return None
        if self.siblings and parent_of(sender) == parent_of(to):
            return None
        bridge = self._bridges.get(frozenset((sender, to)))
        if bridge is not None:
            return bridge
        lca = lowest_common_ancestor(sender, to)
        raise ToolError(
            f"{sender} may not message {to}: only parent and children talk directly"
            + ("" if self.siblings else " (siblings too when the plan's :talk has :siblings)")
            + (f"; ask {lca}, their lowest common ancestor, to open a bridge" if lca else ""))

    async def send(self, sender: str, to: str, kind: str, text: str,
                   data: dict[str, Any] | None = None) -> None:
        """Route, log and deliver one message; waits while the inbox is full (bounded)."""
        bridge = self.route(sender, to)
        inbox = self._inboxes.get(to)
        if inbox is None:
            raise ToolError(f"{to} is not running (finished, or no such agent)")
        mail = ev.AgentMessage(sender=sender, to=to, kind=kind, text=text, data=data,
                               bridge=bridge)  # logged, and the inbox's mail itself
        self._emit(mail)
        sent: bool | None = None
        try:
            sent = inbox.send_nowait(mail)
        except trio.WouldBlock:
            with trio.move_on_after(SEND_TIMEOUT_S):
                sent = await inbox.send(mail)
            if sent is None:
                raise ToolError(f"{to}'s inbox stayed full for {SEND_TIMEOUT_S:g}s; try again "
                                "later") from None
        if not sent:
            raise ToolError(f"{to} is no longer receiving messages")

    def notify(self, to: str, item: Any) -> bool:
        """Put a notice from the engine in ``to``'s inbox (never waits, never dropped for
        being many); ``False`` when ``to`` is not running (or ending)."""
        inbox = self._inboxes.get(to)
        return inbox is not None and inbox.notify(item)

    def reachable(self, agent_id: str) -> bool:
        """Whether ``agent_id`` takes messages now."""
        inbox = self._inboxes.get(agent_id)
        return inbox is not None and not inbox.closed

    def deliver(self, sender: str, to: str, kind: str, text: str,
                data: dict[str, Any] | None = None) -> bool:
        """Log and deliver a notice from the system (e.g. a conflict thread), without the
        conversation-graph check and without waiting, however full the inbox's mail lane is;
        ``False`` only when ``to`` is not running."""
        mail = ev.AgentMessage(sender=sender, to=to, kind=kind, text=text, data=data)
        if not self.notify(to, mail):
            return False
        self._emit(mail)
        return True

    def restore_bridge(self, bridge_id: str, a: str, b: str) -> None:
        """Put back a bridge a resumed run's log shows open (logged already: no event)."""
        key = frozenset((a, b))
        self._bridges[key] = bridge_id
        self._bridge_ids[bridge_id] = key

    def open_bridge(self, by: str, a: str, b: str) -> str:
        """Let ``a`` and ``b`` talk; only their lowest common ancestor may do this."""
        if a == b:
            raise ToolError("a bridge joins two different agents")
        for x in (a, b):
            if x not in self._inboxes:
                raise ToolError(f"{x} is not running")
        lca = lowest_common_ancestor(a, b)
        if lca != by:
            raise ToolError(f"only {lca}, the lowest common ancestor of {a} and {b}, "
                            f"may bridge them")
        key = frozenset((a, b))
        if key in self._bridges:
            return self._bridges[key]
        bridge_id = f"bridge:{a}~{b}"
        self._bridges[key] = bridge_id
        self._bridge_ids[bridge_id] = key
        self._emit(ev.BridgeOpened(bridge=bridge_id, by=by, a=a, b=b))
        return bridge_id

    def close_bridge(self, by: str, bridge_id: str) -> None:
        """Close a bridge; only an ancestor of both ends may."""
        key = self._bridge_ids.get(bridge_id)
        if key is None:
            raise ToolError(f"no open bridge {bridge_id!r}")
        if not all(is_ancestor(by, x) for x in key):
            raise ToolError(f"{by} did not open {bridge_id} and is not above both its ends")
        del self._bridge_ids[bridge_id]
        del self._bridges[key]
        self._emit(ev.BridgeClosed(bridge=bridge_id, by=by))
