"""Budgets: what an agent may spend, carved out of its parent's remaining envelope."""

from __future__ import annotations

import attrs

#: Budget dimensions, as spelled in plans (``:tool-calls``) and in events (``tool_calls``).
KINDS = ("tool_calls", "wall_s", "tokens", "retries", "cost")


@attrs.frozen(kw_only=True)
class Budget:
    """Limits per dimension; ``None`` means "no limit of its own" (inherit the parent's)."""

    tool_calls: int | None = None
    wall_s: float | None = None
    tokens: int | None = None
    retries: int | None = None
    cost: float | None = None
