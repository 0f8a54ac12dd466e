"""Locks and shell commands: what a command may not change, and what it changed anyway.

``write-file`` asks the lock service before each write; a shell command writes where it likes.
So before a command starts, the engine notes the paths *other* agents hold locks on and what is
at each (:meth:`Workspace.fingerprint`). Under ``:locks :required`` and bubblewrap those that
exist are bound read-only inside the command's sandbox. Whatever the modes, the paths are looked
at again when the command ends, and each one that changed is logged as ``lock/unheld-write``
(``via "sh"``). See docs/locks.md.
"""

from __future__ import annotations

import stat

import attrs

from ..workspace import Workspace
from .locks import LockService


@attrs.frozen(kw_only=True)
class LockGuard:
    """The paths other agents held locks on as a command started, and what was there."""

    holders: dict[str, list[str]]
    """Each guarded path, with the agents that held it."""
    before: dict[str, tuple[int, ...] | None]

    def protectable(self) -> list[str]:
        """Guarded paths a sandbox can bind read-only: existing files and directories."""
        return [path for path, found in self.before.items()
                if found is not None and len(found) > 1
                and (stat.S_ISREG(found[0]) or stat.S_ISDIR(found[0]))]

    def changed(self, workspace: Workspace) -> list[str]:
        """Guarded paths that are not as they were (written, created, removed, replaced)."""
        return [path for path, found in self.before.items()
                if workspace.fingerprint(path) != found]


async def guard_command(locks: LockService, workspace: Workspace, agent: str) -> LockGuard:
    """Note the paths agents other than ``agent`` hold locks on, and what is at each now."""
    holders: dict[str, list[str]] = {}
    for path, (holds, _) in (await locks.who_holds(None)).items():
        others = sorted({hold.agent for hold in holds if hold.agent != agent})
        if others:
            holders[path] = others
    return LockGuard(holders=holders,
                     before={path: workspace.fingerprint(path) for path in holders})
