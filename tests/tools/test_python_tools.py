"""Python tools declared in a plan's ``:toolbox`` (docs/tools.md): their schema from the
function, checked arguments, errors as tool errors, timeouts (a sync function abandoned, an
async one cancelled), narrowing by depth, and ``plan check``'s errors."""

from __future__ import annotations

import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
import trio.testing

from agenttree import events as ev
from agenttree.cli import main
from agenttree.log import read_events
from agenttree.plan import parse_plan, plan_to_edn
from agenttree.policy import derive, root_policy
from agenttree.runtime.engine import Engine
from agenttree.tools.custom import custom_tools

TOOLS_MODULE = '''
import json
from pathlib import Path

import trio

HERE = Path(__file__).parent
GATE = None  # a threading.Event the test sets to let a blocked call end
STARTED = None  # a threading.Event a blocked call sets once its thread runs it


def _bump(name):
    with open(HERE / f"{name}.calls", "a") as f:
        f.write("x")


def lookup(word: str, limit: int = 3, exact: bool | None = None,
           tags: list[str] | None = None, extra: dict | None = None) -> str:
    """Look a word up in the dictionary.

    Finds close matches too.

    Args:
        word: the word to find
        limit: how many matches at most
    """
    _bump("lookup")
    return json.dumps({"word": word, "limit": limit, "exact": exact, "tags": tags})


def rates(base: str) -> dict:
    return {"base": base, "EUR": 1.0}


def boom(word: str) -> str:
    """Always fails."""
    _bump("boom")
    raise KeyError(f"no entry for {word}")


async def aboom(word: str) -> str:
    await trio.sleep(0)
    raise ValueError(f"bad {word}")


def block(note: str) -> str:
    """Blocks its thread until the test opens the gate."""
    _bump("block-started")
    STARTED.set()
    GATE.wait()
    _bump("block-ended")
    return "never seen"


async def hang(note: str) -> str:
    _bump("hang-started")
    try:
        await trio.sleep_forever()
    finally:
        _bump("hang-cancelled")


def nothing() -> None:
    _bump("nothing")


NOT_CALLABLE = 42


def star(*words: str) -> str:
    return ""


def odd(when: set[int]) -> str:
    return ""


def unhinted(word) -> str:
    return word
'''


@pytest.fixture
def tools_dir(tmp_path: Path) -> Path:
    """A plan directory with a tools module (``pt_tools``) in it."""
    folder = tmp_path / "plans"
    folder.mkdir()
    (folder / "pt_tools.py").write_text(TOOLS_MODULE)
    return folder


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """Opened at the end of the test, so a thread a blocked call holds ends."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def plain_autojump_clock() -> trio.testing.MockClock:
    """Virtual time that jumps ahead even while a worker thread runs (unlike the shared
    ``autojump_clock``): a sync tool blocked in its thread must not hold time still."""
    return trio.testing.MockClock(autojump_threshold=0)


def plan_in(folder: Path, toolbox: str, script: str, tiers: str = "") -> str:
    return (f'{{:toolbox {toolbox}\n'
            f' :tiers [{{:depth 0 :models ["scripted"] :budget {{:tool-calls 30}}}} {tiers}]\n'
            f' :task {{:task/id "root" :script {script}}}}}')


def load(folder: Path, text: str):
    return parse_plan(text, source=str(folder / "p.edn"), base_dir=folder)


def results(run_dir: Path) -> list[ev.ToolResult]:
    return [e.event for e in read_events(run_dir / "events.jsonl")
            if isinstance(e.event, ev.ToolResult)]


def calls(folder: Path, name: str) -> int:
    path = folder / f"{name}.calls"
    return len(path.read_text()) if path.exists() else 0


def test_the_schema_comes_from_the_signature_type_hints_and_docstring(tools_dir: Path) -> None:
    plan = load(tools_dir, plan_in(tools_dir, '{:lookup {:python "pt_tools:lookup"}}', "[]"))
    schema = custom_tools(plan)["lookup"].schema()["function"]
    assert schema["description"] == ("Look a word up in the dictionary.\n\n"
                                     "Finds close matches too.")
    assert schema["parameters"] == {
        "type": "object",
        "properties": {
            "word": {"type": "string", "description": "the word to find"},
            "limit": {"type": "integer", "description": "how many matches at most"},
            "exact": {"type": "boolean", "description": "exact"},
            "tags": {"type": "array", "items": {"type": "string"}, "description": "tags"},
            "extra": {"type": "object", "description": "extra"},
        },
        "required": ["word"],
        "additionalProperties": False,
    }


def test_declared_params_and_doc_replace_what_the_function_says(tools_dir: Path) -> None:
    plan = load(tools_dir, plan_in(
        tools_dir, '{:fx {:python "pt_tools:rates" :doc "Exchange rates"'
        ' :params {:base {:type :string :doc "ISO code"}}}}', "[]"))
    schema = custom_tools(plan)["fx"].schema()["function"]
    assert schema["description"] == "Exchange rates"
    assert schema["parameters"]["properties"] == {
        "base": {"type": "string", "description": "ISO code"}}
    assert schema["parameters"]["required"] == ["base"]


def test_python_tools_survive_plan_to_edn(tools_dir: Path) -> None:
    plan = load(tools_dir, plan_in(
        tools_dir, '{:lookup {:python "pt_tools:lookup" :timeout-s 20}'
        ' :fx {:python "pt_tools:rates" :doc "FX" :params {:base {:type :string}}'
        ' :required []}}', "[]"))
    again = parse_plan(plan_to_edn(plan))
    assert again == plan
    assert again.toolbox["lookup"].params is None and again.toolbox["lookup"].timeout_s == 20
    assert again.toolbox["fx"].required == ()


async def test_a_python_tool_gets_checked_arguments_and_its_result_is_logged(
        tools_dir: Path) -> None:
    script = ('[{:call :lookup :args {"word" "tree" "tags" ["a" "b"] "exact" nil}}'
              ' {:say "done"}]')
    engine = Engine(load(tools_dir, plan_in(tools_dir, '{:lookup {:python "pt_tools:lookup"}}',
                                            script)), tools_dir / "run", durability="none")
    assert await engine.run() == "done"
    [result] = results(engine.run_dir)
    assert result.ok
    assert result.output == '{"word": "tree", "limit": 3, "exact": null, "tags": ["a", "b"]}'


@pytest.mark.parametrize(("args", "message"), [
    ('{"word" 5}', "lookup: argument 'word' must be string, got int"),
    ('{"word" "x" "limit" "3"}', "lookup: argument 'limit'"),
    ('{"word" "x" "limit" 2.5}', "lookup: argument 'limit'"),
    ('{"word" "x" "tags" ["a" 1]}', "lookup: argument 'tags' must be an array of string"),
    ('{"word" "x" "extra" [1]}', "lookup: argument 'extra' must be object, got list"),
    ('{"word" "x" "__class__" 1}', "lookup: unknown argument '__class__'"),
    ('{"word" "x" "limit" 1 "self" "y"}', "lookup: unknown argument 'self'"),
    ('{"limit" 1}', "lookup: missing required argument 'word'"),
])
async def test_hostile_arguments_are_a_tool_error_and_never_reach_the_function(
        tools_dir: Path, args: str, message: str) -> None:
    script = f'[{{:call :lookup :args {args}}} {{:say "done"}}]'
    engine = Engine(load(tools_dir, plan_in(tools_dir, '{:lookup {:python "pt_tools:lookup"}}',
                                            script)), tools_dir / "run", durability="none")
    assert await engine.run() == "done"
    [result] = results(engine.run_dir)
    assert not result.ok and result.output.startswith(message), result.output
    assert calls(tools_dir, "lookup") == 0


async def test_what_a_python_tool_raises_is_a_tool_error_and_the_run_goes_on(
        tools_dir: Path) -> None:
    script = ('[{:call :boom :args {"word" "w"}} {:call :aboom :args {"word" "v"}}'
              ' {:call :nothing} {:say "done"}]')
    toolbox = ('{:boom {:python "pt_tools:boom"} :aboom {:python "pt_tools:aboom"}'
               ' :nothing {:python "pt_tools:nothing"}}')
    engine = Engine(load(tools_dir, plan_in(tools_dir, toolbox, script)), tools_dir / "run",
                    durability="none")
    assert await engine.run() == "done"
    assert [(r.tool, r.ok, r.output) for r in results(engine.run_dir)] == [
        ("boom", False, "boom: KeyError: 'no entry for w'"),
        ("aboom", False, "aboom: ValueError: bad v"),
        ("nothing", True, ""),
    ]
    assert not (engine.run_dir / "crash.log").exists()


async def test_a_sync_tool_past_its_timeout_is_abandoned_and_the_run_goes_on(
        tools_dir: Path, gate: threading.Event, plain_autojump_clock: trio.testing.MockClock
        ) -> None:
    script = ('[{:call :block :args {"note" "x"}} {:call :lookup :args {"word" "after"}}'
              ' {:say "done"}]')
    toolbox = ('{:block {:python "pt_tools:block" :timeout-s 5}'
               ' :lookup {:python "pt_tools:lookup"}}')
    plan = load(tools_dir, plan_in(tools_dir, toolbox, script))
    engine = Engine(plan, tools_dir / "run", durability="none")
    started = threading.Event()
    # the plan's module, imported from tools_dir by now
    sys.modules["pt_tools"].GATE, sys.modules["pt_tools"].STARTED = gate, started
    start = trio.current_time()
    assert await engine.run() == "done"
    blocked, after = results(engine.run_dir)
    assert not blocked.ok and blocked.output == (
        "block: timed out after 5 s; the function was abandoned (it may still be running in "
        "its thread)")
    assert blocked.duration_ms == 5000
    assert after.ok and '"word": "after"' in after.output
    assert trio.current_time() - start >= 5
    # abandoned, not killed: the function is still blocked in its thread (the clock may have
    # jumped past the timeout before the thread ran it: wait for it, 60 s of real time at most)
    assert await trio.to_thread.run_sync(started.wait, 60)
    assert calls(tools_dir, "block-started") == 1 and calls(tools_dir, "block-ended") == 0


async def test_an_async_tool_past_its_timeout_is_cancelled(
        tools_dir: Path, autojump_clock: trio.testing.MockClock) -> None:
    script = '[{:call :hang :args {"note" "x"}} {:say "done"}]'
    plan = load(tools_dir, plan_in(tools_dir, '{:hang {:python "pt_tools:hang" :timeout-s 7}}',
                                   script))
    engine = Engine(plan, tools_dir / "run", durability="none")
    assert await engine.run() == "done"
    [result] = results(engine.run_dir)
    assert not result.ok and result.output == "hang: timed out after 7 s (cancelled)"
    assert result.duration_ms == 7000
    assert calls(tools_dir, "hang-started") == 1 and calls(tools_dir, "hang-cancelled") == 1


async def test_cancelling_an_agent_cancels_its_async_tool_call(
        tools_dir: Path, autojump_clock: trio.testing.MockClock) -> None:
    script = '[{:call :hang :args {"note" "x"}} {:say "done"}]'
    plan = load(tools_dir, plan_in(tools_dir, '{:hang {:python "pt_tools:hang"}}', script))
    engine = Engine(plan, tools_dir / "run", durability="none")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await trio.testing.wait_all_tasks_blocked()
        assert calls(tools_dir, "hang-started") == 1
        assert engine.cancel("root", "enough")
    assert calls(tools_dir, "hang-cancelled") == 1
    assert engine.state.agents["root"].status == "cancelled"


def test_python_tools_narrow_by_depth_like_built_ins(tools_dir: Path) -> None:
    plan = load(tools_dir, plan_in(tools_dir, '{:lookup {:python "pt_tools:lookup"}}', "[]",
                                   tiers="{:depth 1 :tools [:finish]}"))
    root = root_policy(plan)
    assert "lookup" in root.tools
    assert "lookup" not in derive(root, plan, plan.root, 1).tools


async def test_a_child_cannot_call_a_python_tool_its_tier_does_not_give(
        tools_dir: Path) -> None:
    script = ('[{:call :spawn :args {"goal" "g" "script" [{"call" "lookup" "args" '
              '{"word" "x"}} {"say" "child done"}]}} {:call :wait :args {}} {:say "done"}]')
    plan = load(tools_dir, plan_in(tools_dir, '{:lookup {:python "pt_tools:lookup"}}', script,
                                   tiers="{:depth 1 :tools [:finish]}"))
    engine = Engine(plan, tools_dir / "run", durability="none")
    assert await engine.run() == "done"
    [child_call] = [r for r in results(engine.run_dir) if r.tool == "lookup"]
    assert not child_call.ok and "not available" in child_call.output
    assert calls(tools_dir, "lookup") == 0


@pytest.mark.parametrize(("entry", "message"), [
    ('{:python "pt_tools"}', ':python must be "module:function"'),
    ('{:python "pt_tools:look up"}', ':python must be "module:function"'),
    ('{:python 42}', ':python must be "module:function"'),
    ('{:python "no_such_module_here:f"}', "module 'no_such_module_here' not found (looked in"),
    ('{:python "pt_tools:missing"}', "module 'pt_tools' has no 'missing'"),
    ('{:python "pt_tools:NOT_CALLABLE"}', "pt_tools:NOT_CALLABLE is a int, not a function"),
    ('{:python "pt_tools:star"}', "only named parameters can be tool arguments"),
    ('{:python "pt_tools:odd"}', "parameter 'when': unsupported type hint set[int]"),
    ('{:python "pt_tools:unhinted"}', "parameter 'word' has no type hint"),
    ('{:python "pt_tools:rates" :params {:currency {:type :string}}}',
     "cannot take the declared :params"),
    ('{:python "pt_tools:rates" :required [:base]}', ":required goes with :params"),
    ('{:python "pt_tools:rates" :sh "true"}', "got both :sh and :python"),
])
def test_plan_check_names_file_line_and_key_of_a_bad_python_tool(
        tools_dir: Path, capsys: pytest.CaptureFixture[str], entry: str, message: str) -> None:
    path = tools_dir / "bad.edn"
    path.write_text(textwrap.dedent(f"""\
        {{:run/name "bad"
         :toolbox
         {{:ok {{:python "pt_tools:rates"}}
          :t {entry}}}
         :task {{:task/id "r"}}}}
        """))
    assert main(["plan", "check", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"agenttree: error: {path}:4: :"), err
    assert message in err and "\n" not in err, err


def test_a_module_that_fails_to_import_is_a_plan_error_not_a_traceback(
        tools_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tools_dir / "broken_tools.py").write_text("import no_such_dependency_xyz\n")
    (tools_dir / "syntax_tools.py").write_text("def f(:\n")
    for module, why in (("broken_tools", "No module named 'no_such_dependency_xyz'"),
                        ("syntax_tools", "SyntaxError")):
        path = tools_dir / f"{module}.edn"
        path.write_text(f'{{:toolbox {{:t {{:python "{module}:f"}}}}\n :task {{:task/id "r"}}}}')
        assert main(["plan", "check", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{path}:1: :python: tool :t: module '{module}' failed to import" in err
        assert why in err and "Traceback" not in err


def test_a_bad_python_tool_stops_run_before_anything_starts(
        tools_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tools_dir / "bad.edn"
    path.write_text('{:toolbox {:t {:python "pt_tools:odd"}}\n :task {:task/id "r"}}')
    run_dir = tools_dir / "run"
    assert main(["run", str(path), "--run-dir", str(run_dir)]) == 2
    assert "unsupported type hint" in capsys.readouterr().err
    assert not run_dir.exists()


def test_two_plans_may_each_have_a_module_of_the_same_name(tmp_path: Path) -> None:
    plans = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "same_name_tools.py").write_text(f"def who() -> str:\n    return {name!r}\n")
        plans.append(load(folder, plan_in(folder, '{:who {:python "same_name_tools:who"}}',
                                          "[]")))
    outputs = [trio.run(custom_tools(p)["who"].run, None, {}) for p in plans]
    assert outputs == ["a", "b"]


def test_importing_a_tool_leaves_the_import_path_as_it_was(tools_dir: Path) -> None:
    before = list(sys.path)
    custom_tools(load(tools_dir, plan_in(tools_dir, '{:lookup {:python "pt_tools:lookup"}}',
                                         "[]")))
    assert sys.path == before
