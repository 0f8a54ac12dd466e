"""Virtual time for the tests: a :class:`trio.testing.MockClock` that jumps ahead whenever every
task is blocked, except while a worker thread runs.

A task waiting on ``trio.to_thread.run_sync`` (a file write, an fsync, a plan parse) counts as
blocked, so a plain autojump clock may leap to the next deadline while the thread is still
working; on a busy machine it did (a lock grant 100 ms of virtual time late, a watchdog that saw
"no progress"). Here a thread hop takes no virtual time, however long it takes for real.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import trio
import trio.testing


@contextlib.contextmanager
def virtual_clock() -> Iterator[trio.testing.MockClock]:
    """A clock for ``trio.run(..., clock=)`` or a pytest-trio fixture; it holds still while any
    ``trio.to_thread.run_sync`` is in flight (patched for the duration of the ``with``)."""
    clock = trio.testing.MockClock(autojump_threshold=0)
    run_sync = trio.to_thread.run_sync
    in_flight = 0

    async def run_sync_in_no_time(*args: Any, **kwargs: Any) -> Any:
        nonlocal in_flight
        if trio.lowlevel.current_clock() is not clock:  # another run (a CLI in a thread)
            return await run_sync(*args, **kwargs)
        in_flight += 1
        clock.autojump_threshold = math.inf
        try:
            return await run_sync(*args, **kwargs)
        finally:
            in_flight -= 1
            if not in_flight:
                clock.autojump_threshold = 0

    trio.to_thread.run_sync = run_sync_in_no_time  # type: ignore[assignment]
    try:
        yield clock
    finally:
        trio.to_thread.run_sync = run_sync


_run_sync = trio.to_thread.run_sync


async def beside(fn: Any, *args: Any) -> Any:
    """Run ``fn`` in a worker thread as another program beside the engine (a CLI command that
    waits for the engine's answer): virtual time goes on while it runs."""
    return await _run_sync(fn, *args)
