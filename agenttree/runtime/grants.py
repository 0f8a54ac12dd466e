"""Grants: more budget, models or tools for an agent, always out of an ancestor's own.

Two ways in. An agent's model calls the ``grant`` tool for one of its children
(:func:`grant_budget`, :func:`grant_policy`, run in the parent's task): the parent lends out of
its own remaining budget and the child hears of it through a :class:`Grant` notice in its inbox,
which it applies itself. A person's ``grant`` control command (:func:`grant_from_above`) raises
the limits of every agent on the path from the root, each lending the extra on to the next, so
the root's limit stays a bound on the whole tree; it is applied at once, through the agents'
:class:`~agenttree.budget.Meter` methods (the agent may end before it reads its inbox again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .. import events as ev
from ..budget import Meter
from ..errors import ToolError
from .router import HUMAN, parent_of

if TYPE_CHECKING:
    from .agent import Agent
    from .emit import Emit
    from .engine import Engine


@attrs.frozen(kw_only=True)
class Grant:
    """More budget, models or tools for a running agent, out of its parent's own."""

    by: str
    budget: dict[str, float] = attrs.Factory(dict)
    models: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()


class GrantRefused(Exception):
    """A person's grant that cannot be applied; the message says why."""


def take_budget(emit: Emit, agent_id: str, meter: Meter, budget: dict[str, float], *,
                by: str) -> str:
    """Raise an agent's own limits, logged; returns the news line its model reads."""
    meter.grant(budget)
    emit(ev.BudgetGranted(agent=agent_id, by=by, budget=budget))
    return f"[budget from {by}] {budget}"


def grant_policy(parent: Agent, child_id: str, models: tuple[str, ...],
                 tools: tuple[str, ...]) -> str:
    """Give a running child models or tools out of ``parent``'s own policy."""
    router = parent.engine.router
    if child_id not in parent.running:
        raise ToolError(f"{child_id} is not a running child of {parent.id}")
    lacking = [m for m in models if not parent.policy.allows_model(m)]
    lacking += [t for t in tools if not parent.policy.allows_tool(t)]
    if lacking:
        why = f"{parent.id} does not have {lacking} itself"
        # The child may be waiting for this answer: tell it, rather than let it wait out.
        # A notice, like the grant it stands for: one lane keeps a refusal and a later
        # grant in the order they were decided.
        router.deliver(parent.id, child_id, "upgrade", f"upgrade refused: {why}",
                       data={"refused": {"models": list(models), "tools": list(tools)},
                             "reason": why})
        raise ToolError(f"cannot grant {lacking}: {parent.id} does not have them itself "
                        f"(told {child_id} its upgrade is refused)")
    if not router.notify(child_id, Grant(by=parent.id, models=models, tools=tools)):
        raise ToolError(f"{child_id} is ending")
    return f"granted {list(models) + list(tools)} to {child_id}"


def grant_budget(parent: Agent, child_id: str, budget: dict[str, float]) -> str:
    """Give a child more budget out of ``parent``'s own; restart it if it ran out."""
    if child_id not in parent.child_tasks:
        raise ToolError(f"{child_id} is not a child of {parent.id}")
    budget = {k: v for k, v in budget.items() if k != "wall_s"}
    for kind, amount in budget.items():
        left = parent.meter.remaining(kind)
        if left is not None and amount > left:
            raise ToolError(f"cannot grant {amount:g} {kind}: only {left:g} left")
    if child_id in parent.running:
        if not parent.engine.router.reachable(child_id):
            raise ToolError(f"{child_id} is ending")
        parent.meter.lend_more(child_id, budget)
        parent.engine.router.notify(child_id, Grant(by=parent.id, budget=budget))
        return f"granted {budget} to {child_id}"
    done = parent.ended.get(child_id)
    if done is None or done.status != "budget-exhausted":
        status = done.status if done else "unknown"
        raise ToolError(f"{child_id} ended {status}; only a running child or one that ran "
                        "out of budget can be granted more")
    parent.restart_exhausted(child_id, budget)
    return f"restarted {child_id} with {budget} more"


def grant_from_above(engine: Engine, agent_id: str, budget: dict[str, float]
                     ) -> tuple[str, str | None]:
    """A person's grant to ``agent_id`` (running, or ended out of budget): every agent on the
    path from the root takes ``budget`` and lends it on. Returns what was done, and for a
    running target the news line to tell its model.

    Raises:
        GrantRefused: no such agent, or it ended otherwise.
    """
    target = engine.book.agent(agent_id)
    holder = agent_id if target is not None else parent_of(agent_id)
    parent = engine.book.agent(holder) if holder is not None else None
    if target is None:
        done = parent.ended.get(agent_id) if parent is not None else None
        if done is None or parent is None:
            raise GrantRefused(f"no running agent {agent_id!r}")
        if done.status != "budget-exhausted":
            raise GrantRefused(f"{agent_id} ended {done.status}; only a running agent or one "
                               "that ran out of budget can be granted more")
    assert holder is not None
    chain = ancestry(holder)
    for upper, lower in zip(chain, [*chain[1:], agent_id], strict=True):
        if upper != agent_id:
            agent = engine.book.agent(upper)
            assert agent is not None  # an agent's ancestors outlive it
            take_budget(engine.emit, upper, agent.meter, budget, by=HUMAN)
            if lower in agent.running:
                agent.meter.lend_more(lower, budget)
    if target is None:
        assert parent is not None
        try:
            return grant_budget(parent, agent_id, budget), None
        except ToolError as exc:
            raise GrantRefused(str(exc)) from None
    note = take_budget(engine.emit, agent_id, target.meter, budget, by=HUMAN)
    return f"granted {budget} to {agent_id} (its ancestors' limits raised as much)", note


def ancestry(agent_id: str) -> list[str]:
    """An agent and its ancestors, root first (agent ids are dotted paths)."""
    chain = [agent_id]
    while (parent := parent_of(chain[-1])) is not None:
        chain.append(parent)
    return chain[::-1]
