"""Command tools: a plan's ``:toolbox`` entries with ``:sh`` made into tools (docs/tools.md).

A model's arguments are checked against the declared parameters, then passed as ``ARG_*``
environment variables and as one JSON object on stdin -- never spliced into the command text,
so nothing in them is ever executed by the shell. The command runs exactly like ``sh``.
"""

from __future__ import annotations

import json
from typing import Any

from ..toolbox import CommandTool, arg_variable
from .base import AgentHandle, Param, Tool
from .schema import function_schema_problem


def command_tool(spec: CommandTool) -> Tool:
    """The runnable tool for a declared command tool.

    Raises:
        ValueError: its schema breaks the rules hosted APIs enforce (the plan checks prevent it).
    """

    async def run(agent: AgentHandle, args: dict[str, Any]) -> str:
        env = {arg_variable(k): _env_value(v) for k, v in args.items() if v is not None}
        stdin = json.dumps(args, ensure_ascii=False).encode()
        result = await agent.engine.run_command(agent, spec.sh, timeout_s=spec.timeout_s,
                                                env=env, stdin=stdin)
        status = "timed out (killed)" if result.timed_out else f"exit {result.exit_code}"
        cut = " (output cut)" if result.truncated else ""
        return f"{status}{cut}\n{result.output}"

    params = {name: Param(type=p.type, description=p.doc or name, items=p.items,
                          required=name in spec.required)
              for name, p in spec.params.items()}
    t = Tool(name=spec.name, description=spec.description, params=params, run=run)
    problem = function_schema_problem(t.schema())
    if problem is not None:
        raise ValueError(f"tool {spec.name!r}: {problem}")
    return t


def _env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
