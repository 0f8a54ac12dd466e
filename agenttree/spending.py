"""Where the tokens, tool calls, cost and time went: per-subtree totals and tokens over time.

Figures are what each agent was charged itself (:attr:`Activity.charged
<agenttree.activity.Activity.charged>`), added up over a subtree, so a subtree's figure never
counts anything twice, whether its agents still run or their use has already rolled up into
their parents' budgets. Wall time is added up the same way: a subtree's ``wall_s`` is the sum
of its agents' spawn-to-finish times (agent-seconds), which says where the waiting went.
Pure: the TUI's Budget tab and the web page's Budget panel draw both.
"""

from __future__ import annotations

import bisect

import attrs

from .activity import Activity, time_span
from .state import RunState

FIGURES = ("tokens", "tool_calls", "cost", "wall_s")
"""The figures of a :class:`Spend`, in the order the views draw them."""


@attrs.frozen(kw_only=True)
class Spend:
    """One subtree's totals."""

    agent: str
    agents: int
    tokens: float = 0.0
    tool_calls: float = 0.0
    cost: float = 0.0
    wall_s: float = 0.0

    def to_json(self) -> dict[str, object]:
        """Plain JSON data (the web page's budget rows)."""
        return attrs.asdict(self)


def spending(state: RunState, activity: Activity, agent_id: str, now_t: int) -> list[Spend]:
    """``agent_id``'s subtree, then each of its children's, for bars side by side (one pass
    over the subtree)."""
    agents, charged = state.agents, activity.charged
    totals: dict[str, list[float]] = {}
    for a in reversed(state.subtree(agent_id)):  # children before their parents
        own = charged.get(a)
        row = [1.0, 0.0, 0.0, 0.0, agents[a].wall_s(now_t)]
        if own:
            row[1], row[2], row[3] = (own.get("tokens", 0.0), own.get("tool_calls", 0.0),
                                      own.get("cost", 0.0))
        for child in agents[a].children:
            for i, value in enumerate(totals[child]):
                row[i] += value
        totals[a] = row

    def spend(a: str) -> Spend:
        n, tokens, calls, cost, wall = totals[a]
        return Spend(agent=a, agents=int(n), tokens=tokens, tool_calls=calls, cost=cost,
                     wall_s=round(wall, 3))

    return [spend(a) for a in (agent_id, *agents[agent_id].children)]


def tokens_over_time(state: RunState, activity: Activity, agent_id: str, now_t: int,
                     buckets: int = 60) -> list[tuple[int, int]]:
    """Tokens ``agent_id``'s subtree had used by the end of each of ``buckets`` equal slices of
    the run (``(slice end t, tokens)``; the run so far, while it goes on)."""
    start, end = time_span(state, now_t)
    step = (end - start) / buckets
    edges = [start + round(step * (i + 1)) for i in range(buckets)]
    per_slice = [0] * buckets
    for a in state.subtree(agent_id):
        for t, tokens in activity.token_times.get(a, ()):
            if t <= now_t:
                per_slice[min(buckets - 1, bisect.bisect_left(edges, t))] += tokens
    out, total = [], 0
    for edge, tokens in zip(edges, per_slice, strict=True):
        total += tokens
        out.append((edge, total))
    return out
