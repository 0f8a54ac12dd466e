"""A Messages API server for tests: real HTTP (h11) on 127.0.0.1, as strict as the real one.

The HTTP side is :class:`~.fake_openai.FakeOpenAI`'s; what differs is what it refuses
(:mod:`.anthropic_rules`: headers, then the body, answered with the API's error bodies and
statuses) and how its streams are framed (``event:`` and ``data:`` lines, ending with
``message_stop``, no ``[DONE]``).
"""

from __future__ import annotations

from typing import Any

import orjson

from .anthropic_rules import header_refusal, refusal
from .fake_openai import FakeOpenAI, Reply


def message(text: str = "", calls: list[tuple[str, dict[str, Any]]] = (),
            usage: tuple[int, int] | None = (11, 7), **kwargs: Any) -> Reply:
    """A non-streamed message with optional tool uses (ids ``toolu_0``, ``toolu_1``…)."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += [{"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": args}
                for i, (name, args) in enumerate(calls)]
    body: dict[str, Any] = {"id": "msg_fake", "type": "message", "role": "assistant",
                            "model": "claude-test", "content": content,
                            "stop_reason": "tool_use" if calls else "end_turn",
                            "stop_sequence": None}
    if usage:
        body["usage"] = {"input_tokens": usage[0], "output_tokens": usage[1]}
    return Reply(json=body, **kwargs)


def streamed(pieces: list[str], calls: list[tuple[str, str, list[str]]] = (),
             usage: tuple[int, int] = (20, 9), stop: bool = True, **kwargs: Any) -> Reply:
    """A streamed message: a text block fed ``pieces``, then a tool use per ``(id, name,
    partial JSON pieces)``, then usage and (``stop``) ``message_stop``; pings in between."""
    events: list[dict[str, Any] | bytes] = [
        {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": "claude-test",
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text",
                                                                       "text": ""}},
        {"type": "ping"}]
    events += [{"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": p}} for p in pieces]
    events.append({"type": "content_block_stop", "index": 0})
    for index, (use_id, name, parts) in enumerate(calls, start=1):
        events.append({"type": "content_block_start", "index": index, "content_block": {
            "type": "tool_use", "id": use_id, "name": name, "input": {}}})
        events += [{"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": p}} for p in parts]
        events.append({"type": "content_block_stop", "index": index})
    events.append({"type": "message_delta",
                   "delta": {"stop_reason": "tool_use" if calls else "end_turn",
                             "stop_sequence": None}, "usage": {"output_tokens": usage[1]}})
    if stop:
        events.append({"type": "message_stop"})
    return Reply(chunks=events, done=False, **kwargs)


def stream_error(kind: str, text: str) -> Reply:
    """A stream that starts, then fails with an ``error`` event (as the API does when it is
    overloaded after answering 200)."""
    start = streamed(["partial "], stop=False).chunks[:4]
    return Reply(chunks=[*start, {"type": "error", "error": {"type": kind, "message": text}}],
                 done=False)


def error(status: int, kind: str, text: str, **kwargs: Any) -> Reply:
    """An error answer with the API's body."""
    return Reply(status=status, json={"type": "error", "error": {"type": kind, "message": text},
                                      "request_id": "req_fake"}, **kwargs)


class FakeAnthropic(FakeOpenAI):
    """Serve scripted replies over the Messages API's wire format; refuse what it refuses.

    With ``api_key`` set, a request without that key in ``x-api-key`` gets a 401. Refusals are
    recorded in ``refused``.
    """

    def _reply_to(self, headers: dict[str, str], body: bytes) -> Reply:
        found = header_refusal(headers, self.api_key) or refusal(orjson.loads(body))
        if found is not None:
            self.refused.append(found.message)
            return Reply(status=found.status, json=found.body())
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    @staticmethod
    def frame(chunk: dict[str, Any] | bytes) -> bytes:
        if isinstance(chunk, bytes):
            return b"event: message\ndata: " + chunk + b"\n\n"
        return (b"event: " + chunk["type"].encode() + b"\ndata: " + orjson.dumps(chunk)
                + b"\n\n")
