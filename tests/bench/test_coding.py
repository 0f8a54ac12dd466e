"""The coding suite: hidden black-box tests prove the harness with known-good and known-bad
reference solutions; the hidden tests stay out of the agent's reach."""

import os
from pathlib import Path

import orjson
import pytest
import trio

from agenttree.bench import coding
from agenttree.bench.case import CaseRun, Limiters
from agenttree.bench.engine import HidingConfinement, run_tree
from agenttree.bench.suites import SuiteError, load_suite

from .helpers import CODING, run_bench


def _limiters():
    return Limiters(model_connections=1, sandboxes=trio.CapacityLimiter(1),
                    subprocesses=trio.CapacityLimiter(1))


def _run(suite, case_id, case_dir, model="scripted:reference"):
    case = next(c for c in suite.cases if c.id == case_id)
    return CaseRun(case=case, model=model, seed=0, epoch=1, attempt=1, case_dir=case_dir,
                   decoys=(), limiters=_limiters(), backend="local",
                   on_event=lambda *_: None)


async def test_good_solutions_pass_and_bad_ones_fail(tmp_path):
    with trio.fail_after(180):
        summary = await run_bench(CODING, tmp_path / "r", concurrency=2,
                                  models=("scripted:reference", "scripted:bad"))
    browser = coding.missing_requirement(("chromium",)) is None
    cases = 5 if browser else 4
    good, bad = summary["models"]["scripted:reference"], summary["models"]["scripted:bad"]
    assert (good["passed"], good["scored"], good["mean_score"]) == (cases, cases, 1.0)
    assert (bad["passed"], bad["scored"], bad["mean_score"]) == (0, cases, 0.0)
    assert good["skipped"] == bad["skipped"] == 5 - cases
    assert good["totals"]["tool_calls"] > 0 and good["means"]["tests_passed"] > 0
    assert "diff_lines" in good["means"] and "lint_issues" in good["means"]
    ctrf = orjson.loads((tmp_path / "r" / "cases" / "kv-api-scripted_reference-e1-a1"
                         / "ctrf.json").read_bytes())["results"]
    assert ctrf["summary"]["tests"] == ctrf["summary"]["passed"] == 5
    assert {t["name"] for t in ctrf["tests"]} >= {"test_delete", "test_put_without_value_is_400"}
    assert all(t["status"] == "passed" and t["suite"] == "must-pass" and t["duration"] >= 0
               for t in ctrf["tests"])
    failed = orjson.loads((tmp_path / "r" / "cases" / "http-echo-scripted_bad-e1-a1"
                           / "ctrf.json").read_bytes())["results"]["tests"]
    assert all(t["status"] == "failed" and t["message"] for t in failed)


async def test_hidden_tests_are_out_of_the_agents_reach(tmp_path):
    suite = load_suite(CODING)
    case_dir = tmp_path / "case"
    workspace = case_dir / "workspace"
    hidden = CODING / "http-echo" / "hidden" / "checks.py"
    relative = os.path.relpath(hidden, workspace)
    tries = [{"tool": "read-file", "args": {"path": relative}},
             {"tool": "read-file", "args": {"path": str(hidden)}},
             {"tool": "list-dir", "args": {"path": os.path.dirname(relative)}},
             {"tool": "write-file", "args": {"path": relative, "content": "pass"}}]
    reported = []
    result = await run_tree(suite.plan(suite.cases[0], "scripted:probe"), case_dir,
                            model="scripted:probe", seed=0, limiters=_limiters(),
                            script=[{"calls": [t]} for t in tries] + [{"say": "done"}],
                            on_event=lambda kind, fields: reported.append((kind, fields)),
                            hidden=(CODING,))
    assert result.status == "done"
    outcomes = [f for kind, f in reported if kind == "tool/result"]
    assert len(outcomes) == 4 and not any(o["ok"] for o in outcomes)
    secret = hidden.read_text()
    assert all("test_echo_text" not in o["output"] for o in outcomes)
    assert "absolute" in outcomes[1]["output"]
    assert hidden.read_text() == secret


def test_bubblewrap_hides_the_suite_from_shell_commands():
    box = HidingConfinement(kind="bwrap", hidden=("/suites",))
    argv = box.wrap(["sh", "-c", "cat /suites/x"], workspace="/w", cwd="/w")
    cut = argv.index("--")
    assert argv[cut - 2:cut] == ["--tmpfs", "/suites"] and argv[cut + 1:] == ["sh", "-c",
                                                                           "cat /suites/x"]


async def test_a_program_that_never_starts_fails_the_case(tmp_path, monkeypatch):
    suite = load_suite(CODING)
    turns = [{"calls": [{"tool": "write-file", "args": {
        "path": "server.py", "content": "import sys\nsys.exit(3)\n"}}]}, {"say": "done"}]
    monkeypatch.setattr(suite, "script", lambda cc, model: turns)
    with trio.fail_after(60):
        outcome = await suite.run_case(_run(suite, "http-echo", tmp_path / "c"))
    assert outcome.status == "fail" and outcome.score == 0.0
    assert "the program did not start" in outcome.reason
    assert len(outcome.failures) == 4


async def test_case_without_its_browser_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(coding, "CHROMIUM", Path(tmp_path / "no-chromium"))
    suite = load_suite(CODING)
    outcome = await suite.run_case(_run(suite, "login-page", tmp_path / "c"))
    assert outcome.status == "skipped"
    missing = tmp_path / "no-chromium"
    assert outcome.reason == f"needs Chromium at {missing} (Debian package chromium)"


@pytest.mark.parametrize("model", ["scripted:naive", "scripted:"])
def test_unknown_scripted_model_is_refused(model):
    with pytest.raises(SuiteError, match="plays scripted:reference or scripted:bad"):
        load_suite(CODING).check_model(model)
