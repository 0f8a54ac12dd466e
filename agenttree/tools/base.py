"""The tool protocol: a named async function with typed parameters, and argument checking.

Arguments come from a model, so they are untrusted input: :func:`check_args` refuses unknown or
missing arguments and wrong types with a message the model can act on, never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import ToolError
from ..numbers import NumberError, check_json, check_number
from .schema import function_schema_problem

if TYPE_CHECKING:
    from ..runtime.agent import Agent

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


ToolFn = Callable[["Agent", dict[str, Any]], Awaitable[str]]


@attrs.frozen(kw_only=True)
class Tool:
    """A tool: ``run(agent, args)`` returns the text the model sees."""

    name: str
    description: str
    params: dict[str, Param]
    run: ToolFn

    def schema(self) -> dict[str, Any]:
        """The OpenAI ``tools`` entry for this tool."""
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": {
                "type": "object",
                "properties": {k: p.schema() for k, p in self.params.items()},
                "required": [k for k, p in self.params.items() if p.required],
                "additionalProperties": False,
            }}}


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
