"""Plans as trees of task ids: index, diff, edit and export.

Pure functions over :class:`~agenttree.plan.Plan` records (no engine, no I/O). Reconcile diffs
the running plan against an edited one with :func:`diff_plans`; ``reassign`` edits the running
plan with :func:`replace_task` / :func:`move_task`; ``plan export`` adds a run's dynamic spawns
back into its plan with :func:`with_spawns`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import attrs

from .errors import UserError
from .plan import Plan, Task


class Place(NamedTuple):
    """Where a task sits in a plan."""

    task: Task
    parent: str | None
    depth: int


def index(plan: Plan) -> dict[str, Place]:
    """Every task of ``plan`` by id."""
    return {task.id: Place(task, parent.id if parent else None, depth)
            for task, parent, depth in plan.walk()}


def own_fields(task: Task) -> tuple[Any, ...]:
    """What a task asks for, without its children (a change here restarts the task)."""
    return (task.goal, task.cwd, task.acceptance, task.model, task.budget, task.tools,
            task.script, task.model_settings, task.tool_choice, task.system_prompt)


@attrs.frozen(kw_only=True)
class PlanDiff:
    """What changed between two plans, by ``:task/id``.

    ``added``, ``removed``, ``changed`` (own fields: goal, cwd, acceptance, model, budget,
    tools, script, model settings, tool choice, system prompt) and ``moved`` (another parent)
    list task ids in plan order; ``settings`` says whether anything outside the task tree
    changed (tiers, models, talk, locks...).
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    moved: tuple[str, ...] = ()
    settings: bool = False

    @property
    def empty(self) -> bool:
        """Whether the plans are the same."""
        return not (self.added or self.removed or self.changed or self.moved or self.settings)

    def to_json(self) -> dict[str, Any]:
        """The diff as it goes into ``plan/reconciled``."""
        return {"added": list(self.added), "removed": list(self.removed),
                "changed": list(self.changed), "moved": list(self.moved),
                "settings": self.settings}

    def summary(self) -> str:
        """One line for people: ``+2 added, 1 changed`` or ``no changes``."""
        parts = [f"{len(ids)} {name}" for name, ids in (
            ("added", self.added), ("removed", self.removed), ("changed", self.changed),
            ("moved", self.moved)) if ids]
        if self.settings:
            parts.append("settings changed")
        return ", ".join(parts) or "no changes"


def diff_plans(old: Plan, new: Plan) -> PlanDiff:
    """Compare two plans task by task (linear in the number of tasks)."""
    before, after = index(old), index(new)
    added, changed, moved = [], [], []
    for task_id, place in after.items():
        was = before.get(task_id)
        if was is None:
            added.append(task_id)
            continue
        if was.parent != place.parent:
            moved.append(task_id)
        if own_fields(was.task) != own_fields(place.task):
            changed.append(task_id)
    removed = [task_id for task_id in before if task_id not in after]
    settings = attrs.evolve(old, root=new.root, name=new.name) != new
    return PlanDiff(added=tuple(added), removed=tuple(removed), changed=tuple(changed),
                    moved=tuple(moved), settings=settings)


def _rebuild(plan: Plan, places: dict[str, Place], task_id: str, new_task: Task | None) -> Plan:
    """``plan`` with ``task_id`` replaced by ``new_task`` (``None``: removed), ancestors
    rebuilt up to the root."""
    current, child_id = new_task, task_id
    parent_id = places[task_id].parent
    while parent_id is not None:
        parent = places[parent_id].task
        kids = []
        for kid in parent.children:
            if kid.id != child_id:
                kids.append(kid)
            elif current is not None:
                kids.append(current)
        current, child_id = attrs.evolve(parent, children=tuple(kids)), parent_id
        parent_id = places[parent_id].parent
    if current is None:
        raise UserError("the root task cannot be removed")
    return attrs.evolve(plan, root=current)


def replace_task(plan: Plan, task_id: str, new_task: Task) -> Plan:
    """``plan`` with one task replaced (same id, same place)."""
    places = index(plan)
    if task_id not in places:
        raise UserError(f"no task {task_id!r} in plan {plan.name!r}")
    return _rebuild(plan, places, task_id, new_task)


def move_task(plan: Plan, task_id: str, new_parent: str) -> Plan:
    """``plan`` with a task (and its subtree) moved under ``new_parent``, as its last child."""
    places = index(plan)
    for name in (task_id, new_parent):
        if name not in places:
            raise UserError(f"no task {name!r} in plan {plan.name!r}")
    if task_id == plan.root.id:
        raise UserError("the root task has no parent to change")
    ancestor: str | None = new_parent
    while ancestor is not None:
        if ancestor == task_id:
            raise UserError(f"cannot move {task_id!r} under its own subtree ({new_parent!r})")
        ancestor = places[ancestor].parent
    task = places[task_id].task
    without = _rebuild(plan, places, task_id, None)
    places = index(without)
    host = places[new_parent].task
    return _rebuild(without, places, new_parent,
                    attrs.evolve(host, children=(*host.children, task)))


class Spawn(NamedTuple):
    """A task spawned at run time (not in the plan), as the log tells it."""

    task: str
    parent_task: str
    goal: str
    cwd: str


def with_spawns(plan: Plan, spawns: Iterable[Spawn]) -> Plan:
    """``plan`` with run-time spawns added as plain children of their parents' tasks (in
    spawn order; a spawn whose parent task is gone from the plan is left out)."""
    for spawn in spawns:
        places = index(plan)
        if spawn.task in places or spawn.parent_task not in places:
            continue
        host = places[spawn.parent_task].task
        child = Task(id=spawn.task, goal=spawn.goal, cwd=spawn.cwd)
        plan = _rebuild(plan, places, spawn.parent_task,
                        attrs.evolve(host, children=(*host.children, child)))
    return plan
