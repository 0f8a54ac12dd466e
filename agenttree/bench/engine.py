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
from ..plan import Plan, Provider, Settings, is_scripted
from ..runtime.agent import Agent, AgentSpec
from ..runtime.engine import Engine
from ..sandbox.procs import Confinement
from ..state import RunState
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
    """

    def __init__(self, plan: Plan, run_dir: Path, *, tools: Sequence[Tool] = (),
                 script: list[dict[str, Any]] | None = None, limiters: Limiters,
                 confinement: Confinement | None = None, shell: Any = None,
                 **kwargs: Any) -> None:
        cap = limiters.model_connections  # every provider's, a lower :concurrency stands
        providers = {"openai": Provider(), "ollama": Provider(), **plan.providers}
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
    """How a case's agent tree ended: the root's status, the folded state, the calls the root's
    model made (one list per turn that made any), and infra problems noted."""

    status: str
    state: RunState
    turns: list[list[dict[str, Any]]]
    infra: tuple[str, ...]


async def run_tree(plan: Plan, run_dir: Path, *, model: str, seed: int,
                   tools: Sequence[Tool] = (), script: list[dict[str, Any]] | None,
                   limiters: Limiters, on_event: Callable[[str, dict[str, Any]], None],
                   confinement: Confinement | None = None, shell: Any = None,
                   settings: Settings | None = None) -> TreeResult:
    """Run ``plan`` with ``model`` in ``run_dir`` (an ordinary run directory: ``agenttree
    replay`` and the TUI open it), reporting tool calls and results through ``on_event``;
    ``sh`` confined by ``confinement``, or run by ``shell`` (see :class:`BenchEngine`).
    ``settings`` (``--settings``) add providers, model settings and prices to the plan."""
    if settings is not None:
        plan = settings.applied_to(plan)
    engine = BenchEngine(plan, run_dir, tools=tools, script=script, limiters=limiters,
                         confinement=confinement, shell=shell, seed=seed,
                         model_override=model)
    turns: list[list[dict[str, Any]]] = []

    def watch(entry: ev.Entry) -> None:
        e = entry.event
        if isinstance(e, ev.ModelResponded) and e.agent == plan.root.id and e.calls:
            turns.append([{"tool": c["tool"], "args": c["args"]} for c in e.calls])
        elif isinstance(e, ev.ToolRequested):
            on_event("tool/call", {"agent": e.agent, "tool": e.tool, "args": e.args})
        elif isinstance(e, ev.ToolResult):
            on_event("tool/result", {"agent": e.agent, "tool": e.tool, "ok": e.ok,
                                     "output": e.output[:2000]})

    engine.on_event = watch
    status = await engine.run()
    return TreeResult(status=status, state=engine.state, turns=turns,
                      infra=tuple(engine.infra))


def usage_metrics(state: RunState) -> dict[str, float]:
    """Tool calls, tokens, retries and cost the whole tree used (the root's roll-up)."""
    used = state.agents["root"].used if "root" in state.agents else {}
    return {k: round(float(used.get(k, 0)), 6) for k in ("tool_calls", "tokens", "retries",
                                                         "cost")}
