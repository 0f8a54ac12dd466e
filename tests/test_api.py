"""The Python API (docs/python.md): load_plan, run with functions as tools, iter_events; its lazy
import; and the page's example, run from the page itself."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import trio

import agenttree
from agenttree import events as ev
from agenttree.errors import PlanError, UserError

DOC = Path(__file__).parent.parent / "docs" / "python.md"

PLAN = """
{:tiers [{:depth 0 :models ["scripted"] :tools [:count_letters :spawn :wait :finish]
          :budget {:tool-calls 20}}
         {:depth 1 :tools [:finish]}]
 :task {:task/id "root" :script [{:call :count_letters :args {:word "tree" :letter "e"}}
                                 {:say "counted"}]}}
"""


def count_letters(word: str, letter: str) -> int:
    """How often a letter occurs in a word.

    Args:
        word: the word.
        letter: the letter to count.
    """
    return word.count(letter)


async def test_run_with_a_function_as_a_tool_and_follow_its_events(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    (tmp_path / "count.edn").write_text(PLAN)
    plan = agenttree.load_plan(tmp_path / "count.edn", tools=[count_letters])
    assert plan.toolbox["count_letters"].python == f"{__name__}:count_letters"
    run_dir = tmp_path / "run"
    seen: list[ev.Entry] = []
    states = []

    async def run() -> None:
        states.append(await agenttree.run(plan, run_dir=run_dir, tools=[count_letters]))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        async for entry in agenttree.iter_events(run_dir):
            seen.append(entry)
    [state] = states
    assert state.status == "done"
    assert [e.seq for e in seen] == list(range(1, len(seen) + 1))
    assert isinstance(seen[0].event, ev.RunStarted) and isinstance(seen[-1].event, ev.RunFinished)
    [result] = [e.event for e in seen if isinstance(e.event, ev.ToolResult)]
    assert (result.tool, result.ok, result.output) == ("count_letters", True, "2")
    # what iter_events gave is the whole log, and without follow it stops at its end
    assert [e async for e in agenttree.iter_events(run_dir, follow=False)] == seen


def test_a_plan_naming_a_function_tool_needs_it_given_to_load_plan(tmp_path: Path) -> None:
    (tmp_path / "count.edn").write_text(PLAN)
    with pytest.raises(PlanError, match="unknown tool :count_letters"):
        agenttree.load_plan(tmp_path / "count.edn")


@pytest.mark.parametrize(("tools", "message"), [
    ([lambda word: word], "cannot be a tool"),
    ([42], "42 cannot be a tool"),
    ([count_letters, count_letters], "two functions are named 'count_letters'"),
])
def test_functions_that_cannot_be_tools_are_refused(tmp_path: Path, tools: list,
                                                    message: str) -> None:
    (tmp_path / "p.edn").write_text('{:task {:task/id "r"}}')
    with pytest.raises(UserError, match=message):
        agenttree.load_plan(tmp_path / "p.edn", tools=tools)


async def test_run_refuses_a_function_named_like_a_command_tool(tmp_path: Path) -> None:
    (tmp_path / "p.edn").write_text('{:toolbox {:count_letters {:sh "true"}}\n'
                                    ' :task {:task/id "r"}}')
    with pytest.raises(UserError, match="'count_letters' is a command tool"):
        await agenttree.run(tmp_path / "p.edn", run_dir=tmp_path / "run",
                            tools=[count_letters])
    assert not (tmp_path / "run").exists()


def test_the_cli_and_its_version_import_none_of_the_api() -> None:
    code = ("import sys\n"
            "import agenttree.cli\n"
            "try:\n"
            "    agenttree.cli.main(['--version'])\n"
            "except SystemExit:\n"
            "    pass\n"
            "lazy = ('agenttree.api', 'docstring_parser')\n"
            "print(sorted(m for m in sys.modules if m in lazy))\n"
            "import agenttree\n"
            "agenttree.run\n"
            "print(sorted(m for m in sys.modules if m in lazy))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert out[-2:] == ["[]", "['agenttree.api']"], out


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'runn'"):
        agenttree.runn  # noqa: B018
    assert {"run", "load_plan", "iter_events"} <= set(dir(agenttree))


def test_the_example_in_docs_python_md_runs_as_written(tmp_path: Path) -> None:
    [example] = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    [shown] = re.findall(r"It prints.*?\n```\n(.*?)```", DOC.read_text(), re.S)
    (tmp_path / "example.py").write_text(example)
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sorted(lines[:-1]) == sorted(shown.splitlines()[:-1])
    assert lines[-1] == shown.splitlines()[-1] == "run done"
    assert (tmp_path / "runs" / "hello" / "events.jsonl").exists()


def test_run_can_be_given_a_plan_path_and_stops_with_a_cancel(tmp_path: Path) -> None:
    (tmp_path / "p.edn").write_text(
        '{:tiers [{:depth 0 :models ["scripted"]}]\n'
        ' :task {:task/id "r" :script [{:call :wait :args {:timeout_s 1000}} {:say "late"}]}}')

    async def main() -> str:
        with trio.move_on_after(5):
            await agenttree.run(tmp_path / "p.edn", run_dir=tmp_path / "run")
        [status] = [e.event.status async for e in agenttree.iter_events(tmp_path / "run")
                    if isinstance(e.event, ev.RunFinished)]
        return status

    assert trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0)) == "cancelled"

