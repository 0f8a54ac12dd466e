"""The function-schema rules hosted chat APIs enforce, checked when a tool is defined.

OpenAI's chat completions refuse a request whose ``tools`` break these rules (HTTP 400,
``invalid_function_parameters``), and other providers follow it. Checking at definition time
means a bad schema is refused when it is loaded (a tool registered, a suite's tools file read),
never by the provider in the middle of a run.
"""

from __future__ import annotations

import re
from typing import Any

JSON_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_DESCRIPTION = 1024
"""OpenAI refuses a function description longer than this many characters."""


def function_schema_problem(entry: dict[str, Any]) -> str | None:
    """What is wrong with one ``tools`` entry (``{"type": "function", "function": {...}}``),
    or ``None`` when a hosted API accepts it."""
    function = entry.get("function")
    if entry.get("type") != "function" or not isinstance(function, dict):
        return 'a tool must be {"type": "function", "function": {...}}'
    name = function.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        return (f"function name {name!r} must be 1 to 64 letters, digits, underscores or "
                "dashes")
    description = function.get("description", "")
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION:
        return f"{name}: the description must be a string of at most {MAX_DESCRIPTION} characters"
    parameters = function.get("parameters")
    if not isinstance(parameters, dict) or parameters.get("type") != "object":
        return f'{name}: parameters must be a schema of type "object"'
    problem = _node_problem(parameters, ())
    return None if problem is None else f"{name}: {problem}"


def _node_problem(node: Any, where: tuple[str, ...]) -> str | None:
    at = f"at {'.'.join(where)}: " if where else ""
    if not isinstance(node, dict):
        return f"{at}a schema must be an object"
    for combinator in ("anyOf", "oneOf", "allOf"):  # (an MCP tool's Optional[...] parameter)
        members = node.get(combinator, [])
        if not isinstance(members, list):
            return f"{at}{combinator} must be a list of schemas"
        for i, member in enumerate(members):
            problem = _node_problem(member, (*where, f"{combinator}[{i}]"))
            if problem is not None:
                return problem
    if "type" not in node:
        return None  # a $ref, an enum, a const or a combinator alone: hosted APIs take them
    kinds = node.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    unknown = [k for k in kinds if k not in JSON_TYPES]
    if unknown:
        return f"{at}type {unknown[0]!r} is not a JSON type ({', '.join(sorted(JSON_TYPES))})"
    if "array" in kinds:
        if "items" not in node:
            return f"{at}an array schema needs items"
        problem = _node_problem(node["items"], (*where, "items"))
        if problem is not None:
            return problem
    if "object" in kinds:
        properties = node.get("properties", {})
        if not isinstance(properties, dict):
            return f"{at}properties must be an object"
        for key, sub in properties.items():
            problem = _node_problem(sub, (*where, key))
            if problem is not None:
                return problem
        required = node.get("required", [])
        if not isinstance(required, list) or any(r not in properties for r in required):
            return f"{at}required must list property names only"
    return None
