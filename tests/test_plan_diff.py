"""Plans as trees of task ids: the diff reconcile follows, edits, and export of spawns."""

from __future__ import annotations

import pytest

from agenttree.errors import UserError
from agenttree.plan import parse_plan, plan_to_edn
from agenttree.plan_diff import Spawn, diff_plans, index, move_task, replace_task, with_spawns

BASE = """
{:task {:task/id "root" :goal "r"
        :children [{:task/id "a" :goal "A" :children [{:task/id "a1" :goal "A1"}]}
                   {:task/id "b" :goal "B"}]}}
"""


def plan(text: str = BASE):
    return parse_plan(text, source="test.edn")


def test_same_plan_is_an_empty_diff() -> None:
    diff = diff_plans(plan(), plan())
    assert diff.empty and diff.summary() == "no changes"
    assert diff.to_json() == {"added": [], "removed": [], "changed": [], "moved": [],
                              "settings": False}


def test_added_removed_changed_and_moved_by_task_id() -> None:
    edited = plan("""
{:task {:task/id "root" :goal "r"
        :children [{:task/id "a" :goal "A, but better"}
                   {:task/id "b" :goal "B" :children [{:task/id "a1" :goal "A1"}
                                                      {:task/id "c" :goal "C"}]}]}}
""")
    diff = diff_plans(plan(), edited)
    assert diff.added == ("c",)
    assert diff.removed == ()
    assert diff.changed == ("a",)
    assert diff.moved == ("a1",)
    assert not diff.settings
    assert diff.summary() == "1 added, 1 changed, 1 moved"
    gone = diff_plans(plan(), plan('{:task {:task/id "root" :goal "r"}}'))
    assert gone.removed == ("a", "a1", "b")


def test_a_change_of_children_only_is_not_a_change_of_the_parent() -> None:
    edited = plan("""
{:task {:task/id "root" :goal "r"
        :children [{:task/id "a" :goal "A" :children [{:task/id "a1" :goal "A1"}]}
                   {:task/id "b" :goal "B"} {:task/id "c" :goal "C"}]}}
""")
    diff = diff_plans(plan(), edited)
    assert diff.added == ("c",) and diff.changed == ()


@pytest.mark.parametrize("edit", [
    '{:task/id "b" :goal "B" :cwd "elsewhere"}',
    '{:task/id "b" :goal "B" :acceptance [(sh "true")]}',
    '{:task/id "b" :goal "B" :model "scripted:other"}',
    '{:task/id "b" :goal "B" :budget {:tool-calls 3}}',
    '{:task/id "b" :goal "B" :tools [:read-file]}',
    '{:task/id "b" :goal "B" :script [{:say "hi"}]}',
])
def test_every_own_field_counts_as_a_change(edit: str) -> None:
    edited = plan(BASE.replace('{:task/id "b" :goal "B"}', edit))
    assert diff_plans(plan(), edited).changed == ("b",)


def test_plan_wide_settings_are_reported() -> None:
    edited = plan('{:talk #{:parent :children :siblings}' + BASE.strip()[1:])
    diff = diff_plans(plan(), edited)
    assert diff.settings and not diff.changed and diff.summary() == "settings changed"


def test_replace_and_move_rebuild_only_the_path() -> None:
    base = plan()
    replaced = replace_task(base, "a1", index(base)["a1"].task.__class__(id="a1", goal="new"))
    assert index(replaced)["a1"].task.goal == "new"
    assert index(replaced)["b"].task is index(base)["b"].task  # untouched subtree shared
    moved = move_task(base, "a", "b")
    places = index(moved)
    assert places["a"].parent == "b" and places["a1"].parent == "a" and places["a"].depth == 2
    assert diff_plans(base, moved).moved == ("a",)
    # the result is a valid plan, as text too
    assert parse_plan(plan_to_edn(moved)) == moved


@pytest.mark.parametrize(("task", "parent", "message"), [
    ("a", "a1", "under its own subtree"),
    ("a", "a", "under its own subtree"),
    ("root", "a", "root task has no parent"),
    ("zzz", "a", "no task 'zzz'"),
    ("a", "zzz", "no task 'zzz'"),
])
def test_impossible_moves_are_refused(task: str, parent: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        move_task(plan(), task, parent)


def test_spawns_join_the_plan_under_their_parents_in_order() -> None:
    exported = with_spawns(plan(), [
        Spawn(task="a-1", parent_task="a", goal="dyn", cwd="x"),
        Spawn(task="a-1-1", parent_task="a-1", goal="deeper", cwd="."),
        Spawn(task="lost", parent_task="gone", goal="?", cwd="."),
        Spawn(task="b", parent_task="a", goal="already in the plan", cwd="."),
    ])
    places = index(exported)
    assert [c.id for c in places["a"].task.children] == ["a1", "a-1"]
    assert places["a-1-1"].parent == "a-1" and places["a-1"].task.cwd == "x"
    assert "lost" not in places and places["b"].parent == "root"
    assert parse_plan(plan_to_edn(exported)) == exported
