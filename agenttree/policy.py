"""Policy: which models and tools an agent may use, derived from its parent by narrowing only;
and which of its tools it is offered (:func:`offered_tools`)."""

from __future__ import annotations

import fnmatch

import attrs

from .plan import Plan, Task
from .tool_names import covers, narrow

OWN_TOOLS = frozenset({"read-output"})
"""Tools every agent has, whatever its tier and task say: they only read what the agent's own
tools produced."""
NEEDS_PARENT = frozenset({"request-upgrade", "report-state"})
NEEDS_CHILDREN = frozenset({"grant", "bridge", "bridge-close", "resolve-conflict"})
NEEDS_COMPANY = frozenset({"message", "wait", "lock", "unlock", "locks", "who-holds"})
"""Tools of no use to an agent alone in its tree (no parent, no children): nobody to talk to,
wait for or share files with (``lock`` and ``unlock`` stay when the plan requires locks)."""


@attrs.frozen(kw_only=True)
class Policy:
    """What one agent may use. ``models[0]`` is its default model."""

    models: tuple[str, ...]
    tools: frozenset[str]
    """Tool names; ``server/*`` allows every tool of that MCP server (see :meth:`allows_tool`)."""
    talk: frozenset[str]
    approve: frozenset[str] = frozenset()
    """Tool-name patterns (globs) whose calls wait for a person. They only add up down the
    tree: a child's are its parent's, its tier's and its task's together."""

    def needs_approval(self, tool: str) -> bool:
        """Whether a call to ``tool`` waits for a person (a pattern of :attr:`approve`
        matches its name, ``calc/*`` included)."""
        return any(fnmatch.fnmatchcase(tool, pattern) for pattern in self.approve)

    def allows_tool(self, name: str) -> bool:
        """Whether the agent may call (or pass on) the tool ``name``."""
        return covers(self.tools, name)

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
    tools = plan.tool_names if tier.tools is None else narrow(tier.tools, plan.tool_names)
    if plan.root.tools is not None:
        tools = narrow(tools, plan.root.tools)
    models = (model_override,) if model_override else tuple(tier.models)
    return Policy(models=models, tools=tools | OWN_TOOLS, talk=plan.talk,
                  approve=frozenset(tier.approve) | frozenset(plan.root.approve))


def derive(parent: Policy, plan: Plan, task: Task, depth: int,
           model_override: str | None = None) -> Policy:
    """A child's policy: its tier's, intersected with its parent's. Never wider than the parent:
    its tools narrow, and what needs approval only grows (the parent's, its tier's and its
    task's ``:approve`` together; a child cannot drop an approval above it).

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
        tools = narrow(tools, tier.tools)
    if task.tools is not None:
        tools = narrow(tools, task.tools)
    return Policy(models=models, tools=tools | OWN_TOOLS, talk=parent.talk,
                  approve=parent.approve | frozenset(tier.approve) | frozenset(task.approve))


def offered_tools(tools: frozenset[str], *, has_parent: bool, may_have_children: bool,
                  locks_required: bool, has_saved_outputs: bool) -> frozenset[str]:
    """The tools whose schemas an agent is sent: those of ``tools`` (its policy's) that can
    work where it stands. A tool it is not offered stays its own: it may still give it to a
    child, and a call to it still runs."""
    drop: set[str] = set()
    if not has_parent:
        drop |= NEEDS_PARENT
    if not may_have_children:
        drop |= NEEDS_CHILDREN
    if not has_parent and not may_have_children:
        drop |= NEEDS_COMPANY - ({"lock", "unlock"} if locks_required else set())
    if not has_saved_outputs:
        drop |= OWN_TOOLS
    return tools - drop
