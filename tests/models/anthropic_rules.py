"""What Anthropic's Messages API refuses, for the fake server to refuse too.

Written from the API's own answers (its error types and messages, as it words them),
independently of the client in ``agenttree/models/anthropic.py``: every request the client
builds must pass these checks, so a mistake in either shows up as a refused request.
"""

from __future__ import annotations

import re
from typing import Any

import attrs

API_VERSIONS = ("2023-06-01", "2023-01-01")
MAX_OUTPUT_TOKENS = 64_000
"""What the fake's models accept as ``max_tokens`` at most."""
TOP_LEVEL = {"model", "messages", "max_tokens", "system", "tools", "tool_choice", "stream",
             "temperature", "top_p", "top_k", "stop_sequences", "metadata", "thinking",
             "service_tier"}
"""Every other field is refused ("Extra inputs are not permitted")."""
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
TOOL_USE_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


@attrs.frozen
class Refusal:
    """An error answer as the API words it."""

    message: str
    status: int = 400
    type: str = "invalid_request_error"

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        return {"type": "error", "error": {"type": self.type, "message": self.message},
                "request_id": "req_fake"}


def header_refusal(headers: dict[str, str], api_key: str | None) -> Refusal | None:
    """Why the API would refuse these headers (version first, then the key), or ``None``."""
    version = headers.get("anthropic-version")
    if version is None:
        return Refusal("anthropic-version: header is required")
    if version not in API_VERSIONS:
        return Refusal(f"anthropic-version: invalid version '{version}'")
    if api_key is not None and headers.get("x-api-key") != api_key:
        return Refusal("invalid x-api-key", 401, "authentication_error")
    if "authorization" in headers and api_key is not None:
        return Refusal("only one of x-api-key and Authorization may be sent", 401,
                       "authentication_error")
    return None


def refusal(body: Any) -> Refusal | None:
    """Why the API would refuse this request body, or ``None``."""
    if not isinstance(body, dict):
        return Refusal("Input should be a valid dictionary")
    for name in sorted(set(body) - TOP_LEVEL):
        return Refusal(f"{name}: Extra inputs are not permitted")
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            return Refusal(f"{name}: Field required")
    for check in (_max_tokens, _sampling, _system, _messages, _tools, _tool_choice):
        found = check(body)
        if found is not None:
            return found
    return None


def _max_tokens(body: dict[str, Any]) -> Refusal | None:
    value = body["max_tokens"]
    if type(value) is not int:
        return Refusal("max_tokens: Input should be a valid integer")
    if value < 1:
        return Refusal("max_tokens: Input should be greater than or equal to 1")
    if value > MAX_OUTPUT_TOKENS:
        return Refusal(f"max_tokens: {value} > {MAX_OUTPUT_TOKENS}, which is the maximum allowed "
                       f"number of output tokens for {body['model']}")
    return None


def _sampling(body: dict[str, Any]) -> Refusal | None:
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            return Refusal(f"{name}: Input should be a valid number")
        if not 0 <= value <= 1:
            return Refusal(f"{name}: Input should be less than or equal to 1" if value > 1
                           else f"{name}: Input should be greater than or equal to 0")
    if "stream" in body and not isinstance(body["stream"], bool):
        return Refusal("stream: Input should be a valid boolean")
    return None


def _system(body: dict[str, Any]) -> Refusal | None:
    system = body.get("system")
    if system is None or isinstance(system, str):
        return None
    if isinstance(system, list) and all(isinstance(b, dict) and b.get("type") == "text"
                                        and isinstance(b.get("text"), str) for b in system):
        return None
    return Refusal("system: Input should be a valid string")


def _messages(body: dict[str, Any]) -> Refusal | None:
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return Refusal("messages: at least one message is required")
    pending: list[str] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            role = m.get("role") if isinstance(m, dict) else None
            return Refusal(f"messages.{i}.role: Input should be 'user' or 'assistant'"
                           + (" (a system prompt goes in the top-level system parameter)"
                              if role == "system" else ""))
        if i == 0 and m["role"] != "user":
            return Refusal('messages: first message must use the "user" role')
        if i > 0 and messages[i - 1].get("role") == m["role"]:
            return Refusal(f'messages: roles must alternate between "user" and "assistant", '
                           f'but found multiple "{m["role"]}" roles in a row')
        content = m.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list):
            return Refusal(f"messages.{i}.content: Input should be a valid list")
        last_assistant = i == len(messages) - 1 and m["role"] == "assistant"
        if not content and not last_assistant:
            return Refusal(f"messages.{i}: all messages must have non-empty content except "
                           "for the optional final assistant message")
        found = _blocks(i, m["role"], content, pending, last_assistant)
        if found is not None:
            return found
        pending = [b["id"] for b in content if b.get("type") == "tool_use"]
    if pending:
        return Refusal(f"messages.{len(messages) - 1}: `tool_use` ids were found without "
                       f"`tool_result` blocks immediately after: {', '.join(pending)}. Each "
                       "`tool_use` block must have a corresponding `tool_result` block in the "
                       "next message.")
    return None


def _blocks(i: int, role: str, content: list[Any], pending: list[str],
            last_assistant: bool) -> Refusal | None:
    """Checks a message's content blocks; ``pending`` are the previous message's tool uses."""
    answered: list[str] = []
    seen_other = False
    for j, block in enumerate(content):
        where = f"messages.{i}.content.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str):
                return Refusal(f"{where}.text.text: Input should be a valid string")
            if not text.strip():
                return Refusal("messages: text content blocks must contain non-whitespace text")
            if last_assistant and j == len(content) - 1 and text != text.rstrip():
                return Refusal("messages: final assistant content cannot end with trailing "
                               "whitespace")
            seen_other = True
        elif kind == "tool_use":
            if role != "assistant":
                return Refusal(f"{where}: tool_use blocks may only appear in assistant messages")
            if not isinstance(block.get("id"), str) or not TOOL_USE_ID.match(block["id"]):
                return Refusal(f"{where}.tool_use.id: String should match pattern "
                               "'^[a-zA-Z0-9_-]+$'")
            if not isinstance(block.get("name"), str) or not TOOL_NAME.match(block["name"]):
                return Refusal(f"{where}.tool_use.name: String should match pattern "
                               "'^[a-zA-Z0-9_-]{1,128}$'")
            if not isinstance(block.get("input"), dict):
                return Refusal(f"{where}.tool_use.input: Input should be a valid dictionary")
            seen_other = True
        elif kind == "tool_result":
            if role != "user":
                return Refusal(f"{where}: tool_result blocks may only appear in user messages")
            if seen_other:
                return Refusal(f"messages.{i}: tool_result blocks must come first in the "
                               "content, before any other block")
            use_id = block.get("tool_use_id")
            if use_id not in pending:
                return Refusal(f"{where}: unexpected `tool_use_id` found in `tool_result` "
                               f"blocks: {use_id}. Each `tool_result` block must have a "
                               "corresponding `tool_use` block in the previous message.")
            result = block.get("content")
            if not isinstance(result, str | list) or not isinstance(
                    block.get("is_error", False), bool):
                return Refusal(f"{where}.tool_result.content: Input should be a valid string")
            answered.append(use_id)
        else:
            return Refusal(f"{where}: Input tag '{kind}' found using 'type' does not match any "
                           "of the expected tags: 'text', 'image', 'tool_use', 'tool_result', "
                           "'document'")
    missing = [p for p in pending if p not in answered]
    if missing:
        return Refusal(f"messages.{i - 1}: `tool_use` ids were found without `tool_result` "
                       f"blocks immediately after: {', '.join(missing)}. Each `tool_use` "
                       "block must have a corresponding `tool_result` block in the next "
                       "message.")
    return None


def _tools(body: dict[str, Any]) -> Refusal | None:
    tools = body.get("tools")
    if tools is None:
        return None
    if not isinstance(tools, list):
        return Refusal("tools: Input should be a valid list")
    names = set()
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict):
            return Refusal(f"tools.{i}: Input should be a valid dictionary")
        for name in sorted(set(tool) - {"name", "description", "input_schema", "type",
                                        "cache_control"}):
            return Refusal(f"tools.{i}.custom.{name}: Extra inputs are not permitted")
        if not isinstance(tool.get("name"), str) or not TOOL_NAME.match(tool["name"]):
            return Refusal(f"tools.{i}.custom.name: String should match pattern "
                           "'^[a-zA-Z0-9_-]{1,128}$'")
        if tool["name"] in names:
            return Refusal("tools: Tool names must be unique.")
        names.add(tool["name"])
        schema = tool.get("input_schema")
        if schema is None:
            return Refusal(f"tools.{i}.custom.input_schema: Field required")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return Refusal(f"tools.{i}.custom.input_schema.type: Input should be 'object'")
    return None


def _tool_choice(body: dict[str, Any]) -> Refusal | None:
    choice = body.get("tool_choice")
    if choice is None:
        return None
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        return Refusal(f"tool_choice: Input tag '{kind}' found using 'type' does not match any "
                       "of the expected tags: 'auto', 'any', 'tool', 'none'")
    if not body.get("tools") and kind != "none":
        return Refusal("tool_choice: tool_choice may only be specified while providing tools")
    if kind == "tool" and choice.get("name") not in {t["name"] for t in body["tools"]}:
        return Refusal(f"tool_choice: Tool '{choice.get('name')}' not found in provided tools")
    return None
