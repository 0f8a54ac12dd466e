"""One engine per run directory: an exclusive ``flock`` on ``RUN_DIR/engine.lock``.

The lock file holds the owner's pid (for the error message only: the lock itself is the
``flock``, which the kernel drops when the owner dies, however it dies). Within one process the
lock is re-entrant, so ``agenttree resume`` can hold it while it repairs the log and keep it
while the engine runs.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UserError

LOCK_NAME = "engine.lock"

_held: dict[Path, tuple[int, int]] = {}
"""Locks this process holds: run dir -> (fd, depth)."""


def _owner(path: Path) -> str:
    try:
        pid = path.read_text().strip()
    except OSError:
        pid = ""
    return f"engine pid {pid}" if pid.isdigit() else "another engine"


@contextmanager
def engine_lock(run_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the run directory's engine lock for the body.

    Raises:
        UserError: another live process holds it (the message names its pid).
    """
    key = Path(run_dir).resolve()
    held = _held.get(key)
    if held is not None:
        _held[key] = (held[0], held[1] + 1)
    else:
        key.mkdir(parents=True, exist_ok=True)
        path = key / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"{run_dir} is in use by {_owner(path)} ({LOCK_NAME}); one engine "
                            "per run directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _held[key] = (fd, 1)
    try:
        yield
    finally:
        fd, depth = _held[key]
        if depth > 1:
            _held[key] = (fd, depth - 1)
        else:
            del _held[key]
            os.close(fd)  # closing the only descriptor drops the flock
