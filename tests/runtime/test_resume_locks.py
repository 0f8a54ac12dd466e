"""After a crash and a resume, no view shows lock state that no longer exists: resume logs the
end of every lock wait and conflict that was in flight when the engine died."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.cli import main
from agenttree.log import read_events
from agenttree.state import fold

from .test_resume import cut, run_plan

CONTENDED = """
{:locks {:mode :advisory :ttl-ms 30000 :wait-ms 60000 :escalate-after-ms 60000}
 :tiers [{:depth 0 :models ["scripted"] :tools :all :budget {:tool-calls 50}}]
 :task {:task/id "root" :script [{:say "go"}]
        :children
        [{:task/id "holder" :script [{:call :lock :args {:path "f.md"}}
                                     {:call :unlock :args {:path "f.md"} :delay-ms 300}
                                     {:say "held and gave back"}]}
         {:task/id "waiter" :script [{:call :lock :args {:path "f.md"} :delay-ms 50}
                                     {:call :unlock :args {:path "f.md"}}
                                     {:say "got it in the end"}]}]}}
"""


@pytest.fixture(scope="module")
def contended(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_plan(tmp_path_factory.mktemp("locks"), CONTENDED)


def test_a_wait_and_conflict_in_flight_at_the_crash_end_in_the_log(
        contended: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    entries = list(read_events(contended / "events.jsonl"))
    n = next(e.seq for e in entries if isinstance(e.event, ev.ConflictOpened))
    run_dir = cut(contended, n, tmp_path / "cut")
    crashed = fold(read_events(run_dir / "events.jsonl"))
    assert crashed.locks["f.md"]["waiters"] == ["root.waiter"]
    assert [c["status"] for c in crashed.conflicts.values()] == ["open"]
    assert main(["resume", str(run_dir), "--quiet"]) == 0, capsys.readouterr()
    after = list(read_events(run_dir / "events.jsonl"))
    state = fold(after)
    assert state.status == "done"
    assert state.locks == {}  # no waiter left behind
    assert {c: v["status"] for c, v in state.conflicts.items()} == \
        {"c1": "abandoned", "c2": "granted"}  # the waiter asked again, in a new conflict
    ended = [e.event for e in after if isinstance(e.event, ev.LockWaitEnded)]
    assert [(w.agent, w.reason) for w in ended] == \
        [("root.waiter", "the engine died while it was open")]
    capsys.readouterr()
    assert main(["locks", str(run_dir)]) == 0
    table = capsys.readouterr().out
    assert "no locks held or awaited" in table and "abandoned by resume" in table
