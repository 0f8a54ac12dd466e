"""MCP servers' tools, through the official ``mcp`` SDK (docs/tools.md).

One :class:`McpConnection` per server of the plan's ``:mcp``: a task that owns the SDK client
(started in the engine's nursery, so a stdio server never outlives the run), lists the server's
tools and turns each into a :class:`~agenttree.tools.base.Tool` named ``server/tool`` (sent to
models as ``server__tool``). Agents call through it from their own tasks, so cancelling an
agent cancels its request in flight. A server that dies is started once more; after a second
death its tools fail with a tool error saying so.

The SDK is imported here only, when a run's plan declares a server: ``import agenttree.cli``
never loads it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from .. import events as ev
from ..errors import ToolError, UserError, only_error
from ..mcp_config import McpServer
from .base import AgentHandle, Tool
from .schema import MAX_DESCRIPTION, function_schema_problem

if TYPE_CHECKING:
    from mcp.client.client import Client

STARTUP_TIMEOUT_S = 60.0
"""How long a server has to start and list its tools."""
STARTS = 2
"""A server is started at most this often in a run: once, and once more if it dies."""


class McpConnection:
    """One MCP server for one run: :meth:`run` owns the connection, :meth:`call` uses it.

    Args:
        spec: the server, as the plan declares it.
        base_dir: what its relative ``:command`` and ``:cwd`` resolve against.
        path: the ``PATH`` a stdio server runs with.
        errlog: the file a stdio server's stderr is appended to.
        emit: logs an event.
    """

    def __init__(self, spec: McpServer, *, base_dir: str | os.PathLike[str] | None, path: str,
                 errlog: Path,
                 emit: Callable[[ev.Event], int]) -> None:
        self.spec = spec
        self.tools: dict[str, Tool] = {}
        """The server's tools agents may call, by plan name (``calc/add``)."""
        self._base_dir = base_dir
        self._path = path
        self._errlog = errlog
        self._emit = emit
        self._live: tuple[Client, trio.Event] | None = None
        """The connected client, and the event a call sets when it finds the server gone."""
        self._up = trio.Event()
        """Set while a client is connected, or for good once the server is given up."""
        self._gone = ""
        """Why the server is given up for the rest of the run (empty while it is not)."""
        self._left_out: dict[str, str] = {}

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Start the server, serve calls until cancelled; restart it once if it dies.

        Raises:
            UserError: the first start failed (the run does not begin).
        """
        for attempt in range(1, STARTS + 1):
            reason = f"it did not start and list its tools within {STARTUP_TIMEOUT_S:g} s"
            started = False
            try:
                with trio.CancelScope(deadline=trio.current_time() + STARTUP_TIMEOUT_S) as scope:
                    async with self._connect() as client:
                        listed = await _list_tools(client)
                        scope.deadline = math.inf
                        self.tools, left_out = self._adopt(listed)
                        self._left_out = left_out
                        self._emit(ev.McpStarted(server=self.spec.name,
                                                 transport=self.spec.transport,
                                                 target=self._target(),
                                                 tools=sorted(self.tools),
                                                 left_out=left_out, attempt=attempt))
                        broken = trio.Event()
                        self._live, started = (client, broken), True
                        self._up.set()
                        if attempt == 1:
                            task_status.started()
                        await broken.wait()
                        reason = "the connection closed"
            except UserError:
                raise
            except Exception as exc:  # whatever the SDK or the server did: it is down
                reason = _describe(exc)
            finally:
                self._down()
            if self.spec.url is None:
                reason += f" (its stderr: {self._errlog})"
            if attempt == 1 and not started:
                self._emit(ev.McpFailed(server=self.spec.name, reason=reason))
                raise UserError(f"MCP server :{self.spec.name} did not start: {reason}")
            self._emit(ev.McpFailed(server=self.spec.name, reason=reason,
                                    restarting=attempt < STARTS))
        self._gone = (f"MCP server :{self.spec.name} died again after its restart; its tools "
                      "are unavailable for the rest of the run")
        self._up.set()

    async def call(self, name: str, args: dict[str, Any]) -> str:
        """Call the server's tool ``name`` (its own name, without ``server/``).

        Raises:
            ToolError: the server refused the call, its tool reported an error, or the
                server is down (the message says which).
        """
        await self._up.wait()
        if self._live is None:
            raise ToolError(self._gone)
        client, broken = self._live
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED

        label = f"{self.spec.name}/{name}"
        try:
            result = await client.call_tool(name, args)
        except Exception as exc:
            error = only_error(exc) or exc
            if isinstance(error, MCPError) and error.code != CONNECTION_CLOSED:
                raise ToolError(f"{label}: the server refused the call: {error.message}") \
                    from None
            if self._live is not None and self._live[1] is broken:
                self._down()  # later calls wait for the restart
            broken.set()
            raise ToolError(f"{label}: MCP server :{self.spec.name} closed the connection "
                            f"during the call ({_describe(exc)}); a server is restarted once in "
                            "a run: call the tool again") from None
        text = render(result)
        if result.is_error:
            raise ToolError(f"{label}: {text}")
        return text

    def missing(self, name: str) -> str:
        """The tool error for ``name`` (``server/tool``), a tool the server does not offer."""
        why = self._left_out.get(name)
        if why is not None:
            return f"{name}: MCP server :{self.spec.name} lists it, but it is left out ({why})"
        return (f"{name}: MCP server :{self.spec.name} has no such tool; it has: "
                f"{', '.join(sorted(self.tools)) or 'none'}")

    # --- internals ---------------------------------------------------------------------------

    def _down(self) -> None:
        """No client until the next start: calls from now on wait for it."""
        self._live = None
        if self._up.is_set():
            self._up = trio.Event()

    def _target(self) -> str:
        if self.spec.url is not None:
            return self.spec.url
        command, _ = self.spec.launch(self._base_dir)
        return " ".join(command)

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[Client]:
        from mcp.client.client import Client
        from mcp.client.stdio import StdioServerParameters, stdio_client
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        if self.spec.url is not None:
            headers = self.spec.headers()  # raises UserError for a variable not set
            async with create_mcp_http_client(headers=headers) as http, \
                    Client(streamable_http_client(self.spec.url, http_client=http)) as client:
                yield client
            return
        command, cwd = self.spec.launch(self._base_dir)
        if not os.path.isdir(cwd):
            raise UserError(f"MCP server :{self.spec.name}: no directory {cwd} (its :cwd)")
        params = StdioServerParameters(command=command[0], args=command[1:], cwd=cwd,
                                       env={"PATH": self._path, **self.spec.env})
        self._errlog.parent.mkdir(parents=True, exist_ok=True)
        with open(self._errlog, "a") as errlog:
            async with Client(stdio_client(params, errlog=errlog)) as client:
                yield client

    def _adopt(self, listed: list[Any]) -> tuple[dict[str, Tool], dict[str, str]]:
        """The listed tools agents may call, and those left out with why."""
        tools: dict[str, Tool] = {}
        left_out: dict[str, str] = {}
        for item in listed:
            name = f"{self.spec.name}/{item.name}"
            t = self._tool(name, item.name, item.description or "", item.input_schema)
            problem = function_schema_problem(t.schema())
            if name in tools:
                problem = "the server lists it twice"
            if problem is not None:
                left_out[name] = f"a hosted API would refuse it: {problem}"
                continue
            tools[name] = t
        return tools, left_out

    def _tool(self, name: str, own: str, description: str, schema: dict[str, Any]) -> Tool:
        if len(description) > MAX_DESCRIPTION:
            description = description[:MAX_DESCRIPTION - 1] + "…"

        async def run(agent: AgentHandle, args: dict[str, Any]) -> str:
            return await self.call(own, args)

        return Tool(name=name, description=description or f"{own} (MCP server "
                    f":{self.spec.name})", params={}, input_schema=schema, run=run)


async def _list_tools(client: Client) -> list[Any]:
    tools: list[Any] = []
    cursor = None
    while True:
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            return tools


def render(result: Any) -> str:
    """A tool result's content as the text a model reads: text as-is, other content described,
    structured content as JSON when there is no text."""
    parts = []
    for item in result.content:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind} {item.mime_type}, {len(item.data) * 3 // 4} bytes]")
        elif kind == "resource":
            resource = item.resource
            parts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource {item.uri}]")
        else:
            parts.append(f"[{kind or type(item).__name__} content]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


def _describe(exc: BaseException) -> str:
    """What went wrong, in a line (the SDK's task groups wrap errors in groups)."""
    error = only_error(exc)
    if error is None:
        assert isinstance(exc, BaseExceptionGroup)
        return "; ".join(_describe(e) for e in exc.exceptions)
    text = str(error) or type(error).__name__
    return text if len(text) < 300 else text[:297] + "..."
