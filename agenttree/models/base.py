"""The model protocol: what an agent sends to a model and what comes back."""

from __future__ import annotations

from typing import Any, Protocol

import attrs

from ..plan import ModelSettings


@attrs.frozen(kw_only=True)
class ToolCall:
    """One tool call the model asked for."""

    id: str
    tool: str
    args: dict[str, Any]


@attrs.frozen(kw_only=True)
class Usage:
    """Tokens a call used; ``estimated`` when the provider did not say."""

    prompt: int = 0
    completion: int = 0
    estimated: bool = False

    @property
    def total(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt + self.completion


@attrs.frozen(kw_only=True)
class ModelRequest:
    """A chat request: the transcript so far (OpenAI-style messages), the tools offered, the
    model's settings and the tool choice (``auto``, ``required``, ``none``, a tool's name, or
    ``None`` for the server's default).

    ``watchdog`` marks a turn the agent's watchdog gave it (its children made no progress);
    ``watchdog_turns`` counts the agent's earlier such turns, so a scripted model can play
    its script by the agent's own turns only.
    """

    agent: str
    turn: int
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    settings: ModelSettings = attrs.Factory(ModelSettings)
    tool_choice: str | None = None
    watchdog: bool = False
    watchdog_turns: int = 0


@attrs.frozen(kw_only=True)
class ModelResponse:
    """The model's answer. No calls means a final answer."""

    text: str = ""
    calls: tuple[ToolCall, ...] = ()
    usage: Usage = Usage()


class ModelError(Exception):
    """The model could not answer (after retries); the agent fails with this message."""


@attrs.frozen(kw_only=True)
class Retry:
    """What a client tells its agent before it retries (the agent charges and logs it)."""

    attempt: int
    reason: str
    delay_s: float


class ModelClient(Protocol):
    """Anything that answers a :class:`ModelRequest`.

    ``complete`` is a checkpoint and cancellable: cancelling the agent abandons the call.
    ``params`` never blocks: the request parameters ``complete`` would send besides the model,
    messages and tools (for the log; never a key).
    """

    name: str

    async def complete(self, request: ModelRequest) -> ModelResponse: ...

    def params(self, request: ModelRequest) -> dict[str, Any]: ...

