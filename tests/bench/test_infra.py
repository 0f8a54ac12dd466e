"""Infrastructure failures become ``infra-error`` case results and never stop the run."""

import attrs
import trio

from agenttree.bench.case import Limiters
from agenttree.bench.engine import BenchEngine, run_tree
from agenttree.bench.suites import load_suite
from agenttree.bench.toolcalls import ToolCallingSuite
from agenttree.models.spec import PROVIDERS
from agenttree.plan import Provider
from agenttree.tools.base import Param, Tool

from .helpers import TOOL_CALLING, events, run_bench


async def test_a_crashing_tool_is_infra_not_the_models_fault(tmp_path):
    async def crash(agent, args):
        raise OSError("the tool's backend went away")

    boom = Tool(name="boom", description="breaks", params={"x": Param(type="integer",
                                                                      description="x")},
                run=crash)
    suite = load_suite(TOOL_CALLING)
    reported = []
    limiters = Limiters(model_connections=1, sandboxes=trio.CapacityLimiter(1),
                        subprocesses=trio.CapacityLimiter(1))
    result = await run_tree(suite.plan(suite.cases[0], "scripted:x"), tmp_path / "c",
                            model="scripted:x", seed=0, tools=[boom], limiters=limiters,
                            script=[{"calls": [{"tool": "boom", "args": {"x": 1}}]},
                                    {"say": "done"}],
                            on_event=lambda kind, fields: reported.append((kind, fields)))
    assert result.infra == ("tool boom crashed: OSError(\"the tool's backend went away\")",)
    (outcome,) = [f for kind, f in reported if kind == "tool/result"]
    assert not outcome["ok"] and outcome["output"] == "boom: internal error"


async def test_a_harness_error_is_recorded_and_the_run_goes_on(tmp_path, monkeypatch):
    real = ToolCallingSuite.run_case

    async def flaky(self, run):
        if run.case.id == "s-div":
            raise RuntimeError("harness bug")
        return await real(self, run)

    monkeypatch.setattr(ToolCallingSuite, "run_case", flaky)
    summary = await run_bench(TOOL_CALLING, tmp_path / "r", cases="s-div,s-mul",
                              models=("scripted:reference",))
    m = summary["models"]["scripted:reference"]
    assert (m["passed"], m["scored"], m["infra_errors"], m["pass_rate"]) == (1, 1, 1, 1.0)
    (end,) = [e for e in events(tmp_path / "r") if e["type"] == "case/end"
              and e["case"] == "s-div"]
    assert end["status"] == "infra-error" and "harness bug" in end["reason"]
    crash = tmp_path / "r" / "cases" / "s-div-scripted_reference-e1-a1" / "crash.log"
    assert "RuntimeError: harness bug" in crash.read_text()


def test_every_providers_connections_are_capped(tmp_path):
    suite = load_suite(TOOL_CALLING)
    limiters = Limiters(model_connections=2, sandboxes=trio.CapacityLimiter(1),
                        subprocesses=trio.CapacityLimiter(1))
    plan = suite.plan(suite.cases[0], "scripted:x")
    plan = attrs.evolve(plan, providers={"ollama": Provider(concurrency=1),
                                         "openai": Provider(concurrency=9)})
    engine = BenchEngine(plan, tmp_path / "c", limiters=limiters)
    caps = {name: engine.plan.provider(None, name).concurrency
            for name in PROVIDERS if name != "scripted"}
    assert caps == {"openai": 2, "ollama": 1, "anthropic": 2}
