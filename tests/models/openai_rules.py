"""What OpenAI's hosted chat-completions API refuses, for the fake server to refuse too.

Written from the API's own answers (messages and codes as it sends them), independently of the
engine's checks in ``agenttree/tools/schema.py``: the tool rules here are a JSON Schema applied
with the ``jsonschema`` library, so the two implementations check each other.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import attrs
import orjson
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

MAX_OUTPUT_TOKENS = 16_384
"""What the fake's models accept as ``max_tokens`` / ``max_completion_tokens`` at most."""
MAX_TOOLS = 128
NEWER_MODELS = re.compile(r"^(gpt-5|o\d)")
"""Models that refuse ``max_tokens`` (they take ``max_completion_tokens``)."""

_TYPES = ["string", "number", "integer", "boolean", "object", "array", "null"]
TOOL_RULES: dict[str, Any] = {
    "$defs": {
        "schema": {
            "type": "object",
            "properties": {
                "type": {"anyOf": [{"enum": _TYPES},
                                   {"type": "array", "items": {"enum": _TYPES}}]},
                "properties": {"type": "object",
                               "additionalProperties": {"$ref": "#/$defs/schema"}},
                "items": {"$ref": "#/$defs/schema"},
                "required": {"type": "array", "items": {"type": "string"}},
            },
            "if": {"required": ["type"], "properties": {"type": {"const": "array"}}},
            "then": {"required": ["items"]},
        },
    },
    "type": "object",
    "required": ["type", "function"],
    "properties": {
        "type": {"const": "function"},
        "function": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
                "description": {"type": "string", "maxLength": 1024},
                "parameters": {"allOf": [{"$ref": "#/$defs/schema"},
                                         {"required": ["type"],
                                          "properties": {"type": {"const": "object"}}}]},
            },
        },
    },
}
_tool_validator = Draft202012Validator(TOOL_RULES)


@attrs.frozen
class Refusal:
    """An HTTP 400 as the API words it."""

    message: str
    param: str | None = None
    code: str | None = None
    status: int = 400

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"error": {"message": self.message, "type": "invalid_request_error",
                          "param": self.param, "code": self.code}}


def refusal(body: Any) -> Refusal | None:
    """Why the hosted API would refuse this request body, or ``None``."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str):
        return Refusal("you must provide a model parameter", "model")
    checks = (_messages, _output_limit, _sampling, _tools, _tool_choice, _stream_options)
    for check in checks:
        found = check(body)
        if found is not None:
            return found
    return None


def _messages(body: dict[str, Any]) -> Refusal | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return Refusal("[] is too short - 'messages'", "messages", "empty_array")
    pending: list[str] = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("system", "developer", "user", "assistant", "tool"):
            return Refusal(f"Invalid value: '{role}'. Supported values are: 'system', "
                           "'assistant', 'user', 'tool', 'developer'.", f"messages[{i}].role",
                           "invalid_value")
        if role == "tool":
            if m.get("tool_call_id") not in pending:
                return Refusal("Invalid parameter: messages with role 'tool' must be a response "
                               "to a preceeding message with 'tool_calls'.",
                               f"messages.[{i}].role")
            pending.remove(m["tool_call_id"])
            continue
        if pending:
            return Refusal("An assistant message with 'tool_calls' must be followed by tool "
                           "messages responding to each 'tool_call_id'. The following "
                           f"tool_call_ids did not have response messages: {', '.join(pending)}",
                           "messages")
        if role == "assistant" and m.get("tool_calls"):
            pending = [c["id"] for c in m["tool_calls"]]
    return None


def _output_limit(body: dict[str, Any]) -> Refusal | None:
    if "max_tokens" in body and NEWER_MODELS.match(body["model"]):
        return Refusal("Unsupported parameter: 'max_tokens' is not supported with this model. "
                       "Use 'max_completion_tokens' instead.", "max_tokens",
                       "unsupported_parameter")
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if type(value) is not int or value < 1:
            return Refusal(f"Invalid '{name}': integer below minimum value.", name,
                           "integer_below_min_value")
        if value > MAX_OUTPUT_TOKENS:
            return Refusal(f"{name} is too large: {value}. This model supports at most "
                           f"{MAX_OUTPUT_TOKENS} completion tokens, whereas you provided "
                           f"{value}.", name, "invalid_value")
    return None


def _sampling(body: dict[str, Any]) -> Refusal | None:
    for name, high in (("temperature", 2), ("top_p", 1)):
        value = body.get(name)
        if value is not None and not (isinstance(value, int | float) and 0 <= value <= high):
            return Refusal(f"Invalid '{name}': decimal out of range.", name,
                           "decimal_out_of_range")
    seed = body.get("seed")
    if seed is not None and type(seed) is not int:
        return Refusal("Invalid type for 'seed': expected an integer.", "seed", "invalid_type")
    return None


def _tools(body: dict[str, Any]) -> Refusal | None:
    if "tools" not in body:
        return None
    tools = body["tools"]
    if not isinstance(tools, list) or not tools:
        return Refusal("[] is too short - 'tools'", "tools", "empty_array")
    if len(tools) > MAX_TOOLS:
        return Refusal(f"Invalid 'tools': array too long. Expected an array with maximum length "
                       f"{MAX_TOOLS}, but got an array with length {len(tools)} instead.",
                       "tools", "array_above_max_length")
    for i, tool in enumerate(tools):
        found = _tool(i, orjson.dumps(tool, option=orjson.OPT_SORT_KEYS))
        if found is not None:
            return found
    return None


@functools.lru_cache(maxsize=4096)
def _tool(i: int, raw: bytes) -> Refusal | None:
    """(Cached: an agent sends the same tools with every request, and validating is slow.)"""
    tool = orjson.loads(raw)
    function = tool.get("function") if isinstance(tool, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    param = f"tools[{i}].function.parameters"
    for error in sorted(_tool_validator.iter_errors(tool), key=lambda e: list(e.path)):
        path = list(error.absolute_path)
        if path[:2] != ["function", "parameters"]:
            return Refusal(f"Invalid 'tools[{i}]': {error.message}", f"tools[{i}]",
                           "invalid_value")
        context = tuple(str(p) for p in path[2:])
        if error.validator == "required" and "'items'" in error.message:
            problem = "array schema missing items."
        else:
            problem = f"{error.message}."
        return Refusal(f"Invalid schema for function '{name}': In context={context}, {problem}",
                       param, "invalid_function_parameters")
    try:
        Draft202012Validator.check_schema(tool["function"].get("parameters", {}))
    except SchemaError as exc:
        return Refusal(f"Invalid schema for function '{name}': {exc.message}", param,
                       "invalid_function_parameters")
    return None


def _tool_choice(body: dict[str, Any]) -> Refusal | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if not body.get("tools"):
        return Refusal("Invalid value for 'tool_choice': 'tool_choice' is only allowed when "
                       "'tools' are specified.", "tool_choice")
    if isinstance(choice, str):
        if choice not in ("auto", "required", "none"):
            return Refusal(f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', "
                           "and 'required'.", "tool_choice", "invalid_value")
        return None
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    offered = {t["function"]["name"] for t in body["tools"]}
    if not isinstance(choice, dict) or choice.get("type") != "function" or name not in offered:
        return Refusal(f"Invalid value for 'tool_choice': tool choice '{name}' not found in "
                       "'tools' parameter.", "tool_choice")
    return None


def _stream_options(body: dict[str, Any]) -> Refusal | None:
    if "stream_options" in body and not body.get("stream"):
        return Refusal("The 'stream_options' parameter is only allowed when 'stream' is "
                       "enabled.", "stream_options", "invalid_value")
    return None
