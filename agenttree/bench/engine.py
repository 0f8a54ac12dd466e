"""The engine a case runs on: the production :class:`~agenttree.runtime.engine.Engine`, offering
the case's own tools, playing the suite's script for ``scripted:NAME`` models, sharing provider
limiters across cases, and noting infrastructure failures (a model that cannot be reached, a
crashed tool) apart from the agent's own mistakes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .. import events as ev
from ..errors import ToolError
from ..models.base import ModelClient, ModelError, ModelRequest, ModelResponse
from ..models.scripted import ScriptedModel
from ..models.spec import PROVIDERS
from ..plan import Plan, Provider, Settings, is_scripted
from ..runtime.agent import Agent, AgentSpec
from ..runtime.engine import Engine
from ..sandbox.procs import Confinement
from ..tools.base import Tool
from .case import Limiters


class _InfraWatch:
    """A model client that notes a :class:`ModelError` (provider down, bad key) as infra."""

    def __init__(self, inner: ModelClient, note: Callable[[str], None]) -> None:
        self.name = inner.name
        self._inner = inner
        self._note = note

    def params(self, request: ModelRequest) -> dict[str, Any]:
        """The inner client's parameters."""
        return self._inner.params(request)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        try:
            return await self._inner.complete(request)
        except ModelError as exc:
            self._note(f"model: {exc}")
            raise


def guarded(t: Tool, note: Callable[[str], None]) -> Tool:
    """``t`` whose crash (any error but a :class:`ToolError`) is noted as infra and shown to the
    model as a tool error, never as the agent's fault."""

    async def run(agent: Agent, args: dict[str, Any]) -> str:
        try:
            return await t.run(agent, args)
        except ToolError:
            raise
        except Exception as exc:
            note(f"tool {t.name} crashed: {exc!r}")
            raise ToolError(f"{t.name}: internal error") from None

    return attrs.evolve(t, run=run)


class BenchEngine(Engine):
    """An :class:`Engine` for one case.

    Args:
        tools: the case's tools, offered to the root agent in this order beside the built-ins
            its tier allows.
        script: the turns a ``scripted:NAME`` model plays (``None``: the engine's default).
        limiters: shared across the run's cases: each provider's connection cap (at most
            ``model_connections`` calls at once) and rate limiter live in it.
        confinement: how ``sh`` is confined (``None``: as the plan's ``:sandbox`` says); a
            coding case's sealed view (:mod:`.seal`).
        shell: where ``sh`` runs instead of the engine's own shell (a container).
        system: the system prompt the suite gives its agents (``None``: the agent-tree one).
    """

    def __init__(self, plan: Plan, run_dir: Path, *, tools: Sequence[Tool] = (),
                 script: list[dict[str, Any]] | None = None, limiters: Limiters,
                 confinement: Confinement | None = None, shell: Any = None,
                 system: str | None = None, **kwargs: Any) -> None:
        cap = limiters.model_connections  # every provider's, a lower :concurrency stands
        providers = {**{name: Provider() for name in PROVIDERS if name != "scripted"},
                     **plan.providers}
        plan = attrs.evolve(plan, providers={
            name: attrs.evolve(p, concurrency=min(p.concurrency or cap, cap))
            for name, p in providers.items()})
        super().__init__(plan, run_dir, provider_limiters=limiters.providers, **kwargs)
        if confinement is not None:
            self.confinement = confinement
        self.shell = shell
        self.infra: list[str] = []
        self.case_tools: Mapping[str, Tool] = {t.name: guarded(t, self.infra.append)
                                               for t in tools}
        self.script = script
        self.system = system

    def system_prompt(self, agent: Agent, tools: frozenset[str]) -> str:
        """The suite's own system prompt, if it gives one."""
        return self.system if self.system is not None else super().system_prompt(agent, tools)

    def tool(self, name: str) -> Tool | None:
        """A case tool by that name, else a built-in."""
        return self.case_tools.get(name) or super().tool(name)

    def tool_schemas(self, tools: frozenset[str]) -> list[dict[str, Any]]:
        """The case's tools first, in the order offered, then the allowed built-ins."""
        own = [t.schema() for name, t in self.case_tools.items() if name in tools]
        return own + super().tool_schemas(tools - set(self.case_tools))

    def root_spec(self, *args: Any, **kwargs: Any) -> AgentSpec:
        """The root may use the case's tools besides what its tier allows."""
        spec = super().root_spec(*args, **kwargs)
        policy = attrs.evolve(spec.policy, tools=spec.policy.tools | set(self.case_tools))
        return attrs.evolve(spec, policy=policy)

    def model_for(self, agent: Agent) -> ModelClient:
        """The suite's script for ``scripted:NAME``; a real model watched for infra errors."""
        if is_scripted(agent.model_name) and self.script is not None:
            return ScriptedModel(list(self.script), name=agent.model_name)
        return _InfraWatch(super().model_for(agent), self.infra.append)


@attrs.frozen(kw_only=True)
class TreeResult:
    """How a case's agent tree ended: the root's status and final reply, the calls the root's
    model made (one list per turn that made any), what the tree used (:class:`Usage`), and
    infra problems noted."""

    status: str
    reply: str
    turns: list[list[dict[str, Any]]]
    usage: dict[str, float]
    infra: tuple[str, ...]


@attrs.define
class Usage:
    """Tokens the tree's models used, split into prompt and completion; ``estimated`` counts
    those the model did not report (a scripted model's always are)."""

    prompt: int = 0
    completion: int = 0
    estimated: int = 0

    def add(self, e: ev.ModelResponded) -> None:
        """Count one model answer."""
        prompt, completion = int(e.usage.get("prompt", 0)), int(e.usage.get("completion", 0))
        self.prompt += prompt
        self.completion += completion
        if e.usage.get("estimated"):
            self.estimated += prompt + completion

    def metrics(self, used: Mapping[str, float]) -> dict[str, float]:
        """Tool calls, tokens (all, prompt, completion, estimated), retries and cost the whole
        tree used; ``used`` is the root's roll-up of its tree's budget."""
        return {"tool_calls": round(float(used.get("tool_calls", 0)), 6),
                "tokens": float(self.prompt + self.completion),
                "prompt_tokens": float(self.prompt), "completion_tokens": float(self.completion),
                "estimated_tokens": float(self.estimated),
                "retries": round(float(used.get("retries", 0)), 6),
                "cost": round(float(used.get("cost", 0)), 6)}


async def run_tree(plan: Plan, run_dir: Path, *, model: str, seed: int,
                   tools: Sequence[Tool] = (), script: list[dict[str, Any]] | None,
                   limiters: Limiters, on_event: Callable[[str, dict[str, Any]], None],
                   confinement: Confinement | None = None, shell: Any = None,
                   system: str | None = None, settings: Settings | None = None,
                   max_tool_calls: int | None = None) -> TreeResult:
    """Run ``plan`` with ``model`` in ``run_dir`` (an ordinary run directory: ``agenttree
    replay`` and the TUI open it), reporting tool calls and results through ``on_event``;
    ``sh`` confined by ``confinement``, or run by ``shell`` (see :class:`BenchEngine`).
    ``system`` is the suite's system prompt (``None``: the agent-tree one); ``settings``
    (``--settings``) add providers, model settings and prices to the plan;
    ``max_tool_calls`` (``--max-tool-calls``) replaces every tier's tool-call budget."""
    if settings is not None:
        plan = settings.applied_to(plan)
    if max_tool_calls is not None:
        plan = attrs.evolve(plan, tiers=tuple(
            attrs.evolve(t, budget=attrs.evolve(t.budget, tool_calls=max_tool_calls))
            for t in plan.tiers))
    engine = BenchEngine(plan, run_dir, tools=tools, script=script, limiters=limiters,
                         confinement=confinement, shell=shell, system=system, seed=seed,
                         model_override=model)
    turns: list[list[dict[str, Any]]] = []
    usage = Usage()

    def watch(entry: ev.Entry) -> None:
        e = entry.event
        if isinstance(e, ev.ModelResponded):
            usage.add(e)
            if e.agent == plan.root.id and e.calls:
                turns.append([{"tool": c["tool"], "args": c["args"]} for c in e.calls])
        elif isinstance(e, ev.ToolRequested):
            on_event("tool/call", {"agent": e.agent, "tool": e.tool, "args": e.args})
        elif isinstance(e, ev.ToolResult):
            on_event("tool/result", {"agent": e.agent, "tool": e.tool, "ok": e.ok,
                                     "output": e.output[:2000]})

    engine.on_event = watch
    status = await engine.run()
    root = engine.state.agents.get(plan.root.id)
    return TreeResult(status=status, reply=root.result if root else "", turns=turns,
                      usage=usage.metrics(root.used if root else {}), infra=tuple(engine.infra))
