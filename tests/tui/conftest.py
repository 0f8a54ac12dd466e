"""Fixtures for the TUI tests.

pytest-trio's ``trio_mode`` runs every ``async def`` test under Trio, and Textual needs asyncio:
so these tests are plain ``def`` tests that drive the app with :func:`drive` (``asyncio.run``).
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from tui.app import AgentTreeApp

from .recorded import write_recorded_run

ROOT = Path(__file__).resolve().parents[2]
FIXED_CLOCK = 1_800_000_010.0
"""Wall clock (epoch seconds) the tests' apps see, so lease times are the same every run."""


def run_plan(plan: Path, run_dir: Path) -> Path:
    """Run a plan to its end with the offline model; returns the run directory."""
    subprocess.run([sys.executable, "-m", "agenttree", "run", str(plan), "--model", "scripted",
                    "--run-dir", str(run_dir), "--quiet"], check=True, capture_output=True,
                   cwd=ROOT, timeout=120)
    return run_dir


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of plans/demo.edn (read it; copy it before changing it)."""
    return run_plan(ROOT / "plans" / "demo.edn", tmp_path_factory.mktemp("demo") / "run")


@pytest.fixture
def recorded_run(tmp_path: Path) -> Path:
    """The small deterministic run of :mod:`tests.tui.recorded`."""
    return write_recorded_run(tmp_path / "recorded")


def make_app(run_dir: Path, **kwargs: Any) -> AgentTreeApp:
    """An app on ``run_dir`` with a fixed wall clock."""
    kwargs.setdefault("clock", lambda: FIXED_CLOCK)
    return AgentTreeApp(run_dir, **kwargs)


def text_of(widgets: Iterable[Static]) -> str:
    """The plain text of some Static widgets' contents, one after the other."""
    console = Console(width=200, record=True, file=io.StringIO())
    for widget in widgets:
        console.print(widget.content)
    return console.export_text()


async def wait_for(pilot: Pilot[Any], condition: Callable[[], bool], what: str,
                   tries: int = 300) -> None:
    """Let the app run until ``condition()`` holds (checked after each idle: no fixed sleep
    decides the outcome; ``tries`` only bounds a hang)."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def press_when_offered(pilot: Pilot[Any], key: str, tries: int = 300) -> None:
    """Press ``key`` once the app offers it (its binding active and enabled, as the footer
    shows it). The app enables keys from the state it has drawn, up to its draw interval after
    the events were folded: a key pressed before that does nothing."""
    def offered() -> bool:
        binding = pilot.app.screen.active_bindings.get(key)
        return binding is not None and binding.enabled

    await wait_for(pilot, offered, f"the app to offer {key}", tries)
    await pilot.press(key)


async def loaded(pilot: Pilot[Any]) -> None:
    """Wait until the app has folded and drawn the whole log."""
    app = pilot.app
    assert isinstance(app, AgentTreeApp)
    await wait_for(pilot, lambda: "caught_up" in app.metrics, "the log to be read")
    await pilot.pause()


def drive(app: AgentTreeApp, script: Callable[[Pilot[Any]], Awaitable[None]],
          size: tuple[int, int] = (120, 40)) -> None:
    """Run ``app`` headless under asyncio and play ``script`` against it."""

    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await loaded(pilot)
            await script(pilot)

    asyncio.run(main())
