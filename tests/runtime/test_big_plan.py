"""Plans longer than a log line stay complete in the log (in ``plan/part`` events): replay,
``plan export``, a reconcile's diff and resume always have the plan in force."""

from __future__ import annotations

import zlib
from pathlib import Path

import orjson
import pytest
import trio
import trio.testing

from agenttree import events as ev
from agenttree.cli import main
from agenttree.control import ControlClient, Reconcile, append_command, stage_plan
from agenttree.log import decode, read_events
from agenttree.log_lines import MAX_LINE
from agenttree.plan import parse_plan, plan_to_edn
from agenttree.runtime.control import POLL_S
from agenttree.state import fold

from .test_engine import events_of, make_engine
from .test_resume import cut, run_plan

GOAL = "g" * 400_000


def big_plan(extra: str = "", wait: bool = False) -> str:
    script = ('[{:call :wait :args {:timeout_s 100000}}]' if wait
              else '[{:say "done"}]')
    children = " ".join(f'{{:task/id "c{i}" :goal "{GOAL}" :script {script}}}'
                        for i in range(3))
    return (f'{{:run/name "big" :tiers [{{:depth 0 :models ["scripted"]}}]'
            f' :task {{:task/id "root" :script [{{:say "go"}}] :children [{children}{extra}]}}}}')


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_plan(tmp_path_factory.mktemp("big"), big_plan())


def test_a_plan_longer_than_a_log_line_is_logged_whole(big_run: Path) -> None:
    edn = plan_to_edn(parse_plan(big_plan()))
    assert len(edn) > MAX_LINE
    entries = list(read_events(big_run / "events.jsonl"))
    loaded = [e.event for e in entries if isinstance(e.event, ev.PlanLoaded)]
    assert len(loaded) == 1 and loaded[0].parts > 1 and loaded[0].edn == ""
    assert fold(entries).plan_edn == edn
    assert ControlClient(big_run).plan_in_force() == edn  # read backwards, parts and all
    assert not [e for e in entries if isinstance(e.event, ev.UnknownEvent)]


def test_plan_export_has_the_big_plan(big_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "x.edn"
    assert main(["plan", "export", str(big_run), "-o", str(out)]) == 0, capsys.readouterr()
    assert parse_plan(out.read_text()) == parse_plan(big_plan())


def test_resume_follows_the_plan_in_force_from_the_log(big_run: Path, tmp_path: Path,
                                                      capsys) -> None:
    """plan.edn may hold an edit never reconciled: resume follows the log's plan."""
    entries = list(read_events(big_run / "events.jsonl"))
    n = next(e.seq for e in entries if isinstance(e.event, ev.AgentSpawned)
             and e.event.agent == "root.c1")
    run_dir = cut(big_run, n, tmp_path / "cut")
    (run_dir / "plan.edn").write_text('{:run/name "big" :task {:task/id "root" '
                                      ':children [{:task/id "draft"}]}}')
    assert main(["resume", str(run_dir), "--quiet"]) == 0, capsys.readouterr()
    state = fold(read_events(run_dir / "events.jsonl"))
    assert {t for t in state.tasks} == {"root", "c0", "c1", "c2"}
    assert state.status == "done"
    assert "draft" in (run_dir / "plan.edn").read_text()  # the edit is still there to apply


async def test_a_reconciled_big_plan_is_logged_whole(tmp_path: Path, autojump_clock) -> None:
    engine = make_engine(tmp_path, big_plan(wait=True))
    new = big_plan(' {:task/id "d" :script [{:say "d done"}]}', wait=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        line = append_command(engine.run_dir, Reconcile(plan=stage_plan(engine.run_dir, new)))
        while not any(c["line"] == line for c in engine.state.control):
            await trio.sleep(POLL_S)
        engine.cancel("root", "test over")
    assert engine.state.control[-1]["applied"], engine.state.control
    reconciled = events_of(engine, ev.PlanReconciled)
    assert len(reconciled) == 1 and reconciled[0].parts > 1
    assert reconciled[0].diff["added"] == ["d"]
    state = fold(read_events(engine.run_dir / "events.jsonl"))
    assert parse_plan(state.plan_edn) == parse_plan(new)
    assert ControlClient(engine.run_dir).plan_in_force() == state.plan_edn
    assert (engine.run_dir / "plan.edn").read_text() == new  # the engine wrote it


def test_an_older_log_with_the_plan_inline_still_reads() -> None:
    """A ``plan/loaded`` written before ``parts`` existed."""
    body = orjson.dumps({"seq": 1, "t": 0, "run": "r", "type": "plan/loaded", "name": "p",
                         "source": "p.edn", "tasks": 1, "edn": "{:task/id \"r\"}"})
    entry = decode(b'%b,"crc":%d}' % (body[:-1], zlib.crc32(body)))
    assert entry.event == ev.PlanLoaded(name="p", source="p.edn", tasks=1,
                                        edn='{:task/id "r"}')
    assert fold([entry]).plan_edn == '{:task/id "r"}'
