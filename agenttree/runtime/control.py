"""The control tail: commands for a running engine, appended to ``RUN_DIR/control.jsonl``.

Anyone may append a line (the CLI, the TUI, the web view, ``echo >>``); the engine reads each
complete line once, in order, and answers it with a ``control/applied`` or ``control/rejected``
event naming the line. A malformed line is rejected, never fatal. Commands::

    {"cmd": "cancel", "agent": "root.lib"}
    {"cmd": "message", "agent": "root.lib", "text": "use tabs, not spaces"}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import trio

from .. import events as ev
from ..errors import ToolError
from ..log import LineFollower
from .router import HUMAN

if TYPE_CHECKING:
    from .engine import Engine

POLL_S = 0.1
"""How often the file is checked for new lines."""
MAX_COMMAND = 1 << 16
"""Longest accepted command line, in bytes."""


class ControlError(Exception):
    """A command that cannot be applied; the message goes into ``control/rejected``."""


def _field(command: dict[str, Any], name: str) -> str:
    value = command.get(name)
    if not isinstance(value, str) or not value:
        raise ControlError(f"{command.get('cmd')!r} needs {name!r} (a non-empty string)")
    return value


async def apply_command(engine: Engine, command: Any) -> str:
    """Carry out one parsed command; returns what was done. Raises :class:`ControlError`."""
    if not isinstance(command, dict):
        raise ControlError(f"a command is a JSON object, got {type(command).__name__}")
    cmd = command.get("cmd")
    if cmd == "cancel":
        agent = _field(command, "agent")
        if not engine.cancel(agent, "cancelled by a control command"):
            raise ControlError(f"no running agent {agent!r}")
        return f"cancelling {agent} and its subtree"
    if cmd == "message":
        agent, text = _field(command, "agent"), _field(command, "text")
        try:
            await engine.router.send(HUMAN, agent, "chat", text)
        except ToolError as exc:
            raise ControlError(str(exc)) from None
        return f"delivered to {agent}"
    known = "cancel, message"
    raise ControlError(f"unknown command {cmd!r}; this engine knows: {known}")


class ControlTail:
    """Follows ``control.jsonl`` from its start and applies each complete line."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine = engine
        self._lines = LineFollower(path)

    async def run(self) -> None:
        """Poll the file and apply commands until cancelled."""
        while True:
            for number, raw in self._lines.new_lines():
                await self._apply(number, raw)
            await trio.sleep(POLL_S)

    async def _apply(self, line: int, raw: bytes) -> None:
        emit = self.engine.emit
        if not raw.strip():
            return
        command: Any = None
        try:
            if len(raw) > MAX_COMMAND:
                raise ControlError(f"command of {len(raw)} bytes exceeds {MAX_COMMAND}")
            try:
                command = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise ControlError(f"not JSON: {exc}") from None
            detail = await apply_command(self.engine, command)
        except ControlError as exc:
            cmd = command.get("cmd") if isinstance(command, dict) else None
            emit(ev.ControlRejected(line=line, cmd=str(cmd or ""), reason=str(exc)))
            return
        emit(ev.ControlApplied(line=line, cmd=command["cmd"], detail=detail))


def append_command(run_dir: str | os.PathLike[str], command: dict[str, Any]) -> int:
    """Append one command to a run's control file; returns its line number.

    One ``write`` with ``O_APPEND``, so concurrent writers' lines never interleave.
    """
    path = Path(run_dir) / "control.jsonl"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, orjson.dumps(command) + b"\n")
        end = os.lseek(fd, 0, os.SEEK_CUR)
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, end).count(b"\n")
    finally:
        os.close(fd)
