"""The garbage collector of a process that runs the TUI: start-up frozen, full scans rare."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agenttree.cli import main
from tui.app import GC_THRESHOLDS, AgentTreeApp

from .conftest import drive, make_app


@pytest.fixture
def collector() -> Iterator[None]:
    """Each test starts from an unfrozen collector at Python's thresholds, and leaves it so."""
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def collector_while_running(app: AgentTreeApp) -> tuple[int, tuple[int, ...]]:
    """The objects frozen and the thresholds while ``app`` runs (its log read)."""
    seen: list[tuple[int, tuple[int, ...]]] = []

    async def script(pilot: Pilot[Any]) -> None:
        seen.append((gc.get_freeze_count(), gc.get_threshold()))

    drive(app, script)
    return seen[0]


def test_an_app_owning_its_process_freezes_what_start_up_made(recorded_run: Path,
                                                              collector: None) -> None:
    assert gc.get_threshold() != GC_THRESHOLDS and gc.get_freeze_count() == 0
    frozen, thresholds = collector_while_running(make_app(recorded_run, tune_gc=True))
    assert frozen > 0  # the imports and the widgets at least
    assert thresholds == GC_THRESHOLDS


def test_an_app_sharing_its_process_leaves_the_collector_alone(recorded_run: Path,
                                                               collector: None) -> None:
    before = gc.get_threshold()
    assert collector_while_running(make_app(recorded_run)) == (0, before)


def test_agenttree_tui_runs_its_app_owning_the_collector(recorded_run: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[bool] = []

    def run(self: AgentTreeApp) -> str:
        ran.append(self.tune_gc)
        return "quit"

    monkeypatch.setattr(AgentTreeApp, "run", run)
    assert main(["tui", str(recorded_run), "--readonly"]) == 0
    assert ran == [True]
