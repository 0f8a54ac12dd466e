"""What a span is called and the attributes it carries, the same in every export format.

Model calls, agents and tool calls follow the OpenTelemetry GenAI semantic conventions; the
names are taken from the ``opentelemetry-semantic-conventions`` package pinned in
pyproject.toml (see docs/traces.md), not typed out here. Everything else agenttree knows is
under ``agenttree.*``.

Importing this module imports OpenTelemetry's semantic conventions (names only, no SDK): only
``agenttree export`` does, when it runs.
"""

from __future__ import annotations

import orjson
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as gen_ai

from ..errors import UserError
from ..models.spec import parse_model_spec
from ..traces import Span, Trace

Value = str | bool | int | float | list[str]
"""An attribute value every format takes."""

ARGS_CHARS = 1000
"""Longest tool-call arguments (as JSON) a span carries."""
GOAL_CHARS = 300
"""Longest agent goal a span carries."""

CHAT = gen_ai.GenAiOperationNameValues.CHAT.value
INVOKE_AGENT = gen_ai.GenAiOperationNameValues.INVOKE_AGENT.value
EXECUTE_TOOL = gen_ai.GenAiOperationNameValues.EXECUTE_TOOL.value


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def provider_and_model(spec: str) -> tuple[str | None, str]:
    """``("openai", "gpt-5.2")`` for ``openai:gpt-5.2@…``; no provider for a spec this version
    cannot parse (a log from another version)."""
    try:
        parsed = parse_model_spec(spec)
    except UserError:
        return None, spec
    return parsed.provider, parsed.model or parsed.provider


def span_name(span: Span) -> str:
    """The span's name, as the GenAI conventions spell it (``chat gpt-5.2``,
    ``invoke_agent root.lib``, ``execute_tool sh``)."""
    f = span.fields
    if span.kind == "model":
        return f"{CHAT} {provider_and_model(str(f['model']))[1]}"
    if span.kind == "agent":
        return f"{INVOKE_AGENT} {span.agent}"
    if span.kind == "tool":
        return f"{EXECUTE_TOOL} {f['tool']}"
    if span.kind == "acceptance":
        return f"acceptance {_short(str(f['cmd']), 60)}"
    return f"run {f.get('plan', '')}".rstrip()


def _model(f: dict, out: dict[str, Value]) -> None:
    provider, model = provider_and_model(str(f["model"]))
    out[gen_ai.GEN_AI_OPERATION_NAME] = CHAT
    out[gen_ai.GEN_AI_REQUEST_MODEL] = model
    if provider is not None:
        out[gen_ai.GEN_AI_PROVIDER_NAME] = provider
    out["agenttree.model.spec"] = str(f["model"])
    out["agenttree.model.turn"] = f["turn"]
    for key in ("messages", "watchdog"):
        if key in f:
            out[f"agenttree.model.{key}"] = f[key]
    if "input_tokens" in f:
        out[gen_ai.GEN_AI_RESPONSE_MODEL] = provider_and_model(str(f["response_model"]))[1]
        out[gen_ai.GEN_AI_USAGE_INPUT_TOKENS] = f["input_tokens"]
        out[gen_ai.GEN_AI_USAGE_OUTPUT_TOKENS] = f["output_tokens"]
        out["agenttree.usage.estimated"] = f["estimated"]
        out["agenttree.model.latency_ms"] = f["latency_ms"]
        out["agenttree.model.tool_calls"] = f["calls"]


def _agent(f: dict, out: dict[str, Value]) -> None:
    out[gen_ai.GEN_AI_OPERATION_NAME] = INVOKE_AGENT
    out[gen_ai.GEN_AI_AGENT_NAME] = f["agent"]
    out[gen_ai.GEN_AI_AGENT_DESCRIPTION] = _short(str(f["goal"]), GOAL_CHARS)
    out[gen_ai.GEN_AI_REQUEST_MODEL] = provider_and_model(str(f["model"]))[1]
    for key in ("task", "attempt", "depth", "dynamic", "status", "reason"):
        if key in f:
            out[f"agenttree.agent.{key}"] = f[key]


def _tool(f: dict, out: dict[str, Value]) -> None:
    out[gen_ai.GEN_AI_OPERATION_NAME] = EXECUTE_TOOL
    out[gen_ai.GEN_AI_TOOL_NAME] = f["tool"]
    out[gen_ai.GEN_AI_TOOL_CALL_ID] = f["call"]
    out[gen_ai.GEN_AI_TOOL_CALL_ARGUMENTS] = _short(orjson.dumps(f["args"]).decode(),
                                                     ARGS_CHARS)
    for key in ("ok", "duration_ms", "replayed_uncertain"):
        if key in f:
            out[f"agenttree.tool.{key}"] = f[key]


def _acceptance(f: dict, out: dict[str, Value]) -> None:
    for key in ("cmd", "ok", "exit_code", "attempt"):
        if f.get(key) is not None:
            out[f"agenttree.acceptance.{key}"] = f[key]


def _run(f: dict, out: dict[str, Value]) -> None:
    for key in ("plan", "status"):
        if key in f:
            out[f"agenttree.run.{key}"] = f[key]


_BY_KIND = {"model": _model, "agent": _agent, "tool": _tool, "acceptance": _acceptance,
            "run": _run}


def span_attributes(trace: Trace, span: Span) -> dict[str, Value]:
    """The attributes of ``span``: the GenAI ones for its kind, then ``agenttree.*``."""
    out: dict[str, Value] = {}
    _BY_KIND[span.kind](span.fields, out)
    out["agenttree.run.id"] = trace.run
    out["agenttree.seq"] = span.id
    if span.agent is not None:
        out["agenttree.agent.id"] = span.agent
    if span.open:
        out["agenttree.open"] = True
    return out


def event_attributes(fields: dict) -> dict[str, Value]:
    """A span event's fields as attributes (lists of strings kept, anything else as is)."""
    return {f"agenttree.{key}": value for key, value in fields.items()
            if isinstance(value, str | bool | int | float | list)}
