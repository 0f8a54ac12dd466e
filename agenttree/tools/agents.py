"""Tools for working in the tree: spawn, message, report-state, wait, finish, bridges, grant."""

from __future__ import annotations

import posixpath
from typing import Any

import orjson

from .. import events as ev
from ..budget import parse_budget
from ..errors import ToolError
from ..numbers import NumberError, check_number
from ..plan import Task, check_system_prompt
from ..tool_names import covers
from .base import AgentHandle, Param, tool


def _budget(raw: dict[str, Any]) -> dict[str, float]:
    """A budget object from a model, checked (:func:`~agenttree.budget.parse_budget`)."""
    try:
        return parse_budget(raw)
    except NumberError as exc:
        raise ToolError(f"budget: {exc}") from None


def parse_script(raw: list[Any], tool_names: frozenset[str]) -> tuple[dict[str, Any], ...]:
    """Scripted-model turns given to ``spawn`` (the plan's shape, JSON-spelled), calling only
    ``tool_names`` (the run's plan's)."""
    turns = []
    for i, turn in enumerate(raw):
        if not isinstance(turn, dict):
            raise ToolError(f"script turn {i} must be an object")
        calls = list(turn.get("calls") or [])
        if "call" in turn:
            calls.insert(0, {"tool": turn["call"], "args": turn.get("args") or {}})
        norm = []
        for call in calls:
            name = call.get("tool") or call.get("call") if isinstance(call, dict) else None
            if not isinstance(name, str) or name.endswith("/*") or not covers(tool_names, name):
                raise ToolError(f"script turn {i}: unknown tool {name!r}")
            args = call.get("args") or {}
            if not isinstance(args, dict):
                raise ToolError(f"script turn {i}: args of {name} must be an object")
            norm.append({"tool": name, "args": args})
        try:
            delay = check_number(turn.get("delay_ms") or 0, whole=True)
            tokens = turn.get("tokens")
            tokens = None if tokens is None else check_number(tokens, whole=True)
        except NumberError as exc:
            raise ToolError(f"script turn {i}: {exc}") from None
        turns.append({"calls": norm, "say": turn.get("say"), "delay_ms": delay,
                      "tokens": tokens})
    return tuple(turns)


def spawn_record(task: Task) -> dict[str, Any]:
    """What ``agent/spawned`` logs of a task spawned at run time, beyond its id, goal and cwd:
    the model, tools, system prompt and script its parent's ``spawn`` call gave it (those set),
    so a resume rebuilds the task from the log (:func:`spawned_task`)."""
    record: dict[str, Any] = {}
    if task.model is not None:
        record["model"] = task.model
    if task.tools is not None:
        record["tools"] = list(task.tools)
    if task.system_prompt is not None:
        record["system_prompt"] = task.system_prompt
    if task.script is not None:
        record["script"] = list(task.script)
    return record


def spawned_task(task_id: str, goal: str, cwd: str, record: dict[str, Any],
                 tool_names: frozenset[str]) -> Task:
    """A task spawned at run time, rebuilt from its :func:`spawn_record` (or, in a log written
    before ``agent/spawned`` carried one, from the arguments of the ``spawn`` call)."""
    tools, script = record.get("tools"), record.get("script")
    return Task(id=task_id, goal=goal, cwd=cwd, model=record.get("model"),
                tools=tuple(tools) if tools is not None else None,
                script=parse_script(script, tool_names) if script is not None else None,
                system_prompt=record.get("system_prompt"))


@tool("spawn", "Start a child agent for a new sub-task; it reports back to you.",
      goal=Param(type="string", description="what the child must achieve"),
      cwd=Param(type="string", description="its working directory in the workspace",
                required=False),
      model=Param(type="string", description="a model you are allowed to use", required=False),
      budget=Param(type="object", description="limits carved out of yours, e.g. "
                   '{"tool_calls": 20, "tokens": 50000}', required=False),
      tools=Param(type="array", items="string", description="tool names, a subset of yours",
                  required=False),
      system_prompt=Param(type="string", description="rules for the child, added to yours "
                          "(which it always gets)", required=False),
      script=Param(type="array", items="object",
                   description="scripted-model turns (offline runs)", required=False))
async def spawn(agent: AgentHandle, args: dict[str, Any]) -> str:
    model = args.get("model")
    if model is not None and not agent.policy.allows_model(model):
        raise ToolError(f"model {model!r} is not yours to give; you may use "
                        f"{', '.join(agent.policy.models)}")
    tools = args.get("tools")
    if tools is not None:
        extra = {t for t in tools if not agent.policy.allows_tool(t)}
        if extra:
            raise ToolError(f"tools {sorted(extra)} are not yours to give")
    cwd = posixpath.normpath(posixpath.join(agent.task.cwd, args.get("cwd") or "."))
    if cwd.startswith("..") or cwd.startswith("/") or "\x00" in cwd:
        raise ToolError(f"cwd {args.get('cwd')!r} leaves the workspace")
    prompt = args.get("system_prompt")
    if prompt is not None:
        try:
            check_system_prompt(prompt)
        except ValueError as exc:
            raise ToolError(f"system_prompt {exc}") from None
    key, task_id = agent.next_child_key()
    task = Task(id=task_id, goal=args["goal"], cwd=cwd, model=model,
                tools=tuple(tools) if tools is not None else None,
                script=parse_script(args["script"], agent.engine.plan.tool_names)
                if args.get("script") is not None else None,
                system_prompt=prompt)
    child = agent.start_child(task, key=key, dynamic=True,
                              extra=_budget(args.get("budget") or {}))
    return f"started {child} (task {task_id})"


@tool("message", "Send a chat message to your parent, a child, or an agent you are bridged to.",
      to=Param(type="string", description='an agent id, or "parent"'),
      text=Param(type="string", description="the message"))
async def message(agent: AgentHandle, args: dict[str, Any]) -> str:
    to = args["to"]
    if to == "parent":
        if agent.parent is None:
            raise ToolError("the root agent has no parent")
        to = agent.parent
    await agent.engine.router.send(agent.id, to, "chat", args["text"])
    return f"sent to {to}"


@tool("report-state", "Tell your parent structured facts about your progress.",
      facts=Param(type="object", description='e.g. {"progress": {"done": 2, "total": 5}}'),
      status=Param(type="string", description="a one-word status, e.g. blocked",
                   required=False))
async def report_state(agent: AgentHandle, args: dict[str, Any]) -> str:
    facts = args["facts"]
    status = args.get("status") or "running"
    agent.engine.emit(ev.AgentState(agent=agent.id, status=status, facts=facts))
    if agent.parent is not None:
        text = orjson.dumps(facts).decode()
        await agent.engine.router.send(agent.id, agent.parent, "state", text, data=facts)
    return "reported"


@tool("wait", "Sleep until a message arrives or a child finishes; returns what arrived.",
      timeout_s=Param(type="number", description="give up after this many seconds (default 30)",
                      required=False))
async def wait(agent: AgentHandle, args: dict[str, Any]) -> str:
    timeout = args.get("timeout_s")
    news = await agent.wait_for_news(30.0 if timeout is None else max(0.0, float(timeout)))
    if news:
        return "\n".join(news)
    return f"nothing arrived in {timeout if timeout is not None else 30:g}s"


@tool("finish", "Declare your task done with a final result (acceptance checks run next).",
      result=Param(type="string", description="a short summary of what you did",
                   required=False))
async def finish(agent: AgentHandle, args: dict[str, Any]) -> str:
    agent.finish(args.get("result") or "done")
    return "finishing"


@tool("bridge", "Let two agents below you talk directly (you must be their lowest common "
      "ancestor).",
      a=Param(type="string", description="agent id"),
      b=Param(type="string", description="agent id"))
async def bridge(agent: AgentHandle, args: dict[str, Any]) -> str:
    bridge_id = agent.engine.router.open_bridge(agent.id, args["a"], args["b"])
    return f"opened {bridge_id}"


@tool("bridge-close", "Close a bridge you opened.",
      bridge=Param(type="string", description="the bridge id"))
async def bridge_close(agent: AgentHandle, args: dict[str, Any]) -> str:
    agent.engine.router.close_bridge(agent.id, args["bridge"])
    return f"closed {args['bridge']}"


@tool("grant", "Give a child more budget, or models and tools, out of yours; a child that ran "
      "out of budget is restarted.",
      agent=Param(type="string", description="the child's agent id"),
      budget=Param(type="object", description='e.g. {"tool_calls": 10}', required=False),
      model=Param(type="string", description="a model of yours it may use from now on",
                  required=False),
      tools=Param(type="array", items="string", description="tools of yours it may use",
                  required=False))
async def grant(agent: AgentHandle, args: dict[str, Any]) -> str:
    if not any(args.get(k) for k in ("budget", "model", "tools")):
        raise ToolError("grant: give at least one of budget, model, tools")
    done = []
    if args.get("model") or args.get("tools"):
        models = (args["model"],) if args.get("model") else ()
        done.append(await agent.grant_policy(args["agent"], models,
                                             tuple(args.get("tools") or ())))
    if args.get("budget"):
        done.append(await agent.grant(args["agent"], _budget(args["budget"])))
    return "; ".join(done)


@tool("request-upgrade", "Ask your parent for a model or tools you lack; its answer arrives "
      "in your inbox (use wait).",
      reason=Param(type="string", description="why you need it"),
      model=Param(type="string", description="the model you want", required=False),
      tools=Param(type="array", items="string", description="the tools you want",
                  required=False))
async def request_upgrade(agent: AgentHandle, args: dict[str, Any]) -> str:
    if agent.parent is None:
        raise ToolError("the root has no parent to ask; its policy is the plan's tier 0")
    wanted = {"model": args.get("model"), "tools": list(args.get("tools") or ())}
    if not wanted["model"] and not wanted["tools"]:
        raise ToolError("request-upgrade: ask for a model or tools")
    text = (f"{agent.id} asks for " + " and ".join(
        x for x in (f"model {wanted['model']}" if wanted["model"] else "",
                    f"tools {wanted['tools']}" if wanted["tools"] else "") if x)
        + f": {args['reason']} (answer with grant, or message to refuse)")
    await agent.engine.router.send(agent.id, agent.parent, "upgrade", text, data=wanted)
    return f"asked {agent.parent}; wait for the answer"
