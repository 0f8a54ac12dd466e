"""A real model runs a fixed subset of the tool-calling suite: SmolLM2-135M behind llama.cpp's
server (the ``llama`` fixture, ``realmodel`` marker: ``tests/realmodel.py``).

It passes when every case is scored with no refused request and the report is whole: every
category present with its statistics, token counts from the server, and a score above 0. The
model calls a tool on every turn whatever the case, so each case run is capped at three tool
calls (enough for any case of the subset) and one attempt: the subset takes a few minutes.
"""

from pathlib import Path

import orjson
import pytest

from agenttree import events as ev
from agenttree.bench.runner import matches
from agenttree.bench.suites import load_suite
from agenttree.cli import main
from agenttree.log import read_events

from ..realmodel import SETTINGS_EDN, LlamaServer
from .helpers import TOOL_CALLING

CI_CASES = "s-mul,m-add,p-weather,pm-weather-time,t-add-mul,v-umbrella,i-capital,x-weather"
"""The fixed subset a real model runs in CI: one case of every category."""
CI_TOOL_CALLS = 3
"""``--max-tool-calls`` for the subset: its cases need at most two calls."""
MAX_TOKENS = 128
"""The output limit :data:`~tests.realmodel.SETTINGS_EDN` sets."""


def test_the_ci_subset_names_real_cases_of_every_category():
    suite = load_suite(TOOL_CALLING)
    chosen = [c for c in suite.cases if matches(c.id, CI_CASES)]
    assert len(chosen) == len(CI_CASES.split(","))
    categories = {suite.parsed[c.id].category for c in chosen}
    assert categories == {tc.category for tc in suite.parsed.values()}
    calls = [sum(len(turn) for turn in suite.parsed[c.id].judged.expect) for c in chosen]
    assert max(calls) < CI_TOOL_CALLS  # room for the right calls and one more


@pytest.mark.realmodel
def test_a_real_model_runs_the_ci_subset(llama: LlamaServer, tmp_path: Path) -> None:
    settings = tmp_path / "settings.edn"
    settings.write_text(SETTINGS_EDN)
    reports = tmp_path / "reports"
    assert main(["bench", "tool_calling", "--model", llama.spec, "--cases", CI_CASES,
                 "--max-tool-calls", str(CI_TOOL_CALLS), "--settings", str(settings),
                 "--reports", str(reports), "--quiet"]) == 0
    [report] = (reports / "tool-calling").iterdir()
    summary = orjson.loads((report / "summary.json").read_bytes())
    cases = CI_CASES.split(",")
    assert sorted(summary["cases"]) == sorted(cases)
    model = summary["models"][llama.spec]
    # every case scored once, nothing refused
    assert (model["scored"], model["infra_errors"], model["skipped"]) == (len(cases), 0, 0)
    assert model["passed"] + model["failed"] == len(cases)
    assert summary["totals"]["infra_errors"] == 0
    # statistics: every rate with its interval, overall and per category
    assert model["mean_score"] > 0
    for low, high in (model["pass_rate_ci95"], model["mean_score_ci95"],
                      model["pass@1"]["ci95"]):
        assert 0 <= low <= high <= 1
    assert model["pass@1"]["cases"] == len(cases)
    suite = load_suite(TOOL_CALLING)
    assert set(model["by_category"]) == {tc.category for tc in suite.parsed.values()}
    for category in model["by_category"].values():
        low, high = category["accuracy_ci95"]
        assert 0 <= low <= category["accuracy"] <= high <= 1
    # the server's token counts, not estimates
    totals = model["totals"]
    assert totals["prompt_tokens"] > 0 and totals["completion_tokens"] > 0
    assert totals["estimated_tokens"] == 0
    assert 0 < totals["tool_calls"] <= CI_TOOL_CALLS * len(cases)
    for log in sorted((report / "cases").glob("*/events.jsonl")):
        for entry in read_events(log):
            e = entry.event
            assert not isinstance(e, ev.ModelRetry), (log, e)  # nothing refused or retried
            if isinstance(e, ev.AgentFinished):
                assert "HTTP" not in e.reason, (log, e.reason)
            if isinstance(e, ev.ModelRequested):
                assert "stream" not in e.params and e.params["max_tokens"] == MAX_TOKENS
                assert e.params["tool_choice"] == "auto"
