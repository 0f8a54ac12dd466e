"""The tool-calling suite kind: a prompt, the tools offered (plus seeded decoys, all in a
seeded order), the expected calls and, for some categories, what the final reply must say. The
case runs as a one-agent tree under a plain system prompt; the calls its model made are matched
by structure (:mod:`.scoring`).

Offline models: ``scripted:reference`` answers every case from its expected calls;
``scripted:naive`` calls the first offered tool with no arguments, then stops.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..budget import Budget
from ..plan import Plan, Task, Tier, is_scripted
from ..tools.base import Param, Tool
from ..tools.schema import function_schema_problem
from .case import CaseRun, Outcome
from .engine import run_tree
from .matching import MATCH_KINDS, value_failure
from .scoring import ABSENT, AnyOf, Arg, Call, Expected, Judged, score_case
from .suites import (
    Case,
    Reader,
    SuiteError,
    check_keys,
    check_scripted,
    read_edn,
    require,
    spec_hash,
    valid_case_id,
)
from .toolkit import IMPLEMENTATIONS

if TYPE_CHECKING:
    from ..runtime.agent import Agent

CATEGORIES = ("simple", "multiple", "parallel", "parallel-multiple", "multi-turn", "vague",
              "irrelevance", "missing-info")
NO_CALL = ("irrelevance", "missing-info")
"""Categories where the right answer calls no tool."""
SCRIPTS = ("reference", "naive")
PARAM_TYPES = ("number", "integer", "string", "boolean", "array", "object")
SYSTEM_PROMPT = (
    "You are a helpful assistant with access to the functions in the tools list. When a "
    "function helps to answer the user's request, call it with arguments taken from the "
    "request; calls that do not depend on each other may be made together. If no function "
    "fits the request, answer directly without calling one. If the request lacks information "
    "a function needs, ask the user for it instead of guessing. When you have what you need, "
    "reply to the user in plain text.")
"""The benchmark's system prompt: plain, naming no tool the case does not offer."""
CASE_BUDGET = Budget(tool_calls=12, tokens=100_000, wall_s=300, retries=2)


@attrs.frozen(kw_only=True)
class ParamRule:
    """What the scorer needs to know about one tool parameter besides its schema."""

    required: bool
    default: Any = ABSENT
    """What the tool does when the parameter is left out (:data:`ABSENT`: nothing declared)."""
    match: str = "text"


@attrs.frozen(kw_only=True)
class SuiteTool:
    """A tool of the suite file: the tool, how its parameters are judged, and for a decoy
    which real tools it resembles."""

    tool: Tool
    rules: dict[str, ParamRule]
    decoy: bool = False
    like: tuple[str, ...] = ()


def _tool(where: str, raw: Any) -> SuiteTool:
    check_keys(where, raw, {"name", "impl", "description", "params", "decoy", "like"})
    name = require(where, raw, "name", str, "a tool name")
    where = f"{where}: tool {name!r}"
    impl = require(where, raw, "impl", str, "an implementation name")
    if impl not in IMPLEMENTATIONS:
        raise SuiteError(f"{where}: unknown :impl {impl!r}; known: "
                         + ", ".join(sorted(IMPLEMENTATIONS)))
    params, rules = {}, {}
    for key, p in require(where, raw, "params", dict, "a map of parameters").items():
        at = f"{where} param {key!r}"
        check_keys(at, p, {"type", "items", "description", "optional", "default", "match"})
        kinds = [require(at, p, "type", str, "a JSON type")]
        if "items" in p:
            kinds.append(require(at, p, "items", str, "a JSON type"))
        for kind in kinds:
            if kind not in PARAM_TYPES:
                raise SuiteError(f"{at}: :type and :items must be one of "
                                 f"{', '.join(PARAM_TYPES)}, got {kind!r}")
        match = p.get("match", "text")
        if match not in MATCH_KINDS:
            raise SuiteError(f"{at}: :match must be one of {', '.join(MATCH_KINDS)}, "
                             f"got {match!r}")
        required = not p.get("optional", False)
        if required and "default" in p:
            raise SuiteError(f"{at}: only an :optional parameter can have a :default")
        params[key] = Param(type=kinds[0], items=p.get("items"),
                            description=str(p.get("description", "")), required=required)
        rules[key] = ParamRule(required=required, default=p.get("default", ABSENT),
                               match=match)
    like = raw.get("like", [])
    if not isinstance(like, list) or not all(isinstance(t, str) for t in like):
        raise SuiteError(f"{where}: :like must be a vector of tool names")
    fn = IMPLEMENTATIONS[impl]

    async def run(agent: Agent, args: dict[str, Any]) -> str:
        return fn(args)

    t = Tool(name=name, description=str(raw.get("description", "")), params=params, run=run)
    problem = function_schema_problem(t.schema())
    if problem is not None:  # refused here, never by the provider mid-run
        raise SuiteError(f"{where}: a schema hosted APIs refuse: {problem}")
    return SuiteTool(tool=t, rules=rules, decoy=bool(raw.get("decoy", False)), like=tuple(like))


def _answers(value: Any) -> tuple[Any, ...]:
    """A case's value for a parameter as a list of answers (``nil``: left out)."""
    options = value.options if isinstance(value, AnyOf) else (value,)
    return tuple(ABSENT if o is None else o for o in options)


def _arg(where: str, rule: ParamRule, value: Any, asked: bool) -> Arg:
    """How a parameter is judged: the case's answers, and "left out" where that is right."""
    if not asked:
        defaults = () if rule.default is ABSENT else (rule.default,)
        return Arg(answers=(ABSENT, *defaults), match=rule.match, asked=False)
    answers = _answers(value)
    if rule.required and ABSENT in answers:
        raise SuiteError(f"{where}: a required parameter cannot be left out (nil)")
    if ABSENT not in answers and rule.default is not ABSENT and any(
            value_failure(a, rule.default, rule.match) is None for a in answers):
        answers = (*answers, ABSENT)  # the default, sent or left out
    return Arg(answers=answers, match=rule.match, asked=True)


def expected_call(where: str, raw: Any, offered: dict[str, SuiteTool]) -> Expected:
    """An expected call of a case file (``{:tool NAME :args {...}}``), checked against the
    tools the case offers, with an answer rule for every parameter of the tool."""
    check_keys(where, raw, {"tool", "args"})
    name = require(where, raw, "tool", str, "a tool name")
    if name not in offered:
        raise SuiteError(f"{where}: expects a call to {name!r}, which the case does not offer")
    args = raw.get("args", {})
    if not isinstance(args, dict):
        raise SuiteError(f"{where}: :args must be a map")
    rules = offered[name].rules
    for key in args:
        if key not in rules:
            raise SuiteError(f"{where}: {name} has no parameter {key!r}")
    for key, rule in rules.items():
        if rule.required and key not in args:
            raise SuiteError(f"{where}: expected call to {name} lacks required {key!r}")
    return Expected(tool=name, args={key: _arg(f"{where} {name} {key!r}", rule, args.get(key),
                                               key in args)
                                     for key, rule in rules.items()})


def _check_shape(where: str, category: str, expect: list[tuple[Expected, ...]]) -> None:
    """Each category's cases have the shape it measures."""
    if (category in NO_CALL) != (not expect):
        raise SuiteError(f"{where}: irrelevance and missing-info cases (and only they) expect "
                         "no calls")
    if category in ("parallel", "parallel-multiple") and (len(expect) != 1
                                                          or len(expect[0]) < 2):
        raise SuiteError(f"{where}: a {category} case expects one turn of several calls")
    if category == "parallel-multiple" and len({c.tool for c in expect[0]}) < 2:
        raise SuiteError(f"{where}: a parallel-multiple case calls at least two tools")
    if category == "multi-turn" and len(expect) < 2:
        raise SuiteError(f"{where}: a multi-turn case expects at least two turns")


@attrs.frozen(kw_only=True)
class ToolCase:
    """A parsed tool-calling case."""

    category: str
    prompt: str
    tools: tuple[str, ...]
    judged: Judged


def _concrete(arg: Arg) -> Any:
    """A value the reference model sends for an argument (its first answer), or
    :data:`ABSENT` when it leaves the argument out."""
    return arg.concrete[0] if arg.asked and arg.concrete else ABSENT


class ToolCallingSuite:
    """A loaded tool-calling suite (see :func:`~agenttree.bench.suites.load_suite`)."""

    kind = "tool-calling"

    def __init__(self, *, name: str, version: str, root: Path, tools: dict[str, SuiteTool],
                 decoy_count: int, cases: tuple[Case, ...],
                 parsed: dict[str, ToolCase]) -> None:
        self.name, self.version, self.root = name, version, root
        self.tools = tools
        self.decoy_count = decoy_count
        self.cases = cases
        self.parsed = parsed

    @classmethod
    def load(cls, root: Path, info: dict[str, Any], *, name: str, version: str,
             reader: Reader = read_edn) -> ToolCallingSuite:
        """Read the tools file and the case files a suite.edn names."""
        where = str(root / "suite.edn")
        check_keys(where, info, {"name", "version", "kind", "tools", "cases", "decoys"})
        tools_file = root / require(where, info, "tools", str, "the tools file")
        raw_tools = reader(tools_file)
        if not isinstance(raw_tools, list):
            raise SuiteError(f"{tools_file}: expected a vector of tool maps")
        tools: dict[str, SuiteTool] = {}
        for i, raw in enumerate(raw_tools):
            t = _tool(f"{tools_file}: tool #{i + 1}", raw)
            if t.tool.name in tools:
                raise SuiteError(f"{tools_file}: tool {t.tool.name!r} defined twice")
            tools[t.tool.name] = t
        for t in tools.values():
            for other in t.like:
                if other not in tools or tools[other].decoy:
                    raise SuiteError(f"{tools_file}: tool {t.tool.name!r} is :like "
                                     f"{other!r}, which is not a real tool of this file")
        decoy_count = require(where, info, "decoys", int, "a whole number of decoys per case")
        cases, parsed = [], {}
        for file in require(where, info, "cases", list, "a vector of case files"):
            path = root / str(file)
            raw_cases = reader(path)
            if not isinstance(raw_cases, list):
                raise SuiteError(f"{path}: expected a vector of case maps")
            for i, raw in enumerate(raw_cases):
                case, tc = cls._case(f"{path}: case #{i + 1}", raw, tools)
                if case.id in parsed:
                    raise SuiteError(f"{path}: case id {case.id!r} used twice")
                cases.append(case)
                parsed[case.id] = tc
        return cls(name=name, version=version, root=root, tools=tools,
                   decoy_count=decoy_count, cases=tuple(cases), parsed=parsed)

    @staticmethod
    def _case(where: str, raw: Any, tools: dict[str, SuiteTool]) -> tuple[Case, ToolCase]:
        check_keys(where, raw, {"id", "category", "prompt", "tools", "expect", "answer", "ask"})
        case_id = valid_case_id(where, raw)
        where = f"{where} ({case_id})"
        category = require(where, raw, "category", str, "the case's category")
        if category not in CATEGORIES:
            raise SuiteError(f"{where}: :category must be one of {', '.join(CATEGORIES)}")
        prompt = require(where, raw, "prompt", str, "the prompt")
        names = require(where, raw, "tools", list, "a vector of tool names")
        for n in names:
            if n not in tools:
                raise SuiteError(f"{where}: unknown tool {n!r} (not in the tools file)")
        offered = {n: tools[n] for n in names}
        turns = require(where, raw, "expect", list, "a vector of turns, each a vector of calls")
        expect = []
        for t, turn in enumerate(turns):
            if not isinstance(turn, list) or not turn:
                raise SuiteError(f"{where}: :expect turn {t + 1} must be a non-empty vector "
                                 "of calls")
            expect.append(tuple(expected_call(f"{where} turn {t + 1}", c, offered)
                                for c in turn))
        _check_shape(where, category, expect)
        answer = _answers(raw["answer"]) if "answer" in raw else ()
        if category == "multi-turn" and not answer:
            raise SuiteError(f"{where}: a multi-turn case needs :answer (what the final reply "
                             "must state)")
        if not all(isinstance(a, int | float | str) and not isinstance(a, bool)
                   for a in answer):
            raise SuiteError(f"{where}: :answer must be a number, a string or a set of them")
        ask = _answers(raw["ask"]) if "ask" in raw else ()
        if (category == "missing-info") != bool(ask):
            raise SuiteError(f"{where}: missing-info cases (and only they) need :ask (what "
                             "the reply must ask for)")
        if not all(isinstance(a, str) for a in ask):
            raise SuiteError(f"{where}: :ask must be a string or a set of strings")
        case = Case(id=case_id, spec=raw, hash=spec_hash(raw))
        judged = Judged(expect=tuple(expect), by_dependency=category == "multi-turn",
                        answer=answer, ask=ask)
        return case, ToolCase(category=category, prompt=prompt, tools=tuple(names),
                              judged=judged)

    def offered(self, case: Case, seed: int) -> tuple[str, ...]:
        """The tools a case offers under ``seed``: its own and :attr:`decoy_count` decoys
        (those resembling its tools first), shuffled; drawn by a generator seeded with the
        seed and the case id, so a case's tools do not depend on which other cases run."""
        own = self.parsed[case.id].tools
        rng = random.Random(f"{seed}/{case.id}")
        pool = [n for n, t in self.tools.items() if t.decoy and n not in own]
        like = [n for n in pool if set(self.tools[n].like) & set(own)]
        rest = [n for n in pool if n not in like]
        rng.shuffle(like)
        rng.shuffle(rest)
        tools = [*own, *(like + rest)[:self.decoy_count]]
        rng.shuffle(tools)
        return tuple(tools)

    def check_model(self, model: str) -> None:
        """Scripted models must be one this suite can play."""
        check_scripted(self.name, model, SCRIPTS)

    def script(self, case: ToolCase, model: str, offered: list[str]) -> list[dict[str, Any]]:
        """The turns ``scripted:reference`` or ``scripted:naive`` play for a case."""
        if model.partition(":")[2] == "naive":
            return [{"calls": [{"tool": offered[0], "args": {}}]}, {"say": "done"}]
        turns: list[dict[str, Any]] = [
            {"calls": [{"tool": c.tool, "args": {k: v for k, arg in c.args.items()
                                                 if (v := _concrete(arg)) is not ABSENT}}
                       for c in turn]}
            for turn in case.judged.expect]
        if case.judged.answer:
            say = f"The answer is {case.judged.answer[0]}."
        elif case.judged.ask:
            say = f"Could you tell me the {case.judged.ask[0]}?"
        else:
            say = "done"
        return [*turns, {"say": say}]

    def plan(self, case: Case, model: str) -> Plan:
        """A one-task plan: the prompt as the goal, no built-in tools, ``tool_choice: auto``
        sent explicitly (some servers, llama-cpp-python's among them, ignore the tools
        without it)."""
        tc = self.parsed[case.id]
        return Plan(name=f"{self.name}-{case.id}", sandbox="off",
                    tiers=(Tier(depth=0, models=(model,), tools=(), budget=CASE_BUDGET,
                                tool_choice="auto"),),
                    root=Task(id="root", goal=tc.prompt))

    async def run_case(self, run: CaseRun) -> Outcome:
        """Run the case's agent and score the calls its model made and its final reply."""
        tc = self.parsed[run.case.id]
        offered = list(run.offered)
        script = self.script(tc, run.model, offered) if is_scripted(run.model) else None
        result = await run_tree(self.plan(run.case, run.model), run.case_dir, model=run.model,
                                seed=run.seed, tools=[self.tools[n].tool for n in offered],
                                system=SYSTEM_PROMPT, script=script, limiters=run.limiters,
                                on_event=run.on_event, settings=run.settings,
                                max_tool_calls=run.max_tool_calls)
        actual = [[Call(tool=c["tool"], args=c["args"]) for c in turn] for turn in result.turns]
        scored = score_case(tc.judged, actual, result.reply)
        metrics: dict[str, Any] = {"category": tc.category, "soft": scored.soft,
                                   "turns": len(actual), **result.usage}
        if result.infra:
            return Outcome(status="infra-error", score=0.0, metrics=metrics,
                           reason="; ".join(result.infra))
        return Outcome(status="pass" if scored.exact else "fail", score=scored.soft,
                       metrics=metrics, failures=scored.failures,
                       reason="" if result.status == "done" else f"agent {result.status}")
