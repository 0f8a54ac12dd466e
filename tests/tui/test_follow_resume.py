"""The TUI follows a run across a crash and a resume: the engine was SIGKILLed and its last
record torn; ``agenttree resume`` cuts the torn line off and writes on, and the TUI reads the
new records (it used to glue the old bytes to them and stop with "log corrupt")."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from agenttree.log import LogReader
from agenttree.state import fold

from ..e2e.crashed import crashed_run, resume_cancelled
from .conftest import drive, make_app, wait_for


def test_the_tui_reads_on_after_a_torn_log_is_resumed(tmp_path: Path) -> None:
    run_dir = crashed_run(tmp_path)
    app = make_app(run_dir)
    live = app.timeline.live

    async def script(pilot: Pilot[Any]) -> None:
        reader = LogReader(run_dir / "events.jsonl")
        assert live.seq == len(list(reader)) and reader.torn is not None
        done = await asyncio.to_thread(resume_cancelled, run_dir)
        assert done.returncode == 1, done.stderr
        final = fold(LogReader(run_dir / "events.jsonl"))
        await wait_for(pilot, lambda: live.seq == final.seq, "the resumed records", tries=600)
        assert live.status == final.status == "cancelled"
        assert live.agents == final.agents

    drive(app, script)
