"""Budgets: what an agent may spend, carved out of its parent's remaining envelope."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .numbers import NumberError, check_number

#: Budget dimensions, as spelled in plans (``:tool-calls``) and in events (``tool_calls``).
KINDS = ("tool_calls", "wall_s", "tokens", "retries", "cost")
WHOLE = frozenset({"tool_calls", "tokens", "retries"})
"""Kinds counted in whole numbers."""


@attrs.frozen(kw_only=True)
class Budget:
    """Limits per dimension; ``None`` means "no limit of its own" (inherit the parent's)."""

    tool_calls: int | None = None
    wall_s: float | None = None
    tokens: int | None = None
    retries: int | None = None
    cost: float | None = None

COUNTED = ("tool_calls", "tokens", "retries", "cost")
"""Budget kinds that are spent (wall time is a deadline, not a count)."""

POOLED = ("tool_calls", "tokens", "cost")
"""Kinds a tree shares: a child's envelope is lent out of its parent's remaining budget, and
what it used rolls up into its parent's."""

PER_AGENT = ("retries",)
"""Kinds that are each agent's own limit: never lent from the parent, never rolled up into it
(a leaf gets the same number of tries as its parent, not a share of them)."""


class BudgetExhausted(Exception):
    """Raised inside an agent when a charge goes over one of its limits."""

    def __init__(self, kind: str, used: float, limit: float, lent: float = 0) -> None:
        self.kind, self.used, self.limit = kind, used, limit
        held = f", {lent:g} of it lent to running children" if lent else ""
        super().__init__(f"{kind} budget exhausted ({used:g} of {limit:g}{held})")


def check_budget(raw: dict[str, Any]) -> dict[str, Any]:
    """A budget object from outside (a control command, the CLI, the TUI, a model's tool call),
    keys spelled ``tool-calls`` or ``tool_calls`` and kept as given; each amount checked by
    :func:`~agenttree.numbers.check_number` (non-negative; whole for :data:`WHOLE` kinds).

    Raises:
        NumberError: an unknown kind or an unacceptable amount, named.
    """
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = str(key).replace("-", "_")
        if kind not in KINDS:
            raise NumberError(f"unknown budget kind {key!r}; kinds: "
                              f"{', '.join(k.replace('_', '-') for k in KINDS)}")
        try:
            out[key] = check_number(value, whole=kind in WHOLE)
        except NumberError as exc:
            raise NumberError(f"{key}: {exc}") from None
    return out


def parse_budget(raw: dict[str, Any]) -> dict[str, float]:
    """:func:`check_budget`, keyed by kind (``tool_calls``)."""
    return {str(k).replace("-", "_"): v for k, v in check_budget(raw).items()}


def budget_to_dict(budget: Budget) -> dict[str, float]:
    """The limits that are set, keyed by kind."""
    return {k: v for k in KINDS if (v := getattr(budget, k)) is not None}


class Meter:
    """An agent's envelope: its limits, what it (and its finished children) used, what it lent.

    Owned by the agent's task; children get their envelopes of :data:`POOLED` kinds carved out
    of :meth:`remaining`, and what they do not use comes back when they finish (:meth:`settle`).
    So a whole tree can never spend more tool calls, tokens or cost than the root was given.
    :data:`PER_AGENT` kinds (retries) are each agent's own.

    It also keeps each running child's envelope (:meth:`lend_to`, :meth:`lend_more`,
    :meth:`take_back`): the only way the numbers change is through these methods.
    """

    __slots__ = ("_envelopes", "lent", "limits", "used")

    def __init__(self, limits: dict[str, float]) -> None:
        self.limits = {k: v for k, v in limits.items() if k in COUNTED}
        self.used: dict[str, float] = dict.fromkeys(COUNTED, 0)
        self.lent: dict[str, float] = {}
        """What is lent out, of each limited :data:`POOLED` kind (a kind is there once its
        first envelope was carved: most agents never lend)."""
        self._envelopes: dict[str, dict[str, float]] = {}

    @property
    def children(self) -> Mapping[str, Mapping[str, float]]:
        """The running children's envelopes by agent id (read-only)."""
        return MappingProxyType(self._envelopes)

    def __len__(self) -> int:
        """How many children run under this envelope (an agent's inbox keeps room for each)."""
        return len(self._envelopes)

    def lend_to(self, child: str, wanted: dict[str, float], share: int = 2) -> dict[str, float]:
        """:meth:`carve` an envelope for a starting ``child`` and keep it; returns it."""
        envelope = self._envelopes[child] = self.carve(wanted, share)
        return envelope

    def adopt(self, child: str, envelope: dict[str, float]) -> None:
        """A resume: a child that runs on under an envelope the log gave it."""
        self._envelopes[child] = envelope
        self._lend(envelope)

    def lend_more(self, child: str, budget: dict[str, float]) -> None:
        """Raise a running child's envelope by ``budget``, lent out of what is left."""
        envelope = self._envelopes[child]
        self._lend(budget)
        for kind, amount in budget.items():
            envelope[kind] = envelope.get(kind, 0) + amount

    def take_back(self, child: str, envelope: dict[str, float], used: dict[str, float]) -> None:
        """A child ended: :meth:`settle` the envelope kept for it (else ``envelope``, what it
        says it was given)."""
        self.settle(self._envelopes.pop(child, envelope), used)

    def catch_up(self, used: dict[str, float]) -> None:
        """A resume: count at least what the log says was used (replaying rebuilt the
        agent's own charges; the log's figures also hold its children's)."""
        for kind, amount in used.items():
            if kind in self.used:
                self.used[kind] = max(self.used[kind], amount)

    def remaining(self, kind: str) -> float | None:
        """What is left of ``kind`` (``None``: unlimited)."""
        limit = self.limits.get(kind)
        if limit is None:
            return None
        return limit - self.used[kind] - self.lent.get(kind, 0)

    def check(self, kind: str, amount: float = 1) -> None:
        """Raise :class:`BudgetExhausted` if spending ``amount`` of ``kind`` would go over."""
        left = self.remaining(kind)
        if left is not None and amount > left:
            lent = self.lent.get(kind, 0)
            raise BudgetExhausted(kind, self.used[kind] + lent, self.limits[kind], lent)

    def charge(self, kind: str, amount: float) -> float:
        """Record spending; returns the new total used of ``kind``."""
        self.used[kind] += amount
        return self.used[kind]

    def over(self, kind: str) -> bool:
        """Whether ``kind`` is spent past its limit (after a charge that could not be checked)."""
        left = self.remaining(kind)
        return left is not None and left < 0

    def carve(self, wanted: dict[str, float], share: int = 2) -> dict[str, float]:
        """A child's envelope: pooled kinds lent out of what is left, per-agent kinds given.

        A pooled kind the child asks for gets ``min(asked, remaining)``; one it does not ask
        for gets ``remaining // share`` (the parent keeps a share for itself and later
        children). A per-agent kind is what the child asks for, else this agent's own limit;
        nothing is lent.
        """
        child: dict[str, float] = {}
        for kind in PER_AGENT:
            limit = wanted.get(kind, self.limits.get(kind))
            if limit is not None:
                child[kind] = limit
        for kind in self._pooled():
            left = max(0, self.remaining(kind) or 0)
            asked = wanted.get(kind)
            amount = min(asked, left) if asked is not None else left / share
            if kind != "cost":
                amount = int(amount)
            child[kind] = amount
            self.lent[kind] = self.lent.get(kind, 0) + amount
        for kind, amount in wanted.items():
            if kind not in self.limits and kind in POOLED:
                child[kind] = amount  # the parent has no limit of this kind: nothing to carve
        return child

    def settle(self, lent: dict[str, float], used: dict[str, float]) -> None:
        """A child finished: take back its envelope and count what it used as ours (every
        pooled kind, limited or not, so spending rolls up the tree; per-agent kinds stay the
        child's)."""
        for kind in self._pooled():
            self.lent[kind] = self.lent.get(kind, 0) - lent.get(kind, 0)
        for kind in POOLED:
            self.used[kind] += used.get(kind, 0)

    def _pooled(self) -> list[str]:
        """The :data:`POOLED` kinds this envelope limits (the ones it lends out)."""
        return [kind for kind in self.limits if kind in POOLED]

    def _lend(self, amounts: Mapping[str, float]) -> None:
        for kind, amount in amounts.items():
            if kind in POOLED and kind in self.limits:
                self.lent[kind] = self.lent.get(kind, 0) + amount

    def grant(self, extra: dict[str, float]) -> None:
        """Raise the limits (an ancestor gave more from its own)."""
        for kind, amount in extra.items():
            if kind in self.limits:
                self.limits[kind] += amount
