"""What a waiting parent's watchdog looks at: its children's progress, and the digest its model
reads when none of them moved (docs/plans.md, ``:watchdog-s``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio

from .. import events as ev

if TYPE_CHECKING:
    from .agent import Agent


def _below(agent: Agent) -> list[Agent]:
    """The running agents under ``agent`` (children, their children, ...)."""
    agents = agent.engine.book.agents
    out, stack = [], list(agent.running)
    while stack:
        found = agents.get(stack.pop())
        if found is not None:
            out.append(found)
            stack.extend(found.running)
    return out


def last_progress(agent: Agent) -> float:
    """When anyone below ``agent`` last made progress (Trio time; ``-inf``: nobody runs)."""
    return max((below.progressed for below in _below(agent)), default=float("-inf"))


def survey(agent: Agent, quiet_s: float) -> ev.AgentWatchdog:
    """The digest of ``agent``'s running children: status, seconds since its subtree last made
    progress, what it spent and its limits."""
    now = trio.current_time()
    views = agent.engine.state.agents
    children: list[dict[str, Any]] = []
    for child_id in sorted(agent.running):
        child = agent.engine.book.agent(child_id)
        if child is None:
            continue
        view = views.get(child_id)
        status = "starting" if view is None else view.status + (
            f" ({view.detail})" if view.detail else "")
        idle = now - max(child.progressed, last_progress(child))
        children.append({"agent": child_id, "status": status, "idle_s": round(idle, 3),
                         "spent": {k: v for k, v in child.meter.used.items() if v},
                         "limits": dict(child.meter.limits)})
    return ev.AgentWatchdog(agent=agent.id, quiet_s=round(quiet_s, 3), children=children)


def digest_text(survey: ev.AgentWatchdog) -> str:
    """The digest as the model reads it."""
    lines = [f"[watchdog] none of your {len(survey.children)} running children made progress "
             f"in the last {survey.quiet_s:.0f}s:"]
    for child in survey.children:
        spent, limits = child["spent"], child["limits"]
        used = ", ".join(f"{k} {spent.get(k, 0):g}" + (f"/{limits[k]:g}" if k in limits else "")
                         for k in dict.fromkeys((*limits, *spent))) or "nothing"
        lines.append(f"- {child['agent']}: {child['status']}; last progress "
                     f"{child['idle_s']:.0f}s ago; spent {used}")
    lines.append("Act on a stuck child (message it, grant it more), or answer without a tool "
                 "call to keep waiting.")
    return "\n".join(lines)
