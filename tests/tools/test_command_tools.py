"""Command tools declared in a plan's ``:toolbox`` (docs/tools.md): parsed, narrowed by depth
like built-ins, their arguments checked and passed as data (never as command text)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.errors import PlanError
from agenttree.log import read_events
from agenttree.plan import parse_plan, plan_to_edn
from agenttree.policy import derive, root_policy
from agenttree.runtime.engine import Engine

TOOLBOX = """
{:toolbox {:echo-args {:doc "Show the arguments" :timeout-s 30
                       :params {:text {:type :string :doc "any text"}
                                :n {:type :integer}
                                :tags {:type :array :items :string}
                                :dry-run {:type :boolean}}
                       :required [:text]
                       :sh "printf 'text=%s\\nn=%s\\ntags=%s\\ndry=%s\\nstdin=' \\\\
\\"$ARG_TEXT\\" \\"$ARG_N\\" \\"$ARG_TAGS\\" \\"$ARG_DRY_RUN\\"; cat"}}
 :tiers [{:depth 0 :models ["scripted"] :tools [:echo-args :spawn :wait :finish]
          :budget {:tool-calls 20 :tokens 100000}}
         {:depth 1 :tools [:finish]}]
 :task {:task/id "root" :script SCRIPT}}
"""

HOSTILE = "it's \"quoted\" $(touch pwned1) `touch pwned2`\n; touch pwned3 && echo $HOME"


def plan_with(script: str):
    return parse_plan(TOOLBOX.replace("SCRIPT", script), source="tools.edn")


def results(run_dir: Path) -> list[ev.ToolResult]:
    return [e.event for e in read_events(run_dir / "events.jsonl")
            if isinstance(e.event, ev.ToolResult)]


def test_a_toolbox_survives_plan_to_edn() -> None:
    plan = plan_with('[{:say "done"}]')
    assert set(plan.toolbox) == {"echo-args"}
    assert plan.toolbox["echo-args"].required == ("text",)
    assert parse_plan(plan_to_edn(plan)) == plan


def test_custom_tools_narrow_by_depth_like_built_ins() -> None:
    plan = plan_with('[{:say "done"}]')
    root = root_policy(plan)
    assert "echo-args" in root.tools
    child = derive(root, plan, plan.root, 1)
    assert "echo-args" not in child.tools and "finish" in child.tools


def test_a_tier_with_all_tools_includes_the_declared_ones() -> None:
    plan = parse_plan('{:toolbox {:t {:sh "true"}} :task {:task/id "r"}}')
    assert "t" in root_policy(plan).tools


async def test_arguments_reach_the_command_as_data_never_as_code(tmp_path: Path) -> None:
    script = ('[{:call :echo-args :args {"text" ' + json.dumps(HOSTILE) + ' "n" 3 '
              '"tags" ["a b" "$(touch pwned4)"] "dry-run" true}} {:say "done"}]')
    engine = Engine(plan_with(script), tmp_path / "run", durability="none")
    assert await engine.run() == "done"
    [result] = results(engine.run_dir)
    assert result.ok, result.output
    stdin = {"text": HOSTILE, "n": 3, "tags": ["a b", "$(touch pwned4)"], "dry-run": True}
    assert result.output == (f"exit 0\ntext={HOSTILE}\nn=3\ntags=" + '["a b", "$(touch pwned4)"]'
                             + "\ndry=true\nstdin=" + json.dumps(stdin))
    workspace = engine.run_dir / "workspace"
    assert not list(workspace.rglob("pwned*"))


@pytest.mark.parametrize(("args", "message"), [
    ('{"text" 5}', "echo-args: argument 'text' must be string, got int"),
    ('{}', "echo-args: missing required argument 'text'"),
    ('{"text" "x" "rm" "-rf"}', "echo-args: unknown argument 'rm'"),
    ('{"text" "x" "tags" [1]}', "echo-args: argument 'tags' must be an array of string"),
    ('{"text" "x" "n" 1.5}', "echo-args: argument 'n'"),
])
async def test_malformed_model_arguments_are_a_tool_error_and_run_nothing(
        tmp_path: Path, args: str, message: str) -> None:
    script = f'[{{:call :echo-args :args {args}}} {{:say "done"}}]'
    engine = Engine(plan_with(script), tmp_path / "run", durability="none")
    assert await engine.run() == "done"
    [result] = results(engine.run_dir)
    assert not result.ok and result.output.startswith(message), result.output
    assert not [e for e in read_events(engine.run_dir / "events.jsonl")
                if isinstance(e.event, ev.ProcessStarted)]


async def test_a_child_cannot_call_a_tool_its_tier_does_not_give(tmp_path: Path) -> None:
    script = ('[{:call :spawn :args {"goal" "g" "script" [{"call" "echo-args" "args" '
              '{"text" "x"}} {"say" "child done"}]}} {:call :wait :args {}} {:say "done"}]')
    engine = Engine(plan_with(script), tmp_path / "run", durability="none")
    assert await engine.run() == "done"
    [child_call] = [r for r in results(engine.run_dir) if r.tool == "echo-args"]
    assert not child_call.ok and "not available" in child_call.output


@pytest.mark.parametrize(("toolbox", "key", "message"), [
    ('{:sh {:sh "true"}}', ":toolbox", ":sh is a built-in tool"),
    ('{"a b" {:sh "true"}}', ":toolbox", "cannot name a tool"),
    ('{:t {:doc "no command"}}', ":sh", "tool :t needs :sh"),
    ('{:t {:sh ""}}', ":sh", "tool :t needs :sh"),
    ('{:t {:sh "true" :params {:p {:type :str}}}}', ":type", "must be one of :string"),
    ('{:t {:sh "true" :params {:p {:type :array}}}}', ":items", "needs :items"),
    ('{:t {:sh "true" :params {:p {:type :string :items :string}}}}', ":items",
     ":items belongs to an :array"),
    ('{:t {:sh "true" :params {:p {:type :string}} :required [:q]}}', ":required",
     ":q is not one of the tool's :params"),
    ('{:t {:sh "true" :params {:a-b {:type :string} :a_b {:type :string}}}}', ":params",
     "would both be $ARG_A_B"),
    ('{:t {:sh "true" :timeout-s 0}}', ":timeout-s", ""),
    ('{:t {:sh "true" :timeout-s 99999}}', ":timeout-s", "at most 3600"),
    ('[:t]', ":toolbox", 'expected a map like {:word-count {:sh "wc -w"}}, got a vector'),
    ('{:t [:sh "true"]}', ":t", 'expected a tool map like {:sh "wc -w" :doc "..."}, got a vector'),
    ('{:t {:sh "true" :cmd "x"}}', None, "unknown key in tool :t; allowed: :doc :params :python"),
])
def test_malformed_toolbox_entries_are_refused_with_where_and_why(
        toolbox: str, key: str | None, message: str) -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(f'{{:toolbox {toolbox}\n :task {{:task/id "r"}}}}', source="p.edn")
    assert message in str(info.value)
    if key is not None:
        assert info.value.key == key, str(info.value)


def test_a_tier_naming_an_undeclared_tool_is_refused() -> None:
    with pytest.raises(PlanError, match=r"unknown tool :word-cont \(did you mean :word-count"):
        parse_plan('{:toolbox {:word-count {:sh "wc -w"}}\n'
                   ' :tiers [{:depth 0 :tools [:word-cont]}] :task {:task/id "r"}}')


async def test_a_command_tool_past_its_timeout_is_killed_like_sh(tmp_path: Path) -> None:
    plan = parse_plan('{:toolbox {:hang {:sh "touch started; sleep 600; touch finished" '
                      ':timeout-s 0.2}}\n'
                      ' :task {:task/id "r" :script [{:call :hang} {:say "done"}]}}')
    engine = Engine(plan, tmp_path / "run", durability="none")
    assert await engine.run() == "done"
    [result] = results(engine.run_dir)
    assert result.output.startswith("timed out (killed)")
    workspace = engine.run_dir / "workspace"
    assert (workspace / "started").exists() and not (workspace / "finished").exists()
