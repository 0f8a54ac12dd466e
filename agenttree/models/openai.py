"""OpenAI-compatible chat completions over httpx: tools, streaming, retries, concurrency caps.

Works with OpenAI's API and with local servers that speak the same protocol (vLLM, llama.cpp
server, Ollama). One :class:`httpx.AsyncClient` is shared by the whole engine; cancelling an
agent cancels its request at once (the connection is closed, the server sees the disconnect).
The API key is sent as a Bearer token; :func:`agenttree.redact.redact` keeps it out of
anything logged, printed or served, server error messages included.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import orjson
import trio

from ..plan import TOOL_CHOICES, Provider
from ..redact import add_secret
from .base import ModelError, ModelRequest, ModelResponse, ToolCall, Usage, estimate_tokens
from .ratelimit import RateLimiter
from .spec import OPENAI_URL, ModelSpec

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 30.0
DELTA_EVERY_S = 0.1
"""Streamed text reaches the log at most this often per agent (coalesced deltas)."""
MESSAGE_CHARS = 300
"""A server's error message is cut to one line of at most this many characters."""


@attrs.frozen(kw_only=True)
class Retry:
    """What the client tells its agent before it retries (the agent charges and logs it)."""

    attempt: int
    reason: str
    delay_s: float


def to_openai_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The agent's transcript in the wire format (tool calls as functions with JSON args).

    An assistant message that only calls tools has ``"content": ""``: OpenAI also takes
    ``null`` there, but llama-cpp-python's server refuses ``null`` and its chat templates
    fail on a missing ``content``."""
    out = []
    for m in messages:
        if m.get("tool_calls"):
            out.append({"role": "assistant", "content": m.get("content") or "",
                        "tool_calls": [{"id": c["id"], "type": "function",
                                        "function": {"name": c["tool"],
                                                     "arguments": _args_json(c["args"])}}
                                       for c in m["tool_calls"]]})
        else:
            out.append({k: v for k, v in m.items() if k in ("role", "content", "tool_call_id")})
    return out


def output_limit_param(spec: ModelSpec, provider: Provider) -> str:
    """The name the output limit goes by: the provider's ``:max-tokens-param``, else
    ``max_completion_tokens`` for OpenAI's own API (its newer models refuse ``max_tokens``)
    and ``max_tokens`` for every other server."""
    if provider.max_tokens_param is not None:
        return provider.max_tokens_param
    return "max_completion_tokens" if spec.base_url == OPENAI_URL else "max_tokens"


def tool_choice_param(choice: str) -> str | dict[str, Any]:
    """``tool_choice`` on the wire: a mode, or the function a named tool forces."""
    if choice in TOOL_CHOICES:
        return choice
    return {"type": "function", "function": {"name": choice}}


def _args_json(args: Any) -> str:
    return args if isinstance(args, str) else orjson.dumps(args).decode()


def _parse_args(raw: Any) -> Any:
    """Tool arguments as the model sent them: an object when it is valid JSON, else the raw
    text (the agent's argument check then tells the model what is wrong)."""
    if isinstance(raw, dict):
        return raw
    try:
        return orjson.loads(raw or "{}")
    except (orjson.JSONDecodeError, TypeError):
        return raw


class OpenAIClient:
    """A :class:`~agenttree.models.base.ModelClient` for one OpenAI-compatible model.

    Args:
        spec: provider, model and base URL.
        http: the engine's shared client.
        api_key: sent as ``Authorization: Bearer``; ``None`` for servers that need none.
        limiter: caps concurrent requests to this provider (shared by the tree).
        rng: seeded randomness for backoff jitter.
        retries_left: how many retries the agent may still spend (asked before each one).
        on_retry: told about each retry before it happens.
        on_delta: gets coalesced streamed text (``None``: do not stream).
        limit_param: the name of the output-limit parameter (:func:`output_limit_param`).
    """

    def __init__(self, spec: ModelSpec, http: httpx.AsyncClient, *, api_key: str | None,
                 limiter: trio.CapacityLimiter, rate: RateLimiter, rng: random.Random,
                 retries_left: Callable[[], float | None],
                 on_retry: Callable[[Retry], None],
                 on_delta: Callable[[str], None] | None = None,
                 limit_param: str = "max_tokens") -> None:
        self.name = spec.text
        self.spec = spec
        self._http = http
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._limit_param = limit_param
        self._limiter = limiter
        self._rate = rate
        self._rng = rng
        self._retries_left = retries_left
        self._on_retry = on_retry
        self._on_delta = on_delta

    def params(self, request: ModelRequest) -> dict[str, Any]:
        """The parameters sent besides the model, messages and tools: the model's settings
        (the output limit only when ``max_output_tokens`` is set), the tool choice (only with
        tools) and streaming."""
        settings = request.settings
        out: dict[str, Any] = {}
        if settings.max_output_tokens is not None:
            out[self._limit_param] = settings.max_output_tokens
        for name in ("temperature", "top_p", "seed"):
            value = getattr(settings, name)
            if value is not None:
                out[name] = value
        if request.tools and request.tool_choice is not None:
            out["tool_choice"] = tool_choice_param(request.tool_choice)
        if self._on_delta is not None:
            out["stream"] = True
            out["stream_options"] = {"include_usage": True}
        return out

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One chat completion, retried on 429/5xx/transport errors within the budget."""
        body: dict[str, Any] = {"model": self.spec.model,
                                "messages": to_openai_messages(request.messages)}
        if request.tools:
            body["tools"] = request.tools
        body.update(self.params(request))
        stream = self._on_delta is not None
        prompt_estimate = sum(estimate_tokens(str(m.get("content") or ""))
                              for m in request.messages)
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._rate.acquire(prompt_estimate)
                async with self._limiter:
                    if stream:
                        response = await self._streamed(body, request)
                    else:
                        response = await self._plain(body, request)
                self._rate.spend(response.usage.completion)
                return response
            except _Retryable as exc:
                left = self._retries_left()
                if left is not None and left < 1:
                    raise ModelError(f"{self.name}: {exc.reason}; no retries left") from None
                delay = exc.retry_after if exc.retry_after is not None else min(
                    BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempt - 1)) * (0.5 + self._rng.random())
                self._on_retry(Retry(attempt=attempt, reason=exc.reason, delay_s=delay))
                await trio.sleep(delay)

    async def _plain(self, body: dict[str, Any], request: ModelRequest) -> ModelResponse:
        response = await self._post(body)
        return self._parse_plain(response.content, request)

    def _parse_plain(self, content: bytes, request: ModelRequest) -> ModelResponse:
        try:
            data = orjson.loads(content)
            message = data["choices"][0]["message"]
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
            raise ModelError(f"{self.name}: the server's answer is not a chat completion: "
                             f"{content[:200]!r}") from None
        calls = tuple(ToolCall(id=c.get("id") or f"{request.agent}#{request.turn}.{i}",
                               tool=c["function"]["name"],
                               args=_parse_args(c["function"].get("arguments")))
                      for i, c in enumerate(message.get("tool_calls") or ()))
        return ModelResponse(text=message.get("content") or "", calls=calls,
                             usage=self._usage(data.get("usage"), request, message))

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        try:
            response = await self._http.post(f"{self.spec.base_url}/chat/completions",
                                             content=orjson.dumps(body),
                                             headers={**self._headers,
                                                      "Content-Type": "application/json"})
        except httpx.TransportError as exc:
            raise _Retryable(f"cannot reach {self.spec.base_url}: {type(exc).__name__}") \
                from None
        self._check_status(response.status_code, response.headers, response.content)
        return response

    def _check_status(self, status: int, headers: httpx.Headers, content: bytes) -> None:
        if status < 400:
            return
        message = _server_message(content)
        if status in RETRY_STATUSES:
            raise _Retryable(f"HTTP {status} {message}".strip(),
                             _retry_after(headers.get("retry-after")))
        raise ModelError(f"{self.name}: HTTP {status} from {self.spec.base_url}: {message}")

    async def _streamed(self, body: dict[str, Any], request: ModelRequest) -> ModelResponse:
        answer = _StreamedAnswer()
        last_flush = trio.current_time()
        try:
            async with self._http.stream(
                    "POST", f"{self.spec.base_url}/chat/completions", content=orjson.dumps(body),
                    headers={**self._headers, "Content-Type": "application/json"}) as response:
                if response.status_code >= 400:
                    self._check_status(response.status_code, response.headers,
                                       await response.aread())
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # A server that does not stream answers with one JSON completion.
                    return self._parse_plain(await response.aread(), request)
                # Read to the very end (no break at [DONE]): leaving httpx's chain of async
                # generators half-consumed leaks them until garbage collection.
                async for line in response.aiter_lines():
                    answer.absorb(line, self.name)
                    if answer.pending and trio.current_time() - last_flush >= DELTA_EVERY_S:
                        self._flush(answer.pending)
                        last_flush = trio.current_time()
        except httpx.TransportError as exc:
            raise _Retryable(f"the stream from {self.spec.base_url} broke: "
                             f"{type(exc).__name__}") from None
        if answer.error is not None:
            raise ModelError(answer.error)
        if not answer.done:  # every server ends a stream with [DONE]; this one was cut short
            raise _Retryable(f"the stream from {self.spec.base_url} ended without [DONE] (cut "
                             "short, or the server failed after it began)")
        self._flush(answer.pending)
        text = "".join(answer.text)
        tool_calls = tuple(ToolCall(id=c["id"] or f"{request.agent}#{request.turn}.{i}",
                                    tool=c["name"], args=_parse_args(c["arguments"]))
                           for i, c in sorted(answer.calls.items()))
        return ModelResponse(text=text, calls=tool_calls,
                             usage=self._usage(answer.usage, request, {"content": text}))

    def _flush(self, pending: list[str]) -> None:
        if pending and self._on_delta is not None:
            self._on_delta("".join(pending))
            pending.clear()

    @staticmethod
    def _usage(raw: dict[str, Any] | None, request: ModelRequest,
               message: dict[str, Any]) -> Usage:
        if raw and "prompt_tokens" in raw:
            return Usage(prompt=int(raw["prompt_tokens"]),
                         completion=int(raw.get("completion_tokens") or 0))
        prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in request.messages)
        return Usage(prompt=prompt, completion=estimate_tokens(str(message.get("content") or "")),
                     estimated=True)


def api_key_for(spec: ModelSpec, key_env: str | None = None) -> str | None:
    """The key for a provider, from the environment variable the plan names (``key_env``),
    else ``$OPENAI_API_KEY`` for OpenAI's own API; none for other servers: a key is never
    sent to a URL it was not configured for.

    Raises:
        ModelError: the variable that should hold the key is not set.
    """
    if key_env is None and spec.provider == "openai" and spec.base_url == OPENAI_URL:
        key_env = "OPENAI_API_KEY"
    if key_env is None:
        return None
    key = os.environ.get(key_env)
    if not key:
        raise ModelError(f"{spec.text}: set the environment variable {key_env} to its API key")
    add_secret(key)
    return key


class _StreamedAnswer:
    """Accumulates an SSE chat-completion stream: text, tool-call fragments, usage."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.pending: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.error: str | None = None

    def absorb(self, line: str, name: str) -> None:
        """Take one SSE line (``data: [DONE]`` and anything after it are ignored)."""
        if self.done or not line.startswith("data:"):
            return
        payload = line[5:].strip()
        if payload == "[DONE]":
            self.done = True
            return
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.error = f"{name}: malformed stream chunk {payload[:120]!r}"
            self.done = True  # raised once the stream is drained (see _streamed)
            return
        self.usage = chunk.get("usage") or self.usage
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.text.append(delta["content"])
                self.pending.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                slot = self.calls.setdefault(call.get("index", 0),
                                             {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                function = call.get("function") or {}
                slot["name"] += function.get("name") or ""
                slot["arguments"] += function.get("arguments") or ""


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _server_message(content: bytes) -> str:
    """The server's own message (from an OpenAI-style error body, else the body), on one line:
    whitespace runs, newlines included, become one space; cut to :data:`MESSAGE_CHARS`."""
    try:
        data = orjson.loads(content)
        error = data.get("error") if isinstance(data, dict) else None
        text = str(error.get("message") or error.get("type") or error.get("code") or error) \
            if isinstance(error, dict) else str(error or data)
    except orjson.JSONDecodeError:
        text = content[:4 * MESSAGE_CHARS].decode("utf-8", "replace")
    line = " ".join(text.split())
    return line if len(line) <= MESSAGE_CHARS else line[:MESSAGE_CHARS - 1] + "…"
