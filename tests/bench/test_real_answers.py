"""The tool-calling suite judged against a model that answers the way real models do (through
an OpenAI-compatible mock): right answers in real shapes get full marks, real mistakes still
fail, and the model sees a plain prompt and the tools in the seeded order."""

import trio

from agenttree.bench.suites import load_suite
from agenttree.bench.toolcalls import SYSTEM_PROMPT

from .fake_provider import FakeProvider
from .helpers import HANG_GUARD_S, TOOL_CALLING, events, run_bench
from .real_answers import MISTAKES, RealModel


async def _bench(tmp_path, model: RealModel, **options):
    provider = FakeProvider(answer=model.answer)
    async with trio.open_nursery() as nursery:
        spec = await provider.serve(nursery)
        with trio.fail_after(HANG_GUARD_S):
            summary = await run_bench(TOOL_CALLING, tmp_path / "r", models=(spec,), **options)
        nursery.cancel_scope.cancel()
    assert model.unknown_prompts == []
    return spec, summary, provider


async def test_right_answers_in_real_model_shapes_get_full_marks(tmp_path):
    # Before the fair matcher (commit 0dece2f), these answers scored 44 of the 62 cases the
    # suite had then: explicit defaults were unexpected-arg, "Tokyo, Japan", "src/", "Etc/UTC"
    # and "Call mom." wrong values, inputs fetched one per turn a failed multi-turn case.
    spec, summary, _ = await _bench(tmp_path, RealModel(), concurrency=4)
    m = summary["models"][spec]
    n = len(load_suite(TOOL_CALLING).cases)
    assert (m["passed"], m["scored"], m["failures"]) == (n, n, {})


async def test_real_mistakes_are_still_failures(tmp_path):
    spec, summary, _ = await _bench(tmp_path, RealModel(mistakes=True),
                                    cases=",".join(MISTAKES), concurrency=4)
    found = {case: per[spec]["runs"][0]["failures"] for case, per in summary["cases"].items()}
    assert found == {"s-weather": ["wrong-value"], "t-weather-mul": ["wrong-order"],
                     "x-weather": ["called-when-should-not"],
                     "i-capital": ["called-when-should-not"], "t-add-mul": ["wrong-answer"]}
    assert summary["models"][spec]["passed"] == 0


async def test_the_model_gets_a_plain_prompt_and_the_tools_in_the_seeded_order(tmp_path):
    _, _, provider = await _bench(tmp_path, RealModel(), cases="s-weather,p-time", seed=5)
    starts = {e["case"]: e["fingerprint"]["tools"] for e in events(tmp_path / "r")
              if e["type"] == "case/start"}
    suite = load_suite(TOOL_CALLING)
    for body in provider.bodies:
        system, user = body["messages"][:2]
        assert system == {"role": "system", "content": SYSTEM_PROMPT}
        assert "finish" not in system["content"] and "agent" not in system["content"]
        case = next(cid for cid, tc in suite.parsed.items() if tc.prompt == user["content"])
        assert [t["function"]["name"] for t in body["tools"]] == starts[case]
    # The seed shuffles the case's own tools in among its decoys, those like them first.
    assert len(starts["s-weather"]) == 4 and "weather" in starts["s-weather"]
    assert {"weather_history"} <= set(starts["s-weather"])
