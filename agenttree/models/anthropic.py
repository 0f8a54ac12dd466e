"""Anthropic's Messages API over httpx: ``anthropic:MODEL`` (and ``anthropic:MODEL@URL`` for any
server that speaks it).

The agent's transcript (OpenAI-style messages, see :mod:`.base`) goes on the wire as the
Messages API wants it: the system prompt in ``system``; alternating ``user`` and ``assistant``
messages of content blocks (consecutive messages of one role are merged; an empty answer is
left out); tool calls as ``tool_use`` blocks and their results as ``tool_result`` blocks, first
in the next user message, errors marked ``is_error``. ``max_tokens`` is required on every
request: the model's ``:max-output-tokens``, else :data:`~agenttree.plan.DEFAULT_MAX_OUTPUT_TOKENS`.
The key goes in ``x-api-key``. Answers stream as server-sent events unless the provider's
``:stream`` is false; 429, 529 (overloaded) and 5xx are retried after ``retry-after``, and so is
a stream that ends in an ``overloaded_error`` or ``api_error`` event.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from ..plan import DEFAULT_MAX_OUTPUT_TOKENS, TOOL_CHOICES
from .base import ModelError, ModelRequest, ModelResponse, ToolCall, Usage
from .http import HttpModel
from .spec import ModelSpec

API_VERSION = "2023-06-01"
"""The ``anthropic-version`` header sent with every request."""
RETRIED_STREAM_ERRORS = frozenset({"overloaded_error", "api_error", "rate_limit_error"})
"""Errors a stream may end with that are worth another try."""
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def tool_use_id(call_id: str) -> str:
    """A tool call's id as the Messages API takes it (letters, digits, ``_`` and ``-``): ids
    another provider made (a model switched by a grant) are made to fit, the same way on both
    the ``tool_use`` and its ``tool_result``."""
    return _ID_UNSAFE.sub("_", call_id) or "_"


def to_anthropic(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The transcript as ``(system, messages)`` in the Messages API's format."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for m in messages:
        role, text = m.get("role"), str(m.get("content") or "")
        if role == "system":
            system.append(text)
        elif role == "assistant":
            blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text.strip() \
                else []
            blocks += [{"type": "tool_use", "id": tool_use_id(c["id"]), "name": c["tool"],
                        "input": c["args"] if isinstance(c["args"], dict) else {}}
                       for c in m.get("tool_calls") or ()]
            _add(out, "assistant", blocks)
        elif role == "tool":
            result: dict[str, Any] = {"type": "tool_result",
                                      "tool_use_id": tool_use_id(str(m.get("tool_call_id"))),
                                      "content": text or "(no output)"}
            if m.get("error"):
                result["is_error"] = True
            _add(out, "user", [result])
        else:  # never left out: the request must end with a user message, not an answer
            _add(out, "user", [{"type": "text", "text": text if text.strip() else "(empty)"}])
    return "\n\n".join(system), out


def _add(out: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    if not blocks:
        return
    if out and out[-1]["role"] == role:
        out[-1]["content"].extend(blocks)
    else:
        out.append({"role": role, "content": blocks})


def to_anthropic_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI-style tool entries as the Messages API's tools."""
    return [{"name": t["function"]["name"], "description": t["function"].get("description", ""),
             "input_schema": t["function"]["parameters"]} for t in tools]


def tool_choice_param(choice: str) -> dict[str, Any]:
    """``tool_choice`` on the wire: ``auto``, ``any`` (for ``required``), ``none``, or the
    tool a name forces."""
    if choice in TOOL_CHOICES:
        return {"type": "any" if choice == "required" else choice}
    return {"type": "tool", "name": choice}


class AnthropicClient(HttpModel):
    """A :class:`~agenttree.models.base.ModelClient` for one model behind the Messages API.

    Args:
        api_key: sent as ``x-api-key``; ``None`` for servers that need none.

    The other arguments are :class:`~agenttree.models.http.HttpModel`'s (``on_delta`` set:
    stream).
    """

    RETRY_STATUSES = HttpModel.RETRY_STATUSES | {529}

    def __init__(self, spec: ModelSpec, http: httpx.AsyncClient, *, api_key: str | None,
                 **kwargs: Any) -> None:
        headers = {"anthropic-version": API_VERSION}
        if api_key:
            headers["x-api-key"] = api_key
        super().__init__(spec, http, headers=headers, **kwargs)
        self._url = f"{spec.base_url}/messages"

    def params(self, request: ModelRequest) -> dict[str, Any]:
        """The parameters sent besides the model, system, messages and tools: ``max_tokens``
        (always), the model's sampling settings, the tool choice (only with tools), and
        streaming."""
        return {"max_tokens": request.settings.max_output_tokens or DEFAULT_MAX_OUTPUT_TOKENS,
                **self._common_params(request, tool_choice_param)}

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """One message, retried on 429/529/5xx/transport errors within the budget.

        Raises:
            ModelError: settings the API refuses (said before anything is sent), a refused
                request, or a malformed answer.
        """
        params = self.params(request)
        if "seed" in params:
            raise ModelError(f"{self.name}: Anthropic's Messages API takes no seed; remove "
                             ":seed from this model's :model-settings")
        if params.get("temperature", 0) > 1:
            raise ModelError(f"{self.name}: Anthropic's Messages API takes a temperature from "
                             f"0 to 1, not {params['temperature']:g}")
        system, messages = to_anthropic(request.messages)
        body: dict[str, Any] = {"model": self.spec.model, "messages": messages}
        if system:
            body["system"] = system
        if request.tools:
            body["tools"] = to_anthropic_tools(request.tools)
        body.update(params)

        async def attempt_once() -> ModelResponse:
            if self._on_delta is None:
                return self._parse_plain(await self._post(self._url, body), request)
            answer = _StreamedMessage()
            plain = await self._stream(self._url, body, answer)
            if plain is not None:
                return self._parse_plain(plain, request)
            return self._response(answer.blocks, answer.usage, request)

        return await self._retrying(request, attempt_once)

    def _parse_plain(self, content: bytes, request: ModelRequest) -> ModelResponse:
        try:
            data = orjson.loads(content)
            blocks = data["content"]
            if data.get("type") != "message" or not isinstance(blocks, list):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise ModelError(f"{self.name}: the server's answer is not a Messages API message: "
                             f"{content[:200]!r}") from None
        return self._response(blocks, data.get("usage"), request)

    def _response(self, blocks: list[dict[str, Any]], usage: dict[str, Any] | None,
                  request: ModelRequest) -> ModelResponse:
        text = "".join(str(b.get("text") or "") for b in blocks if b.get("type") == "text")
        calls = tuple(ToolCall(id=str(b.get("id") or f"{request.agent}#{request.turn}.{i}"),
                               tool=str(b.get("name")), args=b.get("input", {}))
                      for i, b in enumerate(blocks) if b.get("type") == "tool_use")
        if usage and "input_tokens" in usage:
            prompt = sum(int(usage.get(k) or 0) for k in (
                "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))
            counted = Usage(prompt=prompt, completion=int(usage.get("output_tokens") or 0))
        else:
            counted = self._estimated_usage(request, text)
        return ModelResponse(text=text, calls=calls, usage=counted)


class _StreamedMessage:
    """Accumulates a Messages API event stream: content blocks by index, usage, the end."""

    end_marker = "message_stop"

    def __init__(self) -> None:
        self.by_index: dict[int, dict[str, Any]] = {}
        self.partial: dict[int, list[str]] = {}
        self.pending: list[str] = []
        self.usage: dict[str, Any] = {}
        self.done = False
        self.error: str | None = None
        self.retryable = False

    @property
    def blocks(self) -> list[dict[str, Any]]:
        """The content blocks, in order, tool inputs parsed (invalid JSON kept as text: the
        agent's argument check tells the model what is wrong)."""
        out = []
        for index in sorted(self.by_index):
            block = dict(self.by_index[index])
            if block.get("type") == "tool_use" and index in self.partial:
                raw = "".join(self.partial[index])
                try:
                    block["input"] = orjson.loads(raw) if raw else {}
                except orjson.JSONDecodeError:
                    block["input"] = raw
            out.append(block)
        return out

    def absorb(self, line: str, name: str) -> None:
        """Take one SSE line (``event:`` lines are redundant: each ``data:`` has its type)."""
        if self.done or self.error is not None or not line.startswith("data:"):
            return
        try:
            self._event(orjson.loads(line[5:].strip()), name)
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            self.error = f"{name}: malformed stream event {line[5:125].strip()!r}"

    def _event(self, event: dict[str, Any], name: str) -> None:
        kind = event["type"]
        if kind == "message_start":
            self.usage.update((event.get("message") or {}).get("usage") or {})
        elif kind == "content_block_start":
            self.by_index[event["index"]] = dict(event["content_block"])
        elif kind == "content_block_delta":
            self._delta(event["index"], event["delta"])
        elif kind == "message_delta":
            self.usage.update(event.get("usage") or {})
        elif kind == "message_stop":
            self.done = True
        elif kind == "error":
            error = event.get("error") or {}
            self.error = f"{name}: {error.get('type')}: {error.get('message')}"
            self.retryable = error.get("type") in RETRIED_STREAM_ERRORS

    def _delta(self, index: int, delta: dict[str, Any]) -> None:
        block = self.by_index.setdefault(index, {"type": "text", "text": ""})
        if delta.get("type") == "text_delta":
            block["text"] = str(block.get("text") or "") + delta["text"]
            self.pending.append(delta["text"])
        elif delta.get("type") == "input_json_delta":
            self.partial.setdefault(index, []).append(delta.get("partial_json") or "")
