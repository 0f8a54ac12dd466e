"""The sh tool: a shell command in the agent's working directory (see docs/sh.md)."""

from __future__ import annotations

from typing import Any

from .base import AgentHandle, Param, tool

DEFAULT_TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 3600.0


@tool("sh", "Run a shell command in your working directory; returns exit code and output.",
      cmd=Param(type="string", description="the command, run by /bin/sh -c"),
      timeout_s=Param(type="number", description=f"seconds before it is killed "
                      f"(default {DEFAULT_TIMEOUT_S:g}, at most {MAX_TIMEOUT_S:g})",
                      required=False))
async def sh(agent: AgentHandle, args: dict[str, Any]) -> str:
    timeout = min(max(float(args.get("timeout_s") or DEFAULT_TIMEOUT_S), 0.001), MAX_TIMEOUT_S)
    result = await agent.engine.run_command(agent, args["cmd"], timeout_s=timeout)
    status = "timed out (killed)" if result.timed_out else f"exit {result.exit_code}"
    cut = " (output cut)" if result.truncated else ""
    return f"{status}{cut}\n{result.output}"
