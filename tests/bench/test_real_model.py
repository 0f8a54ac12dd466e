"""A real model runs a fixed subset of the tool-calling suite: every request is accepted (no
infra error) and it scores above 0.

Skipped unless ``AGENTTREE_BENCH_MODEL`` names the model (a spec such as
``openai:smollm2@http://127.0.0.1:8080/v1``) and, if it needs one, ``AGENTTREE_BENCH_SETTINGS``
a settings file for it. The whole suite against the same model is
``agenttree bench tool_calling --model SPEC``; docs/bench.md gives the figure.
"""

import os

import pytest

from agenttree.bench.runner import matches
from agenttree.bench.suites import load_suite
from agenttree.cli import main

from .helpers import TOOL_CALLING, events

CI_CASES = ("s-mul,s-weather,s-time,m-add,p-weather,pm-weather-time,t-add-mul,v-umbrella,"
            "i-capital,i-joke,x-weather,x-population")
"""The fixed subset a real model runs in CI: every category, twelve cases."""
MODEL = os.environ.get("AGENTTREE_BENCH_MODEL")
SETTINGS = os.environ.get("AGENTTREE_BENCH_SETTINGS")


def test_the_ci_subset_names_real_cases_of_every_category():
    suite = load_suite(TOOL_CALLING)
    chosen = [c for c in suite.cases if matches(c.id, CI_CASES)]
    assert len(chosen) == len(CI_CASES.split(","))
    categories = {suite.parsed[c.id].category for c in chosen}
    assert categories == {tc.category for tc in suite.parsed.values()}


@pytest.mark.skipif(MODEL is None, reason="set AGENTTREE_BENCH_MODEL to a model spec (e.g. a "
                                          "llama.cpp server on 127.0.0.1) to run")
def test_a_real_model_runs_the_ci_subset(tmp_path):
    extra = ["--settings", SETTINGS] if SETTINGS else []
    assert main(["bench", "tool_calling", "--model", MODEL, "--cases", CI_CASES, "--reports",
                 str(tmp_path), "--quiet", *extra]) == 0
    (report,) = (tmp_path / "tool-calling").iterdir()
    ends = [e for e in events(report) if e["type"] == "case/end"]
    assert [e for e in ends if e["status"] == "infra-error"] == []
    assert sum(e["score"] for e in ends) > 0
