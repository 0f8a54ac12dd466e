"""The run's one ``emit``: the log writer's, behind the replayer's hook.

Everything that logs — agents, the router, the lock service, the control tail, tools — is
handed the same function, built once as the log opens (:func:`build_emit`). A replayer
(:class:`Replayer`: a resume or a regression replay) sees every event there: it may keep one out
of the log (a resumed agent's replayed events are in the log already) and is told the ``seq`` of
each one written (a regression replay compares them with the recording).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from .. import events as ev

if TYPE_CHECKING:
    from ..models.base import ModelClient
    from .agent import Agent, AgentSpec
    from .engine import Engine
    from .recording import Cursor

Emit = Callable[[ev.Event], int]
"""Log an event, never blocking; returns its ``seq`` (0: kept out of the log)."""


class Replayer(Protocol):
    """What an engine asks of the recording it replays (set as ``Engine.replayer``)."""

    def admits(self, event: ev.Event) -> bool:
        """Whether ``event`` goes into the log (``False``: the log has it already)."""
        ...

    def written(self, seq: int, event: ev.Event) -> None:
        """``event`` was logged as ``seq``."""
        ...

    def attach(self, engine: Engine) -> None:
        """The engine's log, router and lock service exist: restore what the run had."""
        ...

    def root_spec(self) -> AgentSpec | None:
        """The root's spec as the recording left it (``None``: as a new run starts it)."""
        ...

    def model_for(self, agent: Agent) -> ModelClient | None:
        """The model an agent calls instead of its own (``None``: its own)."""
        ...

    def cursor(self, agent: Agent) -> Cursor | None:
        """An agent's recorded results (``None``: it runs live from the start)."""
        ...

    async def wait_live(self) -> None:
        """Return once no agent replays any more (a resume's restarted agents have all reached
        their live point): control commands apply from then on."""
        ...


def build_emit(write: Emit, replayer: Replayer | None) -> Emit:
    """The run's ``emit``: ``write`` itself when nothing is replayed (no extra call on the
    hot path), else ``write`` behind ``replayer``'s hook."""
    if replayer is None:
        return write
    admits, written = replayer.admits, replayer.written

    def emit(event: ev.Event) -> int:
        if not admits(event):
            return 0
        seq = write(event)
        written(seq, event)
        return seq

    return emit
