"""``agenttree reconcile RUN_DIR PLAN`` never writes ``plan.edn`` itself: it stages the plan and
the engine writes ``plan.edn`` once it has applied it. So a client that gives up waiting leaves
nothing wrong behind: the plan in force and ``plan.edn`` agree when the engine gets to it."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from agenttree import events as ev
from agenttree.cli import main
from agenttree.log import read_events
from agenttree.plan import parse_plan
from agenttree.runtime.control import POLL_S
from agenttree.state import fold

from .test_engine import WAITERS, events_of, make_engine, when_written

ADDED = WAITERS.replace('{:task/id "side"', '{:task/id "late" :script [{:say "late"}]}\n'
                        '                   {:task/id "side"')


async def test_a_client_that_gave_up_waiting_leaves_plan_edn_to_the_engine(
        tmp_path: Path, autojump_clock, capsys) -> None:
    engine = make_engine(tmp_path, WAITERS)
    new = tmp_path / "new.edn"
    new.write_text(ADDED)
    plan_logged = when_written(engine, lambda e: isinstance(e, ev.PlanLoaded))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await plan_logged.wait()  # the client reads the plan in force from the log
        code = await trio.to_thread.run_sync(  # --wait 0: the engine does not poll meanwhile
            main, ["reconcile", str(engine.run_dir), str(new), "--wait", "0"])
        assert code == 1  # no answer within 0 s: queued
        assert "diff: 1 added" in capsys.readouterr().out
        staged = list((engine.run_dir / "plans").glob("*/plan.edn"))
        assert [p.read_text() for p in staged] == [ADDED]  # staged, not copied over plan.edn
        while not engine.state.control:
            await trio.sleep(POLL_S)
        engine.cancel("root", "test over")
    assert engine.state.control[0]["applied"], engine.state.control
    in_force = fold(read_events(engine.run_dir / "events.jsonl")).plan_edn
    assert parse_plan(in_force) == parse_plan(ADDED)
    assert (engine.run_dir / "plan.edn").read_text() == ADDED  # written by the engine
    assert "root.late" in {e.agent for e in events_of(engine, ev.AgentSpawned)}


async def test_a_rejected_plan_leaves_plan_edn_as_it_was(tmp_path: Path, autojump_clock,
                                                         capsys) -> None:
    engine = make_engine(tmp_path, WAITERS)
    other_root = tmp_path / "other.edn"
    other_root.write_text(WAITERS.replace('{:task/id "root"', '{:task/id "boss"'))
    plan_logged = when_written(engine, lambda e: isinstance(e, ev.PlanLoaded))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await plan_logged.wait()  # the client reads the plan in force from the log
        before = (engine.run_dir / "plan.edn").read_text()
        code = await trio.to_thread.run_sync(  # --wait 0: the engine does not poll meanwhile
            main, ["reconcile", str(engine.run_dir), str(other_root), "--wait", "0"])
        assert code == 1
        while not engine.state.control:
            await trio.sleep(POLL_S)
        engine.cancel("root", "test over")
    assert "the root task id cannot change" in engine.state.control[0]["detail"]
    assert (engine.run_dir / "plan.edn").read_text() == before


def test_a_bad_wait_is_refused(tmp_path: Path, capsys) -> None:
    for bad in ("-1", "nan", "inf", "soon"):
        try:
            main(["cancel", str(tmp_path), "root", "--wait", bad])
        except SystemExit as exc:
            assert exc.code == 2
        assert "--wait" in capsys.readouterr().err
