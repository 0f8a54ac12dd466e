"""One agent's side of :mod:`agenttree.context`: its transcript kept within its model's window.

The agent asks its :class:`ContextWindow` to cut a long tool output (the whole output is saved
under ``RUN_DIR/outputs``), to build the transcript message of a tool result, and, before each
request, to compact the transcript when the request would not fit ``:context-tokens``
(``context/compacted`` is logged). Estimates are calibrated by the provider's own count of the
previous prompt (never below the estimate itself), so compaction is as deterministic as the
recorded answers: a resumed or replayed agent compacts exactly where it did.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import trio

from .. import events as ev
from ..context import (
    Message,
    WindowTooSmall,
    compact,
    cut_output,
    marker,
    message_tokens,
    output_name,
    schema_tokens,
)
from ..models.base import ModelError, ModelRequest, Usage
from ..plan import ModelSettings
from ..tools.outputs import OutputStore

MAX_RATIO = 4.0
"""The most the provider's count may scale the estimate by (a server that reports nonsense
cannot make every request compact to nothing)."""
POINTER = marker("")[:-1]
"""What every pointer to a saved output starts with."""


_NONE_MEASURED: tuple[list[dict[str, Any]], int] = ([], 0)
"""No schemas measured yet (shared by every window: only ever replaced, never changed)."""


class ContextWindow:
    """Keeps one agent's transcript within its window and its long outputs on disk.

    Args:
        agent: the agent's id (its outputs' directory).
        outputs: the run's output store.
        emit: logs an event (the engine's ``emit``, looked up at each call).
    """

    __slots__ = ("_schemas", "_sizes", "agent", "emit", "has_saved", "outputs", "ratio")

    def __init__(self, agent: str, outputs: OutputStore, emit: Callable[[ev.Event], Any]) -> None:
        self.agent = agent
        self.outputs = outputs
        self.emit = emit
        self.ratio = 1.0
        """The provider's prompt tokens per estimated token, from the last request."""
        self.has_saved = False
        """Whether the transcript points at a saved output (``read-output`` is offered)."""
        self._sizes: dict[int, tuple[Message, int]] = {}
        """Each transcript message's estimate by identity, so a turn measures only what is new
        (a message is never changed in place, and its entry holds it: its id is not reused)."""
        self._schemas: tuple[list[dict[str, Any]], int] = _NONE_MEASURED
        """The last tool schemas measured, with their estimate (an agent's rarely change)."""

    async def keep_output(self, call_id: str, text: str, cap: int) -> str:
        """The text a live tool output longer than ``cap`` characters goes into the transcript
        as: cut to about ``cap`` characters around a pointer, the whole of it saved (in a
        thread). An output that fits goes in as it is, with no call here (the caller checks:
        most fit, and then no coroutine is made)."""
        name = output_name(call_id)
        await trio.to_thread.run_sync(self.outputs.save, self.agent, name, text)
        return cut_output(text, cap, name)

    def tool_message(self, call_id: str, ok: bool, output: str) -> dict[str, Any]:
        """The transcript message of a tool result (live or replayed)."""
        if POINTER in output:
            self.has_saved = True
        message: dict[str, Any] = {"role": "tool", "tool_call_id": call_id,
                                   "content": output if ok else f"ERROR: {output}"}
        if not ok:
            message["error"] = True
        return message

    def fit(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
            settings: ModelSettings, *, turn: int, model: str) -> list[dict[str, Any]]:
        """``messages`` compacted to fit the window with ``tools``' schemas beside them
        (unchanged when they fit, or when no window is set). Outputs compaction shortened are
        saved first (small: at most the cap each), so their pointers always lead somewhere.

        Raises:
            ModelError: even compacted as far as it goes, the request does not fit.
        """
        limit = settings.prompt_limit
        if limit is None:
            return messages
        room = limit - self._scaled(self._schema_tokens(tools))
        try:
            done = compact(messages, limit=room, count=lambda m: self._scaled(self._tokens(m)))
        except WindowTooSmall as exc:
            raise ModelError(f"{model}: {exc}") from None
        if done is None:
            return messages
        self._sizes = {id(m): (m, self._tokens(m)) for m in done.messages}  # forget the dropped
        for saved in done.to_save:
            self.outputs.save(self.agent, saved.name, saved.text)
        if done.outputs_shortened:
            self.has_saved = True
        self.emit(ev.ContextCompacted(
            agent=self.agent, turn=turn, limit=room, tokens_before=done.tokens_before,
            tokens_after=done.tokens_after, turns_dropped=done.turns_dropped,
            messages_dropped=done.messages_dropped, outputs_shortened=done.outputs_shortened))
        return done.messages

    def observe(self, request: ModelRequest, usage: Usage) -> None:
        """Calibrate the estimate by the provider's count of ``request``'s prompt."""
        if usage.estimated or usage.prompt <= 0:
            return
        estimate = sum(self._tokens(m) for m in request.messages) + self._schema_tokens(
            request.tools)
        self.ratio = min(MAX_RATIO, max(1.0, usage.prompt / max(1, estimate)))

    def _tokens(self, message: Message) -> int:
        known = self._sizes.get(id(message))
        if known is None:
            known = self._sizes[id(message)] = (message, message_tokens(message))
        return known[1]

    def _schema_tokens(self, tools: list[dict[str, Any]]) -> int:
        if self._schemas[0] is not tools:
            self._schemas = (tools, schema_tokens(tools))
        return self._schemas[1]

    def _scaled(self, tokens: int) -> int:
        return math.ceil(tokens * self.ratio)
