"""Against a live engine: ``agenttree tui PLAN`` starts it as a child process, and ``x``
cancels a subtree in the real run (the log shows ``control/applied`` and the agents end
``cancelled``); quitting with "stop" ends the run cleanly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from agenttree.log import LogReader
from agenttree.state import fold
from tui.app import AgentTreeApp
from tui.engine_proc import EngineProcess
from tui.widgets.agent_tree import AgentTree

from .conftest import loaded, wait_for

SLOW_PLAN = """{:run/name "slow"
 :tiers [{:depth 0 :models ["scripted"] :tools :all :budget {:tool-calls 20 :wall-s 600}}]
 :task {:task/id "root" :goal "wait for the children"
        :script [{:say "waiting for a and b"}]
        :children [{:task/id "a" :goal "slow a" :script [{:say "a done"}]
                    :acceptance [(sh "sleep 120")]}
                   {:task/id "b" :goal "slow b" :script [{:say "b done"}]
                    :acceptance [(sh "sleep 120")]
                    :children [{:task/id "c" :goal "slow c" :script [{:say "c done"}]
                                :acceptance [(sh "sleep 120")]}]}]}}
"""


def test_cancel_a_subtree_of_a_live_run_then_stop_it(tmp_path: Path) -> None:
    plan = tmp_path / "slow.edn"
    plan.write_text(SLOW_PLAN)
    run_dir = tmp_path / "run"
    engine = EngineProcess(plan, run_dir, model="scripted")
    app = AgentTreeApp(run_dir, engine=engine)

    def status(agent: str) -> str | None:
        found = app.timeline.live.agents.get(agent)
        return None if found is None else found.status

    async def script(pilot: Pilot[Any]) -> None:
        await wait_for(pilot, lambda: all(status(a) == "acceptance" for a in
                                          ("root.a", "root.b.c")),
                       "the children to run their slow acceptance", tries=600)
        assert app.query_one("#tree", AgentTree).select_agent("root.b")
        await pilot.press("x", "y")
        await wait_for(pilot, lambda: status("root.b") == "cancelled"
                       and status("root.b.c") == "cancelled", "the subtree to end", tries=600)
        assert status("root.a") == "acceptance"  # outside the subtree: still going
        assert app.timeline.live.control == [
            {"line": 1, "cmd": "cancel", "applied": True,
             "detail": "cancelling root.b and its subtree"}]
        await pilot.press("q")
        await pilot.press("s")

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            await script(pilot)

    try:
        asyncio.run(main())
        assert app.return_value == "stop"
        assert engine.stop() == 1  # the root ended cancelled: `agenttree run` exits 1
    finally:
        if engine.running():
            engine.proc.kill()
            engine.proc.wait()
    state = fold(LogReader(run_dir / "events.jsonl"))
    assert state.status == "cancelled"
    assert {a.id: a.status for a in state.agents.values()} == {
        "root": "cancelled", "root.a": "cancelled", "root.b": "cancelled",
        "root.b.c": "cancelled"}
