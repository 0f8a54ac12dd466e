"""The tool-calling suite kind: a prompt, the tools offered (plus seeded decoys), the expected
calls. The case runs as a one-agent tree; the calls its model made are matched by structure
(:mod:`.scoring`).

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
from .engine import run_tree, usage_metrics
from .scoring import AnyOf, Call, score_calls
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

CATEGORIES = ("simple", "multiple", "parallel", "multi-turn", "irrelevance")
SCRIPTS = ("reference", "naive")
PARAM_TYPES = ("number", "integer", "string", "boolean", "array", "object")
INSTRUCTIONS = ("Use the tools offered when they help, with exactly the arguments the request "
                "needs. If no tool fits the request, answer directly without calling any tool. "
                "When you have the answer, reply with it in plain text.")
CASE_BUDGET = Budget(tool_calls=12, tokens=100_000, wall_s=300, retries=2)


def _tool(where: str, raw: Any) -> tuple[Tool, bool]:
    check_keys(where, raw, {"name", "impl", "description", "params", "decoy"})
    name = require(where, raw, "name", str, "a tool name")
    where = f"{where}: tool {name!r}"
    impl = require(where, raw, "impl", str, "an implementation name")
    if impl not in IMPLEMENTATIONS:
        raise SuiteError(f"{where}: unknown :impl {impl!r}; known: "
                         + ", ".join(sorted(IMPLEMENTATIONS)))
    params = {}
    for key, p in require(where, raw, "params", dict, "a map of parameters").items():
        check_keys(f"{where} param {key!r}", p, {"type", "items", "description", "optional"})
        kinds = [require(f"{where} param {key!r}", p, "type", str, "a JSON type")]
        if "items" in p:
            kinds.append(require(f"{where} param {key!r}", p, "items", str, "a JSON type"))
        for kind in kinds:
            if kind not in PARAM_TYPES:
                raise SuiteError(f"{where} param {key!r}: :type and :items must be one of "
                                 f"{', '.join(PARAM_TYPES)}, got {kind!r}")
        params[key] = Param(type=kinds[0], items=p.get("items"),
                            description=str(p.get("description", "")),
                            required=not p.get("optional", False))
    fn = IMPLEMENTATIONS[impl]

    async def run(agent: Agent, args: dict[str, Any]) -> str:
        return fn(args)

    t = Tool(name=name, description=str(raw.get("description", "")), params=params, run=run)
    problem = function_schema_problem(t.schema())
    if problem is not None:  # refused here, never by the provider mid-run
        raise SuiteError(f"{where}: a schema hosted APIs refuse: {problem}")
    return t, bool(raw.get("decoy", False))


def _expected_call(where: str, raw: Any, offered: dict[str, Tool]) -> Call:
    check_keys(where, raw, {"tool", "args"})
    name = require(where, raw, "tool", str, "a tool name")
    if name not in offered:
        raise SuiteError(f"{where}: expects a call to {name!r}, which the case does not offer")
    args = raw.get("args", {})
    if not isinstance(args, dict):
        raise SuiteError(f"{where}: :args must be a map")
    params = offered[name].params
    for key in args:
        if key not in params:
            raise SuiteError(f"{where}: {name} has no parameter {key!r}")
    for key, p in params.items():
        if p.required and key not in args:
            raise SuiteError(f"{where}: expected call to {name} lacks required {key!r}")
    return Call(tool=name, args=args)


@attrs.frozen(kw_only=True)
class ToolCase:
    """A parsed tool-calling case."""

    category: str
    prompt: str
    tools: tuple[str, ...]
    expect: tuple[tuple[Call, ...], ...]


def _concrete(value: Any) -> Any:
    """A value the reference model can send for an expected one (the first alternative)."""
    if isinstance(value, AnyOf):
        return _concrete(value.options[0])
    if isinstance(value, dict):
        return {k: _concrete(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_concrete(v) for v in value]
    return value


class ToolCallingSuite:
    """A loaded tool-calling suite (see :func:`~agenttree.bench.suites.load_suite`)."""

    kind = "tool-calling"

    def __init__(self, *, name: str, version: str, root: Path, tools: dict[str, Tool],
                 decoy_pool: tuple[str, ...], decoy_count: int,
                 cases: tuple[Case, ...], parsed: dict[str, ToolCase]) -> None:
        self.name, self.version, self.root = name, version, root
        self.tools = tools
        self.decoy_pool = decoy_pool
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
        tools: dict[str, Tool] = {}
        decoys = []
        for i, raw in enumerate(raw_tools):
            t, decoy = _tool(f"{tools_file}: tool #{i + 1}", raw)
            if t.name in tools:
                raise SuiteError(f"{tools_file}: tool {t.name!r} defined twice")
            tools[t.name] = t
            if decoy:
                decoys.append(t.name)
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
                   decoy_pool=tuple(decoys), decoy_count=decoy_count, cases=tuple(cases),
                   parsed=parsed)

    @staticmethod
    def _case(where: str, raw: Any, tools: dict[str, Tool]) -> tuple[Case, ToolCase]:
        check_keys(where, raw, {"id", "category", "prompt", "tools", "expect"})
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
            expect.append(tuple(_expected_call(f"{where} turn {t + 1}", c, offered)
                                for c in turn))
        if (category == "irrelevance") != (not expect):
            raise SuiteError(f"{where}: irrelevance cases (and only they) expect no calls")
        case = Case(id=case_id, spec=raw, hash=spec_hash(raw))
        return case, ToolCase(category=category, prompt=prompt, tools=tuple(names),
                              expect=tuple(expect))

    def decoys(self, case: Case, seed: int) -> tuple[str, ...]:
        """``decoys`` tools from the pool, drawn by a generator seeded with seed and case id."""
        offered = self.parsed[case.id].tools
        pool = [d for d in self.decoy_pool if d not in offered]
        rng = random.Random(f"{seed}/{case.id}")
        return tuple(rng.sample(pool, min(self.decoy_count, len(pool))))

    def check_model(self, model: str) -> None:
        """Scripted models must be one this suite can play."""
        check_scripted(self.name, model, SCRIPTS)

    def script(self, case: ToolCase, model: str, offered: list[str]) -> list[dict[str, Any]]:
        """The turns ``scripted:reference`` or ``scripted:naive`` play for a case."""
        if model.partition(":")[2] == "naive":
            return [{"calls": [{"tool": offered[0], "args": {}}]}, {"say": "done"}]
        turns: list[dict[str, Any]] = [
            {"calls": [{"tool": c.tool, "args": _concrete(c.args)} for c in turn]}
            for turn in case.expect]
        return [*turns, {"say": "done"}]

    def plan(self, case: Case, model: str) -> Plan:
        """A one-task plan: the prompt as the goal, no built-in tools, ``tool_choice: auto``
        sent explicitly (some servers, llama-cpp-python's among them, ignore the tools
        without it)."""
        tc = self.parsed[case.id]
        return Plan(name=f"{self.name}-{case.id}", sandbox="off",
                    tiers=(Tier(depth=0, models=(model,), tools=(), budget=CASE_BUDGET,
                                tool_choice="auto"),),
                    root=Task(id="root", goal=f"{tc.prompt}\n\n{INSTRUCTIONS}"))

    async def run_case(self, run: CaseRun) -> Outcome:
        """Run the case's agent and score the calls its model made."""
        tc = self.parsed[run.case.id]
        offered = [*tc.tools, *run.decoys]
        script = self.script(tc, run.model, offered) if is_scripted(run.model) else None
        result = await run_tree(self.plan(run.case, run.model), run.case_dir, model=run.model,
                                seed=run.seed, tools=[self.tools[n] for n in offered],
                                script=script, limiters=run.limiters, on_event=run.on_event,
                                settings=run.settings)
        actual = [[Call(tool=c["tool"], args=c["args"]) for c in turn] for turn in result.turns]
        scored = score_calls(tc.expect, actual)
        metrics: dict[str, Any] = {"category": tc.category, "soft": scored.soft,
                                   "turns": len(actual), **usage_metrics(result.state)}
        if result.infra:
            return Outcome(status="infra-error", score=0.0, metrics=metrics,
                           reason="; ".join(result.infra))
        return Outcome(status="pass" if scored.exact else "fail", score=scored.soft,
                       metrics=metrics, failures=scored.failures,
                       reason="" if result.status == "done" else f"agent {result.status}")
