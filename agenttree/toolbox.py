"""A plan's ``:toolbox``: the tools it declares besides the built-ins (see docs/tools.md).

Plain records, parsed and validated with the plan and written back by :func:`toolbox_to_edn`;
the tools layer turns each into a runnable tool (:mod:`agenttree.tools.custom`). Parsing only
checks the form: a ``:python`` module is imported when the tools are built, never here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs
from edn_format import Keyword

from .edn_source import VECTOR, Context, check_keys, expect, get, kind_of, name_of, named_maps
from .numbers import NumberError, check_number
from .tool_names import TOOL_NAMES

PARAM_TYPES = ("string", "integer", "number", "boolean", "array", "object")
"""The JSON types a declared parameter may have."""
TOOL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
PYTHON_REF = re.compile(rf"^{_IDENT}(\.{_IDENT})*:(<locals>|{_IDENT})(\.(<locals>|{_IDENT}))*$")
"""``module:function``: a dotted module path, a colon, a dotted attribute path (``<locals>``
appears in the path of a function given to :func:`agenttree.run` from inside another)."""
DEFAULT_TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 3600.0


@attrs.frozen(kw_only=True)
class ToolParam:
    """One declared parameter: its JSON type (an array's element type in ``items``)."""

    type: str
    doc: str = ""
    items: str | None = None


@attrs.frozen(kw_only=True)
class CommandTool:
    """A command tool: ``sh`` run by ``/bin/sh -c`` with the arguments in ``ARG_*`` variables
    and as JSON on stdin, never in the command text."""

    name: str
    sh: str
    doc: str = ""
    params: dict[str, ToolParam] = attrs.Factory(dict)
    required: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def description(self) -> str:
        """What the model is told the tool does."""
        return self.doc or f"Runs: {self.sh}"


@attrs.frozen(kw_only=True)
class PythonTool:
    """A Python tool: ``function`` in ``module`` (``python`` is ``"module:function"``), imported
    from the plan's directory. ``params`` is ``None`` when the schema comes from the function's
    signature."""

    name: str
    python: str
    doc: str = ""
    params: dict[str, ToolParam] | None = None
    required: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    line: int | None = attrs.field(default=None, eq=False)
    """Where ``:python`` is in the plan file (for errors found when the module is imported)."""


DeclaredTool = CommandTool | PythonTool
"""A ``:toolbox`` entry."""


def arg_variable(param: str) -> str:
    """The environment variable a parameter is passed in: ``ARG_`` + upper case, ``-`` → ``_``."""
    return "ARG_" + param.upper().replace("-", "_")


_KINDS = ("sh", "python")
_TOOL_KEYS = {*_KINDS, "doc", "params", "required", "timeout-s"}
_PARAM_KEYS = {"type", "doc", "items"}


def parse_toolbox(ctx: Context, raw: Any) -> dict[str, DeclaredTool]:
    """The plan's ``:toolbox`` map, validated.

    Raises:
        PlanError: the first problem, located at the offending key.
    """
    out: dict[str, DeclaredTool] = {}
    for name, entry in named_maps(ctx, raw, "toolbox", 'a map like {:word-count {:sh "wc -w"}}',
                                  entry_name=_tool_name,
                                  entry_example='a tool map like {:sh "wc -w" :doc "..."}',
                                  keys=_TOOL_KEYS, what="tool"):
        kinds = [k for k in _KINDS if get(entry, k) is not None]
        if len(kinds) != 1:
            why = "both :sh and :python" if kinds else "neither"
            raise ctx.fail(f'tool :{name} needs :sh (a command) or :python ("module:function"), '
                           f"got {why}", kinds[-1] if kinds else "sh")
        doc = expect(ctx, get(entry, "doc", ""), str, "a string", "doc")
        timeout = _timeout(ctx, get(entry, "timeout-s", DEFAULT_TIMEOUT_S))
        if kinds == ["sh"]:
            sh = get(entry, "sh")
            if not isinstance(sh, str) or not sh.strip():
                raise ctx.fail(f"tool :{name} needs :sh, a command string", "sh")
            params = _params(ctx, get(entry, "params", {}))
            out[name] = CommandTool(name=name, sh=sh, doc=doc, params=params, timeout_s=timeout,
                                    required=_required(ctx, get(entry, "required"), params))
        else:
            out[name] = _python(ctx, name, entry, doc, timeout)
    return out


def _tool_name(ctx: Context, key: Any) -> str:
    name = name_of(key) if isinstance(key, Keyword | str) else None
    if name is None or not TOOL_NAME.match(name):
        raise ctx.fail(f"{kind_of(key)} cannot name a tool: use a keyword of letters, digits, "
                       "- and _ (at most 64, a letter first)", "toolbox")
    if name in TOOL_NAMES:
        raise ctx.fail(f":{name} is a built-in tool; give yours another name", "toolbox")
    return name


def _python(ctx: Context, name: str, entry: Any, doc: str, timeout: float) -> PythonTool:
    ref = get(entry, "python")
    if not isinstance(ref, str) or not PYTHON_REF.match(ref):
        raise ctx.fail(f'tool :{name}: :python must be "module:function" (like '
                       f'"mytools:lookup"), got {kind_of(ref)}', "python")
    line = ctx.locate.key_line("python", ctx.anchor) or ctx.anchor
    raw_params = get(entry, "params")
    if raw_params is None:
        if get(entry, "required") is not None:
            raise ctx.fail(f"tool :{name}: :required goes with :params (without them, the "
                           "function's parameters without a default are required)", "required")
        return PythonTool(name=name, python=ref, doc=doc, timeout_s=timeout, line=line)
    params = _params(ctx, raw_params)
    return PythonTool(name=name, python=ref, doc=doc, params=params, timeout_s=timeout,
                      required=_required(ctx, get(entry, "required"), params), line=line)


def _timeout(ctx: Context, raw: Any) -> float:
    try:
        timeout = float(check_number(raw, above=0))
    except NumberError as exc:
        raise ctx.fail(str(exc), "timeout-s") from None
    if timeout > MAX_TIMEOUT_S:
        raise ctx.fail(f"at most {MAX_TIMEOUT_S:g} seconds, got {timeout:g}", "timeout-s")
    return timeout


def _params(ctx: Context, raw: Any) -> dict[str, ToolParam]:
    expect(ctx, raw, Mapping, 'a map like {:path {:type :string :doc "a file"}}', "params")
    params: dict[str, ToolParam] = {}
    variables: dict[str, str] = {}
    for key, spec in raw.items():
        name = name_of(key) if isinstance(key, Keyword | str) else None
        if name is None or not PARAM_NAME.match(name):
            raise ctx.fail(f"{kind_of(key)} cannot name a parameter: use letters, digits, - "
                           "and _, a letter first", "params")
        clash = variables.get(arg_variable(name))
        if clash is not None:
            raise ctx.fail(f"parameters :{clash} and :{name} would both be "
                           f"${arg_variable(name)}", "params")
        variables[arg_variable(name)] = name
        expect(ctx, spec, Mapping, "a map like {:type :string :doc \"...\"}", "params")
        check_keys(ctx, spec, _PARAM_KEYS, f"parameter :{name}")
        kind = _type(ctx, get(spec, "type"), "type")
        items = get(spec, "items")
        if kind == "array":
            if items is None:
                raise ctx.fail(f"parameter :{name} is an :array: it needs :items (the type of "
                               "its elements)", "items")
            items = _type(ctx, items, "items")
        elif items is not None:
            raise ctx.fail(f"parameter :{name}: :items belongs to an :array", "items")
        doc = expect(ctx, get(spec, "doc", ""), str, "a string", "doc")
        params[name] = ToolParam(type=kind, doc=doc, items=items)
    return params


def _type(ctx: Context, raw: Any, key: str) -> str:
    name = raw.name if isinstance(raw, Keyword) else None
    if name not in PARAM_TYPES:
        raise ctx.fail(f"must be one of :{' :'.join(PARAM_TYPES)}, got {kind_of(raw)}", key)
    return name


def _required(ctx: Context, raw: Any, params: dict[str, ToolParam]) -> tuple[str, ...]:
    if raw is None:
        return tuple(params)
    expect(ctx, raw, VECTOR, "a vector of parameter keywords", "required")
    names = []
    for item in raw:
        name = name_of(item) if isinstance(item, Keyword | str) else None
        if name not in params:
            raise ctx.fail(f"{kind_of(item)} is not one of the tool's :params "
                           f"({', '.join(params) or 'none'})", "required")
        names.append(name)
    return tuple(names)


def toolbox_to_edn(toolbox: dict[str, DeclaredTool], edn: Any) -> str:
    """``toolbox`` as EDN that parses back to an equal map (``edn`` writes one value)."""
    entries = []
    for t in toolbox.values():
        kind = f":sh {edn(t.sh)}" if isinstance(t, CommandTool) else f":python {edn(t.python)}"
        schema = ""
        if t.params is not None:
            params = " ".join(
                f":{n} {{:type :{p.type} :doc {edn(p.doc)}"
                + (f" :items :{p.items}" if p.items else "") + "}"
                for n, p in t.params.items())
            required = " ".join(f":{n}" for n in t.required)
            schema = f" :params {{{params}}} :required [{required}]"
        entries.append(f":{t.name} {{{kind} :doc {edn(t.doc)}{schema} "
                       f":timeout-s {edn(t.timeout_s)}}}")
    return "{" + "\n  ".join(entries) + "}"
