"""OpenAI-compatible chat completions over httpx: tools, streaming, retries, concurrency caps.

Works with OpenAI's API and with local servers that speak the same protocol (vLLM, llama.cpp
server, Ollama). The API key is sent as a Bearer token; :func:`agenttree.redact.redact` keeps it
out of anything logged, printed or served, server error messages included. What all HTTP
providers share (retries, streams, error messages) is in :mod:`.http`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import trio

from ..plan import TOOL_CHOICES, Provider
from .base import ModelError, ModelRequest, ModelResponse, Retry, ToolCall, Usage
from .http import HttpModel
from .ratelimit import RateLimiter
from .spec import OPENAI_URL, ModelSpec


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


class OpenAIClient(HttpModel):
    """A :class:`~agenttree.models.base.ModelClient` for one OpenAI-compatible model.

    Args:
        spec: provider, model and base URL.
        http: the engine's shared client.
        api_key: sent as ``Authorization: Bearer``; ``None`` for servers that need none.
        limit_param: the name of the output-limit parameter (:func:`output_limit_param`).

    The other arguments are :class:`~agenttree.models.http.HttpModel`'s (``on_delta`` set:
    stream).
    """

    def __init__(self, spec: ModelSpec, http: httpx.AsyncClient, *, api_key: str | None,
                 limiter: trio.CapacityLimiter, rate: RateLimiter, rng: random.Random,
                 retries_left: Callable[[], float | None],
                 on_retry: Callable[[Retry], None],
                 on_delta: Callable[[str], None] | None = None,
                 limit_param: str = "max_tokens") -> None:
        super().__init__(spec, http,
                         headers={"Authorization": f"Bearer {api_key}"} if api_key else {},
                         limiter=limiter, rate=rate, rng=rng, retries_left=retries_left,
                         on_retry=on_retry, on_delta=on_delta)
        self._limit_param = limit_param
        self._url = f"{spec.base_url}/chat/completions"

    def params(self, request: ModelRequest) -> dict[str, Any]:
        """The parameters sent besides the model, messages and tools: the model's settings
        (the output limit only when ``max_output_tokens`` is set), the tool choice (only with
        tools) and streaming."""
        out: dict[str, Any] = {}
        if request.settings.max_output_tokens is not None:
            out[self._limit_param] = request.settings.max_output_tokens
        out.update(self._common_params(request, tool_choice_param))
        if out.get("stream"):
            out["stream_options"] = {"include_usage": True}
        return out

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One chat completion, retried on 429/5xx/transport errors within the budget."""
        body: dict[str, Any] = {"model": self.spec.model,
                                "messages": to_openai_messages(request.messages)}
        if request.tools:
            body["tools"] = request.tools
        body.update(self.params(request))

        async def attempt_once() -> ModelResponse:
            if self._on_delta is None:
                return self._parse_plain(await self._post(self._url, body), request)
            answer = _StreamedAnswer()
            plain = await self._stream(self._url, body, answer)
            if plain is not None:  # a server that does not stream answers with one completion
                return self._parse_plain(plain, request)
            text = "".join(answer.text)
            calls = tuple(ToolCall(id=c["id"] or f"{request.agent}#{request.turn}.{i}",
                                   tool=c["name"], args=_parse_args(c["arguments"]))
                          for i, c in sorted(answer.calls.items()))
            return ModelResponse(text=text, calls=calls,
                                 usage=self._usage(answer.usage, request, text))

        return await self._retrying(request, attempt_once)

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
        text = message.get("content") or ""
        return ModelResponse(text=text, calls=calls,
                             usage=self._usage(data.get("usage"), request, text))

    def _usage(self, raw: dict[str, Any] | None, request: ModelRequest, text: str) -> Usage:
        if raw and "prompt_tokens" in raw:
            return Usage(prompt=int(raw["prompt_tokens"]),
                         completion=int(raw.get("completion_tokens") or 0))
        return self._estimated_usage(request, text)


class _StreamedAnswer:
    """Accumulates an SSE chat-completion stream: text, tool-call fragments, usage."""

    end_marker = "[DONE]"

    def __init__(self) -> None:
        self.text: list[str] = []
        self.pending: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.error: str | None = None
        self.retryable = False

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
            self.done = True  # raised once the stream is drained
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
