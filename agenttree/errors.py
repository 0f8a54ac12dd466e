"""The exceptions agenttree raises, and which of them are the user's to fix."""

from __future__ import annotations

from typing import Any


class AgentTreeError(Exception):
    """Base class for every error agenttree raises on purpose."""


class UserError(AgentTreeError):
    """Bad input from a person (a plan, a flag, a command).

    The CLI prints it as one line and exits with status 2; never a traceback.
    """


class PlanError(UserError):
    """A plan that does not validate, located as precisely as the parser allows."""

    def __init__(self, message: str, *, source: str = "<plan>", line: int | None = None,
                 key: str | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.key = key
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        what = f"{self.key}: " if self.key else ""
        return f"{where}: {what}{self.message}"


class ToolError(AgentTreeError):
    """A tool call that cannot be carried out; the message goes back to the model."""


class WorkspaceError(ToolError):
    """A path that is malformed or resolves outside the run's workspace."""


class SandboxUnavailable(UserError):
    """The plan requires an OS sandbox for `sh` and this machine has none."""


class LogCorrupt(AgentTreeError):
    """An event log line that fails its checks somewhere other than the torn tail.

    ``entries`` are the good ones a follower had read in the same call, before the bad line
    (a viewer shows them, then the error).
    """

    def __init__(self, message: str, entries: list[Any] | None = None) -> None:
        super().__init__(message)
        self.entries = entries or []


def only_error(exc: BaseException) -> BaseException | None:
    """``exc`` itself, or the one exception inside it if it is an exception group (nested
    groups looked through); ``None`` when a group holds several."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [exc]
    while stack:
        current = stack.pop()
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        else:
            leaves.append(current)
    return leaves[0] if len(leaves) == 1 else None


def unwrap_group(group: BaseExceptionGroup) -> BaseException:
    """What to raise for an exception group from a nursery: the one exception in it (nested
    groups looked through, see :func:`only_error`), or the group itself when it holds
    several."""
    return only_error(group) or group


def describe_os_error(exc: OSError) -> str:
    """An OSError as one line: what failed, on which file."""
    what = exc.strerror or str(exc)
    return f"{exc.filename}: {what}" if exc.filename else what
