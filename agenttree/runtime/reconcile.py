"""Reconcile: make the running tree follow an edited plan, and reassign tasks.

The diff (:func:`~agenttree.plan_diff.diff_plans`, by ``:task/id``) turns into actions:

- **added**: started under its parent. A parent that cannot take a child now (it has ended, or
  it never opened a nursery) is re-opened: a new attempt of the parent, whose done children
  stay done.
- **removed**: its agent is cancelled, with its subtree (locks are released as agents end).
- **changed** (goal, cwd, acceptance, model, budget, tools, script): restarted as a new attempt
  of the same task, with a summary of the previous attempt in its first message.
- **moved**: its agent is cancelled; once it has ended the task starts under its new parent,
  with a policy derived from that parent (narrowing still holds).
- unchanged: untouched. The same plan twice changes nothing.

A task inside a subtree that restarts anyway is left to that restart. Everything here runs
between checkpoints of the control task: agents see a consistent change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .. import events as ev
from ..live_state import RECENT_ITEMS
from ..plan import Plan
from ..plan_diff import PlanDiff, diff_plans
from ..state import AgentView
from .tasks import Respawn

if TYPE_CHECKING:
    from .engine import Engine

SUMMARY_CHARS = 2000
"""Longest summary of a previous attempt given to the next one."""


def summarize_attempt(view: AgentView | None) -> str:
    """What a restarted agent is told about the attempt before it (from the folded log: its
    last :data:`~agenttree.live_state.RECENT_ITEMS` conversation items, all the engine keeps)."""
    if view is None:
        return ""
    lines = [f"Previous attempt ({view.id}, attempt {view.attempt}): {view.status}"
             + (f" — {view.reason}" if view.reason else "")]
    for item in view.conversation[-RECENT_ITEMS:]:
        if item["kind"] == "model" and item.get("text"):
            lines.append(f"- you said: {item['text']}")
        elif item["kind"] == "tool":
            lines.append(f"- you called {item['tool']}: "
                         f"{'ok' if item.get('ok') else 'failed'}")
        elif item["kind"] in ("chat", "state"):
            lines.append(f"- {item['from']} -> {item['to']}: {item['text']}")
    text = "\n".join(lines)
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 3] + "..."


class Reconciler:
    """Applies plan changes to one engine's running tree."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def apply(self, new: Plan, *, by: str = "reconcile", force: tuple[str, ...] = ()
              ) -> PlanDiff:
        """Follow ``new`` from now on; ``force`` lists tasks to restart even if unchanged
        (``reassign`` of a task as it is). Returns the diff, also logged as
        ``plan/reconciled``."""
        engine = self.engine
        diff = diff_plans(engine.plan, new)
        if force:
            extra = tuple(t for t in force if t not in diff.changed)
            diff = attrs.evolve(diff, changed=diff.changed + extra)
        engine.set_plan(new)
        for event in ev.plan_events(ev.PlanReconciled, engine.plan_edn, by=by,
                                    diff=diff.to_json()):
            engine.emit(event)
        restarting: set[str] = set()
        for task_id in diff.removed:
            engine.cancel_task(task_id, f"{task_id} was removed from the plan")
        changed = set(diff.changed)  # each restarts below (or within an ancestor's restart)
        for task_id in diff.moved:
            if self._covered(task_id, restarting | changed):
                # Its new place restarts anyway and starts it there; the old attempt, which
                # sits elsewhere, must still go.
                engine.book.redo(task_id)
                engine.cancel_task(task_id, f"{task_id} was moved")
            else:
                self.restart(task_id, f"{task_id} was moved", restarting)
        for task_id in diff.changed:
            if self._covered(task_id, restarting):
                engine.book.redo(task_id)
            elif task_id not in restarting:
                self.restart(task_id, f"{task_id} was reassigned", restarting)
        for task_id in diff.added:
            if self._covered(task_id, restarting):
                # Its parent starts it, unless it counts as done: a task of that id that ran
                # to its end before it was removed is new again now.
                engine.book.redo(task_id)
            else:
                self.spawn(task_id, "", restarting)
        return diff

    def _covered(self, task_id: str, restarting: set[str]) -> bool:
        """Whether an ancestor of ``task_id`` restarts (and so starts it anew itself)."""
        parent = self.engine.places[task_id].parent
        while parent is not None:
            if parent in restarting:
                return True
            parent = self.engine.places[parent].parent
        return False

    def restart(self, task_id: str, reason: str, restarting: set[str]) -> None:
        """End the task's current attempt (if running) and start a new one under its parent
        in the plan, told what the previous attempt did."""
        engine = self.engine
        restarting.add(task_id)
        engine.book.redo(task_id)
        place = engine.places[task_id]
        agent = engine.book.agent_on(task_id)
        run = engine.book.run(task_id)
        note = summarize_attempt(engine.state.agents.get(run.agent) if run else None)
        if note:
            note = f"This task was restarted ({reason}).\n{note}"
        if agent is None:
            self.spawn(task_id, note, restarting)
            return
        if place.parent is None:
            engine.book.restart_root(note)
        else:
            host = engine.book.agent(agent.parent) if agent.parent else None
            if host is not None and host.task.id == place.parent and not host.ending:
                engine.book.respawn_after(agent.id, Respawn(task=place.task, note=note,
                                                            dynamic=agent.spec.dynamic))
            else:
                engine.book.after_end(agent.id, lambda: self.spawn(task_id, note, set()))
        agent.cancel(reason)

    def spawn(self, task_id: str, note: str, restarting: set[str]) -> None:
        """Start a task under its plan parent now; re-open the parent if it cannot host."""
        engine = self.engine
        place = engine.places.get(task_id)
        if place is None or place.parent is None or engine.book.agent_on(task_id) is not None:
            return  # removed meanwhile, running again, or the root (the run is ending)
        host = engine.book.agent_on(place.parent)
        if host is not None and host.nursery is not None and not host.ending:
            restarting.add(task_id)  # its own new children start with it
            older = engine.book.agent(f"{host.id}.{task_id}")
            if older is not None:  # an older attempt under the same id is still ending
                engine.book.respawn_after(older.id, Respawn(task=place.task, note=note,
                                                            dynamic=False))
                older.cancel(f"{task_id} was reassigned")
            else:
                host.start_child(place.task, note=note)
            return
        engine.book.redo(task_id)
        if place.parent not in restarting:
            self.restart(place.parent, f"sub-task {task_id} was added or moved here",
                         restarting)
