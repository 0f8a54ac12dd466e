"""Shared helpers for the bench tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson

from agenttree.bench.report import EVENTS, read_events
from agenttree.bench.runner import Options, Runner
from agenttree.bench.suites import load_suite

SUITES = Path(__file__).resolve().parents[2] / "suites"
TOOL_CALLING = SUITES / "tool_calling"
CODING = SUITES / "coding"
HANG_GUARD_S = 600.0
"""The ``trio.fail_after`` around a whole bench run in a test: a hang guard, not a time limit.
The runs take seconds to a minute alone (the slowest about a tenth of this), but start many
subprocesses (bubblewrap, programs under test, ruff, a browser) and share two cores with other
test sessions: a bound near their usual time fails a busy machine, so this one only stops a
run that is stuck (where a fake provider's nursery would keep the test waiting forever)."""


async def run_bench(suite: Path, report: Path, **options: Any) -> dict[str, Any]:
    """Run a suite in-process into ``report``; returns the summary."""
    return await Runner(load_suite(suite), Options(**options), report).run()


def copy_suite(suite: Path, tmp_path: Path) -> Path:
    """A private copy of a suite, to edit."""
    return Path(shutil.copytree(suite, tmp_path / suite.name))


def events(report: Path) -> list[dict[str, Any]]:
    """The report's events."""
    return list(read_events(report / EVENTS))


def one_case_suite(tmp_path: Path, case: str,
                   solutions: dict[str, dict[str, str]] | None = None) -> Path:
    """A private copy of the coding suite holding only ``case``, with extra ``reference/``
    solutions (name -> files) for ``scripted:NAME`` to write."""
    root = copy_suite(CODING, tmp_path)
    (root / "suite.edn").write_text(
        f'{{:name "coding" :version "1" :kind :coding :cases ["{case}"]}}')
    for name, files in (solutions or {}).items():
        for path, text in files.items():
            target = root / case / "reference" / name / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
    return root


def ctrf(report: Path, case_run: str) -> dict[str, Any]:
    """The CTRF results of one case run of a report (``<case>-<model>-e1-a1``)."""
    return orjson.loads((report / "cases" / case_run / "ctrf.json").read_bytes())["results"]
