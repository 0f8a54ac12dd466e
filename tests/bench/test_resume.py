"""Resuming a bench run: after SIGKILL (a real subprocess), after a torn log, and refusing when
a case's fingerprint or the run's parameters changed."""

import os
import re
import signal
import subprocess
import sys

import pytest

from agenttree.bench.runner import Options, Runner, matches, read_recorded
from agenttree.bench.suites import EdnCache, load_suite
from agenttree.cli import main
from agenttree.errors import UserError

from .helpers import TOOL_CALLING, copy_suite, events, run_bench

ARGS = ["--cases", "[mp]-*", "--model", "scripted:reference", "--model", "scripted:naive",
        "--seed", "3", "--concurrency", "2"]
RUNS = 2 * sum(matches(c.id, "[mp]-*") for c in load_suite(TOOL_CALLING).cases)


def _bench(*args: str) -> subprocess.Popen:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "agenttree", "bench", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_resume_after_sigkill_gives_the_uninterrupted_summary(tmp_path):
    reports = tmp_path / "killed"
    proc = _bench(str(TOOL_CALLING), *ARGS, "--reports", str(reports))
    seen = []
    while len(seen) < 6:  # each line is one case/end already written to the report
        line = proc.stdout.readline()
        assert line, proc.stderr.read()
        seen.append(line)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
    (report,) = (reports / "tool-calling").iterdir()
    before = events(report)
    ended = {e["key"] for e in before if e["type"] == "case/end"}
    started = {e["key"] for e in before if e["type"] == "case/start"}
    assert 6 <= len(ended) < RUNS and not (report / "summary.json").exists()

    resumed = _bench(str(TOOL_CALLING), "--resume", str(report))
    _out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err

    assert main(["bench", str(TOOL_CALLING), *ARGS, "--reports", str(tmp_path / "whole"),
                 "--quiet"]) == 0
    (whole,) = (tmp_path / "whole" / "tool-calling").iterdir()
    assert (report / "summary.json").read_bytes() == (whole / "summary.json").read_bytes()

    after = events(report)
    ends = [e for e in after if e["type"] == "case/end"]
    assert len(ends) == RUNS and len({e["key"] for e in ends}) == RUNS
    # Nothing that had ended ran again; what was interrupted ran again as attempt 2, and the
    # first attempt's files are still there.
    rerun = {e["key"]: e["attempt"] for e in after[len(before):] if e["type"] == "case/start"}
    assert not set(rerun) & ended
    for key in started - ended:
        assert rerun[key] == 2
        case, model, epoch = key.split("|")
        stem = f"{case}-{model.replace(':', '_')}-{epoch}"
        assert (report / "cases" / f"{stem}-a1").is_dir()
        assert (report / "cases" / f"{stem}-a2" / "events.jsonl").is_file()
    resumes = [e for e in after if e["type"] == "run/start"]
    assert [r["resumed"] for r in resumes] == [False, True]
    assert resumes[1]["skipped"] == len(ended)


@pytest.mark.parametrize("torn", [
    b'{"seq": 99, "ty',
    # a whole last line that is not JSON: the reader skips it as torn, so the resumed writer
    # must cut it too (before, it stayed and was corrupt in the middle once lines followed)
    b'{"seq": 99, "ty\n',
])
async def test_interrupted_case_reruns_as_a_new_attempt(tmp_path, torn: bytes):
    opts = {"models": ("scripted:reference",), "cases": "p-*", "seed": 1}
    report = tmp_path / "r"
    await run_bench(TOOL_CALLING, report, **opts)
    whole = (report / "summary.json").read_bytes()
    lines = (report / "events.jsonl").read_bytes().splitlines(keepends=True)
    last_end = max(i for i, line in enumerate(lines) if b'"case/end"' in line)
    victim = events(report)[last_end]["key"]
    # As if killed during the last case: its end and the run's end never written, and a torn
    # half line at the end of the file.
    (report / "events.jsonl").write_bytes(b"".join(lines[:last_end]) + torn)
    (report / "summary.json").unlink()

    recorded = read_recorded(report)
    assert victim not in recorded.ended and recorded.attempts[victim] == 1
    await Runner(load_suite(TOOL_CALLING), Options(**opts), report, recorded=recorded).run()
    assert (report / "summary.json").read_bytes() == whole
    starts = [e for e in events(report) if e["type"] == "case/start" and e["key"] == victim]
    assert [s["attempt"] for s in starts] == [1, 2]
    assert all((report / s["dir"]).is_dir() for s in starts)


async def test_resume_refuses_a_changed_case(tmp_path):
    suite = copy_suite(TOOL_CALLING, tmp_path)
    report = tmp_path / "r"
    opts = Options(models=("scripted:reference",), cases="s-mul")
    await Runner(load_suite(suite), opts, report).run()
    simple = suite / "cases" / "simple.edn"
    simple.write_text(simple.read_text().replace("What is 6 times 7?", "What is 6 x 7?"))
    with pytest.raises(UserError, match=r"case s-mul \(scripted:reference, epoch 1\) no longer "
                                        r"matches its fingerprint \(spec changed\)"):
        Runner(load_suite(suite), opts, report, recorded=read_recorded(report))
    (suite / "suite.edn").write_text(re.sub(r':version "\w+"', ':version "changed"',
                                            (suite / "suite.edn").read_text()))
    with pytest.raises(UserError, match=r"suite_version, spec changed"):
        Runner(load_suite(suite), opts, report, recorded=read_recorded(report))


def test_resume_refuses_other_parameters(tmp_path, capsys):
    reports = tmp_path / "reports"
    assert main(["bench", str(TOOL_CALLING), "--cases", "s-add", "--reports", str(reports),
                 "--quiet"]) == 0
    (report,) = (reports / "tool-calling").iterdir()
    capsys.readouterr()
    assert main(["bench", str(TOOL_CALLING), "--resume", str(report), "--seed", "5"]) == 2
    assert "--seed 5 differs from the run being resumed (0)" in capsys.readouterr().err
    assert main(["bench", str(TOOL_CALLING), "--resume", str(report), "--quiet"]) == 0
    assert sum(e["type"] == "case/end" for e in events(report)) == 1


def test_suite_cache_serves_known_bytes_and_reparses_changed_ones(tmp_path):
    suite = copy_suite(TOOL_CALLING, tmp_path)
    cache = EdnCache()
    first = load_suite(suite, cache)
    cache.save(tmp_path / "cache.json")
    again = EdnCache.load(tmp_path / "cache.json")
    second = load_suite(suite, again)
    assert [c.hash for c in second.cases] == [c.hash for c in first.cases]
    assert second.parsed["s-weather"] == first.parsed["s-weather"]  # AnyOf survives the trip
    simple = suite / "cases" / "simple.edn"
    simple.write_text(simple.read_text().replace("What is 6 times 7?", "What is 6 x 7?"))
    third = load_suite(suite, again)
    assert third.parsed["s-mul"].prompt == "What is 6 x 7?"
    assert EdnCache.load(tmp_path / "missing.json")(simple) == EdnCache()(simple)


def test_cli_resume_with_a_changed_case_is_refused_despite_the_cache(tmp_path, capsys):
    suite = copy_suite(TOOL_CALLING, tmp_path)
    reports = tmp_path / "reports"
    assert main(["bench", str(suite), "--cases", "s-mul", "--reports", str(reports),
                 "--quiet"]) == 0
    (report,) = (reports / "tool-calling").iterdir()
    assert (report / "suite-cache.json").is_file()
    simple = suite / "cases" / "simple.edn"
    simple.write_text(simple.read_text().replace("What is 6 times 7?", "What is 6 x 7?"))
    capsys.readouterr()
    assert main(["bench", str(suite), "--resume", str(report)]) == 2
    assert "no longer matches its fingerprint (spec changed)" in capsys.readouterr().err
