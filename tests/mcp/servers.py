"""MCP servers written with the SDK for the tests: ``python servers.py stdio`` serves over
stdio; ``python servers.py http TOKEN`` serves streamable HTTP on 127.0.0.1 (a port the system
picks, printed as the first line of stdout) and refuses requests without ``Bearer TOKEN``.

Their tools: ``add``; ``fail`` (the tool reports an error); ``crash`` (the process SIGKILLs
itself mid-call); ``block`` (signals ``started`` through the FIFO named by ``$MCP_TEST_FIFO``,
then waits forever, and writes ``cancelled`` to it when the client cancels the call);
``was_cancelled`` (returns once a ``block`` call was cancelled, while the server runs on);
``odd`` (an input schema hosted APIs refuse: an array without items).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import Any

import anyio
from mcp.server.mcpserver import MCPServer

app = MCPServer("testserver")


@app.tool()
def add(a: int, b: int) -> int:
    """Add two whole numbers."""
    return a + b


@app.tool()
def fail(why: str) -> str:
    """Report an error."""
    raise ValueError(why)


@app.tool()
def crash() -> str:
    """Kill this server."""
    os.kill(os.getpid(), signal.SIGKILL)
    return "unreachable"


_cancelled: list[anyio.Event] = []


def _cancelled_event() -> anyio.Event:
    if not _cancelled:
        _cancelled.append(anyio.Event())
    return _cancelled[0]


@app.tool()
async def block() -> str:
    """Wait until cancelled."""
    fifo = os.environ["MCP_TEST_FIFO"]
    await anyio.to_thread.run_sync(_write, fifo, "started")
    try:
        await anyio.sleep_forever()
    finally:
        _cancelled_event().set()
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_write, fifo, "cancelled")
    return "unreachable"


@app.tool()
async def was_cancelled() -> str:
    """Return once a call to block has been cancelled (waits until then)."""
    await _cancelled_event().wait()
    return "block was cancelled"


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _odd_tool() -> None:
    async def odd(xs: list[int] | None = None) -> str:
        return "odd"

    app.add_tool(odd, name="odd", description="an array parameter without items")
    tool = app._tool_manager.get_tool("odd")
    tool.parameters = {"type": "object", "properties": {"xs": {"type": "array"}}}


def serve_http(token: str) -> None:
    import uvicorn
    from starlette.responses import PlainTextResponse

    inner = app.streamable_http_app()

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            if headers.get(b"authorization") != f"Bearer {token}".encode():
                await PlainTextResponse("no", status_code=401)(scope, receive, send)
                return
        await inner(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # Listen before the port is told: a client that connects while uvicorn is still starting
    # waits in the backlog instead of being refused (it was, on a busy machine).
    sock.listen(128)
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(guarded, log_level="warning", lifespan="on"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    if "MCP_TEST_PIDFILE" in os.environ:
        with open(os.environ["MCP_TEST_PIDFILE"], "a") as f:
            f.write(f"{os.getpid()} {os.getcwd()}\n")
    _odd_tool()
    if sys.argv[1] == "http":
        serve_http(sys.argv[2])
    else:
        app.run()
