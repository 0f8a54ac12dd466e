"""The web view's ASGI app, served by hypercorn in trio mode.

Routes (see ``docs/web.md``)::

    GET  /                  the page (static; it reads the token from its own URL)
    GET  /static/NAME       the page's scripts and style (a fixed list, loaded at start)
    GET  /api/state?seq=N   the folded state as JSON (now, or as of seq N); &agent=ID keeps
                            only that agent in "agents" (the page's detail panels)
    GET  /api/reports       benchmark reports with progress and summaries
    POST /api/control       a control.jsonl command; token in a header; answers applied/rejected
    WS   /ws/events?from=S  every event from seq S on, then live (the log's own lines)
    GET  /api/event?seq=N  one event of the log, as written (the Activity panel opens a mark)
    WS   /ws/view           the page's feed: the tree's rows folded here (a snapshot, then
                            deltas) and the selected agent's detail; the page sends
                            {"select": ID or null}

No route maps a request path to a file: the static files are a dict built at start from the
package, and the API reads only ``events.jsonl`` and ``control.jsonl`` of the run directory
(and the reports' own files), so no request can reach anything else.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Awaitable, Callable
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from ..control import MAX_COMMAND
from ..errors import LogCorrupt, UserError
from ..snapshots import state_from
from ..state import state_to_json
from .auth import Guard, query_params, same_origin
from .close_codes import CLOSE_BEHIND, CLOSE_POLICY
from .hub import CHUNK_BYTES, MAX_WATCHED, BadRequest, Hub, Subscriber, Viewer
from .reports import ReportScanner

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

CLOSE_GRACE_S = 5.0
"""How long a dropped client gets to take its close frame."""
MAX_VIEW_MESSAGE = 65_536
"""The longest message a page may send on ``/ws/view``."""
READ_TIMEOUT_S = 30
"""A connection that sends nothing for this long is closed (a half-open connection, a client
that stopped mid-request); websocket clients answer the server's pings, so they stay."""
PING_S = 10.0
"""How often websocket clients are pinged (well inside :data:`READ_TIMEOUT_S`)."""

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8"}
_SECURITY = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy",
     b"default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
]


def _static_files() -> dict[str, tuple[bytes, bytes]]:
    folder = resources.files(__package__) / "static"
    return {item.name: (item.read_bytes(), _TYPES[Path(item.name).suffix].encode())
            for item in folder.iterdir() if Path(item.name).suffix in _TYPES}


class WebApp:
    """The ASGI application for one run directory (the hub must be running)."""

    def __init__(self, hub: Hub, guard: Guard, reports: ReportScanner) -> None:
        self.hub = hub
        self.guard = guard
        self.reports = reports
        self.static = _static_files()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
        elif scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})

    # --- HTTP --------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/" or path.startswith("/static/"):
            name = "index.html" if path == "/" else path[len("/static/"):]
            if name not in self.static:
                return await _respond(send, 404, {"error": f"no such page: {path}"})
            if method not in ("GET", "HEAD"):
                return await _respond(send, 405, {"error": f"{method} {path}: use GET"})
            body, content_type = self.static[name]
            return await _respond_bytes(send, 200, body, content_type)
        routes = {"/api/state": ("GET", self._state), "/api/reports": ("GET", self._reports),
                  "/api/event": ("GET", self._event),
                  "/api/control": ("POST", self._control)}
        if path not in routes:
            return await _respond(send, 404, {"error": f"no such page: {path}"})
        wanted, handler = routes[path]
        if method != wanted:
            return await _respond(send, 405, {"error": f"{method} {path}: use {wanted}"})
        query = query_params(scope["query_string"])
        if not self.guard.any_token(scope["headers"], query):
            return await _respond(send, 401, {"error": "missing or wrong token; use the URL "
                                                       "that `agenttree serve` printed"})
        try:
            status, data = await handler(scope, receive, query)
        except BadRequest as exc:
            status, data = 400, {"error": str(exc)}
        await _respond(send, status, data)

    async def _state(self, scope: Scope, receive: Receive,
                     query: dict[str, str]) -> tuple[int, Any]:
        raw = query.get("seq")
        seq = self.hub.seq if raw is None else _seq_in(raw, 0, self.hub.seq)
        if seq == self.hub.seq:
            state = self.hub.state  # the hub's own: nothing to fold
        else:
            base = self.hub.snapshots.before(seq)
            try:
                # From the hub's last snapshot before it: a copy and a fold of fewer than
                # snapshot_every events, in a thread all the same (a snapshot of a large run
                # takes a while to copy, and the server, Ctrl-C included, must not wait).
                state = await trio.to_thread.run_sync(state_from, self.hub.log_path, base, seq,
                                                      abandon_on_cancel=True)
            except (LogCorrupt, UserError) as exc:
                return 500, {"error": str(exc)}
        if "agent" in query:  # the page's panels: run-level parts and one agent at most
            one = state.agents.get(query["agent"])
            state = attrs.evolve(state, agents={} if one is None else {one.id: one})
        data = state_to_json(state)
        data["server"] = {"seq": self.hub.seq, "clients": self.hub.clients,
                          "error": self.hub.error}
        return 200, data

    async def _event(self, scope: Scope, receive: Receive,
                     query: dict[str, str]) -> tuple[int, Any]:
        seq = _seq_in(query.get("seq", ""), 1, self.hub.seq)
        # Line ``seq`` of the log (seq n is line n), read in a thread: a long log takes a while.
        line = await trio.to_thread.run_sync(_line, self.hub.log_path, seq,
                                             abandon_on_cancel=True)
        return 200, {"seq": seq, "event": orjson.loads(line)}

    async def _reports(self, scope: Scope, receive: Receive,
                       query: dict[str, str]) -> tuple[int, Any]:
        return 200, {"reports": self.reports.scan()}

    async def _control(self, scope: Scope, receive: Receive,
                       query: dict[str, str]) -> tuple[int, Any]:
        if not self.guard.header_token(scope["headers"]):
            return 401, {"error": "control needs the token in a header "
                                  "(Authorization: Bearer TOKEN or X-Agenttree-Token: TOKEN)"}
        body = await _read_body(receive, MAX_COMMAND)
        if body is None:
            return 413, {"error": f"a command is at most {MAX_COMMAND} bytes"}
        try:
            command = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return 400, {"error": f"the body is not JSON: {exc}"}
        answer = await self.hub.control(command)
        status = {"applied": 200, "rejected": 422, "pending": 504}[answer["status"]]
        return status, answer

    # --- websocket ---------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        query = query_params(scope["query_string"])
        if not same_origin(scope["headers"]):
            return await _close(send, CLOSE_POLICY, "cross-site websocket refused (Origin)")
        if not self.guard.any_token(scope["headers"], query):
            return await _close(send, CLOSE_POLICY, "missing or wrong token")
        if scope["path"] == "/ws/view":
            return await self._view(receive, send)
        if scope["path"] != "/ws/events":
            return await _close(send, CLOSE_POLICY, f"no such websocket: {scope['path']}")
        raw = query.get("from", "1")
        try:
            sub = self.hub.subscribe(int(raw))
        except ValueError:
            return await _close(send, CLOSE_POLICY, f"from={raw!r}: not a whole number")
        except BadRequest as exc:
            return await _close(send, CLOSE_POLICY, str(exc))
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_until_disconnect, receive, nursery.cancel_scope)
                await _stream(self.hub, sub, send)
                reason = f"{sub.dropped}; resume with from={sub.sent + 1}"
                with trio.move_on_after(CLOSE_GRACE_S):
                    await _close(send, CLOSE_BEHIND, reason[:120])
                nursery.cancel_scope.cancel()
        finally:
            self.hub.unsubscribe(sub)

    async def _view(self, receive: Receive, send: Send) -> None:
        try:
            viewer = self.hub.watch()
        except BadRequest as exc:
            return await _close(send, CLOSE_POLICY, str(exc))
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_selections, receive, viewer, nursery.cancel_scope)
                while viewer.dropped is None:
                    for text in self.hub.messages_for(viewer):
                        await send({"type": "websocket.send", "text": text})
                    await viewer.wait()
                with trio.move_on_after(CLOSE_GRACE_S):
                    await _close(send, CLOSE_POLICY, viewer.dropped[:120])
                nursery.cancel_scope.cancel()
        finally:
            self.hub.unwatch(viewer)


def _seq_in(raw: str, first: int, last: int) -> int:
    """``raw`` (a query's ``seq``) as a whole number from ``first`` to ``last``.

    Raises:
        BadRequest: not a whole number, or out of that range (0 is the empty state).
    """
    try:
        seq = int(raw)
    except ValueError:
        raise BadRequest(f"seq={raw!r}: not a whole number") from None
    if not first <= seq <= last:
        empty = "; 0 is the empty state" if first == 0 else ""
        raise BadRequest(f"seq={seq}: out of range (this log has seqs 1 to {last}{empty})")
    return seq


def _line(path: Path, seq: int) -> bytes:
    with open(path, "rb") as f:
        return next(itertools.islice(f, seq - 1, seq))


async def _stream(hub: Hub, sub: Subscriber, send: Send) -> None:
    """Send ``sub``'s history, then its live chunks (small ones joined), until it is dropped."""
    for text in hub.history(sub):
        await send({"type": "websocket.send", "text": text.decode()})
    sub.sent = sub.live_from - 1
    async with sub.receive:
        async for chunk in sub.receive:
            sub.took(chunk)
            texts, size, last = [chunk.text], len(chunk.text), chunk.last
            while size < CHUNK_BYTES:
                try:
                    more = sub.receive.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                sub.took(more)
                texts.append(more.text)
                size += len(more.text)
                last = more.last
            await send({"type": "websocket.send", "text": "".join(texts)})
            sub.sent = last


async def _until_disconnect(receive: Receive, scope: trio.CancelScope) -> None:
    while (await receive())["type"] != "websocket.disconnect":
        pass  # the event stream ignores what clients send
    scope.cancel()


async def _selections(receive: Receive, viewer: Viewer, scope: trio.CancelScope) -> None:
    """Read what the page sends (``{"select": ID or null}``, ``{"watch": [ID, …]}``) until it
    disconnects; anything else is refused with a message saying why, and the feed goes on."""
    while (message := await receive())["type"] != "websocket.disconnect":
        if message["type"] != "websocket.receive":
            continue
        try:
            request = parse_page_message(message)
        except BadRequest as exc:
            viewer.refuse(str(exc))
            continue
        if isinstance(request, frozenset):
            viewer.watch(request)
        else:
            viewer.select(request)
    scope.cancel()


PAGE_MESSAGES = '{"select": AGENT_ID or null} or {"watch": [AGENT_ID, ...]}'


def parse_page_message(message: dict[str, Any]) -> str | frozenset[str] | None:
    """What a page's message asks for: the agent ``{"select": ID or null}`` selects (a str or
    None), or the agents ``{"watch": [ID, …]}`` shows in its Activity panel (a frozenset).

    Raises:
        BadRequest: a binary or over-long message, not JSON, or not one of those shapes.
    """
    text = message.get("text")
    if text is None:
        raise BadRequest(f"send text: {PAGE_MESSAGES}")
    if len(text) > MAX_VIEW_MESSAGE:
        raise BadRequest(f"a message is at most {MAX_VIEW_MESSAGE} characters")
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or set(data) not in ({"select"}, {"watch"}):
        raise BadRequest(f"expected {PAGE_MESSAGES}")
    if "watch" in data:
        ids = data["watch"]
        if not isinstance(ids, list) or len(ids) > MAX_WATCHED:
            raise BadRequest(f"watch: a list of at most {MAX_WATCHED} agent ids")
        for agent_id in ids:
            if not isinstance(agent_id, str) or not agent_id:
                raise BadRequest(f"watch: {agent_id!r} is not an agent id (a non-empty "
                                 "string)")
        return frozenset(ids)
    selected = data["select"]
    if selected is not None and (not isinstance(selected, str) or not selected):
        raise BadRequest(f"select: {selected!r} is not an agent id (a non-empty string) "
                         "or null")
    return selected


async def _close(send: Send, code: int, reason: str) -> None:
    await send({"type": "websocket.close", "code": code, "reason": reason})


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None when it is longer than ``limit``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send: Send, status: int, data: Any) -> None:
    await _respond_bytes(send, status, orjson.dumps(data), b"application/json")


async def _respond_bytes(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()),
               *_SECURITY]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def server_config(host: str, port: int, *, read_timeout_s: int = READ_TIMEOUT_S,
                  ping_s: float = PING_S) -> Config:
    """Hypercorn settings: one bind, no access log (URLs carry the token), quiet errors, and
    idle connections timed out (``read_timeout_s``; websocket clients are pinged every
    ``ping_s`` seconds, and their answers keep them)."""
    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("agenttree.web")
    config.graceful_timeout = 1.0
    config.read_timeout = read_timeout_s
    config.websocket_ping_interval = ping_s
    return config


async def serve(hub: Hub, token: str, *, host: str = "127.0.0.1", port: int = 0,
                reports: str | os.PathLike[str] | None = None, config: Config | None = None,
                task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the web view of ``hub``'s run directory until cancelled (runs the hub too).

    ``task_status.started`` gets the base URL (``http://127.0.0.1:PORT``) once the socket is
    listening. Cancelling stops the server; ``config`` (default :func:`server_config`)
    overrides hypercorn's settings.
    """
    app = WebApp(hub, Guard(token), ReportScanner(reports))
    config = config or server_config(host, port)
    async with trio.open_nursery() as nursery:
        await nursery.start(hub.run)
        binds = await nursery.start(partial(hypercorn_serve, app, config, mode="asgi"))
        task_status.started(binds[0])
