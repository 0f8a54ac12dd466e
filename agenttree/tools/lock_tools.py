"""Lock tools: lock, unlock, locks, who-holds, resolve-conflict (see docs/locks.md)."""

from __future__ import annotations

from typing import Any

from ..errors import ToolError
from ..lock_table import DECISIONS, MODES, Forked, LockError
from ..workspace import Workspace
from .base import AgentHandle, Param, tool
from .fs import agent_path


def lock_key(agent: AgentHandle, path: str) -> str:
    """The workspace-relative path a lock is keyed by."""
    return Workspace.normalise(agent_path(agent, path))


@tool("lock", "Lock a workspace path (write: exclusive, read: shared) before editing it; "
      "returns a fencing token to pass to write-file.",
      path=Param(type="string", description="file path, relative to your working directory"),
      mode=Param(type="string", description="write (default) or read", required=False),
      ttl_ms=Param(type="integer", description="lease length; renewed while you work",
                   required=False),
      wait_ms=Param(type="integer", description="how long to wait in line (0: do not wait)",
                    required=False))
async def lock(agent: AgentHandle, args: dict[str, Any]) -> str:
    mode = args.get("mode") or "write"
    if mode not in MODES:
        raise ToolError(f"lock: mode must be read or write, got {mode!r}")
    path = lock_key(agent, args["path"])
    agent.will_lock()
    try:
        got = await agent.engine.locks.acquire(agent.id, path, mode, ttl_ms=args.get("ttl_ms"),
                                               wait_ms=args.get("wait_ms"))
    except LockError as exc:
        raise ToolError(f"lock {path}: {exc}") from None
    if isinstance(got, Forked):
        return (f"forked: {path} stays with its holder; work on {got.path} instead "
                f"(write lock, token {got.hold.token})")
    return f"locked {path} ({got.mode}), token {got.token}"


@tool("unlock", "Release a lock you hold.",
      path=Param(type="string", description="the locked path"))
async def unlock(agent: AgentHandle, args: dict[str, Any]) -> str:
    path = lock_key(agent, args["path"])
    try:
        await agent.engine.locks.release(agent.id, path)
    except LockError as exc:
        raise ToolError(f"unlock: {exc}") from None
    return f"unlocked {path}"


def _describe(path: str, holds: list[Any], queue: list[Any]) -> str:
    held = ", ".join(f"{h.agent} ({h.mode}, token {h.token})" for h in holds) or "nobody"
    waiting = ", ".join(f"{w.agent} ({w.mode})" for w in queue)
    return f"{path}: held by {held}" + (f"; waiting: {waiting}" if waiting else "")


@tool("locks", "Show every lock in the run: holders and waiters.")
async def locks(agent: AgentHandle, args: dict[str, Any]) -> str:
    table = await agent.engine.locks.who_holds(None)
    return "\n".join(_describe(p, h, q) for p, (h, q) in sorted(table.items())) or "no locks"


@tool("who-holds", "Who holds (and who waits for) a path.",
      path=Param(type="string", description="file path, relative to your working directory"))
async def who_holds(agent: AgentHandle, args: dict[str, Any]) -> str:
    path = lock_key(agent, args["path"])
    table = await agent.engine.locks.who_holds(path)
    holds, queue = table.get(path, ([], []))
    return _describe(path, holds, queue)


@tool("resolve-conflict", "Decide a lock conflict in your subtree (you are the lowest common "
      "ancestor): sequence, ask-release, fork or cancel.",
      conflict=Param(type="string", description="the conflict id, e.g. c1"),
      decision=Param(type="string", description=" | ".join(DECISIONS)),
      cancel=Param(type="string", description='with cancel: "requester" (default) or "owner"',
                   required=False))
async def resolve_conflict(agent: AgentHandle, args: dict[str, Any]) -> str:
    decision = args["decision"]
    try:
        return await agent.engine.locks.resolve(agent.id, args["conflict"], decision,
                                                cancel=args.get("cancel"))
    except LockError as exc:
        raise ToolError(f"resolve-conflict: {exc}") from None

