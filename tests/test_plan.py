"""Plans: parsing into records, every validation error (message, line, key), EDN round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttree.budget import Budget
from agenttree.errors import PlanError
from agenttree.plan import (
    DEFAULT_BUDGET,
    RUN_NAME,
    Acceptance,
    ModelSettings,
    Plan,
    Provider,
    Task,
    Tier,
    load_plan,
    parse_plan,
    plan_to_edn,
)

DESIGN_EXAMPLE = """\
{:run/name "web-chat"
 :models {:large ["gpt-5.2" "qwen3:70b"] :mid ["qwen3:32b"] :small ["qwen3:14b"]}
 :tiers [{:depth 0 :models :large :tools :all
          :budget {:tool-calls 200 :wall-s 3600 :tokens 2000000 :retries 3}}
         {:depth 1 :models :mid :tools [:read-file :write-file :sh :message]}
         {:depth 2 :models :small :tools [:read-file :message]}]
 :talk #{:parent :children}
 :task {:task/id "root"
        :goal "create and integrate a full stack web chat"
        :children [{:task/id "frontend" :goal "frontend websocket chat UI" :cwd "frontend"
                    :acceptance [(sh "npm test") (sh "npm run typecheck")]}
                   {:task/id "backend" :goal "websocket chat server" :cwd "backend"
                    :acceptance [(sh "python -m pytest")]}]}}
"""


def test_design_example_parses_into_records() -> None:
    plan = parse_plan(DESIGN_EXAMPLE, source="web.edn")
    assert plan.name == "web-chat"
    assert list(plan.models) == ["large", "mid", "small"]
    assert plan.tiers[0] == Tier(
        depth=0, models=("gpt-5.2", "qwen3:70b", "qwen3:32b", "qwen3:14b"), tools=None,
        budget=Budget(tool_calls=200, wall_s=3600, tokens=2_000_000, retries=3))
    assert plan.tiers[1].models == ("qwen3:32b", "qwen3:14b")
    assert plan.tiers[2].tools == ("read-file", "message")
    assert plan.talk == frozenset({"parent", "children"})
    frontend = plan.root.children[0]
    assert frontend == Task(id="frontend", goal="frontend websocket chat UI", cwd="frontend",
                            acceptance=(Acceptance(cmd="npm test"),
                                        Acceptance(cmd="npm run typecheck")))
    assert frontend.line == 10
    assert [(t.id, d) for t, _, d in plan.walk()] == [("root", 0), ("frontend", 1),
                                                       ("backend", 1)]
    assert plan.tier_for(7).depth == 2


def test_bare_task_map_is_a_plan_with_defaults() -> None:
    plan = parse_plan('{:task/id "solo" :goal "g"}', source="solo.edn")
    assert plan.name == "solo"
    assert plan.root == Task(id="solo", goal="g")
    assert plan.tiers == (Tier(depth=0, models=("scripted",), tools=None,
                               budget=DEFAULT_BUDGET),)
    assert plan.sandbox == "auto" and plan.locks.mode == "advisory"


def test_script_is_normalised_to_plain_data() -> None:
    plan = parse_plan("""{:task/id "r" :script [{:call :write-file :args {:path "a" :n 1}}
        {:calls [{:call :sh :args {:cmd "ls"}} {:call :message :args {:to :parent :text "t"}}]
         :say "both" :delay-ms 5 :tokens 9}
        {:say "done"}]}""")
    assert plan.root.script == (
        {"calls": [{"tool": "write-file", "args": {"path": "a", "n": 1}}], "say": None,
         "delay_ms": 0, "tokens": None},
        {"calls": [{"tool": "sh", "args": {"cmd": "ls"}},
                   {"tool": "message", "args": {"to": "parent", "text": "t"}}],
         "say": "both", "delay_ms": 5, "tokens": 9},
        {"calls": [], "say": "done", "delay_ms": 0, "tokens": None},
    )


@pytest.mark.parametrize("cwd,norm", [("a/./b/", "a/b"), ("", "."), ("a/../b", "b"),
                                      ("./x", "x")])
def test_cwd_is_normalised(cwd: str, norm: str) -> None:
    assert parse_plan(f'{{:task/id "r" :cwd "{cwd}"}}').root.cwd == norm


def _error(text: str) -> PlanError:
    with pytest.raises(PlanError) as info:
        parse_plan(text, source="p.edn")
    return info.value


@pytest.mark.parametrize("text,line,key,fragment", [
    ('{:task/id "r"\n :gaol "x"}', 2, ":gaol", "unknown key in task \"r\" (did you mean :goal?)"),
    ('{:task {:task/id "r"}\n :tierz []}', 2, ":tierz", "did you mean :tiers?"),
    ('{:task/id "r"\n :goal 42}', 2, ":goal", "expected a string, got number 42"),
    ('{:task/id "r" :children [{:task/id "a"}\n {:task/id "a"}]}', 2, ":task/id",
     'duplicate task id "a" (first at line 1)'),
    ('{:task/id "a.b"}', 1, ":task/id", "is not a task id"),
    ('{:task/id "r"\n :cwd "../up"}', 2, ":cwd", '"../up" leaves the workspace'),
    ('{:task/id "r" :cwd "a/../../x"}', 1, ":cwd", "leaves the workspace"),
    ('{:task/id "r" :cwd "/etc"}', 1, ":cwd", "is absolute"),
    ('{:task/id "r"\n :acceptance ["npm test"]}', 2, ":acceptance",
     'each check must be (sh "command")'),
    ('{:task/id "r"\n :acceptance [(sh 1)]}', 2, ":acceptance", "each check must be"),
    ('{:task/id "r" :script [{:call :shh}]}', 1, ":call", "unknown tool :shh (did you mean :sh?)"),
    ('{:task/id "r" :script [{:call :sh :args "ls"}]}', 1, ":args", "expected a map"),
    ('{:task/id "r" :script [{:delay-ms 3}]}', 1, ":script", "needs :say or :call"),
    ('{:task/id "r"\n :budget {:tool-calls -1}}', 2, ":tool-calls", "must not be negative"),
    ('{:task/id "r" :budget {:tool-calls 1.5}}', 1, ":tool-calls", "expected a whole number"),
    ('{:task/id "r" :budget {:tokenz 1}}', 1, ":tokenz", "did you mean :tokens?"),
    ('{:task/id "r" :tools [:sh :teleport]}', 1, ":tools", "unknown tool :teleport"),
    ('{:goal "x"}', 1, ":goal", "unknown key in the plan"),
    ('{:run/name "x"}', 1, None, "a plan needs :task"),
    ('[1 2]', 1, None, "a plan must be a map, got a vector"),
    ('{:task {:goal "no id"}}', 1, ":task", "a task without :task/id"),
    ('{:task/id "r" :model 5}', 1, ":model", "expected a model name string"),
    ('{:talk #{:everyone} :task {:task/id "r"}}', 1, ":talk", "is not one of :parent"),
    ('{:sandbox :maybe :task {:task/id "r"}}', 1, ":sandbox", "must be one of :auto :required"),
    ('{:models {:big ["b"] :small ["s"]}\n :tiers [{:depth 0 :models :small}\n'
     '  {:depth 1 :models :big}]\n :task {:task/id "r"}}', 3, ":models",
     'tier depth 1 asks for model "b" that tier depth 0 lacks'),
    ('{:tiers [{:depth 0 :tools [:sh]} {:depth 1 :tools [:sh :message]}]\n'
     ' :task {:task/id "r"}}', 1, ":tools", "tier depth 1 asks for tool :message"),
    ('{:tiers [{:depth 1}] :task {:task/id "r"}}', 1, ":depth", "start at 0"),
    ('{:tiers [{:depth 0 :models :huge}] :models {:big ["b"]} :task {:task/id "r"}}', 1,
     ":models", "no model class :huge"),
    ('{:models {:big ["b"] :small ["s"]} :tiers [{:depth 0 :models :big}\n'
     ' {:depth 1 :models :small}]\n :task {:task/id "r" :children [{:task/id "c"\n'
     ' :model "b"}]}}', 4, ":model", 'model "b" is not allowed at depth 1; allowed: s'),
    ('{:run/name "/tmp/evil" :task {:task/id "r"}}', 1, ":run/name",
     'string "/tmp/evil" cannot name a run directory'),
    ('{:run/name "../../etc" :task {:task/id "r"}}', 1, ":run/name", "cannot name a run"),
    ('{:run/name ".hidden" :task {:task/id "r"}}', 1, ":run/name", "cannot name a run"),
    ('{:task/id "r"\n :goal "a"\n :goal "b"}', 3, None,
     "duplicate key in a map: :goal (first at line 2)"),
    ('{:talk #{:parent\n :parent} :task {:task/id "r"}}', 2, None,
     "duplicate element in a set: :parent (first at line 1)"),
    ('{:task/id "r"}\n{:task/id "s"}', 2, None,
     "a second form after the first: a file holds one EDN value"),
    ("[" * 500 + "]" * 500, 1, None, "nested deeper than 128 levels"),
    ('{:task/id "r" :children [' + "".join(f'{{:task/id "t{i}" :children [' for i in range(51))
     + "]}" * 51 + "]}",
     1, ":children", 'task "t50" is at depth 51; tasks nest at most 50 deep'),
    ('{:task/id "r"\n :tool-choice :sometimes}', 2, ":tool-choice",
     "must be :auto, :required, :none or a tool keyword"),
    ('{:task/id "r" :tool-choice "auto"}', 1, ":tool-choice", 'got string "auto"'),
    ('{:task/id "r" :tool-choice :writefile}', 1, ":tool-choice", "did you mean :write-file?"),
    ('{:task/id "r" :tools [:sh]\n :tool-choice :write-file}', 2, ":tool-choice",
     'tool :write-file is not among task "r"\'s tools'),
    ('{:tiers [{:depth 0 :tools [:sh] :tool-choice :finish}] :task {:task/id "r"}}', 1,
     ":tool-choice", "tool :finish is not among tier depth 0's tools"),
    ('{:tiers [{:depth 0 :tool-choice :finish}]\n :task {:task/id "r" :tools [:sh]}}', 2,
     ":tool-choice", 'tool :finish is not among task "r"\'s tools'),
    ('{:model-settings {"m" {:temperature 3}}\n :task {:task/id "r"}}', 1, ":temperature",
     "must be at most 2, got 3"),
    ('{:task {:task/id "r"}\n :model-settings {"m" {:top-p -0.5}}}', 2, ":top-p",
     "must not be negative, got -0.5"),
    ('{:task/id "r"\n :model-settings {"m" {:max-output-tokens 0}}}', 2, ":max-output-tokens",
     "must be at least 1, got 0"),
    ('{:task/id "r" :model-settings {"m" {:max-output-tokens 1.5}}}', 1, ":max-output-tokens",
     "expected a whole number, got 1.5"),
    ('{:task/id "r" :model-settings {"m" {:seed true}}}', 1, ":seed",
     "expected a whole number, got true"),
    ('{:task/id "r" :model-settings {"m" {:temprature 1}}}', 1, ":temprature",
     "did you mean :temperature?"),
    ('{:task/id "r" :model-settings {:m {:seed 1}}}', 1, ":model-settings",
     "expected model specs as strings, got keyword :m"),
    ('{:task/id "r" :model-settings [1]}', 1, ":model-settings", "expected a map like"),
    ('{:tiers [{:depth 0\n :model-settings {"m" {:temperature "hot"}}}] :task {:task/id "r"}}', 2,
     ":temperature", "expected a number, got string 'hot'"),
    ('{:providers {"openai" {:stream "no"}}\n :task {:task/id "r"}}', 1, ":stream",
     'expected true or false, got string "no"'),
    ('{:providers {"openai" {:max-tokens-param "max_output"}} :task {:task/id "r"}}', 1,
     ":max-tokens-param", 'must be "max_tokens" or "max_completion_tokens"'),
    ('{:task/id "r"\n :system-prompt 42}', 2, ":system-prompt",
     "expected a string of instructions, got number 42"),
    ('{:task/id "r" :system-prompt :be-nice}', 1, ":system-prompt", "got keyword :be-nice"),
    ('{:task/id "r" :system-prompt ""}', 1, ":system-prompt", "is blank; leave it out instead"),
    ('{:task/id "r" :system-prompt " \\n "}', 1, ":system-prompt", "is blank"),
    ('{:task/id "r" :system-prompt "a\\u0000b"}', 1, ":system-prompt",
     "contains a NUL character"),
    ('{:task/id "r" :system-prompt "' + "x" * 100_001 + '"}', 1, ":system-prompt",
     "has 100,001 characters; at most 100,000 are allowed"),
    ('{:tiers [{:depth 0\n :system-prompt ["be" "nice"]}] :task {:task/id "r"}}', 2,
     ":system-prompt", "expected a string of instructions, got a vector"),
    ('{:tiers [{:depth 0 :system-prompt "  "}] :task {:task/id "r"}}', 1, ":system-prompt",
     "is blank"),
    ('{:task/id "r" :system-promt "x"}', 1, ":system-promt", "did you mean :system-prompt?"),
    ('{:task/id "r"\n :model-settings {"m" {:context-tokens 0}}}', 2, ":context-tokens",
     "must be at least 1, got 0"),
    ('{:task/id "r" :model-settings {"m" {:context-tokens 8000.5}}}', 1, ":context-tokens",
     "expected a whole number, got 8000.5"),
    ('{:task/id "r" :model-settings {"m" {:context-tokens "8k"}}}', 1, ":context-tokens",
     "expected a whole number"),
    ('{:task/id "r" :model-settings {"m" {:tool-output-chars -5}}}', 1, ":tool-output-chars",
     "must be at least 1, got -5"),
    ('{:task/id "r" :model-settings {"m" {:context-tokenz 9}}}', 1, ":context-tokenz",
     "did you mean :context-tokens?"),
    ('{:task/id "r" :model-settings {"m" {:context-tokens 4000\n :max-output-tokens 4000}}}', 1,
     ":context-tokens", "4000 leaves no room for the prompt: :max-output-tokens 4000"),
])
def test_validation_errors_name_line_and_key(text: str, line: int, key: str | None,
                                             fragment: str) -> None:
    error = _error(text)
    assert fragment in error.message
    assert error.line == line
    assert error.key == key
    assert str(error).startswith(f"p.edn:{line}: ")
    assert "\n" not in str(error)


@pytest.mark.parametrize("text,fragment", [
    ('{:task/id "r"', "the file ends inside an unclosed"),
    ('{:task/id "r" :goal}', "Even number of terms"),
    ('{:task/id "r"}\n)', "unexpected ')'"),
    ('{:task/id "r" :goal #foo 1}', "not valid EDN"),
    ('{:task/id "r" :goal 0/0}', "not valid EDN: ZeroDivisionError"),
])
def test_edn_syntax_errors(text: str, fragment: str) -> None:
    error = _error(text)
    assert "EDN" in str(error) and fragment in str(error)


def test_missing_file_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="no such file"):
        load_plan(tmp_path / "nope.edn")


def test_comments_do_not_mislead_the_locator() -> None:
    error = _error('{:task/id "r" ; :gaol is mentioned here\n :goal "x"\n :gaol 1}')
    assert error.line == 3


def test_task_lines_count_what_splitlines_cuts_at_and_skip_comments() -> None:
    # The task index searches the comment-stripped lines joined by "\n" at once: line breaks
    # inside strings (form feed, CR, U+2028) still count, as they did line by line.
    error = _error('{:task/id "r"\n :children [; {:task/id "a"}\n {:task/id "a" :goal "x\x0cy\r\n'
                   'z"} {:task/id "b" :goal "g"}\n {:task/id "a"}]}')
    assert str(error) == 'p.edn:6: :task/id: duplicate task id "a" (first at line 3)'
    plan = parse_plan('{:task/id "r"\n :children [; {:task/id "x"}\n {:task/id "a" :goal "two'
                      '\x0clines\u2028"} {:task/id\t"b"}\n\n {:task/id :c} {:task/id "d" :goal '
                      '":task/id \\"e\\""}\n{:task/id "e"}]}')
    assert [(task.id, task.line) for task, _, _ in plan.walk()] == [
        ("r", 1), ("a", 3), ("b", 5), ("c", 7), ("d", 7), ("e", 8)]


def test_a_value_repeated_across_tasks_is_checked_once_and_read_alike() -> None:
    # The reader gives a repeated value as one object and the validator checks it once.
    script = '[{:calls [{:call :sh :args {:cmd "ls" :n [1 2.5]}}]} {:say "ok"}]'
    plan = parse_plan(f'{{:task/id "r" :script {script} :budget {{:tokens 9}} :children '
                      f'[{{:task/id "a" :script {script} :budget {{:tokens 9}}}} '
                      f'{{:task/id "b" :script {script.replace("2.5", "2")} :cwd "x/../y"}}]}}')
    root, (a, b) = plan.root, plan.root.children
    assert root.script == a.script == ({"calls": [{"tool": "sh", "args": {
        "cmd": "ls", "n": [1, 2.5]}}], "say": None, "delay_ms": 0, "tokens": None},
        {"calls": [], "say": "ok", "delay_ms": 0, "tokens": None})
    assert b.script[0]["calls"][0]["args"]["n"] == [1, 2]
    assert type(b.script[0]["calls"][0]["args"]["n"][1]) is int  # not the 2.5 read before
    assert root.budget == a.budget == Budget(tokens=9) and b.budget is None
    assert (root.cwd, a.cwd, b.cwd) == (".", ".", "y")
    error = _error('{:task/id "r"\n :children [{:task/id "a"\n :budget {:tokens -1}}\n'
                   ' {:task/id "b"\n :budget {:tokens -1}}]}')
    assert (error.line, error.key) == (3, ":tokens")


def test_demo_and_example_plans_validate() -> None:
    for path in sorted(Path(__file__).parent.parent.joinpath("plans").glob("*.edn")):
        load_plan(path)


_ids = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
_budgets = st.none() | st.builds(Budget, tool_calls=st.none() | st.integers(0, 999),
                                 wall_s=st.none() | st.floats(0, 1e4, allow_nan=False),
                                 tokens=st.none() | st.integers(0, 10**7))
_settings = st.builds(
    ModelSettings, max_output_tokens=st.none() | st.integers(1, 10**6),
    temperature=st.none() | st.floats(0, 2), top_p=st.none() | st.floats(0, 1),
    seed=st.none() | st.integers(-(2**53 - 1), 2**53 - 1),
    context_tokens=st.none() | st.integers(1, 10**7),
    tool_output_chars=st.none() | st.integers(1, 10**7)).filter(
        lambda s: None in (s.context_tokens, s.max_output_tokens)
        or s.max_output_tokens < s.context_tokens)
_settings_tables = st.dictionaries(st.sampled_from(["scripted", "openai:gpt-5.2", "m@x"]),
                                   _settings, max_size=2)
_choices = st.none() | st.sampled_from(["auto", "required", "none"])
_prompts = st.none() | _text.filter(lambda t: t.strip() and "\x00" not in t)
_args = st.dictionaries(st.from_regex(r"[a-z][a-z-]{0,5}", fullmatch=True),
                        st.none() | st.integers(-5, 5) | _text | st.booleans(), max_size=3)
_turns = st.builds(
    lambda calls, say, delay: {"calls": calls, "say": say if (say or not calls) else None,
                               "delay_ms": delay, "tokens": None},
    st.lists(st.builds(lambda t, a: {"tool": t, "args": a},
                       st.sampled_from(["sh", "message", "write-file"]), _args), max_size=2),
    _text.filter(bool), st.integers(0, 50))


_approvals = st.lists(st.sampled_from(["sh", "write-file", "calc/*", "calc/add", "*-file",
                                       "docs/search"]), max_size=3, unique=True).map(tuple)


@st.composite
def _tasks(draw, ids: set[str], depth: int = 0) -> Task:
    task_id = draw(_ids.filter(lambda i: i not in ids))
    ids.add(task_id)
    children = ()
    if depth < 2:
        n = draw(st.integers(0, 2))
        children = tuple(draw(_tasks(ids, depth + 1)) for _ in range(n))
    return Task(id=task_id, goal=draw(_text), cwd=draw(st.sampled_from([".", "a", "a/b"])),
                acceptance=tuple(Acceptance(cmd=c) for c in draw(st.lists(_text, max_size=2))),
                children=children, budget=draw(_budgets),
                script=draw(st.none() | st.lists(_turns, max_size=2).map(tuple)),
                watchdog_s=draw(st.none() | st.floats(0.001, 1e5)),
                model_settings=draw(_settings_tables), tool_choice=draw(_choices),
                system_prompt=draw(_prompts), approve=draw(_approvals),
                approve_timeout_s=draw(st.none() | st.floats(0.001, 1e5)))


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_plan_to_edn_round_trips(data) -> None:
    root = data.draw(_tasks(set()))
    plan = Plan(name=data.draw(st.from_regex(RUN_NAME)),
                tiers=(Tier(depth=0, models=("scripted",), budget=DEFAULT_BUDGET,
                            model_settings=data.draw(_settings_tables),
                            tool_choice=data.draw(_choices),
                            system_prompt=data.draw(_prompts), approve=data.draw(_approvals),
                            approve_timeout_s=data.draw(st.none() | st.floats(0.001, 1e5))),),
                talk=data.draw(st.sets(st.sampled_from(["parent", "children", "siblings"]))
                               .map(frozenset)),
                model_settings=data.draw(_settings_tables), root=root)
    assert parse_plan(plan_to_edn(plan)) == plan


def test_approvals_per_tier_and_task_survive_export() -> None:
    plan = parse_plan('{:tiers [{:depth 0 :models ["scripted"] :approve [:sh :calc/*]'
                      ' :approve-timeout-s 60} {:depth 1 :approve-timeout-s 5}]'
                      ' :task {:task/id "r" :children [{:task/id "a" :approve [:write-file]'
                      ' :approve-timeout-s 2.5} {:task/id "b"}]}}')
    a, b = plan.root.children
    assert plan.tiers[0].approve == ("sh", "calc/*") and a.approve == ("write-file",)
    assert [plan.approve_timeout_s(t, d) for t, d in ((plan.root, 0), (a, 1), (b, 1))] == \
        [60.0, 2.5, 5.0]
    exported = plan_to_edn(plan)
    assert ":approve [:sh :calc/*]" in exported and ":approve-timeout-s 2.5" in exported
    assert parse_plan(exported) == plan


@pytest.mark.parametrize("text,line,fragment", [
    ('{:task/id "r"\n :approve [:shh]}', 2, "unknown tool :shh (did you mean :sh?)"),
    ('{:task/id "r" :approve :sh}', 1, "expected a vector of tool keywords or patterns"),
    ('{:task/id "r" :approve ["sh"]}', 1, 'expected a tool keyword or pattern like :sh or '
     ':calc/*, got string "sh"'),
    ('{:task/id "r" :approve [:zz*]}', 1, ":zz* matches no tool"),
    ('{:task/id "r" :approve [:a$b]}', 1, ":a$b is not a tool name or pattern"),
    ('{:tiers [{:depth 0\n :approve [:teleport]}] :task {:task/id "r"}}', 2,
     "unknown tool :teleport"),
])
def test_approve_patterns_are_checked(text: str, line: int, fragment: str) -> None:
    error = _error(text)
    assert (error.line, error.key) == (line, ":approve") and fragment in str(error), str(error)


@pytest.mark.parametrize("text", ['{:task {:task/id "r" :approve-timeout-s 0}}',
                                  '{:task {:task/id "r" :approve-timeout-s "soon"}}',
                                  '{:tiers [{:depth 0 :approve-timeout-s -1}]'
                                  ' :task {:task/id "r"}}'])
def test_an_approval_timeout_must_be_a_positive_number(text: str) -> None:
    assert _error(text).key == ":approve-timeout-s"


def test_watchdog_interval_per_tier_and_task_survives_export() -> None:
    plan = parse_plan('{:tiers [{:depth 0 :models ["scripted"]} {:depth 1 :watchdog-s 5}]'
                      ' :task {:task/id "r" :children [{:task/id "a" :watchdog-s 2.5}'
                      ' {:task/id "b"}]}}')
    a, b = plan.root.children
    assert (plan.tiers[1].watchdog_s, a.watchdog_s, b.watchdog_s) == (5.0, 2.5, None)
    assert [plan.watchdog_s(t, d) for t, d in ((plan.root, 0), (a, 1), (b, 1))] == \
        [30.0, 2.5, 5.0]
    exported = plan_to_edn(plan)
    assert ":watchdog-s 5.0" in exported and ":watchdog-s 2.5" in exported
    assert parse_plan(exported) == plan


@pytest.mark.parametrize("text", [
    '{:task {:task/id "r" :watchdog-s 0}}',
    '{:task {:task/id "r" :watchdog-s -3}}',
    '{:tiers [{:depth 0 :models ["scripted"] :watchdog-s 0.0}] :task {:task/id "r"}}',
])
def test_a_watchdog_interval_must_be_positive(text: str) -> None:
    error = _error(text)
    assert error.key == ":watchdog-s"
    assert "must be positive" in str(error) or "must not be negative" in str(error)


@pytest.mark.parametrize("text", ['{:task {:task/id "r" :watchdog-s "often"}}',
                                  '{:task {:task/id "r" :watchdog-s true}}'])
def test_a_watchdog_interval_must_be_a_number(text: str) -> None:
    error = _error(text)
    assert error.key == ":watchdog-s" and "expected a number" in str(error)


def test_lock_policy_keyword_or_map() -> None:
    assert parse_plan('{:locks :required :task {:task/id "r"}}').locks.mode == "required"
    plan = parse_plan('{:locks {:mode :required :ttl-ms 500 :escalate-after-ms 0}'
                      ' :task {:task/id "r"}}')
    assert (plan.locks.mode, plan.locks.ttl_ms, plan.locks.escalate_after_ms) == \
        ("required", 500, 0)
    assert parse_plan(plan_to_edn(plan)) == plan


@pytest.mark.parametrize("text,fragment", [
    ('{:locks {:ttl-ms 0} :task {:task/id "r"}}', "must be positive"),
    ('{:locks {:ttl-ms 9000 :max-ttl-ms 10} :task {:task/id "r"}}', "exceeds max-ttl-ms"),
    ('{:locks {:tll-ms 5} :task {:task/id "r"}}', "did you mean :ttl-ms?"),
    ('{:locks :sometimes :task {:task/id "r"}}', "must be one of :advisory :required"),
])
def test_lock_policy_errors(text: str, fragment: str) -> None:
    assert fragment in str(_error(text))


def test_providers_and_prices() -> None:
    plan = parse_plan('{:providers {"http://127.0.0.1:8000/v1" {:api-key-env "VLLM_KEY"'
                      ' :concurrency 4 :requests-per-minute 600}}'
                      ' :prices {"gpt-5.2" {:prompt 1.25 :completion 10}}'
                      ' :task {:task/id "r"}}')
    local = plan.providers["http://127.0.0.1:8000/v1"]
    assert (local.api_key_env, local.concurrency, local.requests_per_minute) == \
        ("VLLM_KEY", 4, 600)
    assert (plan.prices["gpt-5.2"].prompt, plan.prices["gpt-5.2"].completion) == (1.25, 10.0)
    assert parse_plan(plan_to_edn(plan)) == plan
    assert "must be at least 1" in str(_error(
        '{:providers {"openai" {:concurrency 0}} :task {:task/id "r"}}'))
    assert "did you mean :api-key-env?" in str(_error(
        '{:providers {"openai" {:api-key "X"}} :task {:task/id "r"}}'))
    assert "must not be negative" in str(_error(
        '{:prices {"m" {:prompt -1}} :task {:task/id "r"}}'))


def test_a_plan_without_a_name_is_named_after_its_file_fit_for_a_directory(
        tmp_path: Path) -> None:
    path = tmp_path / "..my plan (v2)!.edn"
    path.write_text('{:task/id "r"}')
    plan = load_plan(path)
    assert plan.name == "my-plan--v2--"
    assert parse_plan(plan_to_edn(plan)) == plan


def test_a_run_name_cannot_put_the_run_directory_elsewhere(tmp_path: Path, monkeypatch,
                                                           capsys) -> None:
    from agenttree.cli import main

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "p.edn").write_text('{:run/name "../escaped" :task {:task/id "r"}}')
    assert main(["run", "p.edn", "--quiet"]) == 2
    assert "cannot name a run directory" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == [work] and not (work / "runs").exists()


def test_plan_check_of_a_deeply_nested_plan_is_one_line(tmp_path: Path, capsys) -> None:
    from agenttree.cli import main

    path = tmp_path / "deep.edn"
    path.write_text('{:task/id "r" :children [' + "".join(
        f'{{:task/id "t{i}" :children [' for i in range(500)) + "]}" * 500 + "]}")
    assert main(["plan", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nested deeper than 128 levels" in err


def test_model_settings_tool_choice_and_provider_settings_parse_and_round_trip() -> None:
    plan = parse_plan("""
{:model-settings {"openai:gpt-5.2" {:max-output-tokens 8000 :temperature 0.2 :top-p 1 :seed 7}}
 :providers {"http://127.0.0.1:8080/v1" {:stream false :max-tokens-param "max_tokens"}
             "openai" {:max-tokens-param "max_completion_tokens"}}
 :tiers [{:depth 0 :tool-choice :required :model-settings {"scripted" {:seed 1}}}]
 :task {:task/id "r" :tools [:write-file :finish] :tool-choice :write-file
        :model-settings {"openai:gpt-5.2" {:temperature 0}}}}
""", source="p.edn")
    assert plan.model_settings == {"openai:gpt-5.2": ModelSettings(
        max_output_tokens=8000, temperature=0.2, top_p=1.0, seed=7)}
    assert plan.providers["http://127.0.0.1:8080/v1"] == Provider(stream=False,
                                                                  max_tokens_param="max_tokens")
    assert plan.providers["openai"].max_tokens_param == "max_completion_tokens"
    assert (plan.tiers[0].tool_choice, plan.tiers[0].model_settings) == \
        ("required", {"scripted": ModelSettings(seed=1)})
    assert (plan.root.tool_choice, plan.root.model_settings) == \
        ("write-file", {"openai:gpt-5.2": ModelSettings(temperature=0.0)})
    assert parse_plan(plan_to_edn(plan)) == plan


def test_settings_update_only_what_they_give() -> None:
    base = ModelSettings(max_output_tokens=100, temperature=0.5)
    assert base.updated(ModelSettings(temperature=0.0, seed=3)) == ModelSettings(
        max_output_tokens=100, temperature=0.0, seed=3)
    assert base.updated(None) == base
