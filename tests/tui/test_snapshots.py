"""Snapshots of the main screen on the recorded fixture run, at 80x24 and 160x48.

Update them after a deliberate change with ``pytest tests/tui --snapshot-update`` and look at
the SVGs before committing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from .conftest import loaded, make_app


async def _conversation_of_api(pilot: Pilot[Any]) -> None:
    await loaded(pilot)
    pilot.app.query_one("#tree").select_agent("root.api")
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_main_screen(snap_compare: Any, recorded_run: Path, size: tuple[int, int]) -> None:
    app = make_app(recorded_run, theme="ansi-dark")
    assert snap_compare(app, terminal_size=size, run_before=_conversation_of_api)


def test_locks_tab(snap_compare: Any, recorded_run: Path) -> None:
    async def locks(pilot: Pilot[Any]) -> None:
        await loaded(pilot)
        await pilot.press("2")

    app = make_app(recorded_run, theme="ansi-dark")
    assert snap_compare(app, terminal_size=(120, 30), run_before=locks)
