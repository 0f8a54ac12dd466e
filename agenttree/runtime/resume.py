"""``agenttree resume RUN_DIR``: take over a run whose engine died, from its log.

Steps (see docs/resume.md):

1. Hold the run directory's engine lock (:mod:`~agenttree.runtime.runlock`).
2. Read the log: check its format version, fold it into a :class:`~agenttree.state.RunState`
   and a :class:`~agenttree.runtime.recording.Recording`. A corrupt line in the middle stops
   here (:class:`~agenttree.errors.LogCorrupt`, naming the line); a torn last line is cut off.
3. Kill the process groups the dead engine left running (``process/started`` names them).
4. Start an engine on the folded state: ``seq`` goes on from the log's last, ``run/resumed``
   says what was restored, the lock table is rebuilt. Agents that were running restart under
   their ids and replay their recorded results (a :class:`Restorer` gives each a cursor);
   finished ones stay finished.
"""

from __future__ import annotations

import copy
import os
import signal
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio

from .. import __version__
from .. import events as ev
from ..collector import collector_paused
from ..durability import DURABILITY
from ..errors import UserError
from ..log import LogReader, TornTail
from ..log_writer import open_event_log
from ..plan import Plan, Task, load_plan, parse_plan
from ..policy import root_policy
from ..prompt import PromptPart, imposed
from ..sandbox.procs import live_members, signal_group, wait_group_gone
from ..state import FINISHED, AgentView, RunState, TaskView, apply
from ..tools.agents import spawned_task
from .agent import Agent
from .engine import Engine
from .recording import Cursor, Recording
from .records import AgentSpec, ChildDone, RestoredChildren
from .tasks import TaskRun

KILL_WAIT_S = 2.0
"""How long resume waits for killed leftover processes to be gone."""
LOST = "the engine died while it was open"
"""Why a lock wait or conflict in flight at the crash ended."""


@attrs.define
class Found:
    """A run's log, read for a resume."""

    state: RunState
    recording: Recording
    torn: TornTail | None
    durability: str
    """The durability the run was started with (its ``run/started``)."""


def check_format(path: Path) -> dict[str, Any]:
    """Refuse a log written in another format version, before parsing it all; returns its
    first record (``run/started``) as read.

    Raises:
        UserError: the first record is not a ``run/started`` of this format.
    """
    with open(path, "rb") as f:
        first = f.readline()
    try:
        wire = orjson.loads(first)
    except orjson.JSONDecodeError:
        raise UserError(f"{path}:1: not an agenttree event log") from None
    if not isinstance(wire, dict) or wire.get("type") != "run/started":
        raise UserError(f"{path}:1: not an agenttree event log (no run/started first)")
    found = wire.get("format", ev.FORMAT)
    if found != ev.FORMAT:
        raise UserError(f"{path} was written in log format {found} by agenttree "
                        f"{wire.get('version') or '?'}; this agenttree ({__version__}) reads "
                        f"format {ev.FORMAT}: resume it with the version that wrote it")
    return wire


def read_run(path: Path) -> tuple[Found, LogReader]:
    """Fold and record a whole log in one pass (the torn tail, if any, is not cut yet)."""
    started = check_format(path)
    durability = started.get("durability")
    reader = LogReader(path)
    state, recording = RunState(), Recording()
    with collector_paused():  # acyclic records only (see agenttree.collector)
        for entry in reader:
            apply(state, entry)
            recording.add(entry)
    return Found(state=state, recording=recording, torn=reader.torn,
                 durability=durability if durability in DURABILITY else "batch"), reader


async def kill_leftovers(processes: dict[int, str]) -> list[int]:
    """SIGKILL the process groups a dead engine left running; returns the groups killed.

    A group is killed only if one of its live members still carries the environment the
    engine gave it (``AGENTTREE_AGENT=<the agent>``): a recycled group id belongs to
    someone else and is left alone.
    """
    if not processes:
        return []
    ours: set[int] = set()
    for pid in live_members(set(processes)):
        try:
            pgid = os.getpgid(pid)
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if f"AGENTTREE_AGENT={processes.get(pgid)}".encode() in environ:
            ours.add(pgid)
    for pgid in ours:
        signal_group(pgid, signal.SIGKILL)
    with trio.move_on_after(KILL_WAIT_S):  # one bound for all: SIGKILL is asynchronous
        for pgid in ours:
            await wait_group_gone(pgid, KILL_WAIT_S)
    return sorted(ours)


def restart_set(state: RunState) -> list[str]:
    """Agents to restart: those running in the log whose ancestors all run too, pre-order."""
    if state.root is None or state.agents[state.root].finished:
        return []
    out, stack = [], [state.root]
    while stack:
        agent_id = stack.pop()
        out.append(agent_id)
        stack.extend(c for c in reversed(state.agents[agent_id].children)
                     if not state.agents[c].finished)
    return out


@attrs.frozen(kw_only=True)
class AsFound:
    """What a resume reads of the folded log, copied as found: the engine's own state goes on
    folding the resumed run's events, this never changes."""

    seq: int
    t: int
    agents: dict[str, AgentView]
    """Every agent's view (without its conversation, which a resume does not read)."""
    tasks: dict[str, TaskView]
    locks: dict[str, dict[str, Any]]
    conflicts: dict[str, dict[str, Any]]
    bridges: dict[str, dict[str, str]]

    @classmethod
    def of(cls, state: RunState) -> AsFound:
        """A copy of what a resume reads of ``state``."""
        agents = {agent_id: attrs.evolve(view, children=list(view.children),
                                         limits=dict(view.limits), used=dict(view.used),
                                         models=list(view.models), tools=list(view.tools),
                                         conversation=[], acceptance=[], open_calls={})
                  for agent_id, view in state.agents.items()}
        return cls(seq=state.seq, t=state.t, agents=agents,
                   tasks={k: attrs.evolve(v) for k, v in state.tasks.items()},
                   locks=copy.deepcopy(state.locks), conflicts=copy.deepcopy(state.conflicts),
                   bridges=copy.deepcopy(state.bridges))


class Restorer:
    """The engine's replayer on a resume: gives restarted agents their cursors, restores
    their children, budgets and locks, and keeps their replayed events out of the log.

    It reads the log's state as found (:class:`AsFound`), never the engine's live fold."""

    def __init__(self, found: Found, killed: list[int]) -> None:
        self.state = AsFound.of(found.state)
        self.recording = found.recording
        self.torn = found.torn
        self.killed = killed
        self.restart = restart_set(found.state)
        self._restart = set(self.restart)
        self.replaying: set[str] = set()
        """Restarted agents not yet live: their events are in the log already."""
        self._restarted: set[str] = set()
        self._root_given = False
        self._lock_holders: set[str] = set()
        self._live = trio.Event()
        if not self.restart:
            self._live.set()
        self.engine: Engine

    @property
    def all_live(self) -> bool:
        """Whether every restarted agent has replayed to its live point."""
        return not self.replaying and len(self._restarted) == len(self.restart)

    # --- engine hooks ------------------------------------------------------------------------

    def admits(self, event: ev.Event) -> bool:
        """A restarted agent's events stay out of the log until it is live (the log has
        them)."""
        return getattr(event, "agent", None) not in self.replaying

    def written(self, seq: int, event: ev.Event) -> None:
        """Nothing to check."""

    def attach(self, engine: Engine) -> None:
        """Called by the engine once its log, router and lock service exist."""
        self.engine = engine
        emit = engine.emit
        state, restart = self.state, self._restart
        for task in state.tasks.values():
            engine.book.restore(task.id, TaskRun(agent=task.agent, attempts=task.attempts,
                                                 status=task.status))
        holds = {path: {a: h for a, h in entry["holders"].items() if a in restart}
                 for path, entry in state.locks.items()}
        self._lock_holders = {a for holders in holds.values() for a in holders}
        restored = engine.locks.restore(holds, last_token=self.recording.last_token,
                                        conflicts=len(state.conflicts))
        for bridge_id, bridge in state.bridges.items():
            if bridge["a"] in restart and bridge["b"] in restart:
                engine.router.restore_bridge(bridge_id, bridge["a"], bridge["b"])
        emit(ev.RunResumed(
            from_seq=state.seq, pid=os.getpid(), version=__version__,
            torn=str(self.torn) if self.torn else "", restarted=self.restart,
            finished=sum(1 for t in state.tasks.values() if t.status in FINISHED),
            locks=restored, last_token=engine.locks.table.last_token, killed=self.killed))
        self._log_lost_ends(emit, restart)

    def _log_lost_ends(self, emit: Any, restart: set[str]) -> None:
        """Log what an agent's end would have logged had the engine lived a moment longer:
        its task's status, and the release of locks it held (it will not come back); and the
        end of every lock wait and conflict that was in flight (a restarted agent that still
        needs the lock asks again, in a new conflict)."""
        state = self.state
        for task in state.tasks.values():
            agent = state.agents.get(task.agent)
            if agent is not None and agent.finished and task.status not in FINISHED:
                emit(ev.TaskStateChanged(task=task.id, agent=agent.id, status=agent.status,
                                         prev=task.status))
                self.engine.book.mark(task.id, agent.status)
        for path, entry in state.locks.items():
            for holder, hold in entry["holders"].items():
                if holder not in restart:
                    emit(ev.LockReleased(agent=holder, path=path, token=hold["token"],
                                         reason="its holder ended before the engine died"))
            for waiter in entry["waiters"]:
                emit(ev.LockWaitEnded(agent=waiter, path=path, reason=LOST))
        for conflict_id, conflict in state.conflicts.items():
            if conflict["status"] == "open":
                emit(ev.ConflictResolved(conflict=conflict_id, decision="abandoned",
                                         by="resume", detail=LOST))

    async def wait_live(self) -> None:
        """Return once every restarted agent has replayed to its live point (the commands a
        resumed run finds pending name agents that are being restarted)."""
        await self._live.wait()

    def model_for(self, agent: Agent) -> None:
        """Agents call their real model once live."""
        return None

    def root_spec(self) -> AgentSpec | None:
        """The restarted root's spec (once; a later root attempt is a new agent)."""
        if self._root_given or not self.restart:
            return None
        self._root_given = True
        engine = self.engine
        view = self.state.agents[self.restart[0]]
        place = engine.places.get(view.task)
        task = place.task if place is not None else engine.plan.root
        return self._spec(view, task, root_policy(engine.plan, engine.model_override),
                          parent_deadline=float("inf"), prompts=imposed((), engine.plan, task, 0))

    def cursor(self, agent: Agent) -> Cursor | None:
        """A restarted agent's cursor; ``None`` for agents started after the resume."""
        view = self.state.agents.get(agent.id)
        if (view is None or view.finished or agent.id in self._restarted
                or agent.spec.attempt != view.attempt or agent.id not in self._restart):
            return None
        self._restarted.add(agent.id)
        self.replaying.add(agent.id)
        record = self.recording.get(agent.id, view.attempt)
        news: list[ChildDone] = []

        def restore(parent: Any, children: list[Task]) -> RestoredChildren:
            return self._restore_children(parent, children, news)

        return Cursor(record, on_live=lambda: self._go_live(agent, view, news), restore=restore,
                      holds_locks=agent.id in self._lock_holders)

    # --- restoring an agent --------------------------------------------------------------------

    def _spec(self, view: AgentView, task: Task, policy: Any, *, parent_deadline: float,
              prompts: tuple[PromptPart, ...]) -> AgentSpec:
        if tuple(view.models) != policy.models or frozenset(view.tools) != policy.tools:
            policy = attrs.evolve(policy, models=tuple(view.models),
                                  tools=frozenset(view.tools))  # widened by a grant
        deadline = parent_deadline
        wall = view.limits.get("wall_s")
        if wall is not None:  # what was left of it when the engine died
            spent = max(0, self.state.t - view.started_t) / 1000
            deadline = min(deadline, trio.current_time() + max(0.0, wall - spent))
        return AgentSpec(id=view.id, task=task, depth=view.depth, policy=policy,
                         model=view.model, budget=dict(view.limits), deadline=deadline,
                         dynamic=view.dynamic, attempt=view.attempt, prompts=prompts)

    def _task_of(self, child: AgentView) -> Task:
        place = self.engine.places.get(child.task)
        if place is not None and not child.dynamic:
            return place.task
        # Spawned at run time: its task is what the parent's spawn call asked for.
        return spawned_task(child.task, child.goal, child.cwd,
                            self.recording.spawned.get(child.id, {}),
                            self.engine.plan.tool_names)

    def _restore_children(self, agent: Agent, children: list[Task],
                          news: list[ChildDone]) -> RestoredChildren:
        """Children as the log left them: running ones restart (replaying), finished ones
        are settled now and told to the parent when it goes live; the plan's children the
        log never saw spawned start afresh."""
        engine, view = self.engine, self.state.agents[agent.id]
        running: list[tuple[AgentSpec, dict[str, float]]] = []
        ended: list[ChildDone] = []
        tasks: dict[str, Task] = {}
        record = self.recording.get(agent.id, view.attempt)
        seen = record.last_turn_seq if record is not None else 0
        for child_id in view.children:
            child = self.state.agents[child_id]
            task = tasks[child_id] = self._task_of(child)
            envelope = dict(child.limits)
            if child.finished:
                done = ChildDone(agent=child_id, status=child.status, reason=child.reason,
                                 result=child.result, lent=envelope, used=dict(child.used))
                ended.append(done)
                if self.recording.finished_seq.get(child_id, 0) > seen:
                    news.append(attrs.evolve(done, lent={}, used={}))  # news only
                continue
            policy = engine.child_policy(agent.policy, task, child.depth)
            running.append((self._spec(child, task, policy, parent_deadline=agent.spec.deadline,
                                       prompts=imposed(agent.spec.prompts, engine.plan, task,
                                                       child.depth)), envelope))
        known = set(view.children)
        return RestoredChildren(running=tuple(running), ended=tuple(ended), tasks=tasks,
                                fresh=tuple(c for c in children
                                            if f"{agent.id}.{c.id}" not in known))

    def _go_live(self, agent: Agent, view: AgentView, news: list[ChildDone]) -> None:
        """The agent's recording ran out: its events are logged from now on, its budget is
        the log's (re-execution rebuilt its own charges; the log also counts children's),
        and the ends of children it had not yet heard of reach its inbox."""
        self.replaying.discard(agent.id)
        if not self.replaying:  # (a parent restores its running children before it goes live)
            self._live.set()
        agent.catch_up(view.used, list(news))
        news.clear()


# --- taking over -------------------------------------------------------------------------------


def plan_of(run_dir: Path, state: RunState) -> Plan:
    """The plan in force: the log's last (``plan.edn`` may hold an edit never reconciled);
    ``plan.edn`` only for a log that holds none. Its relative paths resolve where the log says
    (the directory of the plan file the run was started with)."""
    path = run_dir / "plan.edn"
    base_dir = state.plan_base_dir or None
    if state.plan_edn:
        return parse_plan(state.plan_edn, source=str(path), base_dir=base_dir)
    if path.exists():
        return load_plan(path, base_dir=base_dir or Path.cwd())
    raise UserError(f"{run_dir}: no plan in the log and no plan.edn")


def resumed_engine(run_dir: Path, plan: Plan, found: Found, killed: list[int],
                   durability: str) -> Engine:
    """An engine that goes on with the run ``found`` in ``run_dir`` (its agents that were
    running restart and replay their recorded results; ``killed`` are the process groups the
    dead engine left, already ended)."""
    state = found.state
    engine = Engine(plan, run_dir, seed=state.seed, durability=durability,
                    model_override=state.model_override, handle_signals=True, state=state)
    engine.replayer = Restorer(found, killed)
    return engine


async def finish_only(run_dir: Path, found: Found, status: str, durability: str) -> str:
    """The root had ended but the run's end was never logged: log it, nothing else."""
    state = found.state
    async with open_event_log(run_dir / "events.jsonl", run=state.run, durability=durability,
                              next_seq=state.seq + 1, on_write=lambda e: apply(state, e)) as log:
        log.emit(ev.RunResumed(from_seq=state.seq, pid=os.getpid(), version=__version__,
                               torn=str(found.torn) if found.torn else ""))
        log.emit(ev.RunFinished(status=status))
    return status
