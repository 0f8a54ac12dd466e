"""Pausing Python's cyclic garbage collector around bulk loads of acyclic data."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (if it runs) for the body.

    For code that builds many long-lived, acyclic objects (a fold of a long log, a large EDN
    file read): reference counting frees them, and each collection the allocations trigger
    would rescan everything built so far (a quarter to a third of the time, measured). Safe
    from several threads: only the caller that paused it resumes it.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
