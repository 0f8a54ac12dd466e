"""Policy: which models and tools an agent may use, derived from its parent by narrowing only."""

from __future__ import annotations

import attrs

from .plan import Plan, Task
from .tool_names import TOOL_NAMES


@attrs.frozen(kw_only=True)
class Policy:
    """What one agent may use. ``models[0]`` is its default model."""

    models: tuple[str, ...]
    tools: frozenset[str]
    talk: frozenset[str]

    def allows_model(self, model: str) -> bool:
        """Whether the agent may use ``model``."""
        return model in self.models

    def choose_model(self, task: Task) -> str:
        """The task's own model if the policy allows it, else the policy's default."""
        if task.model is not None and self.allows_model(task.model):
            return task.model
        return self.models[0]


def root_policy(plan: Plan, model_override: str | None = None) -> Policy:
    """The root's policy: tier 0 of the plan (or one model for everything with ``--model``),
    its tools narrowed by the root task's ``:tools``."""
    tier = plan.tier_for(0)
    tools = TOOL_NAMES if tier.tools is None else frozenset(tier.tools) & TOOL_NAMES
    if plan.root.tools is not None:
        tools &= frozenset(plan.root.tools)
    models = (model_override,) if model_override else tuple(tier.models)
    return Policy(models=models, tools=tools, talk=plan.talk)


def derive(parent: Policy, plan: Plan, task: Task, depth: int,
           model_override: str | None = None) -> Policy:
    """A child's policy: its tier's, intersected with its parent's. Never wider than the parent.

    Models keep the tier's order (its default first); if the intersection is empty the child
    gets its parent's last (smallest) model.
    """
    tier = plan.tier_for(depth)
    if model_override:
        models = parent.models
    else:
        models = tuple(m for m in tier.models if parent.allows_model(m)) or parent.models[-1:]
    tools = parent.tools
    if tier.tools is not None:
        tools = tools & frozenset(tier.tools)
    if task.tools is not None:
        tools = tools & frozenset(task.tools)
    return Policy(models=models, tools=tools, talk=parent.talk)
