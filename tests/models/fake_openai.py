"""An OpenAI-compatible chat-completions server for tests: real HTTP (h11) on 127.0.0.1.

As strict as the hosted API (:mod:`.openai_rules`): a request it would refuse gets the same
HTTP 400 (recorded in ``refused``) instead of a reply. With ``api_key`` set, a request without
that key gets a 401 whose message echoes the ``Authorization`` header it was sent (as some
servers and proxies do). Otherwise each request takes the next :class:`Reply` (or the last one,
repeated): a JSON completion, an SSE stream, an error status with headers, raw bytes, a delay,
or a connection dropped mid-stream.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import h11
import orjson
import trio

from .openai_rules import Refusal, refusal

HOLD_GUARD_S = 60
"""How long a held answer waits for the house to fill before the server gives up."""


@attrs.define(kw_only=True)
class Reply:
    status: int = 200
    json: Any = None
    chunks: list[dict[str, Any] | bytes] | None = None  # bytes are sent as they are
    headers: dict[str, str] = attrs.Factory(dict)
    raw: bytes | None = None
    delay_s: float = 0.0
    drop_after: int | None = None
    done: bool = True  # end a stream with data: [DONE]


def completion(text: str = "", calls: list[tuple[str, dict[str, Any]]] = (),
               usage: tuple[int, int] | None = (11, 7)) -> Reply:
    """A non-streamed completion with optional tool calls."""
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = [{"id": f"call_{i}", "type": "function",
                                  "function": {"name": name, "arguments": orjson.dumps(args)
                                               .decode()}}
                                 for i, (name, args) in enumerate(calls)]
    body: dict[str, Any] = {"choices": [{"index": 0, "message": message}]}
    if usage:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1]}
    return Reply(json=body)


def stream(pieces: list[str], usage: tuple[int, int] = (20, 9), **kwargs: Any) -> Reply:
    """A streamed completion: one chunk per piece of text, then usage."""
    chunks = [{"choices": [{"index": 0, "delta": {"content": p}}]} for p in pieces]
    chunks.append({"choices": [], "usage": {"prompt_tokens": usage[0],
                                            "completion_tokens": usage[1]}})
    return Reply(chunks=chunks, **kwargs)


class FakeOpenAI:
    """Serve scripted replies; record requests, disconnects and concurrency."""

    def __init__(self, replies: list[Reply], *, api_key: str | None = None,
                 hold_until: int | None = None) -> None:
        self.replies = list(replies)
        self.api_key = api_key
        self.hold_until = hold_until
        """Hold every answer until this many requests have once been in flight together (a
        client's concurrency cap is then reached whatever the machine's load)."""
        self.full_house = trio.Event()
        self.requests: list[dict[str, Any]] = []
        self.refused: list[str] = []
        self.disconnects = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.base_url = ""
        self.got_request = trio.Event()
        self.saw_disconnect = trio.Event()

    async def serve(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) \
            -> None:
        async with trio.open_nursery() as nursery:
            listeners = await nursery.start(
                functools.partial(trio.serve_tcp, self._connection, 0, host="127.0.0.1"))
            port = listeners[0].socket.getsockname()[1]
            self.base_url = f"http://127.0.0.1:{port}/v1"
            task_status.started(self.base_url)

    def _reply_to(self, headers: dict[str, str], body: bytes) -> Reply:
        """A refusal when the hosted API would refuse the request, else the next reply."""
        auth = headers.get("authorization", "")
        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            found: Refusal | None = Refusal(f"Incorrect API key provided in "
                                            f"'Authorization: {auth}'.", status=401,
                                            code="invalid_api_key")
        else:
            found = refusal(orjson.loads(body))
        if found is not None:
            self.refused.append(found.message)
            return Reply(status=found.status, json=found.body())
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    async def _connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request = await self._event(conn, stream)
                if not isinstance(request, h11.Request):
                    return
                body = b""
                while not isinstance(event := await self._event(conn, stream),
                                     h11.EndOfMessage):
                    body += event.data
                headers = {k.decode(): v.decode() for k, v in request.headers}
                self.requests.append({"path": request.target.decode(), "headers": headers,
                                      "body": orjson.loads(body)})
                self.got_request.set()
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    await self._hold()
                    if not await self._respond(conn, stream, self._reply_to(headers, body)):
                        return
                finally:
                    self.in_flight -= 1
                if conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (trio.BrokenResourceError, trio.ClosedResourceError, h11.RemoteProtocolError):
            self.disconnects += 1
        finally:
            await stream.aclose()

    async def _hold(self) -> None:
        if self.hold_until is None:
            return
        if self.in_flight >= self.hold_until:
            self.full_house.set()
        # A hang guard only (real time): a client that never opens `hold_until` requests at
        # once fails the test here rather than hanging it.
        with trio.fail_after(HOLD_GUARD_S):
            await self.full_house.wait()

    @staticmethod
    def frame(chunk: dict[str, Any] | bytes) -> bytes:
        """One server-sent event of a stream (bytes are sent as its data, as they are)."""
        raw = chunk if isinstance(chunk, bytes) else orjson.dumps(chunk)
        return b"data: " + raw + b"\n\n"

    async def _event(self, conn: h11.Connection, stream: trio.SocketStream) -> Any:
        while (event := conn.next_event()) is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(65536))
        return event

    async def _respond(self, conn: h11.Connection, stream: trio.SocketStream,
                       reply: Reply) -> bool:
        if reply.delay_s:
            with trio.move_on_after(reply.delay_s):
                if await stream.receive_some(1) == b"":  # the client went away
                    self.disconnects += 1
                    self.saw_disconnect.set()
                    return False

        async def send(event: Any) -> None:
            await stream.send_all(conn.send(event) or b"")

        headers = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
        if reply.chunks is not None:
            await send(h11.Response(status_code=reply.status,
                                    headers=[(b"content-type", b"text/event-stream"),
                                             *headers]))
            for i, chunk in enumerate(reply.chunks):
                if reply.drop_after is not None and i == reply.drop_after:
                    await stream.aclose()
                    return False
                await send(h11.Data(data=self.frame(chunk)))
            if reply.done:
                await send(h11.Data(data=b"data: [DONE]\n\n"))
        else:
            body = reply.raw if reply.raw is not None else orjson.dumps(reply.json)
            await send(h11.Response(status_code=reply.status,
                                    headers=[(b"content-type", b"application/json"),
                                             (b"content-length", str(len(body)).encode()),
                                             *headers]))
            await send(h11.Data(data=body))
        await send(h11.EndOfMessage())
        return True
