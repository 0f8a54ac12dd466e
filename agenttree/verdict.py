"""Whether a run did its job, from its folded log: the exit status of ``run`` and ``resume``.

A run succeeded when its root task ended ``done`` and every other task's last attempt ended
``done`` -- or was cancelled or removed on purpose: by a person's command, a reconcile, or a
decision of an agent above it (a parent ending, a conflict resolved by cancelling one side).
A task that ended ``failed`` or ``budget-exhausted`` and was never restarted, or never ended,
is a shortfall, whatever its parent made of it.
"""

from __future__ import annotations

import attrs

from .state import RunState


@attrs.frozen(kw_only=True)
class Shortfall:
    """A task that did not end done, and why."""

    task: str
    agent: str
    status: str
    reason: str


def shortfalls(state: RunState) -> list[Shortfall]:
    """The tasks that keep the run from succeeding, in the order they first started."""
    if state.root is None:
        return [Shortfall(task="(root)", agent="", status=state.status,
                          reason="the run never started its root agent")]
    root_task = state.agents[state.root].task
    out = []
    for task in state.tasks.values():
        if task.status == "done" or task.removed:
            continue
        if task.status == "cancelled" and task.id != root_task:
            continue  # on purpose: a person, a reconcile or an agent above it decided so
        agent = state.agents.get(task.agent)
        reason = agent.reason if agent is not None else ""
        if task.status not in ("failed", "budget-exhausted", "cancelled") and not reason:
            reason = "the run ended before this task did"
        out.append(Shortfall(task=task.id, agent=task.agent, status=task.status,
                             reason=reason.strip().splitlines()[0] if reason.strip() else ""))
    return out


def succeeded(state: RunState) -> bool:
    """Whether the run did its job (see the module docstring)."""
    return not shortfalls(state)
