"""Virtual time for the tests: a :class:`trio.testing.MockClock` that jumps ahead whenever every
task is blocked, except while a worker thread runs or a process the run started is alive.

A task waiting on ``trio.to_thread.run_sync`` (a file write, an fsync, a plan parse) counts as
blocked, so a plain autojump clock may leap to the next deadline while the thread is still
working; on a busy machine it did (a lock grant 100 ms of virtual time late, a watchdog that saw
"no progress"). A task waiting for a command's output or exit is blocked too, and the clock
leapt past the command's timeout (``sh -c 'echo ran > b.txt'`` timed out after a virtual 120 s).
Here a thread hop and a process's life take no virtual time, however long they take for real.
A test of a command that hangs until its timeout moves time on itself (``clock.jump(30)`` once
the command has started); one that needs time to pass while a process lives (a server kept for
the whole run) opts out with ``hold_for_processes=False``. Either way, no process the engine
started outlives the clock's ``with``: one still running then is killed with its group.

The engine knows nothing of this: the clock wraps, for the duration of the ``with``,
``trio.to_thread.run_sync`` and the two places a process starts from Trio --
:func:`agenttree.sandbox.spawn._spawn` (every command, tool and container of the engine) and
``trio.lowlevel.open_process`` (anyio's, so the MCP SDK's stdio servers) -- and watches each
new process's pidfd until it exits.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
from collections.abc import Iterator
from typing import Any

import trio
import trio.testing

from agenttree.sandbox import spawn


class _Holds:
    """How many things hold virtual time still; the clock autojumps only when none does."""

    def __init__(self, clock: trio.testing.MockClock) -> None:
        self.clock = clock
        self.count = 0

    def ours(self) -> bool:
        """Whether the calling task runs under this clock (not another run: a CLI in a
        thread)."""
        try:
            return trio.lowlevel.current_clock() is self.clock
        except RuntimeError:
            return False

    def hold(self) -> None:
        self.count += 1
        self.clock.autojump_threshold = math.inf

    def release(self) -> None:
        self.count -= 1
        if not self.count:
            self.clock.autojump_threshold = 0

    def until_exit(self, pid: int) -> None:
        """Hold from now until process ``pid`` (a child not yet reaped) exits."""
        pidfd = os.pidfd_open(pid)
        self.hold()

        async def watch() -> None:
            try:
                await trio.lowlevel.wait_readable(pidfd)  # readable once it has exited
            finally:
                os.close(pidfd)
                self.release()

        trio.lowlevel.spawn_system_task(watch, name=f"tests.clock: process {pid}")


@contextlib.contextmanager
def virtual_clock(*, hold_for_processes: bool = True) -> Iterator[trio.testing.MockClock]:
    """A clock for ``trio.run(..., clock=)`` or a pytest-trio fixture; it holds still while any
    ``trio.to_thread.run_sync`` is in flight and while a process started in the run is alive
    (the wrappers are installed for the duration of the ``with``).

    Args:
        hold_for_processes: ``False`` for a test that needs time to pass while a process lives
            (a server that lives as long as the run). Then the engine's bounded waits for a
            killed process pass at once too, and it may be left running until the ``with``
            ends (and kills it).
    """
    clock = trio.testing.MockClock(autojump_threshold=0)
    holds = _Holds(clock)
    started: list[subprocess.Popen[bytes]] = []
    run_sync = trio.to_thread.run_sync
    engine_spawn = spawn._spawn
    trio_open_process = trio.lowlevel.open_process

    async def run_sync_in_no_time(*args: Any, **kwargs: Any) -> Any:
        if not holds.ours():
            return await run_sync(*args, **kwargs)
        holds.hold()
        try:
            return await run_sync(*args, **kwargs)
        finally:
            holds.release()

    async def spawn_held(*args: Any, **kwargs: Any) -> Any:
        popen = await engine_spawn(*args, **kwargs)
        started.append(popen)
        if hold_for_processes and holds.ours():
            holds.until_exit(popen.pid)
        return popen

    async def open_process_held(*args: Any, **kwargs: Any) -> Any:
        process = await trio_open_process(*args, **kwargs)
        if holds.ours():
            holds.until_exit(process.pid)
        return process

    trio.to_thread.run_sync = run_sync_in_no_time  # type: ignore[assignment]
    spawn._spawn = spawn_held  # type: ignore[assignment]
    if hold_for_processes:
        trio.lowlevel.open_process = open_process_held  # type: ignore[assignment]
    try:
        yield clock
    finally:
        trio.to_thread.run_sync = run_sync
        spawn._spawn = engine_spawn  # type: ignore[assignment]
        trio.lowlevel.open_process = trio_open_process  # type: ignore[assignment]
        for popen in started:
            if popen.poll() is None:  # its own group (start_new_session): the group goes too
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()


_run_sync = trio.to_thread.run_sync


async def beside(fn: Any, *args: Any) -> Any:
    """Run ``fn`` in a worker thread as another program beside the engine (a CLI command that
    waits for the engine's answer): virtual time goes on while it runs."""
    return await _run_sync(fn, *args)
