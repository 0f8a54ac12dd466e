"""A small OpenAI-compatible chat server on 127.0.0.1 for the bench tests: it streams the
assistant message an ``answer`` function gives for each request (by default a plain answer, or
a tool call with garbled arguments when the prompt asks for a haiku), and counts how many
requests are in flight at once. What the hosted API refuses it refuses too (HTTP 400, counted
in ``refused``)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import orjson
import trio

from ..models.openai_rules import refusal

Answer = Callable[[dict[str, Any]], dict[str, Any]]
"""Given a chat request's JSON body, the assistant message: ``content`` or ``tool_calls``."""


def haiku_garbles(request: dict[str, Any]) -> dict[str, Any]:
    """A plain answer, but a call with broken JSON when the user asks for a haiku."""
    prompt = str(request["messages"][-1].get("content") or "")
    if "haiku" in prompt and request["messages"][-1]["role"] == "user":
        return {"tool_calls": [{"index": 0, "id": "c1", "type": "function", "function": {
            "name": request["tools"][0]["function"]["name"], "arguments": '{"a": 1,'}}]}
    return {"content": "No tool is needed for that."}


@attrs.define
class FakeProvider:
    """Answers chat completions; ``hold`` makes each request wait until that many are in
    flight together (proof that a cap lets them through at once); ``stall`` makes every
    request wait forever (``got_request`` is set when one arrives); ``refuse`` answers that
    many requests, from the first, with HTTP 401 (a bad key: not retried)."""

    answer: Answer = haiku_garbles
    hold: int | None = None
    stall: bool = False
    refuse: int = 0
    in_flight: int = 0
    most: int = 0
    requests: int = 0
    bodies: list[dict[str, Any]] = attrs.Factory(list)
    refused: list[str] = attrs.Factory(list)
    got_request: trio.Event = attrs.Factory(trio.Event)
    _together: trio.Event = attrs.Factory(trio.Event)

    async def serve(self, nursery: trio.Nursery, port: int = 0) -> str:
        """Start listening; returns the model spec that reaches this server."""
        listeners = await nursery.start(partial(trio.serve_tcp, self._handle, port,
                                                host="127.0.0.1"))
        return f"openai:fake@http://127.0.0.1:{listeners[0].socket.getsockname()[1]}/v1"

    async def _handle(self, stream: trio.SocketStream) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += await stream.receive_some(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body) < length:
            body += await stream.receive_some(65536)
        request = orjson.loads(body)
        self.bodies.append(request)
        self.requests += 1
        refused = refusal(request)
        if refused is not None:
            self.refused.append(refused.message)
            answer = orjson.dumps(refused.body())
            await stream.send_all(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json"
                                  b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                                  % (len(answer), answer))
            await stream.aclose()
            return
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.got_request.set()
        if self.stall:
            await trio.sleep_forever()
        if self.requests <= self.refuse:
            self.in_flight -= 1
            bad_key = b'{"error": {"message": "bad key"}}'
            await stream.send_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: "
                                  b"application/json\r\nContent-Length: %d\r\n"
                                  b"Connection: close\r\n\r\n%s" % (len(bad_key), bad_key))
            await stream.aclose()
            return
        if self.hold is not None:
            if self.in_flight >= self.hold:
                self._together.set()
            await self._together.wait()
        delta = {"role": "assistant", **self.answer(request)}
        chunks = [{"choices": [{"index": 0, "delta": delta}]},
                  {"choices": [], "usage": {"prompt_tokens": 50, "completion_tokens": 10}}]
        sse = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + \
            b"data: [DONE]\n\n"
        await stream.send_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                              b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                              % (len(sse), sse))
        self.in_flight -= 1
        await stream.aclose()
