"""The task book: the one owner of which agent runs which task, and what happens as attempts end.

It holds each task's current agent, its attempts and the last one's status (kept in step with
the agents: the folded ``RunState`` lags the log writer by a batch, so decisions are never taken
from it), the agents now running, the task ids taken (plan and spawned), the tasks to run again
even if done, and what waits on an attempt's end: a child to start again in its parent's
nursery (:class:`Respawn`), a callback (a task moved elsewhere), the root's next attempt.

Everything changes through the named operations below, in plain (non-async) methods: under
Trio's single thread each is atomic. Agents call :meth:`TaskBook.opened` and
:meth:`TaskBook.closed` as they start and end; the reconciler and a resume use the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from ..plan import Task
    from .agent import Agent


@attrs.frozen(kw_only=True)
class TaskRun:
    """A task's current agent, how many agents have taken it, and the last one's status."""

    agent: str
    attempts: int
    status: str = "running"


@attrs.frozen(kw_only=True)
class Respawn:
    """A child to start again, in its parent's nursery, once its current attempt has ended."""

    task: Task
    note: str
    dynamic: bool


class TaskBook:
    """Which agent runs which task, the running agents, and what waits on an attempt's end.

    Args:
        task_ids: the plan's task ids (ids a spawned child may not take).
    """

    def __init__(self, task_ids: Iterable[str]) -> None:
        self._runs: dict[str, TaskRun] = {}
        self._agents: dict[str, Agent] = {}
        self._ids: set[str] = set(task_ids)
        self._redo: set[str] = set()
        self._after_end: dict[str, list[Callable[[], None]]] = {}
        self._respawns: dict[str, Respawn] = {}
        self._root_restart: str | None = None

    # --- agents -----------------------------------------------------------------------------

    @property
    def agents(self) -> Mapping[str, Agent]:
        """The running agents by id (read-only)."""
        return MappingProxyType(self._agents)

    def agent(self, agent_id: str) -> Agent | None:
        """A running agent, if any."""
        return self._agents.get(agent_id)

    def is_running(self, agent_id: str) -> bool:
        """Whether ``agent_id`` runs now."""
        return agent_id in self._agents

    def opened(self, agent: Agent) -> None:
        """An agent took its task as its ``spec.attempt``-th (a resumed agent reopens its own
        attempt); the task is no longer to be redone."""
        self._agents[agent.id] = agent
        self._runs[agent.task.id] = TaskRun(agent=agent.id, attempts=agent.spec.attempt)
        self._redo.discard(agent.task.id)

    def closed(self, agent: Agent, status: str) -> list[Callable[[], None]]:
        """An agent ended ``status``; returns what waited on its end, to be run now. A stale
        attempt (its task taken by a newer one meanwhile) leaves the task's status alone."""
        self._agents.pop(agent.id, None)
        run = self._runs.get(agent.task.id)
        if run is not None and run.agent == agent.id:
            self._runs[agent.task.id] = TaskRun(agent=run.agent, attempts=run.attempts,
                                                status=status)
        return self._after_end.pop(agent.id, [])

    # --- tasks ------------------------------------------------------------------------------

    def run(self, task_id: str) -> TaskRun | None:
        """A task's current run, if it ever had one."""
        return self._runs.get(task_id)

    def attempts(self, task_id: str) -> int:
        """How many agents have taken this task so far."""
        run = self._runs.get(task_id)
        return 0 if run is None else run.attempts

    def settled(self, task_id: str) -> bool:
        """Whether a task is done and not to be redone (a restarted parent skips it)."""
        run = self._runs.get(task_id)
        return run is not None and run.status == "done" and task_id not in self._redo

    def agent_on(self, task_id: str) -> Agent | None:
        """The running agent on a task, if any."""
        run = self._runs.get(task_id)
        return None if run is None else self._agents.get(run.agent)

    def redo(self, task_id: str) -> None:
        """Run ``task_id`` again even if it is done (its parent restarts it)."""
        self._redo.add(task_id)

    def restore(self, task_id: str, run: TaskRun) -> None:
        """A resume: a task's run as the log shows it."""
        self._runs[task_id] = run
        self._ids.add(task_id)

    def mark(self, task_id: str, status: str) -> None:
        """A resume: a task's last agent ended ``status`` before the engine died."""
        run = self._runs[task_id]
        self._runs[task_id] = attrs.evolve(run, status=status)

    # --- task ids -----------------------------------------------------------------------------

    def learn(self, task_ids: Iterable[str]) -> None:
        """Task ids a new plan brings."""
        self._ids.update(task_ids)

    def claim(self, task_id: str) -> bool:
        """Take ``task_id`` for a spawned child; ``False`` if it is taken already."""
        if task_id in self._ids:
            return False
        self._ids.add(task_id)
        return True

    # --- what waits on an end -----------------------------------------------------------------

    def respawn_after(self, agent_id: str, respawn: Respawn) -> None:
        """Start ``respawn`` in ``agent_id``'s parent's nursery once ``agent_id`` has ended
        (the parent does it as it hears of the end)."""
        self._respawns[agent_id] = respawn

    def take_respawn(self, agent_id: str) -> Respawn | None:
        """What to start again now that ``agent_id`` ended, if anything (once)."""
        return self._respawns.pop(agent_id, None)

    def after_end(self, agent_id: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` once ``agent_id`` has ended."""
        self._after_end.setdefault(agent_id, []).append(callback)

    def restart_root(self, note: str) -> None:
        """Start the root again, told ``note``, once its current attempt has ended."""
        self._root_restart = note

    def take_root_restart(self) -> str | None:
        """The note for the root's next attempt, if one is due (once)."""
        note, self._root_restart = self._root_restart, None
        return note
