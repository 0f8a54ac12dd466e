"""Events too large for one log line keep their type: their longest fields are cut (with a
marker and the full size), so a 1.1 MB goal and a 1.1 MB final answer give a run that ends,
replays and resumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.cli import main
from agenttree.fit import MARK, fit_event
from agenttree.log import encode, read_events
from agenttree.log_lines import MAX_LINE
from agenttree.state import fold

from .test_resume import cut, run_plan

HUGE = "y" * 1_100_000
PLAN = f"""
{{:tiers [{{:depth 0 :models ["scripted"] :budget {{:tool-calls 20 :tokens 10000000}}}}]
 :task {{:task/id "root" :script [{{:say "waiting"}} {{:say "all done"}}]
        :children [{{:task/id "huge" :goal "{HUGE}"
                     :script [{{:call :report-state :args {{:facts {{:note "{HUGE}"}}}}}}
                              {{:say "{HUGE}"}}]}}]}}}}
"""


@pytest.fixture(scope="module")
def huge_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_plan(tmp_path_factory.mktemp("huge"), PLAN)


def marked(text: str, size: int) -> bool:
    return text.startswith("yyy") and text.endswith(MARK.format(size=size))


def test_a_huge_goal_and_answer_are_cut_and_every_event_keeps_its_type(huge_run: Path) -> None:
    entries = list(read_events(huge_run / "events.jsonl"))
    assert not [e for e in entries if isinstance(e.event, ev.UnknownEvent)]
    assert max(len(line) for line in (huge_run / "events.jsonl").read_bytes().splitlines()) \
        < MAX_LINE
    spawned = [e.event for e in entries if isinstance(e.event, ev.AgentSpawned)
               and e.event.agent == "root.huge"]
    assert len(spawned) == 1 and marked(spawned[0].goal, len(HUGE) + 2)
    ends = {e.event.agent: e.event for e in entries if isinstance(e.event, ev.AgentFinished)}
    assert ends["root.huge"].status == "done" and marked(ends["root.huge"].result,
                                                          len(HUGE) + 2)
    state = fold(entries)
    assert state.status == "done" and all(a.finished for a in state.agents.values())
    assert marked(state.agents["root.huge"].facts["note"], len(HUGE) + 2)


def test_the_run_replays(huge_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(huge_run), "--json"]) == 0
    assert '"status": "done"' in capsys.readouterr().out


@pytest.mark.parametrize("after", [ev.AgentSpawned, ev.ModelResponded])
def test_the_run_resumes_from_just_after_a_cut_event(
        huge_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        after: type[ev.Event]) -> None:
    entries = list(read_events(huge_run / "events.jsonl"))
    n = next(e.seq for e in entries if isinstance(e.event, after)
             and e.event.agent == "root.huge")
    run_dir = cut(huge_run, n, tmp_path / "cut")
    code = main(["resume", str(run_dir), "--quiet"])
    assert code == 0, capsys.readouterr()
    state = fold(read_events(run_dir / "events.jsonl"))
    assert state.status == "done" and state.agents["root.huge"].status == "done"


def test_strings_are_cut_to_fit_keeping_their_heads() -> None:
    event = ev.ToolResult(agent="a", call="c1", tool="sh", ok=True, output="y" * 3_000_000)
    fitted = fit_event(event, lambda e: len(encode(1, 0, "r", e)), MAX_LINE)
    assert len(encode(1, 0, "r", fitted)) <= MAX_LINE
    assert (fitted.agent, fitted.call, fitted.tool, fitted.ok) == ("a", "c1", "sh", True)
    assert marked(fitted.output, 3_000_002) and len(fitted.output) > MAX_LINE * 0.99


def test_many_small_items_are_cut_with_a_marker_item() -> None:
    event = ev.RunResumed(from_seq=1, pid=1, version="x",
                          restarted=[f"root.worker-{i}" for i in range(200_000)])
    fitted = fit_event(event, lambda e: len(encode(1, 0, "r", e)), MAX_LINE)
    assert len(encode(1, 0, "r", fitted)) <= MAX_LINE
    assert fitted.restarted[:3] == ["root.worker-0", "root.worker-1", "root.worker-2"]
    assert "more items cut to fit the log" in fitted.restarted[-1]


def test_a_huge_key_is_cut_too() -> None:
    event = ev.AgentState(agent="a", status="s", facts={"k" * 2_000_000: 1})
    fitted = fit_event(event, lambda e: len(encode(1, 0, "r", e)), MAX_LINE)
    assert len(encode(1, 0, "r", fitted)) <= MAX_LINE
    [(key, value)] = fitted.facts.items()
    assert key.endswith(MARK.format(size=2_000_002)) and value == 1


def test_an_event_that_fits_is_left_alone() -> None:
    event = ev.AgentState(agent="a", status="s", detail="d")
    assert fit_event(event, lambda e: len(encode(1, 0, "r", e)), MAX_LINE) is event
