"""Benchmark reports for the page: each ``REPORTS/<suite>/run-*/`` with its progress and summary.

A report directory is the one ``agenttree bench`` writes (:mod:`agenttree.bench.report`):
``events.jsonl`` as the bench runs (``run/start`` with the ``total`` of case runs, then
``case/start`` and ``case/end`` per case run, named by ``key``, ``run/end``, or ``run/stopped``
when the run stopped early) and, once finished, ``summary.json``. Progress is counted per
case-run key, so a resumed report (a second ``run/start``, an interrupted case run started
again) is not counted twice. Each log is followed from where the last scan stopped, so polling
a 10,000-case report costs only its new lines, and a ``summary.json`` is parsed again only when
its size or mtime changed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import attrs
import orjson

from ..bench.report import EVENTS, SUMMARY
from ..log_lines import FileCutBack, LineFollower

MAX_SUMMARY = 4 << 20
"""A ``summary.json`` larger than this is reported, not sent."""


@attrs.define
class _Progress:
    """What one report's log says so far."""

    follower: LineFollower
    total: int | None = None
    started: set[str] = attrs.Factory(set)
    statuses: dict[str, str] = attrs.Factory(dict)
    """Each ended case run's status (``pass``, ``fail``, ``infra-error``, ``skipped``)."""
    finished: bool = False
    stopped: str | None = None
    """Why the run stopped early (``run/stopped``), until it is resumed."""
    summary_stamp: tuple[int, int] | None = None
    """``summary.json``'s (mtime_ns, size) when it was last read: unchanged, it is not re-read."""
    summary: Any = None
    summary_error: str | None = None

    def update(self) -> None:
        for _, raw in self.follower.new_lines():
            try:
                record = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(record, dict):
                continue
            kind, key = record.get("type"), record.get("key")
            if kind == "run/start":
                total = record.get("total")
                self.total = total if isinstance(total, int) else self.total
                self.finished, self.stopped = False, None
            elif kind == "case/start" and isinstance(key, str):
                self.started.add(key)
            elif kind == "case/end" and isinstance(key, str):
                self.statuses[key] = str(record.get("status"))
            elif kind == "run/end":
                self.finished = True
            elif kind == "run/stopped":
                self.stopped = str(record.get("reason"))


class ReportScanner:
    """Lists the reports under one directory; call :meth:`scan` for a fresh listing.

    Only directories two levels down (``suite/run-*``, symlinks skipped) are looked at, and only
    their ``events.jsonl`` and ``summary.json``: nothing else under the directory is ever read.
    """

    def __init__(self, root: str | os.PathLike[str] | None) -> None:
        self.root = Path(root) if root is not None else None
        self._progress: dict[Path, _Progress] = {}

    def scan(self) -> list[dict[str, Any]]:
        """Every report, newest run first within each suite (plain reads; cheap after the first)."""
        if self.root is None or not self.root.is_dir():
            return []
        out = []
        for suite in sorted(p for p in self.root.iterdir() if _real_dir(p)):
            runs = sorted((p for p in suite.glob("run-*") if _real_dir(p)), reverse=True)
            out.extend(self._report(suite.name, run) for run in runs)
        return out

    def _report(self, suite: str, run: Path) -> dict[str, Any]:
        progress = self._progress.get(run)
        if progress is None:
            progress = self._progress[run] = _Progress(LineFollower(run / EVENTS))
        try:
            progress.update()
        except FileCutBack:  # the report was started over: read it from its start
            progress = self._progress[run] = _Progress(LineFollower(run / EVENTS))
            progress.update()
        _read_summary(run / SUMMARY, progress)
        statuses = progress.statuses.values()
        return {"suite": suite, "run": run.name, "started": len(progress.started),
                "ended": len(statuses), "passed": sum(s == "pass" for s in statuses),
                "total": progress.total,
                "finished": progress.finished or progress.summary is not None,
                "stopped": progress.stopped, "summary": progress.summary,
                "summary_error": progress.summary_error}


def _read_summary(path: Path, progress: _Progress) -> None:
    """(Re-)read ``summary.json`` into ``progress`` if it appeared or changed since last time."""
    try:
        info = path.stat()
    except OSError:
        info = None
    stamp = None if info is None else (info.st_mtime_ns, info.st_size)
    if stamp == progress.summary_stamp:
        return
    progress.summary_stamp, progress.summary, progress.summary_error = stamp, None, None
    if info is None:
        return
    try:
        if info.st_size > MAX_SUMMARY:
            raise ValueError(f"larger than {MAX_SUMMARY} bytes")
        progress.summary = orjson.loads(path.read_bytes())
    except (OSError, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
        progress.summary_error = f"summary.json unreadable: {exc}"


def _real_dir(path: Path) -> bool:
    """A directory that is not a symlink (a link could point the scan anywhere)."""
    return path.is_dir() and not path.is_symlink()
