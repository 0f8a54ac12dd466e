"""Driving the terminal UI headless for the benchmarks: attach it to a run, time key presses.

One driver for :mod:`bench.tui_load`, :mod:`bench.tui_live` and :mod:`bench.activity_view`. A
press is timed from the key being posted until the first screen refresh after its effect (a
condition on what the app shows); the press is not awaited first, since Pilot's own settling
would be counted too. Every wait is for something the app shows, bounded by a timeout that ends
the wait with a clear failure rather than a figure.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.pilot import Pilot

    from tui.app import AgentTreeApp

SIZE = (160, 48)
"""The terminal the app is drawn in (columns, rows)."""
TIMEOUT_S = 30.0
"""A press not on screen after this long, or a wait for the app's screen this long, fails."""
POLL_S = 0.001
"""How often a waiting driver looks at the app (its resolution; the app runs in between)."""


class NotShown(Exception):
    """What the driver waited for did not show within :data:`TIMEOUT_S`."""


async def wait_shown(app: Any, condition: Callable[[], bool], what: str,
                     timeout: float = TIMEOUT_S) -> None:
    """Let ``app`` run until ``condition()`` holds; :class:`NotShown` naming ``what`` if it
    does not within ``timeout`` seconds, or the app stops."""
    end = time.perf_counter() + timeout
    while not condition():
        if not app.is_running:
            raise NotShown(f"the app stopped while waiting for {what}")
        if time.perf_counter() > end:
            raise NotShown(f"{what}: not shown within {timeout:.0f} s")
        await asyncio.sleep(POLL_S)


@asynccontextmanager
async def attached(run_dir: Path, app: AgentTreeApp | None = None,
                   caught_up: bool = True) -> AsyncIterator[Pilot[Any]]:
    """The TUI (``app``, or one as ``agenttree tui`` runs it) on ``run_dir`` under Pilot; with
    ``caught_up``, once it has folded and drawn the whole log. The collector is given back as
    it was afterwards (an app with ``tune_gc`` freezes what exists when it starts)."""
    if app is None:
        from tui.app import AgentTreeApp
        app = AgentTreeApp(run_dir, tune_gc=True)
    thresholds = gc.get_threshold()
    try:
        async with app.run_test(size=SIZE) as pilot:
            if caught_up:
                await wait_shown(app, lambda: "caught_up" in app.metrics,
                                 "the whole log read", timeout=600)
            yield pilot
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def timed_press(pilot: Pilot[Any], key: str, effect: Callable[[], bool]) -> float:
    """Seconds from posting ``key`` to the screen refreshed after ``effect()`` turned true;
    :class:`NotShown` if it does not within :data:`TIMEOUT_S`."""
    app = pilot.app
    drawn = asyncio.Event()
    start = time.perf_counter()
    press = asyncio.create_task(pilot.press(key))
    try:
        await wait_shown(app, effect, f"the effect of key {key!r}")
        app.call_after_refresh(drawn.set)
        await asyncio.wait_for(drawn.wait(), TIMEOUT_S)
        return time.perf_counter() - start
    except TimeoutError:
        raise NotShown(f"key {key!r}: its effect was never drawn") from None
    finally:
        try:
            await asyncio.wait_for(press, TIMEOUT_S)
        except TimeoutError:
            pass  # Pilot's settling: not part of the figure, and the effect was looked at
