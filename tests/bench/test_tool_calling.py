"""The tool-calling suite end to end on the real engine: the reference model scores 100 %, the
naive one a known low score, seeds make runs reproducible, infra errors stay out of pass rates."""

from functools import partial

import orjson
import trio

from agenttree.bench.suites import load_suite
from agenttree.cli import main

from .fake_provider import FakeProvider
from .helpers import TOOL_CALLING, events, run_bench


async def test_reference_model_scores_every_case(tmp_path, capsys):
    suite = load_suite(TOOL_CALLING)
    assert len(suite.cases) >= 60
    summary = await run_bench(TOOL_CALLING, tmp_path / "r", models=("scripted:reference",),
                              concurrency=4)
    m = summary["models"]["scripted:reference"]
    assert (m["passed"], m["scored"], m["pass_rate"], m["mean_score"]) == (62, 62, 1.0, 1.0)
    assert set(m["by_category"]) == {"simple", "multiple", "parallel", "multi-turn",
                                     "irrelevance"}
    assert all(c["accuracy"] == 1.0 for c in m["by_category"].values())
    assert m["failures"] == {}
    log = events(tmp_path / "r")
    assert log[0]["type"] == "run/start" and log[-1]["type"] == "run/end"
    calls = [e for e in log if e["type"] == "tool/call"]
    results = [e for e in log if e["type"] == "tool/result"]
    assert len(calls) == len(results) == m["totals"]["tool_calls"] == 75
    assert all(r["ok"] for r in results)
    # A multi-turn case really ran its tools: the weather in Oslo fed mul(4, 3).
    oslo = [r["output"] for r in results if r["key"].startswith("t-weather-mul|")]
    assert '"temperature":4' in oslo[0] and oslo[1] == "12"
    # Each case is an ordinary run directory that replay folds.
    (start,) = [e for e in log if e["type"] == "case/start" and e["case"] == "t-weather-mul"]
    capsys.readouterr()
    assert main(["replay", str(tmp_path / "r" / start["dir"]), "--json"]) == 0
    state = orjson.loads(capsys.readouterr().out)
    assert state["agents"]["root"]["status"] == "done"


async def test_naive_model_scores_low_with_a_known_taxonomy(tmp_path):
    summary = await run_bench(TOOL_CALLING, tmp_path / "r", models=("scripted:naive",),
                              concurrency=4)
    m = summary["models"]["scripted:naive"]
    assert (m["passed"], m["scored"], m["pass_rate"]) == (0, 62, 0.0)
    assert m["mean_score"] == 0.21371
    assert m["failures"] == {"called-when-should-not": 12, "missing-arg": 38, "no-call": 10,
                             "parallel-unmatched": 13, "wrong-function": 12}
    assert m["by_category"]["simple"]["mean_score"] == 0.5
    assert m["by_category"]["irrelevance"]["mean_score"] == 0.0


async def test_same_seed_same_summary_and_order(tmp_path):
    opts = {"models": ("scripted:reference", "scripted:naive"), "cases": "[pi]-*",
            "epochs": 2, "seed": 7, "concurrency": 3}
    await run_bench(TOOL_CALLING, tmp_path / "a", **opts)
    await run_bench(TOOL_CALLING, tmp_path / "b", **opts)
    await run_bench(TOOL_CALLING, tmp_path / "c", **{**opts, "seed": 8, "concurrency": 1})
    a, b = ((tmp_path / d / "summary.json").read_bytes() for d in "ab")
    assert a == b
    summary = orjson.loads(a)
    assert summary["models"]["scripted:reference"]["pass@2"] == 1.0
    assert summary["models"]["scripted:reference"]["pass^2"] == 1.0
    assert summary["models"]["scripted:naive"]["pass_rate_over_epochs"] == {"mean": 0.0,
                                                                           "stdev": 0.0}

    def starts(d):
        return [(e["key"], e["fingerprint"]["decoys"]) for e in events(tmp_path / d)
                if e["type"] == "case/start"]

    order_a = starts("a")
    assert sorted(order_a) == sorted(starts("b"))
    order_c = starts("c")
    assert [k for k, _ in order_a][:3] != [k for k, _ in order_c][:3] or \
        dict(order_a) != dict(order_c)
    assert dict(order_a) != dict(order_c)  # another seed draws other decoys
    c = orjson.loads((tmp_path / "c" / "summary.json").read_bytes())
    assert c["models"]["scripted:reference"]["pass_rate"] == 1.0


async def _refusing_provider(stream: trio.SocketStream) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += await stream.receive_some(65536)
    body = b'{"error": {"message": "bad key"}}'
    await stream.send_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                          % (len(body), body))
    await stream.aclose()


async def test_infra_errors_are_kept_out_of_the_pass_rate(tmp_path):
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            partial(trio.serve_tcp, _refusing_provider, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        broken = f"openai:m@http://127.0.0.1:{port}/v1"
        with trio.fail_after(60):
            summary = await run_bench(TOOL_CALLING, tmp_path / "r", cases="s-*",
                                      models=("scripted:reference", broken))
        nursery.cancel_scope.cancel()
    bad = summary["models"][broken]
    assert (bad["infra_errors"], bad["scored"], bad["pass_rate"]) == (16, 0, 0.0)
    good = summary["models"]["scripted:reference"]
    assert (good["passed"], good["scored"], good["pass_rate"]) == (16, 16, 1.0)
    assert summary["totals"] == {"runs": 32, "passed": 16, "failed": 0, "infra_errors": 16,
                                 "skipped": 0}
    ends = [e for e in events(tmp_path / "r") if e["type"] == "case/end"
            and e["model"] == broken]
    assert all("401" in e["reason"] for e in ends)


def test_cli_run_and_compare(tmp_path, capsys):
    reports = tmp_path / "reports"
    for model in ("scripted:reference", "scripted:naive"):
        assert main(["bench", str(TOOL_CALLING), "--model", model, "--cases", "m-*",
                     "--reports", str(reports), "--quiet"]) == 0
    runs = sorted(str(p) for p in (reports / "tool-calling").iterdir())
    assert len(runs) == 2
    capsys.readouterr()
    md = tmp_path / "cmp.md"
    assert main(["bench", "compare", *runs, "--markdown", str(md)]) == 0
    table = md.read_text().splitlines()
    assert table[0].startswith("| run | suite | model | pass rate | mean score")
    assert "| scripted:reference | 100.0% (12/12) | 1.000 |" in table[2]
    assert "| scripted:naive | 0.0% (0/12) | 0.000 |" in table[3]
    assert main(["bench", "compare"]) == 2


async def test_real_provider_path_and_the_connection_cap(tmp_path):
    provider = FakeProvider()
    async with trio.open_nursery() as nursery:
        model = await provider.serve(nursery)
        with trio.fail_after(60):
            summary = await run_bench(TOOL_CALLING, tmp_path / "r", cases="i-*", models=(model,),
                                      concurrency=4, connections=1)
        nursery.cancel_scope.cancel()
    assert provider.most == 1 and provider.requests >= 12
    assert provider.refused == []  # every request is one the hosted API accepts
    m = summary["models"][model]
    # Every irrelevance case answered in words passes, except the haiku, where the model sent
    # a call with broken JSON: never a correct refusal.
    assert (m["passed"], m["scored"]) == (11, 12)
    assert summary["cases"]["i-haiku"][model]["runs"][0]["failures"] == ["unparseable-call"]
    assert m["totals"]["tokens"] > 0


async def test_connections_run_together_up_to_the_cap(tmp_path):
    provider = FakeProvider(hold=3)
    async with trio.open_nursery() as nursery:
        model = await provider.serve(nursery)
        with trio.fail_after(60):
            await run_bench(TOOL_CALLING, tmp_path / "r", cases="i-*", models=(model,),
                            concurrency=4, connections=3)
        nursery.cancel_scope.cancel()
    assert provider.most == 3
