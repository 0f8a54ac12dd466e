"""Python tools: a plan's ``{:python "module:function"}`` entries made into tools (docs/tools.md).

The function is trusted code run in the engine process, with no sandbox. Its schema comes from
the declared ``:params``, else from its signature, type hints and docstring. A model's arguments
are checked against that schema before the call (:func:`~agenttree.tools.base.check_args`); the
function gets them as keyword arguments. A sync function runs in a worker thread and is
abandoned, not killed, on timeout or cancel (Python cannot kill a thread); an ``async def`` runs
on Trio and is cancelled. Whatever it raises is a tool error the model sees, never a crash.
"""

from __future__ import annotations

import functools
import importlib
import importlib.machinery
import inspect
import json
import sys
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import trio

from ..errors import ToolError
from ..toolbox import PythonTool
from .base import AgentHandle, Param, Tool
from .schema import MAX_DESCRIPTION, function_schema_problem

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
HINTS = "str, int, float, bool, list[str|int|float|bool], dict or an Optional of one"
"""The type hints a function's parameters may have (else declare ``:params``)."""


def python_tool(spec: PythonTool, base_dir: Path, limiter: trio.CapacityLimiter,
                function: Callable[..., Any] | None = None) -> Tool:
    """The runnable tool for a declared Python tool: ``function`` if given (a function passed
    to :func:`agenttree.run`), else the one ``spec.python`` names, imported with ``base_dir``
    first on the import path. Sync functions run in threads of ``limiter``.

    Raises:
        ValueError: the function cannot be imported or its schema cannot be made (the
            message says which and why).
    """
    fn = function if function is not None else import_function(spec.python, base_dir)
    if not callable(fn):
        raise ValueError(f"{spec.python} is a {type(fn).__name__}, not a function")
    if spec.params is not None:
        params = {name: Param(type=p.type, description=p.doc or name, items=p.items,
                              required=name in spec.required)
                  for name, p in spec.params.items()}
        _check_accepts(fn, params, spec.python)
        description = ""
    else:
        params, description = signature_schema(fn, spec.python)
    run = _async_runner(spec, fn) if _is_async(fn) else _thread_runner(spec, fn, limiter)
    t = Tool(name=spec.name, params=params, run=run,
             description=(spec.doc or description or f"Calls {spec.python}")[:MAX_DESCRIPTION])
    problem = function_schema_problem(t.schema())
    if problem is not None:
        raise ValueError(problem)
    return t


# --- importing -------------------------------------------------------------------------------


def import_function(ref: str, base_dir: Path) -> Any:
    """The object ``ref`` (``"module:attr.path"``) names, its module imported with ``base_dir``
    first on ``sys.path`` for the import only. A module of that name already imported from
    elsewhere is imported afresh from ``base_dir`` when ``base_dir`` has one (two runs' plans
    may each have their own ``mytools.py``).

    Raises:
        ValueError: not found, or the module failed to import (with the error it raised).
    """
    module_name, _, path = ref.partition(":")
    with _first_on_path(base_dir):
        _forget_if_shadowed(module_name, base_dir)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name or module_name.startswith(f"{exc.name}."):
                raise ValueError(f"module {module_name!r} not found (looked in {base_dir} and "
                                 "on the Python path)") from None
            raise ValueError(f"module {module_name!r} failed to import: {exc}") from None
        except Exception as exc:  # its own code failed: say how, not where in our frames
            raise ValueError(f"module {module_name!r} failed to import: "
                             f"{type(exc).__name__}: {exc}") from None
    target: Any = module
    for part in path.split("."):
        if part == "<locals>":
            raise ValueError(f"{ref} is defined inside a function, so it cannot be imported; "
                             "pass it to agenttree.run(tools=[...]) again, or define it at "
                             "the top of a module")
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no {path!r}") from None
    return target


@contextmanager
def _first_on_path(base_dir: Path) -> Iterator[None]:
    entry = str(base_dir)
    sys.path.insert(0, entry)
    importlib.invalidate_caches()  # a module written since the last import is found
    try:
        yield
    finally:
        sys.path.remove(entry)  # the first occurrence: the one put there above


def _forget_if_shadowed(module_name: str, base_dir: Path) -> None:
    top = module_name.split(".")[0]
    loaded = sys.modules.get(top)
    if loaded is None:
        return
    spec = importlib.machinery.PathFinder.find_spec(top, [str(base_dir)])
    if spec is None or spec.origin == getattr(loaded, "__file__", None):
        return
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]


# --- the schema --------------------------------------------------------------------------------


def signature_schema(fn: Callable[..., Any], ref: str) -> tuple[dict[str, Param], str]:
    """The parameters (from the signature and type hints, described by the docstring) and the
    description (the docstring's first part) of ``fn``.

    Raises:
        ValueError: a parameter cannot be a tool argument (``*args``, positional-only, no type
            hint or one without a JSON type).
    """
    from docstring_parser import parse as parse_docstring  # only plans with Python tools

    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn)
    except (TypeError, ValueError, NameError) as exc:
        raise ValueError(f"{ref}: cannot read its signature: {exc}") from None
    doc = parse_docstring(inspect.getdoc(fn) or "")
    docs = {p.arg_name: p.description or "" for p in doc.params}
    params = {}
    for name, p in signature.parameters.items():
        if p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            raise ValueError(f"{ref}: parameter {p}: only named parameters can be tool "
                             "arguments (no *args, **kwargs or positional-only ones)")
        if name not in hints:
            raise ValueError(f"{ref}: parameter {name!r} has no type hint; give it one "
                             f"({HINTS}) or declare :params")
        kind, items, optional = _json_type(hints[name])
        if kind is None:
            raise ValueError(f"{ref}: parameter {name!r}: unsupported type hint "
                             f"{_hint_name(hints[name])}; use {HINTS}, or declare :params")
        params[name] = Param(type=kind, items=items, description=docs.get(name) or name,
                             required=p.default is p.empty and not optional)
    description = "\n\n".join(filter(None, [doc.short_description, doc.long_description]))
    return params, description


def _json_type(hint: Any) -> tuple[str | None, str | None, bool]:
    """``(JSON type, element type of an array, optional)`` for a type hint (type ``None``
    when it has no JSON type)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1 and len(args) == 2:
            kind, items, _ = _json_type(rest[0])
            return kind, items, True
        return None, None, False
    if hint in _SCALARS:
        return _SCALARS[hint], None, False
    if hint is dict or origin is dict:
        return "object", None, False
    if origin is list and len(args) == 1 and args[0] in _SCALARS:
        return "array", _SCALARS[args[0]], False
    return None, None, False


def _hint_name(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else str(hint).replace("typing.", "")


def _check_accepts(fn: Callable[..., Any], params: dict[str, Param], ref: str) -> None:
    """Refuse declared ``:params`` the function could not be called with."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # a builtin without a signature: the call itself will say
    try:
        signature.bind(**dict.fromkeys(params))
    except TypeError as exc:
        raise ValueError(f"{ref} cannot take the declared :params: {exc}") from None


# --- calling -------------------------------------------------------------------------------


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or (
        not inspect.isroutine(fn) and inspect.iscoroutinefunction(type(fn).__call__))


def _thread_runner(spec: PythonTool, fn: Callable[..., Any],
                   limiter: trio.CapacityLimiter) -> Callable[..., Any]:
    async def run(agent: AgentHandle, args: dict[str, Any]) -> str:
        call = functools.partial(fn, **_kwargs(args))
        with trio.move_on_after(spec.timeout_s):
            with _as_tool_error(spec.name):
                return _text(await trio.to_thread.run_sync(call, abandon_on_cancel=True,
                                                           limiter=limiter))
        raise ToolError(f"{spec.name}: timed out after {spec.timeout_s:g} s; the function was "
                        "abandoned (it may still be running in its thread)")

    return run


def _async_runner(spec: PythonTool, fn: Callable[..., Any]) -> Callable[..., Any]:
    async def run(agent: AgentHandle, args: dict[str, Any]) -> str:
        with trio.move_on_after(spec.timeout_s):
            with _as_tool_error(spec.name):
                return _text(await fn(**_kwargs(args)))
        raise ToolError(f"{spec.name}: timed out after {spec.timeout_s:g} s (cancelled)")

    return run


def _kwargs(args: dict[str, Any]) -> dict[str, Any]:
    # A null optional argument is left out, so the function's own default applies.
    return {k: v for k, v in args.items() if v is not None}


@contextmanager
def _as_tool_error(name: str) -> Iterator[None]:
    """What the function raised, as a tool error with its type and message (a
    :class:`ToolError` of its own passes as it is; ``Cancelled`` is not an ``Exception``)."""
    try:
        yield
    except ToolError:
        raise
    except Exception as exc:
        raise ToolError(f"{name}: {type(exc).__name__}: {exc}") from None


def _text(value: Any) -> str:
    """What the model sees of a return value: a string as it is, ``None`` as nothing, anything
    else as JSON (``str()`` for what JSON cannot hold)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
