"""The UI's parts without a screen: the timeline, the filter, the key map."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.errors import UserError
from agenttree.live_state import fold_live
from agenttree.log import LogReader
from agenttree.state import state_to_json
from tui.app import plan_change
from tui.event_filter import EventFilter
from tui.keymap import load_keymap
from tui.keys import binding_ids
from tui.look import event_agent, event_line, status_counts, summary
from tui.timeline import TAIL_ITEMS, Timeline
from tui.widgets.locks_view import ttl_left


@pytest.mark.parametrize("every", [1, 3, 1000])
def test_timeline_state_at_equals_the_fold(demo_run: Path, every: int) -> None:
    entries = list(LogReader(demo_run / "events.jsonl"))
    timeline = Timeline(every=every)
    timeline.extend(entries[:100])
    timeline.extend(entries[100:])
    assert state_to_json(timeline.live) == state_to_json(fold_live(entries, TAIL_ITEMS))
    for seq in (0, 1, 7, 50, 99, 100, 101, len(entries) - 1, len(entries)):
        assert state_to_json(timeline.state_at(seq)) == \
            state_to_json(fold_live(entries[:seq], TAIL_ITEMS))
    assert timeline.state_at(len(entries)) is not timeline.live  # a copy: views cannot harm it
    assert {k: v for k, v in timeline.counts.items() if v} == {"done": 5} \
        == status_counts(timeline.live)


def test_live_counts_follow_each_batch(recorded_run: Path) -> None:
    entries = list(LogReader(recorded_run / "events.jsonl"))
    timeline = Timeline()
    for entry in entries:
        touched = timeline.extend([entry])
        assert {k: v for k, v in timeline.counts.items() if v} == status_counts(timeline.live)
        assert getattr(entry.event, "agent", None) in touched | {None}
    assert timeline.counts["blocked"] == 1  # ui waits for api's lock


def test_filter_words() -> None:
    flt = EventFilter.parse("type:tool under:root.lib failures write")
    assert flt == EventFilter(types=("tool",), under="root.lib", failures=True,
                              words=("write",))
    assert EventFilter.parse("").empty and not flt.empty


def test_filter_matches(demo_run: Path) -> None:
    entries = list(LogReader(demo_run / "events.jsonl"))
    start = entries[0].t

    def picked(text: str) -> set[tuple[str, str]]:
        flt = EventFilter.parse(text)
        return {(e.event.TYPE, event_agent(e.event)) for e in entries
                if flt.matches(e, event_line(e, start))}

    assert {t for t, _ in picked("type:acceptance")} == {"acceptance/result"}
    assert {a for _, a in picked("under:root.lib")} == {"root.lib", "root.lib.tests"}
    assert {a for _, a in picked("agent:root.lib")} == {"root.lib"}
    failures = picked("!")
    assert ("acceptance/result", "root.lib") in failures  # lib's first attempt failed
    assert ("agent/finished", "root.explorer") in failures  # budget-exhausted
    assert all(a != "root.docs" for _, a in failures)


def test_keymap_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text('cancel = "X"\n[keys]\nquit = "ctrl+q"\n')
    assert load_keymap(path, binding_ids()) == {"cancel": "X", "quit": "ctrl+q"}
    path.write_text('[keys]\nquit = "ctrl+q"\nback = "b, left"\n')
    assert load_keymap(path, binding_ids()) == {"quit": "ctrl+q", "back": "b,left"}
    path.write_text('cancel = "X"\n')
    assert load_keymap(path, binding_ids()) == {"cancel": "X"}


@pytest.mark.parametrize(("text", "message"), [
    ('nope = "x"', "unknown binding id 'nope'; known ids: "),
    ("cancel = 3", 'cancel: the key must be a non-empty string, e.g. cancel = "ctrl+x"'),
    ("cancel = ", "not valid TOML"),
])
def test_bad_keymap_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace("+", r"\+")):
        load_keymap(path, binding_ids())


def test_default_keymap_file_is_optional(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert load_keymap(None, binding_ids()) == {}
    (tmp_path / "agenttree").mkdir()
    (tmp_path / "agenttree" / "keys.toml").write_text('grant = "G"\n')
    assert load_keymap(None, binding_ids()) == {"grant": "G"}
    with pytest.raises(UserError, match="no such key map file"):
        load_keymap(tmp_path / "missing.toml", binding_ids())


def test_ttl_left() -> None:
    assert ttl_left(1000, 5000, 1800) == "4.2s"
    assert ttl_left(0, 30 * 60_000, 0) == "30m"
    assert ttl_left(0, 5 * 3_600_000, 0) == "5h"
    assert ttl_left(0, 1000, 1000) == "expired"
    assert ttl_left(0, None, 10) == "∞"


PLAN = """{:run/name "p" :tiers [{:depth 0 :models ["scripted"]}]
 :task {:task/id "root" :goal "g"
        :children [{:task/id "a" :goal "a" :children [{:task/id "b" :goal "b"}]}
                   {:task/id "c" :goal "c"}]}}"""


def test_plan_change_lists_what_reconcile_would_do() -> None:
    moved = PLAN.replace(' :children [{:task/id "b" :goal "b"}]}', "}").replace(
        '{:task/id "c" :goal "c"}', '{:task/id "c" :goal "c2" :children [{:task/id "b" '
        ':goal "b"}]} {:task/id "d" :goal "d"}')
    text = plan_change(PLAN, moved, "plan.edn")
    assert text.splitlines() == [
        "new tasks (spawned): d", "removed tasks (cancelled): none",
        "changed tasks (restarted): c", "moved tasks (restarted under their new parent): b",
        "Unchanged tasks are untouched."]
    assert "plan-wide settings" in plan_change(PLAN, PLAN.replace('"scripted"', '"x"'), "p")
    assert plan_change("(not a plan", PLAN, "p").splitlines()[0] == \
        "new tasks (spawned): root, a, b, c"


def test_watchdog_and_rollup_events_read_as_sentences() -> None:
    looked = ev.AgentWatchdog(agent="root", quiet_s=30.0,
                              children=[{"agent": "root.a"}, {"agent": "root.b"}])
    assert summary(looked) == "no progress in 30s from root.a, root.b"
    rolled = ev.BudgetRolledUp(agent="root", child="root.a",
                               used={"tool_calls": 4, "tokens": 1200, "cost": 0})
    # used is the parent's new total (its own and its subtree's), not the child's spend
    assert summary(rolled) == "root.a ended: root's subtree has spent tool_calls 4, tokens 1.2k"


def test_an_answer_reads_with_what_it_was_charged() -> None:
    """The charges ride on the answer (no budget/charged line of their own since issue 22)."""
    answer = ev.ModelResponded(agent="root", model="m", turn=3, text="", usage={},
                               calls=[{"tool": "sh"}], charged={"tokens": 1200, "cost": 0.0125})
    assert summary(answer) == "turn 3 (tokens +1.2k, cost +$0.01) → sh"
    older = ev.ModelResponded(agent="root", model="m", turn=1, text="hi", calls=[], usage={})
    assert summary(older) == "turn 1: hi"
