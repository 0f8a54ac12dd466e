"""Serving until Ctrl-C: how ``agenttree serve`` stops, promptly, whatever its clients do."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Awaitable, Callable

import trio

EXIT_INTERRUPTED = 130
STOP_GRACE_S = 2.0
"""After Ctrl-C, how long the server gets to close its connections before the process ends."""


async def until_signal(main: Callable[[], Awaitable[None]]) -> None:
    """Run ``main`` until Ctrl-C (SIGINT) or SIGTERM, then cancel it; if it has not ended
    :data:`STOP_GRACE_S` later, end the process (exit 130).

    The signals are taken from Trio, so no ``KeyboardInterrupt`` is ever raised inside a
    request handler (where the web server would catch it and go on serving), and a client
    that stopped reading cannot hold the process: hypercorn shields its socket writes from
    cancellation.
    """
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(main)
            async for _ in signals:
                trio.lowlevel.spawn_system_task(_exit_after, STOP_GRACE_S)
                nursery.cancel_scope.cancel()
                break


async def _exit_after(seconds: float) -> None:
    await trio.sleep(seconds)
    sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)
