"""A plan's declared tools (its ``:toolbox``) made runnable, each by the module for its kind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import trio

from ..errors import PlanError
from ..plan import Plan
from ..toolbox import CommandTool
from .base import Tool
from .command import command_tool
from .python import python_tool

PYTHON_THREADS = 16
"""Worker threads a run's sync Python tools share (an abandoned call holds one until it ends)."""


def custom_tools(plan: Plan, functions: Mapping[str, Callable[..., Any]] | None = None
                 ) -> dict[str, Tool]:
    """The plan's declared tools by name; ``functions`` are Python tools' functions given
    directly (by :func:`agenttree.run`), used instead of importing them.

    Raises:
        PlanError: one cannot be made (a ``:python`` module not found, a function whose
            signature has no JSON schema...), located at its ``:python`` key.
    """
    functions = functions or {}
    limiter = trio.CapacityLimiter(PYTHON_THREADS)
    tools = {}
    for name, spec in plan.toolbox.items():
        try:
            if isinstance(spec, CommandTool):
                tools[name] = command_tool(spec)
            else:
                tools[name] = python_tool(spec, plan.base_dir, limiter, functions.get(name))
        except ValueError as exc:
            line = None if isinstance(spec, CommandTool) else spec.line
            raise PlanError(f"tool :{name}: {exc}", source=plan.source, line=line,
                            key=":sh" if isinstance(spec, CommandTool) else ":python") from None
    return tools
