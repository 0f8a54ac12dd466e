"""What the runner hands a suite for one case run, and what the suite gives back."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from ..plan import Settings
from .suites import Case

STATUSES = ("pass", "fail", "infra-error", "skipped")
"""A case run's status. ``infra-error`` and ``skipped`` stay out of pass rates."""


@attrs.frozen(kw_only=True)
class Limiters:
    """Separate caps, shared by every case of a run: model connections (per provider, inside
    the engine), sandboxes (systems under test) and plain subprocesses (linters, CLI runs)."""

    model_connections: int
    sandboxes: trio.CapacityLimiter
    subprocesses: trio.CapacityLimiter
    providers: dict[str, Any] = attrs.field(factory=dict)
    """The engine's per-provider (connection limiter, rate limiter) pairs, shared by all cases
    so a provider's rate limit holds across the whole run."""


@attrs.frozen(kw_only=True)
class CaseRun:
    """One run of one case: which model, which epoch and attempt, where its files go."""

    case: Case
    model: str
    seed: int
    epoch: int
    attempt: int
    case_dir: Path
    offered: tuple[str, ...]
    """The tools the case offers, decoys included, in the order the model sees them."""
    limiters: Limiters
    backend: str
    """Where systems under test run: ``local``, ``docker`` or ``kubernetes``."""
    on_event: Callable[[str, dict[str, Any]], None]
    """Report a tool call or result to the bench log: ``on_event(type, fields)``."""
    settings: Settings = attrs.Factory(Settings)
    """Providers, model settings and prices for every case (``--settings FILE``)."""
    max_tool_calls: int | None = None
    """The case run's tool-call budget in place of the suite's (``--max-tool-calls``)."""
    sealed: bool = True
    """Confine what the agent and its program run, so they cannot reach the suite (a coding
    case; false only where nothing can, with ``--unsealed`` or a scripted model)."""


@attrs.frozen(kw_only=True)
class Outcome:
    """A scored case run. ``metrics`` must be deterministic for a deterministic model (it goes
    into summary.json); anything measured in wall time goes into ``timing``."""

    status: str
    score: float
    metrics: dict[str, Any] = attrs.field(factory=dict)
    failures: tuple[str, ...] = ()
    reason: str = ""
    timing: dict[str, float] = attrs.field(factory=dict)
