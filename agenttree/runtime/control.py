"""The control tail: the engine's side of ``RUN_DIR/control.jsonl``.

Anyone may append a command (:mod:`agenttree.control` is the protocol and its client); the
engine reads each complete line once, in order, and answers it with a ``control/applied`` or
``control/rejected`` event naming the line. Whatever goes wrong while one command is applied
(a malformed line, a plan that is not UTF-8, a bug) rejects that command, with the reason; the
run goes on. Lines end at ``\\n``; a line longer than
:data:`~agenttree.control.commands.MAX_COMMAND` is rejected without ever being held in memory
whole.

See docs/control.md.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from .. import events as ev
from ..budget import parse_budget
from ..control.commands import (
    MAX_COMMAND,
    STAGED,
    Approve,
    Cancel,
    Command,
    CommandError,
    Deny,
    Grant,
    Message,
    Reassign,
    Reconcile,
    decode_command,
)
from ..errors import ToolError, UserError
from ..file_changes import FileChanges
from ..log import replace_whole
from ..log_lines import FileCutBack, LineFollower
from ..plan import Plan, parse_plan
from ..plan_diff import index, move_task, replace_task
from ..policy import Policy, derive, root_policy
from .approvals import ApprovalRefused, Decision
from .grants import GrantRefused, grant_from_above
from .router import HUMAN

if TYPE_CHECKING:
    from .engine import Engine

POLL_S = 0.1
"""How often the file is checked for new lines when no change was notified (the fallback where
change notification is unavailable: :mod:`agenttree.file_changes`)."""
BIG_PLAN = 1 << 18
"""Plans longer than this (characters) are parsed off the engine's thread."""


class ControlError(Exception):
    """A command that cannot be applied; the message goes into ``control/rejected``."""


async def _cancel(engine: Engine, command: Cancel) -> str:
    agent = command.agent
    if not engine.cancel(agent, "cancelled by a control command"):
        raise ControlError(f"no running agent {agent!r}")
    return f"cancelling {agent} and its subtree"


async def _message(engine: Engine, command: Message) -> str:
    agent, text = command.agent, command.text
    try:
        await engine.router.send(HUMAN, agent, "chat", text)
    except ToolError as exc:
        raise ControlError(str(exc)) from None
    return f"delivered to {agent}"


async def _reconcile(engine: Engine, command: Reconcile) -> str:
    staged = command.plan
    path = engine.run_dir / ("plan.edn" if staged is None else f"{STAGED}/{staged}/plan.edn")
    try:
        # Read in this task, like control.jsonl itself. A big plan is parsed in a thread (the
        # EDN reader takes seconds for 10,000 tasks), so agents keep running meanwhile.
        data = path.read_bytes()
        if staged is not None and hashlib.sha256(data).hexdigest() != staged:
            raise ControlError(f"{path} does not match its sha256; nothing was changed")
        text = data.decode()
        base_dir = engine.plan.base_dir  # where the run's plan file was, not the run directory
        if len(text) > BIG_PLAN:
            plan = await trio.to_thread.run_sync(parse_plan, text, str(path), base_dir)
        else:
            plan = parse_plan(text, source=str(path), base_dir=base_dir)
    except OSError as exc:
        raise ControlError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ControlError(f"{path} is not UTF-8 text (byte {exc.start}); nothing was "
                           "changed") from None
    except UserError as exc:
        raise ControlError(f"{exc} (nothing was changed)") from None
    if plan.root.id != engine.plan.root.id:
        raise ControlError(f"the root task id cannot change ({engine.plan.root.id!r} -> "
                           f"{plan.root.id!r}); nothing was changed")
    if plan.mcp != engine.plan.mcp:
        raise ControlError(":mcp cannot change in a running run (its servers start with the "
                           "run); nothing was changed")
    try:
        diff = engine.reconciler.apply(plan)
    except UserError as exc:  # a declared tool that cannot be made: refused before any change
        raise ControlError(f"{exc} (nothing was changed)") from None
    note = "" if staged is None else _write_plan_in_force(engine, text)
    return f"reconciled: {diff.summary()}{note}"


async def _reassign(engine: Engine, command: Reassign) -> str:
    task_id, model, parent = command.task, command.model, command.parent
    place = engine.places.get(task_id)
    if place is None:
        where = ("was spawned at run time; add it to plan.edn (see `agenttree plan export`) "
                 "to reassign it" if engine.book.run(task_id) is not None else "is not in the plan")
        raise ControlError(f"task {task_id!r} {where}")
    plan = engine.plan
    try:
        if model is not None:
            plan = replace_task(plan, task_id, attrs.evolve(place.task, model=model))
        if parent is not None and parent != place.parent:
            plan = move_task(plan, task_id, parent)
    except UserError as exc:
        raise ControlError(str(exc)) from None
    if model is not None:
        allowed = plan_policy(plan, task_id, engine.model_override).models
        if model not in allowed:
            raise ControlError(f"model {model!r} is not allowed for task {task_id!r} under "
                               f"its parent; allowed: {', '.join(allowed)}")
    diff = engine.reconciler.apply(plan, by="reassign", force=(task_id,))
    return f"reassigned {task_id}: {diff.summary()}{_write_plan_in_force(engine, engine.plan_edn)}"


async def _grant(engine: Engine, command: Grant) -> str:
    budget = parse_budget(command.budget)  # checked already, where the record was made
    try:
        done, note = grant_from_above(engine, command.agent, budget)
    except GrantRefused as exc:
        raise ControlError(str(exc)) from None
    if note is not None:  # applied already (the agent may end before it reads it): tell it
        try:
            await engine.router.send(HUMAN, command.agent, "chat", note)
        except ToolError:
            pass  # it is ending: the grant stands, nobody is left to read about it
    return done


async def _decide(engine: Engine, command: Approve | Deny) -> str:
    decision = Decision(approved=True) if isinstance(command, Approve) \
        else Decision(approved=False, reason=command.reason or "denied by a person")
    try:
        return engine.approvals.decide(command.call, decision)
    except ApprovalRefused as exc:
        raise ControlError(str(exc)) from None


_HANDLERS: dict[type[Command], Callable[[Engine, Any], Awaitable[str]]] = {
    Cancel: _cancel, Message: _message, Reassign: _reassign, Reconcile: _reconcile,
    Grant: _grant, Approve: _decide, Deny: _decide}


async def apply_command(engine: Engine, command: Command) -> str:
    """Carry out one command; returns what was done. Raises :class:`ControlError`."""
    return await _HANDLERS[type(command)](engine, command)


def plan_policy(plan: Plan, task_id: str, model_override: str | None) -> Policy:
    """The policy a task gets in ``plan``, derived down the path from the root."""
    places = index(plan)
    path = [task_id]
    while (parent := places[path[-1]].parent) is not None:
        path.append(parent)
    policy = root_policy(plan, model_override)
    for depth, name in enumerate(reversed(path)):
        if depth:
            policy = derive(policy, plan, places[name].task, depth, model_override)
    return policy


def _write_plan_in_force(engine: Engine, edn: str) -> str:
    """Write ``plan.edn`` after a change was applied (only the engine writes it); a note for
    the answer when it could not be (the change stands: the log has it)."""
    try:
        write_plan_file(engine.run_dir, edn)
    except OSError as exc:
        return f" ({engine.run_dir / 'plan.edn'} could not be written: {exc.strerror or exc})"
    return ""


def write_plan_file(run_dir: Path, edn: str) -> None:
    """Replace ``RUN_DIR/plan.edn`` atomically (readers never see half a plan)."""
    replace_whole(run_dir / "plan.edn", edn.encode())


class ControlTail:
    """Follows ``control.jsonl`` from its start and applies each complete line."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self.path = path
        self._lines = LineFollower(path, max_line=MAX_COMMAND)
        self._answered = {c["line"] for c in engine.state.control}
        """Lines a resumed run's earlier engine already answered."""
        self._unreadable = ""

    async def run(self) -> None:
        """Apply commands as they are appended, until cancelled, once the root agent is up and
        no agent replays any more (the commands a resumed run finds pending name agents that
        are being restarted). The file is read again when a change is notified, and every
        :data:`POLL_S` in any case."""
        changes = FileChanges(self.path, poll_s=POLL_S)
        async with trio.open_nursery() as nursery:
            await nursery.start(changes.run)
            await self.engine.root_up.wait()
            if self.engine.replayer is not None:
                await self.engine.replayer.wait_live()
            while True:
                for number, raw in self._new_lines():
                    await self._apply(number, raw)
                await changes.wait()

    def _new_lines(self) -> list[tuple[int, bytes]]:
        """The new lines; a file that cannot be read or was cut back is reported (once), and
        followed on."""
        try:
            lines = self._lines.new_lines()
        except FileCutBack as exc:
            self._lines.skip_to_end()
            self._report(f"{exc}; following it on from its line {self._lines.lines_read}")
            return []
        except OSError as exc:
            self._report(f"cannot read {self.path}: {exc.strerror or exc}")
            return []
        self._unreadable = ""
        return lines

    def _report(self, reason: str) -> None:
        if reason != self._unreadable:
            self._unreadable = reason
            self.engine.emit(ev.ControlRejected(line=0, cmd="", reason=reason))

    async def _apply(self, line: int, raw: bytes) -> None:
        if not raw.strip() or line in self._answered:
            return
        cmd = ""
        try:
            command = decode_command(raw)
            cmd = command.CMD
            detail = await apply_command(self.engine, command)
        except CommandError as exc:
            cmd, reason = exc.cmd, str(exc)
        except ControlError as exc:
            reason = str(exc)
        except Exception as exc:  # whatever one command breaks, it is that command's failure
            self.engine.report_crash(f"control line {line}", traceback.format_exc())
            reason = (f"could not be applied: {type(exc).__name__}: {exc} (traceback in "
                      f"{self.engine.run_dir / 'crash.log'})")
        else:
            self.engine.emit(ev.ControlApplied(line=line, cmd=cmd, detail=detail))
            return
        self.engine.emit(ev.ControlRejected(line=line, cmd=cmd, reason=reason))
