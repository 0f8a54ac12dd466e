"""One check for every number from outside: plans, control commands, CLI grants, tool arguments,
and the log writer that never dies of a value that slipped through."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from agenttree import events as ev
from agenttree.budget import check_budget, parse_budget
from agenttree.cli import main
from agenttree.control_cli import parse_amounts
from agenttree.errors import PlanError, ToolError, UserError
from agenttree.log import read_events
from agenttree.log_writer import open_event_log
from agenttree.numbers import LIMIT, MAX_NESTING, NumberError, check_json, check_number
from agenttree.plan import parse_plan
from agenttree.tools.base import check_args
from agenttree.tools.builtin import REGISTRY

BIG = 10**38  # a 39-digit whole number: far beyond 64 bits


@pytest.mark.parametrize(("value", "rules", "fragment"), [
    (True, {}, "expected a number, got true"),
    ("5", {}, "expected a number, got string '5'"),
    (None, {}, "expected a number, got null"),
    (math.nan, {}, "must be a finite number, got nan"),
    (math.inf, {}, "must be a finite number, got inf"),
    (-math.inf, {"minimum": None}, "must be a finite number, got -inf"),
    (BIG, {}, "must be at most 9,007,199,254,740,991 in size, got 100000000000…(39 digits)"),
    (1e23, {}, "must be at most 9,007,199,254,740,991 in size, got 1e+23"),
    (-(LIMIT + 1), {"minimum": None}, "must be at most"),
    (0.5, {"whole": True}, "expected a whole number, got 0.5"),
    (-1, {}, "must not be negative, got -1"),
    (0, {"above": 0}, "must be positive, got 0"),
    (0, {"minimum": 1}, "must be at least 1, got 0"),
])
def test_unacceptable_numbers_are_refused_saying_why(value, rules, fragment) -> None:
    with pytest.raises(NumberError) as caught:
        check_number(value, **rules)
    assert fragment in str(caught.value)


def test_acceptable_numbers_pass_and_whole_ones_come_back_as_ints() -> None:
    assert check_number(LIMIT) == LIMIT
    assert check_number(5.0, whole=True) == 5 and type(check_number(5.0, whole=True)) is int
    assert check_number(0.25) == 0.25
    assert check_number(-3, minimum=None) == -3


def test_free_form_data_is_checked_all_the_way_down() -> None:
    check_json({"a": [1, 2.5, {"b": "text", "c": None, "d": True}]})
    with pytest.raises(NumberError, match=r"a\.1\.b: must be at most"):
        check_json({"a": [0, {"b": BIG}]})
    with pytest.raises(NumberError, match="must be a finite number"):
        check_json([math.nan])
    deep: object = 1
    for _ in range(MAX_NESTING + 1):
        deep = [deep]
    with pytest.raises(NumberError, match=f"nests deeper than {MAX_NESTING} levels"):
        check_json(deep)


@pytest.mark.parametrize(("budget", "key", "fragment"), [
    (f":tool-calls {BIG}", ":tool-calls", "must be at most"),
    (":cost 1e999", ":cost", "must be a finite number, got inf"),
    (":wall-s ##NaN", ":wall-s", "must be a finite number, got nan"),
    (":wall-s ##Inf", ":wall-s", "must be a finite number, got inf"),
    (":tokens 0.5", ":tokens", "expected a whole number, got 0.5"),
    (":retries -2", ":retries", "must not be negative"),
])
def test_plan_budgets_are_checked(budget: str, key: str, fragment: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(f'{{:task/id "r"\n :budget {{{budget}}}}}', source="p.edn")
    assert (caught.value.line, caught.value.key) == (2, key)
    assert fragment in caught.value.message


@pytest.mark.parametrize(("text", "key", "fragment"), [
    ('{:task/id "r" :script [{:say "x" :delay-ms -5}]}', ":delay-ms", "must not be negative"),
    ('{:task/id "r" :script [{:say "x" :tokens 1e400}]}', ":tokens", "finite"),
    (f'{{:task/id "r" :script [{{:call :sh :args {{:cmd "ls" :timeout_s {BIG}}}}}]}}',
     ":args", "timeout_s: must be at most"),
    ('{:task/id "r" :acceptance [{:sh "true" :timeout-s ##Inf}]}', ":timeout-s", "finite"),
    (f'{{:locks {{:wait-ms {BIG}}} :task {{:task/id "r"}}}}', ":wait-ms", "must be at most"),
    ('{:providers {"openai" {:concurrency 1e400}} :task {:task/id "r"}}', ":concurrency",
     "finite"),
    ('{:prices {"m" {:prompt ##NaN}} :task {:task/id "r"}}', ":prompt", "finite"),
    ('{:tiers [{:depth 1.5}] :task {:task/id "r"}}', ":depth", "whole number"),
])
def test_every_number_in_a_plan_is_checked(text: str, key: str, fragment: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, source="p.edn")
    assert caught.value.key == key and fragment in caught.value.message


def test_plan_check_refuses_a_39_digit_budget_in_one_line(tmp_path: Path, capsys) -> None:
    plan = tmp_path / "p.edn"
    plan.write_text(f'{{:task/id "r" :budget {{:tool-calls {BIG}}}}}')
    assert main(["plan", "check", str(plan)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ":tool-calls: must be at most" in err


@pytest.mark.parametrize(("amounts", "fragment"), [
    (["tool-calls=0.5"], "tool-calls: expected a whole number, got 0.5"),
    (["cost=inf"], "cost=inf.: must be a finite number, got inf"),
    (["tokens=nan"], "finite"),
    ([f"tokens={BIG}"], "must be at most"),
    (["tool-calls=-1"], "must not be negative"),
    (["tool-calls=lots"], "'lots' is not a number"),
    (["wings=2"], "unknown budget kind 'wings'"),
])
def test_cli_grants_are_checked(amounts: list[str], fragment: str) -> None:
    with pytest.raises(UserError, match=fragment):
        parse_amounts(amounts)


def test_cli_grant_amounts_keep_their_spelling() -> None:
    assert parse_amounts(["tool-calls=5", "cost=0.5", "tokens=2e3"]) == \
        {"tool-calls": 5, "cost": 0.5, "tokens": 2000}


def test_budget_objects_from_outside_are_checked() -> None:
    assert parse_budget({"tool-calls": 5, "cost": 1.5}) == {"tool_calls": 5, "cost": 1.5}
    assert check_budget({"tool-calls": 5.0}) == {"tool-calls": 5}
    for raw in ({"tool_calls": 1e23}, {"cost": math.inf}, {"retries": 0.5}, {"x": 1}):
        with pytest.raises(NumberError):
            parse_budget(raw)


@pytest.mark.parametrize(("tool", "args", "fragment"), [
    ("wait", {"timeout_s": math.nan}, "argument timeout_s: must be a finite number"),
    ("lock", {"path": "a", "ttl_ms": 0.5}, "argument 'ttl_ms': expected a whole number"),
    ("lock", {"path": "a", "wait_ms": BIG}, "must be at most"),
    ("report-state", {"facts": {"n": BIG}}, "argument facts.n: must be at most"),
    ("spawn", {"goal": "g", "budget": {"tool_calls": 1e23}}, "must be at most"),
])
def test_tool_arguments_are_checked(tool: str, args: dict, fragment: str) -> None:
    with pytest.raises(ToolError, match=fragment):
        check_args(REGISTRY[tool], args)


def test_checked_tool_arguments_are_a_copy() -> None:
    args = {"path": "a", "ttl_ms": 5.0}
    assert check_args(REGISTRY["lock"], args) == {"path": "a", "ttl_ms": 5}
    assert args["ttl_ms"] == 5.0


async def test_the_writer_survives_a_value_json_cannot_hold(tmp_path: Path) -> None:
    """A value that slipped past every check is made to fit; the log goes on."""
    path = tmp_path / "e.jsonl"
    deep: object = "bottom"
    for _ in range(300):
        deep = {"d": deep}
    async with open_event_log(path, run="r") as log:
        log.emit(ev.AgentState(agent="a", status="s", facts={"n": BIG, "deep": deep}))
        log.emit(ev.BudgetCharged(agent="a", kind="tokens", amount=BIG, used=BIG))
        log.emit(ev.AgentState(agent="a", status="after"))
    facts, charged, after = (e.event for e in read_events(path))
    assert facts.facts["n"] == LIMIT and "nested deeper than" in str(facts.facts["deep"])
    assert (charged.amount, charged.used) == (LIMIT, LIMIT)
    assert after.status == "after"
