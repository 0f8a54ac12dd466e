"""The tool protocol: a named async function with typed parameters, and argument checking.

Arguments come from a model, so they are untrusted input: :func:`check_args` refuses unknown or
missing arguments and wrong types with a message the model can act on, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ..errors import ToolError
from ..numbers import NumberError, check_json, check_number
from ..tool_names import wire_name
from .schema import function_schema_problem

if TYPE_CHECKING:
    from .. import events as ev
    from ..lock_table import Forked, Hold, Waiter
    from ..plan import Plan, Task
    from ..policy import Policy
    from ..workspace import Workspace
    from .outputs import OutputStore


# --- what a tool sees of the agent that called it ------------------------------------------
# Tools sit below the runtime: they reach the agent, and through it the run's services, by
# these protocols, never by the runtime's classes (runtime.agent.Agent implements AgentHandle).


class CommandOutput(Protocol):
    """What a shell command did (the sandbox's ``ExecResult``)."""

    exit_code: int | None
    output: str
    truncated: bool
    timed_out: bool


class RouterHandle(Protocol):
    """The message router."""

    async def send(self, sender: str, to: str, kind: str, text: str,
                   data: dict[str, Any] | None = None) -> None: ...
    def open_bridge(self, by: str, a: str, b: str) -> str: ...
    def close_bridge(self, by: str, bridge_id: str) -> None: ...


class LocksHandle(Protocol):
    """The lock service."""

    async def acquire(self, agent: str, path: str, mode: str = ..., *,
                      ttl_ms: int | None = None, wait_ms: int | None = None) -> Hold | Forked: ...
    async def release(self, agent: str, path: str) -> None: ...
    async def check_write(self, agent: str, path: str, token: int | None, *,
                          required: bool) -> None: ...
    async def who_holds(self, path: str | None) -> dict[str, tuple[list[Hold], list[Waiter]]]:
        ...
    async def resolve(self, by: str, conflict: str, decision: str, *, cancel: str | None = None,
                      fork_path: str | None = None) -> str: ...


class EngineHandle(Protocol):
    """The run an agent belongs to: its plan, workspace, services and log."""

    plan: Plan
    workspace: Workspace
    router: RouterHandle
    locks: LocksHandle
    outputs: OutputStore

    def emit(self, event: ev.Event) -> int: ...
    async def run_command(self, agent: Any, cmd: str, *, timeout_s: float | None,
                          env: dict[str, str] | None = None,
                          stdin: bytes | None = None) -> CommandOutput: ...


class AgentHandle(Protocol):
    """The agent whose model called the tool."""

    id: str
    parent: str | None
    task: Task
    policy: Policy
    engine: EngineHandle
    output_cap: int

    def finish(self, result: str) -> None: ...
    def will_lock(self) -> None: ...
    async def wait_for_news(self, timeout_s: float) -> list[str]: ...
    def next_child_key(self) -> tuple[str, str]: ...
    def start_child(self, task: Task, *, key: str | None = None, dynamic: bool = False,
                    extra: dict[str, float] | None = None, share: int = 2,
                    note: str = "") -> str: ...
    async def grant_policy(self, child_id: str, models: tuple[str, ...],
                           tools: tuple[str, ...]) -> str: ...
    async def grant(self, child_id: str, budget: dict[str, float]) -> str: ...


_PY_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,),
}


@attrs.frozen(kw_only=True)
class Param:
    """One parameter: a JSON type, whether it is required, and what it means. An ``array``
    names the JSON type of its elements in ``items`` (hosted APIs refuse an array without)."""

    type: str
    description: str
    required: bool = True
    items: str | None = None

    def schema(self) -> dict[str, Any]:
        """The parameter's JSON schema."""
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.items is not None:
            out["items"] = {"type": self.items}
        return out


ToolFn = Callable[[AgentHandle, dict[str, Any]], Awaitable[str]]


@attrs.frozen(kw_only=True)
class Tool:
    """A tool: ``run(agent, args)`` returns the text the model sees.

    ``input_schema``, when given, is the parameters' JSON schema whole (an MCP server's tool:
    the server checks its arguments) in place of ``params``.
    """

    name: str
    description: str
    params: dict[str, Param]
    run: ToolFn
    input_schema: dict[str, Any] | None = None

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool (named as models see it:
        :func:`~agenttree.tool_names.wire_name`)."""
        parameters = self.input_schema if self.input_schema is not None else {
            "type": "object",
            "properties": {k: p.schema() for k, p in self.params.items()},
            "required": [k for k, p in self.params.items() if p.required],
            "additionalProperties": False,
        }
        return {"type": "function", "function": {
            "name": wire_name(self.name), "description": self.description,
            "parameters": parameters}}


REGISTRY: dict[str, Tool] = {}


def tool(name: str, description: str, **params: Param) -> Callable[[ToolFn], ToolFn]:
    """Register an async function as the tool ``name``."""

    def register(fn: ToolFn) -> ToolFn:
        if name in REGISTRY:
            raise TypeError(f"tool {name!r} registered twice")
        t = Tool(name=name, description=description, params=params, run=fn)
        problem = function_schema_problem(t.schema())
        if problem is not None:
            raise TypeError(f"tool {name!r}: {problem}")
        REGISTRY[name] = t
        return fn

    return register


def check_args(t: Tool, args: Any) -> dict[str, Any]:
    """Validate a model's arguments for ``t``; raises :class:`ToolError` saying what is wrong."""
    if not isinstance(args, dict):
        raise ToolError(f"{t.name}: arguments must be an object, got {type(args).__name__}")
    try:
        check_json(args)
    except NumberError as exc:
        raise ToolError(f"{t.name}: argument {exc}") from None
    args = dict(args)
    if t.input_schema is not None:
        return args  # checked by the server that owns the schema
    for key in args:
        if key not in t.params:
            near = difflib.get_close_matches(str(key), list(t.params), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ToolError(f"{t.name}: unknown argument {key!r}{hint}; "
                            f"it takes {', '.join(t.params) or 'no arguments'}")
    for key, p in t.params.items():
        if key not in args or args[key] is None:
            if p.required:
                raise ToolError(f"{t.name}: missing required argument {key!r} ({p.description})")
            continue
        value = args[key]
        if p.type in ("integer", "number"):
            try:
                args[key] = check_number(value, whole=p.type == "integer", minimum=None)
            except NumberError as exc:
                raise ToolError(f"{t.name}: argument {key!r}: {exc}") from None
        elif not isinstance(value, _PY_TYPES[p.type]):
            raise ToolError(f"{t.name}: argument {key!r} must be {p.type}, "
                            f"got {type(value).__name__}")
        if p.items is not None:
            wrong = [v for v in value if not _is(v, p.items)]
            if wrong:
                raise ToolError(f"{t.name}: argument {key!r} must be an array of {p.items}, "
                                f"got {wrong[0]!r}")
    return args


def _is(value: Any, json_type: str) -> bool:
    if json_type in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _PY_TYPES[json_type])
