"""The system prompt: the built-in protocol, then every rule an ancestor imposed, by depth."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.plan import parse_plan
from agenttree.prompt import PROTOCOL, imposed, protocol_text, system_prompt

from .runtime.test_engine import events_of, make_engine

DOCS = Path(__file__).resolve().parent.parent / "docs" / "models.md"

TREE = """
{:tiers [{:depth 0 :models ["scripted"] :system-prompt "T0: answer in English."}
         {:depth 1 :models ["scripted"] :system-prompt "T1: keep notes in NOTES.md."}]
 :task {:task/id "root" :system-prompt "R: never delete files."
        :script [{:say "root done"}]
        :children [{:task/id "a" :system-prompt "A: write Python 3.11."
                    :script [{:call :spawn :args {:goal "test it" :system_prompt "S: use pytest."
                                                  :script [{:say "tested"}]}}
                             {:call :wait :args {}}
                             {:say "a done"}]}
                   {:task/id "b" :script [{:say "b done"}]}]}}
"""


def prompts(engine) -> dict[str, str]:
    return {r.agent: r.system_prompt for r in events_of(engine, ev.ModelRequested)
            if r.system_prompt is not None}


def rules(prompt: str) -> list[str]:
    """The imposed rules of a prompt, in order (their first words)."""
    return [line.split(":")[0] for line in prompt.splitlines()
            if line[:2] in ("T0", "T1", "R:", "A:", "S:")]


async def test_every_ancestors_rules_reach_every_descendant_in_order(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, TREE)
    assert await engine.run() == "done"
    got = prompts(engine)
    assert set(got) == {"root", "root.a", "root.b", "root.a.1"}
    assert rules(got["root"]) == ["T0", "R"]
    assert rules(got["root.a"]) == ["T0", "R", "T1", "A"]
    assert rules(got["root.b"]) == ["T0", "R", "T1"]  # a sibling's rules are not its own
    # depth 2 has no tier of its own: tier 1 covers it, and is not repeated
    assert rules(got["root.a.1"]) == ["T0", "R", "T1", "A", "S"]
    assert "Rules from task root, for you and every agent below you:\nR: never delete files." \
        in got["root.a.1"]
    assert "Rules from the plan's tier for depth 1" in got["root.a.1"]
    # only the first request of an agent carries it
    requests = [r for r in events_of(engine, ev.ModelRequested) if r.agent == "root.a"]
    assert requests[0].system_prompt is not None
    assert all(r.system_prompt is None for r in requests[1:])


async def test_the_protocol_lines_follow_where_the_agent_stands(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, TREE)
    await engine.run()
    got = prompts(engine)
    root, leaf = got["root"], got["root.a.1"]
    assert root.startswith("You are agent root in a tree of AI agents")
    assert "You are the root agent" in root and "Your parent agent" not in root
    assert "Your parent agent, root.a, gave you this task" in leaf
    assert "report-state" in leaf and "report-state" not in root  # no parent to report to
    assert "call finish with a short summary" in root
    sent = {r.agent: set(r.tools) for r in events_of(engine, ev.ModelRequested)}
    assert "report-state" not in sent["root"] and "report-state" in sent["root.a.1"]
    assert "read-output" not in sent["root"]  # nothing saved yet


def test_a_task_without_finish_is_told_to_answer_without_a_tool_call() -> None:
    plan = parse_plan('{:task/id "r" :tools [:sh] :acceptance [(sh "make check")]}')
    text = system_prompt(agent="r", parent=None, task=plan.root, tools=["sh"],
                         parts=imposed((), plan, plan.root, 0))
    assert "answer without a tool call" in text and "call finish" not in text
    assert "these commands succeed in .: make check" in text
    assert "spawn" not in text and "lock" not in text


def test_imposed_parts_only_grow() -> None:
    plan = parse_plan('{:tiers [{:depth 0 :system-prompt "zero"} {:depth 2 :system-prompt '
                      '"two"}] :task {:task/id "r" :system-prompt "root" :children '
                      '[{:task/id "c" :children [{:task/id "g" :system-prompt "grand"}]}]}}')
    root = imposed((), plan, plan.root, 0)
    child = imposed(root, plan, plan.root.children[0], 1)
    grand = imposed(child, plan, plan.root.children[0].children[0], 2)
    assert [p.text for p in root] == ["zero", "root"]
    assert child == root  # depth 1: tier 0 again (not repeated), and no rules of its own
    assert [p.text for p in grand] == ["zero", "root", "two", "grand"]
    assert grand[:len(child)] == child


def test_docs_quote_the_built_in_prompt_word_for_word() -> None:
    docs = DOCS.read_text()
    assert "```text\n" + protocol_text() + "\n```" in docs
    assert len(PROTOCOL) >= 10


@pytest.mark.parametrize("args,fragment", [
    ('{:goal "g" :system_prompt ""}', "system_prompt is blank; leave it out instead"),
    ('{:goal "g" :system_prompt "  \\n"}', "system_prompt is blank"),
    ('{:goal "g" :system_prompt 42}', "argument 'system_prompt' must be string, got int"),
    ('{:goal "g" :system_prompt ["a"]}', "argument 'system_prompt' must be string"),
    ('{:goal "g" :system_prompt "a\\u0000b"}', "system_prompt contains a NUL character"),
])
async def test_spawn_refuses_a_malformed_system_prompt(tmp_path: Path, args: str,
                                                       fragment: str) -> None:
    engine = make_engine(tmp_path, f'{{:task {{:task/id "root" :script '
                                   f'[{{:call :spawn :args {args}}} {{:say "ok"}}]}}}}')
    assert await engine.run() == "done"
    result = events_of(engine, ev.ToolResult)[0]
    assert not result.ok and fragment in result.output
    assert [e.agent for e in events_of(engine, ev.AgentSpawned)] == ["root"]


async def test_a_too_long_spawned_system_prompt_is_refused(tmp_path: Path) -> None:
    long = "x" * 100_001
    engine = make_engine(tmp_path, f'{{:task {{:task/id "root" :script [{{:call :spawn :args '
                                   f'{{:goal "g" :system_prompt "{long}"}}}} {{:say "ok"}}]}}}}')
    assert await engine.run() == "done"
    result = events_of(engine, ev.ToolResult)[0]
    assert not result.ok
    assert "system_prompt has 100,001 characters; at most 100,000 are allowed" in result.output
