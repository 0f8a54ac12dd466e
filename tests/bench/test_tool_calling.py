"""The tool-calling suite end to end on the real engine: the reference model scores 100 %, the
naive one a known low score, seeds make runs reproducible, infra errors stay out of pass rates."""

import orjson
import trio

from agenttree.bench.runner import matches
from agenttree.bench.suites import load_suite
from agenttree.bench.toolcalls import CATEGORIES
from agenttree.cli import main

from .fake_provider import FakeProvider
from .helpers import HANG_GUARD_S, TOOL_CALLING, events, run_bench


async def test_reference_model_scores_every_case(tmp_path, capsys):
    suite = load_suite(TOOL_CALLING)
    n = len(suite.cases)
    assert n >= 150
    summary = await run_bench(TOOL_CALLING, tmp_path / "r", models=("scripted:reference",),
                              concurrency=4)
    m = summary["models"]["scripted:reference"]
    assert (m["passed"], m["scored"], m["pass_rate"], m["mean_score"]) == (n, n, 1.0, 1.0)
    assert m["pass_rate_ci95"][1] == 1.0 and 0.97 < m["pass_rate_ci95"][0] < 1.0
    assert set(m["by_category"]) == set(CATEGORIES)
    assert all(c["accuracy"] == 1.0 for c in m["by_category"].values())
    assert m["failures"] == {}
    log = events(tmp_path / "r")
    assert log[0]["type"] == "run/start" and log[-1]["type"] == "run/end"
    calls = [e for e in log if e["type"] == "tool/call"]
    results = [e for e in log if e["type"] == "tool/result"]
    expected = sum(len(turn) for tc in suite.parsed.values() for turn in tc.judged.expect)
    assert len(calls) == len(results) == m["totals"]["tool_calls"] == expected
    assert all(r["ok"] for r in results)
    # Scripted models report no usage: every token is estimated, and split.
    totals = m["totals"]
    assert totals["tokens"] == totals["prompt_tokens"] + totals["completion_tokens"] \
        == totals["estimated_tokens"] > 0
    # A multi-turn case really ran its tools: the weather in Oslo fed mul(4, 3).
    oslo = [r["output"] for r in results if r["key"].startswith("t-weather-mul|")]
    assert '"temperature":4' in oslo[0] and oslo[1] == "12"
    # Each case is an ordinary run directory that replay folds.
    (start,) = [e for e in log if e["type"] == "case/start" and e["case"] == "t-weather-mul"]
    capsys.readouterr()
    assert main(["replay", str(tmp_path / "r" / start["dir"]), "--json"]) == 0
    state = orjson.loads(capsys.readouterr().out)
    assert state["agents"]["root"]["status"] == "done"
    assert state["agents"]["root"]["result"] == "The answer is 12."


async def test_naive_model_scores_low_with_a_known_taxonomy(tmp_path):
    summary = await run_bench(TOOL_CALLING, tmp_path / "r", models=("scripted:naive",),
                              concurrency=4)
    m = summary["models"]["scripted:naive"]
    n = len(load_suite(TOOL_CALLING).cases)
    assert (m["passed"], m["scored"], m["pass_rate"]) == (0, n, 0.0)
    assert m["mean_score"] == 0.081464
    assert m["failures"] == {"called-when-should-not": 34, "missing-arg": 40, "no-call": 20,
                             "parallel-unmatched": 34, "wrong-answer": 20,
                             "wrong-function": 82}
    assert m["by_category"]["irrelevance"]["mean_score"] == 0.0
    assert m["by_category"]["missing-info"]["mean_score"] == 0.0


async def test_same_seed_same_summary_and_order(tmp_path):
    opts = {"models": ("scripted:reference", "scripted:naive"), "cases": "p-*,i-[a-h]*",
            "epochs": 2, "seed": 7, "concurrency": 3}
    await run_bench(TOOL_CALLING, tmp_path / "a", **opts)
    await run_bench(TOOL_CALLING, tmp_path / "b", **opts)
    await run_bench(TOOL_CALLING, tmp_path / "c", **{**opts, "seed": 8, "concurrency": 1})
    a, b = ((tmp_path / d / "summary.json").read_bytes() for d in "ab")
    assert a == b
    summary = orjson.loads(a)
    reference = summary["models"]["scripted:reference"]
    assert reference["pass@2"]["value"] == reference["pass^2"]["value"] == 1.0
    assert summary["models"]["scripted:naive"]["pass_rate_over_epochs"] == {"mean": 0.0,
                                                                           "stdev": 0.0}

    def starts(d):
        return [(e["key"], e["fingerprint"]["tools"]) for e in events(tmp_path / d)
                if e["type"] == "case/start"]

    order_a = starts("a")
    assert sorted(order_a) == sorted(starts("b"))
    order_c = starts("c")
    assert [k for k, _ in order_a] != [k for k, _ in order_c]  # another seed, another order
    assert dict(order_a) != dict(order_c)  # and other decoys, in another order
    c = orjson.loads((tmp_path / "c" / "summary.json").read_bytes())
    assert c["models"]["scripted:reference"]["pass_rate"] == 1.0


async def test_infra_errors_are_kept_out_of_the_pass_rate(tmp_path):
    async with trio.open_nursery() as nursery:
        broken = await FakeProvider(refuse=10**6).serve(nursery)
        with trio.fail_after(HANG_GUARD_S):
            summary = await run_bench(TOOL_CALLING, tmp_path / "r", cases="s-*",
                                      models=("scripted:reference", broken))
        nursery.cancel_scope.cancel()
    n = sum(matches(c.id, "s-*") for c in load_suite(TOOL_CALLING).cases)
    bad = summary["models"][broken]
    assert (bad["infra_errors"], bad["scored"], bad["pass_rate"]) == (n, 0, 0.0)
    assert bad["pass_rate_ci95"] is None and bad["pass@1"]["value"] is None
    good = summary["models"]["scripted:reference"]
    assert (good["passed"], good["scored"], good["pass_rate"]) == (n, n, 1.0)
    assert summary["totals"] == {"runs": 2 * n, "passed": n, "failed": 0, "infra_errors": n,
                                 "skipped": 0}
    ends = [e for e in events(tmp_path / "r") if e["type"] == "case/end"
            and e["model"] == broken]
    assert all("401" in e["reason"] for e in ends)


async def test_real_provider_path_and_the_connection_cap(tmp_path):
    provider = FakeProvider()
    async with trio.open_nursery() as nursery:
        model = await provider.serve(nursery)
        with trio.fail_after(HANG_GUARD_S):
            summary = await run_bench(TOOL_CALLING, tmp_path / "r", cases="i-*", models=(model,),
                                      concurrency=4, connections=1)
        nursery.cancel_scope.cancel()
    n = sum(matches(c.id, "i-*") for c in load_suite(TOOL_CALLING).cases)
    assert provider.most == 1 and provider.requests >= n
    assert provider.refused == []  # every request is one the hosted API accepts
    m = summary["models"][model]
    # Every irrelevance case answered in words passes, except the haiku, where the model sent
    # a call with broken JSON: never a correct refusal.
    assert (m["passed"], m["scored"]) == (n - 1, n)
    assert summary["cases"]["i-haiku"][model]["runs"][0]["failures"] == ["unparseable-call"]
    # The server reported usage: 50 prompt and 10 completion tokens a request, none estimated.
    totals = m["totals"]
    assert (totals["prompt_tokens"], totals["completion_tokens"], totals["estimated_tokens"]) \
        == (50 * provider.requests, 10 * provider.requests, 0)


async def test_connections_run_together_up_to_the_cap(tmp_path):
    provider = FakeProvider(hold=3)
    async with trio.open_nursery() as nursery:
        model = await provider.serve(nursery)
        with trio.fail_after(HANG_GUARD_S):
            await run_bench(TOOL_CALLING, tmp_path / "r", cases="i-*", models=(model,),
                            concurrency=4, connections=3)
        nursery.cancel_scope.cancel()
    assert provider.most == 3
