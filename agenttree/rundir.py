"""Run directories: naming a new one, and telling one from any other directory.

A run directory holds ``events.jsonl`` (the log; the engine is its only writer),
``control.jsonl`` (commands), ``plan.edn`` (the plan in force) and ``workspace/``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import UserError

if TYPE_CHECKING:
    from .plan import Plan


def require_run_dir(run_dir: str | os.PathLike[str]) -> Path:
    """``run_dir`` as a path, if it holds a run.

    Raises:
        UserError: it does not exist, or has no ``events.jsonl``.
    """
    path = Path(run_dir)
    if not path.exists():
        raise UserError(f"{run_dir}: no such run directory")
    if not (path / "events.jsonl").is_file():
        raise UserError(f"{run_dir}: not a run directory (no events.jsonl)")
    return path


def log_of(run_dir_or_log: str | os.PathLike[str]) -> Path:
    """The event log a user named: a run directory's ``events.jsonl``, or the file itself."""
    path = Path(run_dir_or_log)
    return path if path.is_file() else path / "events.jsonl"


def require_no_run(run_dir: Path) -> Path:
    """``run_dir``, if no run is there yet.

    Raises:
        UserError: it already holds a run (``events.jsonl``).
    """
    if (run_dir / "events.jsonl").exists():
        raise UserError(f"{run_dir} already holds a run; choose another --run-dir")
    return run_dir


def new_run_dir(plan: Plan, base: str | os.PathLike[str] = "runs") -> Path:
    """``runs/<plan-name>-<UTC yyyymmdd-hhmmss>``, with a suffix if that exists already."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = Path(base) / f"{plan.name}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path(base) / f"{plan.name}-{stamp}-{n}"
    return path


def fresh_run_dir(plan: Plan, run_dir: str | os.PathLike[str] | None) -> Path:
    """Where a new run of ``plan`` goes: ``run_dir`` (``--run-dir``) or :func:`new_run_dir`.

    Raises:
        UserError: ``run_dir`` already holds a run.
    """
    return require_no_run(Path(run_dir) if run_dir else new_run_dir(plan))
