"""File tools: read-file, write-file, list-dir, all confined to the run's workspace.

Paths are relative to the agent's working directory (its task's ``:cwd``) and resolved by
:class:`~agenttree.workspace.Workspace`, which refuses anything that leaves the workspace.
File system calls run in a worker thread so they never block the other agents.
"""

from __future__ import annotations

import posixpath
from typing import Any

import trio

from ..errors import ToolError
from ..lock_table import LockError
from .base import AgentHandle, Param, tool

READ_LIMIT = 200_000
"""Bytes of a file returned to the model at most."""


async def _in_thread(fn: Any, *args: Any) -> Any:
    """Run a blocking workspace call in a worker thread; OS errors become tool errors."""
    try:
        return await trio.to_thread.run_sync(fn, *args)
    except OSError as exc:
        raise ToolError(f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")) from None


def agent_path(agent: AgentHandle, path: str) -> str:
    """``path`` relative to the agent's working directory (checked later by the workspace)."""
    if "\x00" in path:
        raise ToolError(f"path {path!r} contains a NUL byte")
    if path.startswith("/"):
        raise ToolError(f"path {path!r} is absolute; paths are relative to the workspace")
    return posixpath.normpath(posixpath.join(agent.task.cwd, path)) if path else agent.task.cwd


@tool("read-file", "Read a text file from the workspace.",
      path=Param(type="string", description="file path, relative to your working directory"))
async def read_file(agent: AgentHandle, args: dict[str, Any]) -> str:
    path = agent_path(agent, args["path"])
    workspace = agent.engine.workspace
    data, truncated = await _in_thread(workspace.read_bytes, path, READ_LIMIT)
    text = data.decode("utf-8", errors="replace")
    return text + (f"\n[... truncated at {READ_LIMIT} bytes]" if truncated else "")


@tool("write-file", "Create or replace a text file in the workspace (parents are created).",
      path=Param(type="string", description="file path, relative to your working directory"),
      content=Param(type="string", description="the whole new content of the file"),
      token=Param(type="integer", description="fencing token of your write lock on the path",
                  required=False))
async def write_file(agent: AgentHandle, args: dict[str, Any]) -> str:
    path = agent_path(agent, args["path"])
    data = args["content"].encode()
    workspace = agent.engine.workspace
    required = agent.engine.plan.locks.mode == "required"
    try:
        await agent.engine.locks.check_write(agent.id, workspace.normalise(path),
                                             args.get("token"), required=required)
    except LockError as exc:
        why = " (this plan requires a write lock: call lock first)" if required else ""
        raise ToolError(f"write-file refused: {exc}{why}") from None
    written = await _in_thread(workspace.write_bytes, path, data)
    return f"wrote {written} bytes to {path}"


@tool("list-dir", "List a directory of the workspace: name, kind and size of each entry.",
      path=Param(type="string", description="directory, relative to your working directory",
                 required=False))
async def list_dir(agent: AgentHandle, args: dict[str, Any]) -> str:
    path = agent_path(agent, args.get("path") or ".")
    workspace = agent.engine.workspace
    if path == agent.task.cwd and not await _in_thread(workspace.exists, path):
        return f"{path}/ is empty"
    entries = await _in_thread(workspace.list_dir, path)
    if not entries:
        return f"{path}/ is empty"
    return "\n".join(
        f"{e.name}/" if e.kind == "dir" else f"{e.name}  ({e.kind}, {e.size} bytes)"
        for e in entries)
