"""Regression replay against recorded runs of the demo plans: no model is called, and a change
of behaviour stops the run at the first event that differs, with a report naming it."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.cli import main
from agenttree.log import read_events
from agenttree.state import fold

ROOT = Path(__file__).resolve().parents[2]
RECORDED = ROOT / "tests" / "recorded"


def replay(plan: Path, recording: Path, run_dir: Path,
           capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["run", str(plan), "--run-dir", str(run_dir), "--quiet",
                 "--replay-from", str(recording)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name", ["demo", "conflict"])
def test_todays_code_replays_the_recorded_demo_runs(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = replay(ROOT / "plans" / f"{name}.edn", RECORDED / name, tmp_path / "r",
                            capsys)
    assert code == 0, out + err
    assert "replay matched" in out
    recorded = fold(read_events(RECORDED / name / "events.jsonl"))
    again = fold(read_events(tmp_path / "r" / "events.jsonl"))
    assert {t: v.status for t, v in again.tasks.items()} == {
        t: v.status for t, v in recorded.tasks.items()}


def edited_demo(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "plans" / "demo.edn").read_text()
    assert text.count(old) == 1
    plan = tmp_path / "demo.edn"
    plan.write_text(text.replace(old, new))
    return plan


def test_a_check_that_now_fails_is_the_reported_divergence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = edited_demo(tmp_path, "grep -q 'textstats' README.md", "grep -q 'nothing' README.md")
    code, out, _ = replay(plan, RECORDED / "demo", tmp_path / "r", capsys)
    assert code == 1
    assert "replay diverged" in out
    assert ("acceptance/result root.docs grep -q 'nothing' README.md failed; the recording "
            "has acceptance/result root.docs grep -q 'textstats' README.md passed") in out
    entries = list(read_events(tmp_path / "r" / "events.jsonl"))
    assert fold(entries).status == "cancelled"  # stopped there, not run to the end
    assert not any(isinstance(e.event, ev.AcceptanceResult) and e.event.agent == "root"
                   for e in entries)


def test_a_changed_budget_is_caught_at_its_first_consequence(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = edited_demo(tmp_path, ":budget {:tool-calls 2}", ":budget {:tool-calls 3}")
    code, out, _ = replay(plan, RECORDED / "demo", tmp_path / "r", capsys)
    assert code == 1
    assert ("tool/requested root.explorer root.explorer#3.0 list-dir {'path': 'docs'}; the "
            "recording has budget/exhausted root.explorer tool_calls") in out


def test_a_plan_on_a_real_provider_replays_without_a_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    plan = tmp_path / "demo.edn"
    plan.write_text((ROOT / "plans" / "demo.edn").read_text().replace(
        '"scripted"', '"openai:gpt-4o-mini"'))
    code, out, err = replay(plan, RECORDED / "demo", tmp_path / "r", capsys)
    assert code == 0, out + err
    spawned = [e.event for e in read_events(tmp_path / "r" / "events.jsonl")
               if isinstance(e.event, ev.AgentSpawned)]
    assert {s.model for s in spawned} == {"openai:gpt-4o-mini"}


def test_replay_from_a_directory_without_a_log_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = replay(ROOT / "plans" / "demo.edn", tmp_path, tmp_path / "r", capsys)
    assert code == 2
    assert err.startswith("agenttree: error: --replay-from") and "no events.jsonl" in err
    assert "Traceback" not in err
