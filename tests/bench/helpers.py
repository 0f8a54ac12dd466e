"""Shared helpers for the bench tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from agenttree.bench.report import EVENTS, read_events
from agenttree.bench.runner import Options, Runner
from agenttree.bench.suites import load_suite

SUITES = Path(__file__).resolve().parents[2] / "suites"
TOOL_CALLING = SUITES / "tool_calling"
CODING = SUITES / "coding"


async def run_bench(suite: Path, report: Path, **options: Any) -> dict[str, Any]:
    """Run a suite in-process into ``report``; returns the summary."""
    return await Runner(load_suite(suite), Options(**options), report).run()


def copy_suite(suite: Path, tmp_path: Path) -> Path:
    """A private copy of a suite, to edit."""
    return Path(shutil.copytree(suite, tmp_path / suite.name))


def events(report: Path) -> list[dict[str, Any]]:
    """The report's events."""
    return list(read_events(report / EVENTS))
