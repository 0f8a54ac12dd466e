"""Wake-ups for whoever follows a growing file: change notification, with a poll behind it.

A follower (the engine's control tail, the web hub's log tail, a control client waiting for
the engine's answer) reads what was appended, then waits for the file to change.
:class:`FileChanges` ends that wait as soon as the operating system reports a change (through
``watchfiles``: inotify on Linux, FSEvents, kqueue, ReadDirectoryChangesW) and after ``poll_s``
at the latest, so a follower stays correct where notification is unavailable (the inotify
instances of the user used up, a network file system that misses other hosts' writes).

The file is followed by name: while it does not exist, its directory is watched for it; once
it is deleted, the directory again. Runs on plain Trio (not anyio: its Trio backend takes
~20 ms to import, which every ``agenttree run`` would pay before its first agent starts).

It drives watchfiles' private ``RustNotify`` itself: the public ``awatch`` (which works under
Trio, a change waking it as fast) cannot say when its watch has begun, which :meth:`FileChanges.run`
reports, and when cancelled waits out its ``rust_timeout`` (5 s) for the watcher thread. The
versions of watchfiles are pinned in pyproject.toml, and a test checks the API used. The
watcher's blocking wait runs in a thread of its own (``trio.lowlevel.start_thread_soon``), not
through ``trio.to_thread.run_sync``: it is a wait for the operating system, like a socket's,
which holds none of the worker threads' capacity tokens (fsyncs, plan parses) for the life of
the run.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import outcome
import trio
from watchfiles import Change
from watchfiles._rust_notify import RustNotify, WatchfilesRustInternalError

STEP_MS = 5
"""How often the watcher thread looks at what the operating system reported: a change wakes
the follower one or two steps after it happened."""
DEBOUNCE_MS = 50
"""The longest a file written without a pause keeps its follower waiting."""


class FileChanges:
    """Wakes a follower of ``path`` when the file changes, or every ``poll_s``.

    Start :meth:`run` in a nursery (task group); the follower calls :meth:`wait` between two
    reads. A change between a read and the next :meth:`wait` is not lost: that wait returns at
    once. Where notification cannot start, :meth:`wait` is a plain ``poll_s`` sleep.
    """

    def __init__(self, path: str | os.PathLike[str], *, poll_s: float) -> None:
        self.path = Path(path)
        self.poll_s = poll_s
        self.notifying = False
        """Whether changes are being notified now (false: polling only)."""
        self._changed = False
        self._wake: trio.Event | None = None

    async def wait(self) -> None:
        """Return when the file may have changed since the last call: at once if a change was
        notified meanwhile, else at the next notification or after ``poll_s``."""
        if not self._changed:
            self._wake = trio.Event()
            with trio.move_on_after(self.poll_s):
                await self._wake.wait()
            self._wake = None
        self._changed = False

    def _signal(self) -> None:
        self._changed = True
        if self._wake is not None:
            self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] =
                  trio.TASK_STATUS_IGNORED) -> None:
        """Watch until cancelled. Reports started once a change made from then on is seen."""
        stop = threading.Event()
        try:
            await self._watch(stop, task_status)
        finally:
            self.notifying = False
            stop.set()

    async def _watch(self, stop: threading.Event, task_status: trio.TaskStatus[None]) -> None:
        started = False
        while True:
            is_file = self.path.exists()
            try:
                watcher = RustNotify([str(self.path if is_file else self.path.parent)],
                                     False, False, 0, False, False)
            except (OSError, WatchfilesRustInternalError):
                if not started:
                    task_status.started()
                return  # nothing to watch with (or the directory is gone): polling only
            self.notifying = True
            if not started:
                started = True
                task_status.started()
            if is_file or not self.path.exists():
                while not await self._changes(watcher, stop, is_file):
                    pass
            else:  # created before the watch began
                self._signal()
            watcher.close()

    async def _changes(self, watcher: RustNotify, stop: threading.Event, is_file: bool) -> bool:
        """Wait for the next reported changes and signal the follower; whether the watch must
        move (the file was created or deleted)."""
        raw = await _in_thread(lambda: watcher.watch(DEBOUNCE_MS, STEP_MS, 0, stop))
        if not isinstance(raw, set):
            return False
        mine = [change for change, name in raw if Path(name).name == self.path.name]
        if not mine:
            return False
        self._signal()
        return not is_file or Change.deleted in mine


async def _in_thread(wait: Callable[[], object]) -> object:
    """What ``wait`` returns, called in a worker thread. Cancelled, the thread is left to end by
    itself (:meth:`FileChanges.run` sets the watcher's ``stop``, which it sees within STEP_MS)
    and what it returns then goes nowhere."""
    token = trio.lowlevel.current_trio_token()
    done = trio.Event()
    result: list[outcome.Outcome[object]] = []

    def deliver(answer: outcome.Outcome[object]) -> None:
        def back_in_trio() -> None:
            result.append(answer)
            done.set()

        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(back_in_trio)

    trio.lowlevel.start_thread_soon(wait, deliver, name="agenttree file changes")
    await done.wait()
    return result[0].unwrap()
