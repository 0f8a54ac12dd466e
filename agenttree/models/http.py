"""What the HTTP model clients share: the retry loop, status checks, server messages, streams.

A provider's client (:mod:`.openai`, :mod:`.anthropic`) subclasses :class:`HttpModel` and says
how a request body looks, where it goes, and how an answer (whole, or streamed as server-sent
events) is read. One :class:`httpx.AsyncClient` is shared by the whole engine; cancelling an
agent cancels its request at once (the connection is closed, the server sees the disconnect).
Retries are charged to the agent's ``retries`` budget before they happen.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol

import httpx
import orjson
import trio

from ..context import estimate_tokens
from .base import ModelError, ModelRequest, ModelResponse, Retry, Usage
from .ratelimit import RateLimiter
from .spec import ModelSpec

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
DELTA_EVERY_S = 0.1
"""Streamed text reaches the log at most this often per agent (coalesced deltas)."""
MESSAGE_CHARS = 300
"""A server's error message is cut to one line of at most this many characters."""


class Retryable(Exception):
    """A failure worth another try (after ``retry_after`` seconds when the server said)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class StreamedAnswer(Protocol):
    """What a provider's stream reader keeps while server-sent events arrive."""

    pending: list[str]
    """Text not yet handed to ``on_delta``."""
    done: bool
    """The stream's own end marker arrived."""
    error: str | None
    """Set (the stream is drained, then this is raised) when the stream says it failed."""
    retryable: bool
    """Whether ``error`` is worth another try."""
    end_marker: str
    """How the provider's streams end (named when one is cut short)."""

    def absorb(self, line: str, name: str) -> None: ...


class HttpModel:
    """The base of HTTP model clients (a :class:`~agenttree.models.base.ModelClient`).

    Args:
        spec: provider, model and base URL.
        http: the engine's shared client.
        headers: sent with every request (the key, in the provider's header).
        limiter: caps concurrent requests to this provider (shared by the tree).
        rate: requests and tokens per minute for this provider (shared by the tree).
        rng: seeded randomness for backoff jitter.
        retries_left: how many retries the agent may still spend (asked before each one).
        on_retry: told about each retry before it happens.
        on_delta: gets coalesced streamed text (``None``: do not stream).
    """

    RETRY_STATUSES: ClassVar[frozenset[int]] = frozenset({408, 409, 429, 500, 502, 503, 504})

    def __init__(self, spec: ModelSpec, http: httpx.AsyncClient, *, headers: dict[str, str],
                 limiter: trio.CapacityLimiter, rate: RateLimiter, rng: random.Random,
                 retries_left: Callable[[], float | None],
                 on_retry: Callable[[Retry], None],
                 on_delta: Callable[[str], None] | None = None) -> None:
        self.name = spec.text
        self.spec = spec
        self._http = http
        self._headers = {**headers, "Content-Type": "application/json"}
        self._limiter = limiter
        self._rate = rate
        self._rng = rng
        self._retries_left = retries_left
        self._on_retry = on_retry
        self._on_delta = on_delta

    def _common_params(self, request: ModelRequest,
                       tool_choice: Callable[[str], Any]) -> dict[str, Any]:
        """The parameters every provider takes alike: the sampling settings that are set,
        the tool choice (only with tools; ``tool_choice`` puts it in the provider's form) and
        ``stream`` when streaming."""
        out: dict[str, Any] = {}
        for name in ("temperature", "top_p", "seed"):
            value = getattr(request.settings, name)
            if value is not None:
                out[name] = value
        if request.tools and request.tool_choice is not None:
            out["tool_choice"] = tool_choice(request.tool_choice)
        if self._on_delta is not None:
            out["stream"] = True
        return out

    async def _retrying(self, request: ModelRequest,
                        attempt_once: Callable[[], Awaitable[ModelResponse]]) -> ModelResponse:
        """``attempt_once()`` until it answers, retried on :class:`Retryable` failures within
        the agent's budget (after the server's ``retry-after``, else exponential backoff with
        jitter); each request waits for the provider's rate and concurrency limits."""
        prompt_estimate = _prompt_estimate(request)
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._rate.acquire(prompt_estimate)
                async with self._limiter:
                    response = await attempt_once()
                self._rate.spend(response.usage.completion)
                return response
            except Retryable as exc:
                left = self._retries_left()
                if left is not None and left < 1:
                    raise ModelError(f"{self.name}: {exc.reason}; no retries left") from None
                delay = exc.retry_after if exc.retry_after is not None else min(
                    BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)) * (0.5 + self._rng.random())
                self._on_retry(Retry(attempt=attempt, reason=exc.reason, delay_s=delay))
                await trio.sleep(delay)

    async def _post(self, url: str, body: dict[str, Any]) -> bytes:
        """POST ``body``; the answer's bytes (errors raised as :meth:`_check_status` says)."""
        try:
            response = await self._http.post(url, content=orjson.dumps(body),
                                             headers=self._headers)
        except httpx.TransportError as exc:
            raise Retryable(f"cannot reach {self.spec.base_url}: {type(exc).__name__}") \
                from None
        self._check_status(response.status_code, response.headers, response.content)
        return response.content

    async def _stream(self, url: str, body: dict[str, Any], answer: StreamedAnswer) -> bytes | None:
        """POST ``body`` and feed each line of the event stream to ``answer``, handing its
        text to ``on_delta`` at most every :data:`DELTA_EVERY_S`; ``None`` once the stream
        ended properly, or the bytes of a plain JSON answer (a server that does not stream).

        Raises:
            Retryable: the connection broke, or the stream ended before its end marker.
            ModelError: the stream carried an error not worth retrying.
        """
        last_flush = trio.current_time()
        try:
            async with self._http.stream("POST", url, content=orjson.dumps(body),
                                         headers=self._headers) as response:
                if response.status_code >= 400:
                    self._check_status(response.status_code, response.headers,
                                       await response.aread())
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    return await response.aread()
                # Read to the very end (no break at the end marker): leaving httpx's chain of
                # async generators half-consumed leaks them until garbage collection.
                async for line in response.aiter_lines():
                    answer.absorb(line, self.name)
                    if answer.pending and trio.current_time() - last_flush >= DELTA_EVERY_S:
                        self._flush(answer.pending)
                        last_flush = trio.current_time()
        except httpx.TransportError as exc:
            raise Retryable(f"the stream from {self.spec.base_url} broke: "
                            f"{type(exc).__name__}") from None
        if answer.error is not None:
            if answer.retryable:
                raise Retryable(answer.error)
            raise ModelError(answer.error)
        if not answer.done:
            raise Retryable(f"the stream from {self.spec.base_url} ended without "
                            f"{answer.end_marker} (cut short, or the server failed after it "
                            "began)")
        self._flush(answer.pending)
        return None

    def _check_status(self, status: int, headers: httpx.Headers, content: bytes) -> None:
        if status < 400:
            return
        message = server_message(content)
        if status in self.RETRY_STATUSES:
            raise Retryable(f"HTTP {status} {message}".strip(),
                            retry_after(headers.get("retry-after")))
        raise ModelError(f"{self.name}: HTTP {status} from {self.spec.base_url}: {message}")

    def _flush(self, pending: list[str]) -> None:
        if pending and self._on_delta is not None:
            self._on_delta("".join(pending))
            pending.clear()

    @staticmethod
    def _estimated_usage(request: ModelRequest, text: str) -> Usage:
        """Usage for a server that reports none (about four characters a token)."""
        return Usage(prompt=_prompt_estimate(request), completion=estimate_tokens(text),
                     estimated=True)


def _prompt_estimate(request: ModelRequest) -> int:
    """The prompt's tokens by the rough estimate (what the rate limit waits for, and the usage
    of a server that reports none)."""
    return sum(estimate_tokens(str(m.get("content") or "")) for m in request.messages)


def retry_after(value: str | None) -> float | None:
    """The seconds a ``retry-after`` header asks for (``None``: absent or unreadable)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def server_message(content: bytes) -> str:
    """The server's own message (from an OpenAI- or Anthropic-style error body, else the body),
    on one line: whitespace runs, newlines included, become one space; cut to
    :data:`MESSAGE_CHARS`."""
    try:
        data = orjson.loads(content)
        error = data.get("error") if isinstance(data, dict) else None
        text = str(error.get("message") or error.get("type") or error.get("code") or error) \
            if isinstance(error, dict) else str(error or data)
    except orjson.JSONDecodeError:
        text = content[:4 * MESSAGE_CHARS].decode("utf-8", "replace")
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_CHARS else line[:MESSAGE_CHARS - 1] + "…"
