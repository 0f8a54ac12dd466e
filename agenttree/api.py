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
from .plan import Plan, load_plan
from .rundir import fresh_run_dir, log_of
from .runtime.engine import Engine
from .state import RunState
from .tool_names import TOOL_NAMES
from .toolbox import TOOL_NAME, CommandTool, PythonTool

__all__ = ["iter_events", "load_plan", "run"]

POLL_S = 0.05
"""How often :func:`iter_events` looks for new events while it follows a run."""


async def run(plan: Plan | str | os.PathLike[str], *, run_dir: str | os.PathLike[str] | None = None,
              tools: Iterable[Callable[..., Any]] = (), model: str | None = None, seed: int = 0,
              durability: str = "batch") -> RunState:
    """Run ``plan`` (a :class:`~agenttree.plan.Plan` or a plan file's path) to its end, in the
    current Trio run; returns the run's state folded from its log (``.status`` is the root's).

    Args:
        plan: the plan, e.g. from :func:`load_plan`.
        run_dir: the run directory (default ``runs/<plan>-<UTC time>``); it must not hold a run.
        tools: functions that become Python tools named after themselves (``def lookup`` is
            ``:lookup``), their schema from their signature, type hints and docstring. A plan
            ``:toolbox`` entry of that name (``{:python ... :timeout-s 5}``) gives its
            settings; otherwise the tool joins the toolbox, and every tier that allows all
            tools has it.
        model: one model spec for every agent (``--model``), e.g. ``"scripted"``.
        seed: seeds any randomness.
        durability: when events are fsynced: ``none``, ``batch`` or ``every``.

    Cancelling this call cancels the whole tree; every agent's end is still logged.

    Raises:
        UserError: a tool that cannot be one (its name, its signature), a model that cannot
            work, a run directory already used.
    """
    if not isinstance(plan, Plan):
        plan = load_plan(plan)
    functions = {_tool_name(fn, plan): fn for fn in tools}
    toolbox = dict(plan.toolbox)
    for name, fn in functions.items():
        if name not in toolbox:
            toolbox[name] = PythonTool(name=name,
                                       python=f"{fn.__module__}:{fn.__qualname__}")
    plan = attrs.evolve(plan, toolbox=toolbox)
    check_models(plan, model)
    engine = Engine(plan, fresh_run_dir(plan, run_dir), seed=seed, durability=durability,
                    model_override=model, functions=functions)
    await engine.run()
    return engine.state


def _tool_name(fn: Callable[..., Any], plan: Plan) -> str:
    name = getattr(fn, "__name__", "")
    if not callable(fn) or not TOOL_NAME.match(name):
        raise UserError(f"tools: {fn!r} cannot be a tool: give a function with a name of "
                        "letters, digits, - and _ (not a lambda)")
    if name in TOOL_NAMES:
        raise UserError(f"tools: {name!r} is a built-in tool; rename your function")
    if isinstance(plan.toolbox.get(name), CommandTool):
        raise UserError(f"tools: {name!r} is a command tool in {plan.source}'s :toolbox")
    return name


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
