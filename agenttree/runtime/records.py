"""What the runtime says about agents, as records: the spec a parent gives a child, how an
agent's work ended, the notice of a child's end, and the children a resume brings back."""

from __future__ import annotations

import attrs

from ..plan import Task
from ..policy import Policy
from ..prompt import PromptPart


@attrs.frozen(kw_only=True)
class AgentSpec:
    """Everything a parent decides when it starts a child."""

    id: str
    task: Task
    depth: int
    policy: Policy
    model: str
    budget: dict[str, float]
    deadline: float
    dynamic: bool = False
    attempt: int = 1
    note: str = ""
    prompts: tuple[PromptPart, ...] = ()
    """The system-prompt parts its ancestors and the plan imposed (:mod:`agenttree.prompt`)."""


@attrs.frozen(kw_only=True)
class Outcome:
    """How an agent's work ended: its status, why (for anything but ``done``), its result."""

    status: str
    reason: str = ""
    result: str = ""


@attrs.frozen(kw_only=True)
class ChildDone:
    """A child ended (sent by the child's cleanup into its parent's inbox)."""

    agent: str
    status: str
    reason: str
    result: str
    lent: dict[str, float]
    used: dict[str, float]


@attrs.frozen(kw_only=True)
class RestoredChildren:
    """A resumed agent's children as the log left them, for the agent to take back: the
    running ones to start again (each spec with its envelope), the ended ones, and the plan's
    children the log never saw started."""

    running: tuple[tuple[AgentSpec, dict[str, float]], ...]
    ended: tuple[ChildDone, ...]
    tasks: dict[str, Task]
    """Every restored child's task, by agent id."""
    fresh: tuple[Task, ...]
