"""The one client of a run's control file: append a command, find the engine's answer.

The CLI, the terminal UI and the web view all steer a run through this module. A command is
one line appended to ``RUN_DIR/control.jsonl``; the engine (maybe another process, started by
someone else) answers line ``n`` with ``control/applied`` or ``control/rejected`` in
``events.jsonl``. Nothing here reads the log from its start: the answer can only come after the
command was appended, so a :class:`Sent` remembers where the log ended then and the waits read
from there; whether the run has finished is its last line; the plan in force is its last
``plan/*`` event, read backwards. So a command costs the same on a run of 100 events and one of
a million.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import LogCorrupt, UserError
from ..log_lines import READ_BLOCK, LineFollower, complete_end, lines_backward, unframe
from ..rundir import require_run_dir
from .commands import STAGED, Command, encode_command

if TYPE_CHECKING:
    from .. import events as ev

# A command waits for its answer without the event classes or Trio (the CLI's control commands
# start in a fraction of the time): the few lines it needs are read as wire dicts, checked by
# their framing and by the fields read. Only the async wait and the plan in force import more.

APPLIED, REJECTED, FINISHED = "control/applied", "control/rejected", "run/finished"
"""The types of the events a client reads: ``ControlApplied``, ``ControlRejected`` and
``RunFinished`` of :mod:`agenttree.events`."""
POLL_S = 0.005
"""How often a blocking wait looks at the log for the answer (each look reads only what was
appended since the last)."""
ASYNC_POLL_S = 0.05
"""How often an async wait looks when no change of the log is notified
(:mod:`~agenttree.file_changes`)."""


@attrs.frozen(kw_only=True)
class Answer:
    """The engine's answer to one command: ``detail`` says what it did, or why not."""

    line: int
    cmd: str
    applied: bool
    detail: str

    @classmethod
    def of(cls, event: ev.ControlApplied | ev.ControlRejected) -> Answer:
        """The answer a ``control/applied`` or ``control/rejected`` event gives."""
        applied = event.TYPE == APPLIED
        return cls(line=event.line, cmd=event.cmd, applied=applied,
                   detail=event.detail if applied else event.reason)

    @classmethod
    def of_wire(cls, wire: dict[str, Any]) -> Answer:
        """The answer a ``control/applied`` or ``control/rejected`` wire dict gives.

        Raises:
            ValueError: a field is missing or not of its type.
        """
        applied = wire["type"] == APPLIED
        detail = wire.get("detail", "") if applied else wire["reason"]
        line, cmd = wire["line"], wire["cmd"]
        if type(line) is not int or not isinstance(cmd, str) or not isinstance(detail, str):
            raise ValueError(f"not a {wire['type']} event")
        return cls(line=line, cmd=cmd, applied=applied, detail=detail)


@attrs.frozen(kw_only=True)
class Sent:
    """A command appended as ``line`` of ``control.jsonl``, when ``events.jsonl`` ended at
    ``log_offset`` (its last complete line: the answer comes after it)."""

    line: int
    log_offset: int


def append_line(run_dir: str | os.PathLike[str], line: bytes) -> int:
    """Append one line (without its newline) to a run's control file; returns its number.

    One ``write`` with ``O_APPEND``, so concurrent writers' lines never interleave. When the
    file does not end with a newline (someone's unfinished line), the line starts with one, so
    it is a line of its own. Lines are counted as the engine counts them: by ``\\n``, in the
    control file (which holds only commands, never the events).
    """
    path = Path(run_dir) / "control.jsonl"
    body = line + b"\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            body = b"\n" + body
        os.write(fd, body)
        end = os.lseek(fd, 0, os.SEEK_CUR)  # the end of this write, whoever wrote after it
        return sum(os.pread(fd, min(READ_BLOCK, end - offset), offset).count(b"\n")
                   for offset in range(0, end, READ_BLOCK))
    finally:
        os.close(fd)


def append_command(run_dir: str | os.PathLike[str], command: Command) -> int:
    """Append ``command`` to a run's control file (:func:`append_line`); returns its line."""
    return append_line(run_dir, encode_command(command))


def stage_plan(run_dir: str | os.PathLike[str], text: str) -> str:
    """Put a plan where the engine's ``reconcile`` can take it
    (``RUN_DIR/plans/<sha256>/plan.edn``, written whole or not at all) without touching
    ``plan.edn``; returns the sha256 to send: ``Reconcile(plan=digest)``. The engine writes
    ``plan.edn`` once it has applied the plan."""
    data = text.encode()
    digest = hashlib.sha256(data).hexdigest()
    folder = Path(run_dir) / STAGED / digest
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "plan.edn"
    if not target.exists():
        from ..log import replace_whole  # here: the commands that stage no plan need no log

        replace_whole(target, data, durable=True)
    return digest


def _read_line(path: Path, raw: bytes) -> Answer | str | None:
    """What a client reads of one line of the log: the :class:`Answer` of a
    ``control/applied`` or ``control/rejected`` event, the status of ``run/finished``, ``None``
    for any other event.

    Raises:
        LogCorrupt: the line is not a well-framed event record, or one of those events lacks
            a field it reads.
    """
    try:
        wire = unframe(raw)
        kind = wire.get("type")
        if kind in (APPLIED, REJECTED):
            return Answer.of_wire(wire)
        if kind == FINISHED:
            if not isinstance(status := wire["status"], str):
                raise ValueError(f"not a {FINISHED} event")
            return status
        if not isinstance(kind, str):
            raise ValueError("not an event: no type")
    except (KeyError, ValueError) as exc:
        raise LogCorrupt(f"{path}: corrupt event record: {exc}") from None
    return None


class AnswerWatch:
    """Follows ``events.jsonl`` from where it ended when a command was sent, for the answer
    to that command; notices when the run finishes without one."""

    def __init__(self, log_path: Path, sent: Sent) -> None:
        self.line = sent.line
        self.ended: str | None = None
        """The status the run finished with, if it did before answering."""
        self._lines = LineFollower(log_path, start=sent.log_offset)

    def poll(self) -> Answer | None:
        """The answer, if it is in the log by now."""
        for _, raw in self._lines.new_lines():
            if b'"type":"control/' not in raw and b'"type":"run/finished"' not in raw:
                continue  # most lines: skip without decoding
            read = _read_line(self._lines.path, raw)
            if isinstance(read, Answer) and read.line == self.line:
                return read
            if isinstance(read, str):
                self.ended = read
        return None


class ControlClient:
    """Steers the run in ``run_dir``: commands in, answers out.

    Raises:
        UserError: ``run_dir`` is not a run directory.
    """

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = require_run_dir(run_dir)
        self.log_path = self.run_dir / "events.jsonl"

    def finished(self) -> str | None:
        """The status the run finished with (its last event is ``run/finished``); ``None``
        while an engine may still answer."""
        for _, raw in lines_backward(self.log_path):
            if raw:
                read = _read_line(self.log_path, raw)
                return read if isinstance(read, str) else None
        return None

    def require_engine(self, cmd: str) -> None:
        """Refuse at once when the run has finished: no engine would ever answer.

        Raises:
            UserError: the run has finished.
        """
        status = self.finished()
        if status is not None:
            raise UserError(f"{self.run_dir}: the run has finished ({status}); there is no "
                            f"engine to take {cmd!r} (resume it first)")

    def plan_in_force(self) -> str:
        """The plan the run follows now, as EDN: its last ``plan/loaded`` or
        ``plan/reconciled`` event (with the ``plan/part`` events before it), read backwards
        from the end of the log. ``""`` when the log holds none."""
        from .. import events as ev  # here: only ``reconcile`` needs the plan's events
        from ..log import decode
        from ..state import RunState, apply

        found: list[ev.Entry] = []
        parts = 0
        for _, raw in lines_backward(self.log_path):
            if b'"type":"plan/' not in raw:
                continue
            try:
                entry = decode(raw)
            except ValueError as exc:
                raise LogCorrupt(f"{self.log_path}: corrupt event record: {exc}") from None
            if found and isinstance(entry.event, ev.PlanPart):
                found.append(entry)
                parts -= 1
            elif not found and isinstance(entry.event, ev.PlanLoaded | ev.PlanReconciled):
                found.append(entry)
                parts = entry.event.parts
            if found and not parts:
                break
        state = RunState()
        for entry in reversed(found):
            apply(state, entry)
        return state.plan_edn

    def send_nowait(self, command: Command) -> Sent:
        """Append ``command``; the engine answers it when it gets to it."""
        offset = complete_end(self.log_path)
        return Sent(line=append_command(self.run_dir, command), log_offset=offset)

    def wait(self, sent: Sent, timeout_s: float) -> Answer | None:
        """Block up to ``timeout_s`` for the answer to ``sent``; ``None`` when none came (or
        the run finished without one)."""
        watch = AnswerWatch(self.log_path, sent)
        deadline = time.monotonic() + timeout_s
        while (answer := watch.poll()) is None and watch.ended is None:
            if time.monotonic() >= deadline:
                return None
            time.sleep(POLL_S)
        return answer

    async def wait_async(self, sent: Sent) -> Answer | None:
        """Wait for the answer to ``sent`` (bound it with ``trio.move_on_after``); ``None``
        when the run finished without one. Reads the log in this thread, a little at a
        time: when a change is notified, and every :data:`ASYNC_POLL_S`."""
        import trio  # here: the CLI's blocking wait needs none of it

        from ..file_changes import FileChanges

        watch = AnswerWatch(self.log_path, sent)
        changes = FileChanges(self.log_path, poll_s=ASYNC_POLL_S)
        async with trio.open_nursery() as nursery:
            await nursery.start(changes.run)
            while (answer := watch.poll()) is None and watch.ended is None:
                await changes.wait()
            nursery.cancel_scope.cancel()
        return answer
