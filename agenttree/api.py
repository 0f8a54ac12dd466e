"""The Python API (docs/python.md): load a plan, run it under Trio with your own functions as
tools, and follow a run's events as they are logged.

Re-exported from :mod:`agenttree` lazily, so the command line imports none of it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import attrs
import trio

from . import events as ev
from .errors import UserError
from .log import Tailer
from .models.check import check_models
from .plan import Plan
from .plan import load_plan as load_plan_file
from .rundir import fresh_run_dir, log_of
from .runtime.engine import Engine
from .state import RunState
from .tool_names import TOOL_NAMES
from .toolbox import TOOL_NAME, CommandTool, PythonTool

__all__ = ["iter_events", "load_plan", "run"]

POLL_S = 0.05
"""How often :func:`iter_events` looks for new events while it follows a run."""


def load_plan(path: str | os.PathLike[str], *, tools: Iterable[Callable[..., Any]] = ()
              ) -> Plan:
    """Read and validate a plan file; ``tools`` (functions) join its ``:toolbox`` as Python
    tools named after themselves, so its tiers and scripts may name them.

    Raises:
        PlanError: the plan does not validate (file, line and key in the message).
        UserError: a function that cannot be a tool.
    """
    functions = list(tools)
    return load_plan_file(path, toolbox={name: _python_entry(fn)
                                         for name, fn in _named(functions).items()})


async def run(plan: Plan | str | os.PathLike[str], *, run_dir: str | os.PathLike[str] | None = None,
              tools: Iterable[Callable[..., Any]] = (), model: str | None = None, seed: int = 0,
              durability: str = "batch") -> RunState:
    """Run ``plan`` (a :class:`~agenttree.plan.Plan` or a plan file's path) to its end, in the
    current Trio run; returns the run's state folded from its log (``.status`` is the root's).

    Args:
        plan: the plan (from :func:`load_plan`, given the same ``tools`` if its tiers or
            scripts name them) or a plan file's path.
        run_dir: the run directory (default ``runs/<plan>-<UTC time>``); it must not hold a run.
        tools: functions that become Python tools named after themselves (``def lookup`` is
            ``:lookup``), their schema from their signature, type hints and docstring. A plan
            ``:toolbox`` entry of that name (``{:python ... :timeout-s 5}``) gives its
            settings; otherwise the tool joins the toolbox.
        model: one model spec for every agent (``--model``), e.g. ``"scripted"``.
        seed: seeds any randomness.
        durability: when events are fsynced: ``none``, ``batch`` or ``every``.

    Cancelling this call cancels the whole tree; every agent's end is still logged.

    Raises:
        UserError: a tool that cannot be one (its name, its signature), a model that cannot
            work, a run directory already used.
    """
    tools = list(tools)
    if not isinstance(plan, Plan):
        plan = load_plan(plan, tools=tools)
    functions = _named(tools)
    for name in functions:
        if isinstance(plan.toolbox.get(name), CommandTool):
            raise UserError(f"tools: {name!r} is a command tool in {plan.source}'s :toolbox")
    plan = attrs.evolve(plan, toolbox={**{n: _python_entry(fn) for n, fn in functions.items()},
                                       **plan.toolbox})
    check_models(plan, model)
    engine = Engine(plan, fresh_run_dir(plan, run_dir), seed=seed, durability=durability,
                    model_override=model, functions=functions)
    await engine.run()
    return engine.state


def _named(functions: list[Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """The functions by tool name (their own).

    Raises:
        UserError: one is not a named function, or its name is a built-in's or given twice.
    """
    named: dict[str, Callable[..., Any]] = {}
    for fn in functions:
        name = getattr(fn, "__name__", "")
        if not callable(fn) or not TOOL_NAME.match(name):
            raise UserError(f"tools: {fn!r} cannot be a tool: give a function with a name of "
                            "letters, digits, - and _ (not a lambda)")
        if name in TOOL_NAMES:
            raise UserError(f"tools: {name!r} is a built-in tool; rename your function")
        if name in named:
            raise UserError(f"tools: two functions are named {name!r}")
        named[name] = fn
    return named


def _python_entry(fn: Callable[..., Any]) -> PythonTool:
    """The ``:toolbox`` entry a function given as a tool is logged as (``plan.edn`` names it,
    so a reconcile keeps it and a resume can import it, if it is importable)."""
    return PythonTool(name=fn.__name__, python=f"{fn.__module__}:{fn.__qualname__}")


async def iter_events(run_dir: str | os.PathLike[str], *, follow: bool = True
                      ) -> AsyncIterator[ev.Entry]:
    """The events of a run as they are logged: :class:`~agenttree.events.Entry` records
    (``seq``, ``t``, ``run``, ``event``), from the first.

    With ``follow`` it waits for more (and for the log to appear) until ``run/finished``;
    without, it stops at the end of what is logged now. Cancel it to stop early.

    Raises:
        LogCorrupt: a line of the log fails its check.
    """
    tailer = Tailer(log_of(run_dir))
    while True:
        for entry in tailer.poll():
            yield entry
            if isinstance(entry.event, ev.RunFinished):
                return
        if not follow:
            return
        await trio.sleep(POLL_S)
