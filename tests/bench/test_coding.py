"""The coding suite: hidden black-box tests prove the harness with known-good, known-bad and
hard-coded reference solutions, on both backends; inputs come from the run's seed; a case
passes only when every declared test ran and passed."""

import sys
from pathlib import Path

import pytest
import trio

from agenttree.bench import coding
from agenttree.bench.case import CaseRun, Limiters
from agenttree.bench.checks import MIN_TESTS, HiddenTests, Sut, run_checks
from agenttree.bench.coding import grade
from agenttree.bench.suites import SuiteError, load_suite

from ..sandbox.engine import engine_problem, leftovers, require
from .helpers import CODING, HANG_GUARD_S, ctrf, one_case_suite, run_bench

MODELS = ("scripted:reference", "scripted:bad", "scripted:hardcoded")


def _limiters():
    return Limiters(model_connections=1, sandboxes=trio.CapacityLimiter(1),
                    subprocesses=trio.CapacityLimiter(1))


def _run(suite, case_id, case_dir, model="scripted:reference", backend="local"):
    case = next(c for c in suite.cases if c.id == case_id)
    return CaseRun(case=case, model=model, seed=0, epoch=1, attempt=1, case_dir=case_dir,
                   offered=(), limiters=_limiters(), backend=backend,
                   on_event=lambda *_: None)


def _cases():
    browser = coding.missing_requirement(("chromium",)) is None
    return [c.id for c in load_suite(CODING).cases if browser or c.id != "login-page"]


def _check_outcomes(summary, report, models):
    cases = _cases()
    parsed = load_suite(CODING).parsed
    good = summary["models"]["scripted:reference"]
    assert (good["passed"], good["scored"], good["mean_score"]) == (len(cases), len(cases), 1.0)
    bad = summary["models"]["scripted:bad"]
    assert (bad["passed"], bad["scored"], bad["mean_score"]) == (0, len(cases), 0.0)
    for model in models:
        for case in cases:
            (run,) = summary["cases"][case][model]["runs"]
            want = "pass" if model == "scripted:reference" else "fail"
            assert run["status"] == want, (case, model, run)
            results = ctrf(report, f"{case}-{model.replace(':', '_')}-e1-a1")
            expected = results["summary"]["extra"]["expected"]
            assert results["summary"]["tests"] == expected >= MIN_TESTS, (case, results)
            assert tuple(t["name"] for t in results["tests"]) == parsed[case].hidden.names, \
                (case, model)
            assert all(t["suite"] == "must-pass" and isinstance(t["duration"], float)
                       for t in results["tests"])
    assert summary["sealed"] is True


async def test_good_solutions_pass_bad_and_hard_coded_ones_fail_locally(tmp_path):
    with trio.fail_after(HANG_GUARD_S):
        summary = await run_bench(CODING, tmp_path / "r", concurrency=2, models=MODELS)
    _check_outcomes(summary, tmp_path / "r", MODELS)
    good = summary["models"]["scripted:reference"]
    assert good["totals"]["tool_calls"] > 0 and good["means"]["tests_passed"] >= MIN_TESTS
    assert "diff_lines" in good["means"] and "lint_issues" in good["means"]
    failed = ctrf(tmp_path / "r", "http-echo-scripted_bad-e1-a1")["tests"]
    assert all(t["status"] == "failed" and t["message"] for t in failed)
    for case in _cases():  # written for fixed inputs: it does get some right, never all
        assert 0 < summary["cases"][case]["scripted:hardcoded"]["runs"][0]["score"] < 1, case


async def test_good_solutions_pass_and_bad_ones_fail_in_containers(tmp_path):
    require(engine_problem())
    models = ("scripted:reference", "scripted:bad")
    with trio.fail_after(HANG_GUARD_S):
        summary = await run_bench(CODING, tmp_path / "r", concurrency=2, models=models,
                                  backend="docker")
    _check_outcomes(summary, tmp_path / "r", models)
    for case_dir in (tmp_path / "r" / "cases").iterdir():
        names = [p.name for p in (case_dir / "containers").iterdir()]
        assert len(names) == 2 and sum("-agent-" in n for n in names) == 1, names
        for name in names:  # the agent's container and the program's, both gone
            assert not any(leftovers(name).values()), name


async def test_a_program_that_never_starts_fails_the_case(tmp_path):
    root = one_case_suite(tmp_path, "http-echo",
                          {"crash": {"server.py": "import sys\nsys.exit(3)\n"}})
    suite = load_suite(root)
    with trio.fail_after(HANG_GUARD_S):
        outcome = await suite.run_case(_run(suite, "http-echo", tmp_path / "c", "scripted:crash"))
    assert outcome.status == "fail" and outcome.score == 0.0
    assert "the program did not start" in outcome.reason
    assert len(outcome.failures) == len(suite.parsed["http-echo"].hidden.names) >= MIN_TESTS


async def test_case_without_its_browser_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(coding, "CHROMIUM", Path(tmp_path / "no-chromium"))
    suite = load_suite(CODING)
    outcome = await suite.run_case(_run(suite, "login-page", tmp_path / "c"))
    assert outcome.status == "skipped"
    missing = tmp_path / "no-chromium"
    assert outcome.reason == f"needs Chromium at {missing} (Debian package chromium)"


@pytest.mark.parametrize("model", ["scripted:naive", "scripted:"])
def test_unknown_scripted_model_is_refused(model):
    with pytest.raises(SuiteError,
                       match="plays scripted:reference or scripted:bad or scripted:hardcoded"):
        load_suite(CODING).check_model(model)


def _checks(tmp_path, body):
    path = tmp_path / "checks.py"
    path.write_text(body)
    return HiddenTests.read(path)


def _sut(tmp_path):
    return Sut(port=None, python=sys.executable, box=None, workspace=tmp_path)


DRAWS = "".join(f"async def test_{i}(sut):\n    raise AssertionError(sut.rng.random())\n\n\n"
                for i in range(MIN_TESTS))


async def test_hidden_inputs_are_drawn_from_the_runs_seed(tmp_path):
    hidden = _checks(tmp_path, DRAWS)

    async def draws(seed):
        report = await run_checks(hidden, _sut(tmp_path), seed=seed)
        return [t["message"] for t in report.tests]

    first = await draws("0/case")
    assert first == await draws("0/case")  # the same seed: the same inputs
    assert len(set(first)) == MIN_TESTS  # each test its own
    other = await draws("1/case")
    assert not set(first) & set(other)


SHARED = '''
import threading
from contextlib import contextmanager

import trio


@contextmanager
def session(sut):
    yield {"thread": threading.get_ident(), "seen": []}


def test_a(sut, shared):
    assert shared["thread"] == threading.get_ident()
    shared["seen"].append("a")


async def test_b(sut):
    await trio.sleep(0)


def test_c(sut, shared):
    assert shared["seen"] == ["a"], shared


''' + "".join(f"def test_d{i}(sut, shared):\n    pass\n\n\n" for i in range(MIN_TESTS - 3))


async def test_plain_tests_share_one_thread_and_the_modules_session(tmp_path):
    report = await run_checks(_checks(tmp_path, SHARED), _sut(tmp_path), seed="0/x")
    assert [t["name"] for t in report.tests][:3] == ["test_a", "test_b", "test_c"]
    assert report.passed == report.total == report.expected == MIN_TESTS


async def test_a_failing_session_fails_the_tests_it_did_not_reach(tmp_path):
    body = SHARED.replace("@contextmanager\ndef session(sut):\n",
                          "@contextmanager\ndef session(sut):\n    raise OSError('no browser')\n")
    report = await run_checks(_checks(tmp_path, body), _sut(tmp_path), seed="0/x")
    assert report.passed == 1 and report.total == MIN_TESTS  # test_b, an async test
    assert {t["message"] for t in report.tests if t["status"] == "failed"} == \
        {"session: OSError: no browser"}


async def test_a_case_passes_only_when_every_declared_test_ran(tmp_path):
    body = "".join(f"async def test_{i}(sut):\n    pass\n\n\n" for i in range(MIN_TESTS))
    hidden = _checks(tmp_path, body + f"del test_{MIN_TESTS - 1}\n")
    report = await run_checks(hidden, _sut(tmp_path), seed="0/x")
    assert report.passed == report.total == MIN_TESTS - 1 and report.expected == MIN_TESTS
    outcome = grade(report, {})
    assert outcome.status == "fail"
    assert outcome.score == round((MIN_TESTS - 1) / MIN_TESTS, 6)
    assert outcome.reason == f"ran {MIN_TESTS - 1} of {MIN_TESTS} expected hidden tests"


async def test_the_tests_run_from_the_copy_taken_when_the_suite_loaded(tmp_path):
    hidden = _checks(tmp_path, DRAWS)
    (tmp_path / "checks.py").write_text("def test_everything(sut):\n    pass\n")
    report = await run_checks(hidden, _sut(tmp_path), seed="0/x")
    assert (report.total, report.passed) == (MIN_TESTS, 0)
    assert report.tests[0]["name"] == "test_0"


async def test_a_sealed_case_where_nothing_can_seal_it_is_an_infra_error(tmp_path, monkeypatch):
    monkeypatch.setattr(coding, "can_seal", lambda: False)
    suite = load_suite(CODING)
    outcome = await suite.run_case(_run(suite, "http-echo", tmp_path / "c"))
    assert outcome.status == "infra-error"
    assert outcome.reason == "cannot seal the case: bubblewrap does not work here"
    assert not (tmp_path / "c").exists()
