"""Quitting while events still arrive: the flush timer and the tail stop before any widget goes,
so shutting down never raises (it used to: ``NoMatches: No nodes match '#header'``)."""

from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from agenttree import events as ev
from agenttree.log import encode

from .conftest import loaded, make_app


def agent_state(seq: int, run: str) -> ev.Entry:
    return ev.Entry(seq, 1_800_000_000_000 + seq, run,
                    ev.AgentState(agent="root", status="running", detail=f"step {seq}"))


class Appender(threading.Thread):
    """Appends events to a run's log, one small batch after another, until stopped."""

    def __init__(self, run_dir: Path, next_seq: int, run: str) -> None:
        super().__init__(daemon=True)
        self.path, self.seq, self.run_id = run_dir / "events.jsonl", next_seq, run
        self.stop = threading.Event()

    def run(self) -> None:
        with open(self.path, "ab") as f:
            while not self.stop.is_set():
                for _ in range(50):
                    entry = agent_state(self.seq, self.run_id)
                    f.write(encode(entry.seq, entry.t, entry.run, entry.event))
                    self.seq += 1
                f.flush()
                self.stop.wait(0.001)


def test_a_flush_that_lands_after_the_widgets_are_gone_touches_nothing(
        demo_run: Path, tmp_path: Path) -> None:
    run_dir = Path(shutil.copytree(demo_run, tmp_path / "run"))
    app = make_app(run_dir)
    failures: list[BaseException] = []

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            main_screen = app.screen_stack[0]
            last = app.timeline.last_seq
            run = app.timeline.entries[-1].run

            async def tick_once_torn_down() -> None:
                while main_screen.query("#header"):  # until teardown has removed it
                    await asyncio.sleep(0)
                # Events arrived and the flush timer fires: the moment that used to crash.
                app._pending.extend(agent_state(last + i, run) for i in range(1, 4))
                try:
                    app._apply_pending()
                except Exception as exc:
                    failures.append(exc)

            watcher = asyncio.create_task(tick_once_torn_down())
        await watcher

    asyncio.run(main())
    assert failures == []
    assert not app.workers  # the tail worker was stopped, not left to the thread's luck


def test_quitting_while_events_pour_in_never_raises(demo_run: Path, tmp_path: Path) -> None:
    for attempt in range(2):
        run_dir = Path(shutil.copytree(demo_run, tmp_path / f"run{attempt}"))
        app = make_app(run_dir)

        async def main(app: Any = app, run_dir: Path = run_dir) -> None:
            async with app.run_test(size=(120, 40)) as pilot:
                await loaded(pilot)
                last = app.timeline.entries[-1]
                appender = Appender(run_dir, last.seq + 1, last.run)
                appender.start()
                try:
                    await _until_more_arrived(pilot, last.seq)
                    await pilot.press("q")
                    await pilot.pause()
                finally:
                    appender.stop.set()
                    appender.join()

        asyncio.run(main())  # an exception inside the app is re-raised here
        assert app.return_value == "quit"


async def _until_more_arrived(pilot: Pilot[Any], seq: int) -> None:
    app = pilot.app
    for _ in range(300):  # bounds a hang only
        if app.timeline.last_seq > seq:
            return
        await pilot.pause(0.05)
    raise AssertionError("no live events were read")
