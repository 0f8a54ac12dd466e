"""Infra errors retried on request (``--retry-errors``), a run stopped by too many of them
(``--max-infra-errors``) or by Ctrl-C, and resuming after either."""

import os
import shlex
import signal
import subprocess
import sys

import orjson
import pytest
import trio

from agenttree.bench.runner import Options, Runner, RunStopped, read_recorded
from agenttree.bench.suites import load_suite

from .fake_provider import FakeProvider
from .helpers import HANG_GUARD_S, TOOL_CALLING, events
from .real_answers import RealModel

CASES = "s-mul,s-add,s-div"


def _starts(report):
    found: dict[str, list[int]] = {}
    for e in events(report):
        if e["type"] == "case/start":
            found.setdefault(e["case"], []).append(e["attempt"])
    return found


async def _serve(nursery, **kwargs):
    provider = FakeProvider(answer=RealModel().answer, **kwargs)
    return provider, await provider.serve(nursery)


async def test_retry_errors_runs_an_infra_error_again_as_a_new_attempt(tmp_path):
    report = tmp_path / "r"
    async with trio.open_nursery() as nursery:
        _, model = await _serve(nursery, refuse=2)  # a bad key for the first two requests
        with trio.fail_after(HANG_GUARD_S):
            summary = await Runner(load_suite(TOOL_CALLING), Options(
                models=(model,), cases=CASES, retry_errors=2), report).run()
        nursery.cancel_scope.cancel()
    m = summary["models"][model]
    assert (m["passed"], m["infra_errors"]) == (3, 0)
    starts = _starts(report)
    assert sorted(starts.values()) == [[1], [1], [1, 2, 3]]
    (case,) = [case for case, attempts in starts.items() if len(attempts) == 3]
    ends = [e for e in events(report) if e["type"] == "case/end" and e["case"] == case]
    assert [e["status"] for e in ends] == ["infra-error", "infra-error", "pass"]
    assert "401" in ends[0]["reason"]
    dirs = [e["dir"] for e in events(report) if e["type"] == "case/start" and e["case"] == case]
    assert [d[-3:] for d in dirs] == ["-a1", "-a2", "-a3"]
    assert all((report / d / "events.jsonl").is_file() for d in dirs)


async def test_retries_run_out(tmp_path):
    async with trio.open_nursery() as nursery:
        _, model = await _serve(nursery, refuse=2)
        with trio.fail_after(HANG_GUARD_S):
            summary = await Runner(load_suite(TOOL_CALLING), Options(
                models=(model,), cases=CASES, retry_errors=1), tmp_path / "r").run()
        nursery.cancel_scope.cancel()
    m = summary["models"][model]
    assert (m["passed"], m["infra_errors"]) == (2, 1)
    assert sorted(_starts(tmp_path / "r").values()) == [[1], [1], [1, 2]]


async def test_resume_skips_infra_errors_unless_asked_to_retry_them(tmp_path):
    report = tmp_path / "r"
    suite = load_suite(TOOL_CALLING)
    async with trio.open_nursery() as nursery:
        provider, model = await _serve(nursery, refuse=10**6)
        opts = Options(models=(model,), cases=CASES)
        with trio.fail_after(HANG_GUARD_S):
            first = await Runner(suite, opts, report).run()
            assert first["models"][model]["infra_errors"] == 3
            provider.refuse = 0  # the provider works again
            again = await Runner(suite, opts, report, recorded=read_recorded(report)).run()
            assert again == first and all(a == [1] for a in _starts(report).values())
            retried = await Runner(suite, Options(models=(model,), cases=CASES,
                                                  retry_errors=1),
                                   report, recorded=read_recorded(report)).run()
        nursery.cancel_scope.cancel()
    m = retried["models"][model]
    assert (m["passed"], m["infra_errors"]) == (3, 0)
    assert all(a == [1, 2] for a in _starts(report).values())


async def test_too_many_infra_errors_stop_the_run_and_it_resumes(tmp_path):
    report = tmp_path / "r"
    suite = load_suite(TOOL_CALLING)
    async with trio.open_nursery() as nursery:
        provider, model = await _serve(nursery, refuse=10**6)
        with trio.fail_after(HANG_GUARD_S), pytest.raises(RunStopped) as stopped:
            await Runner(suite, Options(models=(model,), cases="s-*", max_infra_errors=2),
                         report).run()
        assert not stopped.value.interrupted
        assert "3 case runs ended in an infra error, more than --max-infra-errors 2" in \
            stopped.value.reason
        log = events(report)
        assert [e["status"] for e in log if e["type"] == "case/end"] == ["infra-error"] * 3
        assert sum(e["type"] == "case/start" for e in log) == 3
        assert log[-1]["type"] == "run/stopped" and log[-1]["done"] == 3
        assert not (report / "summary.json").exists()
        provider.refuse = 0
        with trio.fail_after(HANG_GUARD_S):
            summary = await Runner(suite, Options(models=(model,), cases="s-*",
                                                  retry_errors=1),
                                   report, recorded=read_recorded(report)).run()
        nursery.cancel_scope.cancel()
    n = len([c for c in suite.cases if c.id.startswith("s-")])
    assert (summary["models"][model]["passed"], summary["models"][model]["scored"]) == (n, n)


async def _cli(cwd, *args, interrupt: trio.Event | None = None):
    """Run ``agenttree ARGS`` in a subprocess; with ``interrupt``, send it SIGINT (Ctrl-C)
    once the event is set. Returns (exit status, stdout, stderr)."""
    env = {**os.environ, "COLUMNS": "200"}
    proc = await trio.lowlevel.open_process([sys.executable, "-m", "agenttree", *args],
                                            cwd=cwd, env=env, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE)
    out, err = bytearray(), bytearray()

    async def drain(stream, into):
        async for chunk in stream:
            into += chunk

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(drain, proc.stdout, out)
            nursery.start_soon(drain, proc.stderr, err)
            if interrupt is not None:
                await interrupt.wait()
                proc.send_signal(signal.SIGINT)
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()
    return proc.returncode, out.decode(), err.decode()


async def test_ctrl_c_prints_the_resume_command_and_exits_130(tmp_path):
    async with trio.open_nursery() as nursery:
        provider, model = await _serve(nursery, stall=True)  # the first request never ends
        with trio.fail_after(HANG_GUARD_S):
            code, _out, err = await _cli(tmp_path, "bench", "tool_calling", "--model", model,
                                         "--cases", CASES, "--reports", "reports",
                                         interrupt=provider.got_request)
        assert code == 130, err
        assert "Traceback" not in err and "Error" not in err
        lines = err.splitlines()
        assert lines[0] == "agenttree: interrupted (SIGINT): 0 of 3 case runs done."
        assert lines[1] == "Resume with:"
        (report,) = (tmp_path / "reports" / "tool-calling").iterdir()
        resume = shlex.split(lines[2])
        assert resume == ["agenttree", "bench", "tool_calling", "--resume",
                          str(report.relative_to(tmp_path))]
        log = events(report)
        assert log[-1]["type"] == "run/stopped" and log[-1]["interrupted"]
        (interrupted,) = [e["key"] for e in log if e["type"] == "case/start"]

        provider.stall = False
        with trio.fail_after(HANG_GUARD_S):
            code, _out, err = await _cli(tmp_path, *resume[1:])
        nursery.cancel_scope.cancel()
    assert code == 0, err
    summary = orjson.loads((report / "summary.json").read_bytes())
    assert summary["models"][model]["passed"] == 3
    starts = [e for e in events(report) if e["type"] == "case/start" and e["key"] == interrupted]
    assert [s["attempt"] for s in starts] == [1, 2]


async def test_max_infra_errors_from_the_command_line(tmp_path):
    async with trio.open_nursery() as nursery:
        _, model = await _serve(nursery, refuse=10**6)
        with trio.fail_after(HANG_GUARD_S):
            code, _out, err = await _cli(tmp_path, "bench", "tool-calling", "--model", model,
                                         "--cases", CASES, "--reports", "reports",
                                         "--max-infra-errors", "0")
        nursery.cancel_scope.cancel()
    assert code == 1
    assert err.startswith("agenttree: 1 case runs ended in an infra error, more than "
                          "--max-infra-errors 0 allows (the last: model: ")
    assert "Resume with:\n  agenttree bench tool-calling --resume reports/tool-calling/run-" \
        in err and "Traceback" not in err


async def test_the_resume_command_repeats_how_a_coding_run_was_placed(tmp_path):
    async with trio.open_nursery() as nursery:
        _, model = await _serve(nursery, refuse=10**6)
        with trio.fail_after(HANG_GUARD_S):
            code, _out, err = await _cli(tmp_path, "bench", "coding", "--model", model,
                                         "--cases", "cli-wordfreq", "--reports", "reports",
                                         "--unsealed", "--max-infra-errors", "0")
            assert code == 1, err
            (report,) = (tmp_path / "reports" / "coding").iterdir()
            resume = shlex.split(err.splitlines()[2])
            assert resume == ["agenttree", "bench", "coding", "--resume",
                              str(report.relative_to(tmp_path)), "--unsealed"]
            code, _out, err = await _cli(tmp_path, *resume[1:], "--retry-errors",
                                         "--max-infra-errors", "0")
        nursery.cancel_scope.cancel()
    assert code == 1 and "Resume with:" in err, err  # stopped by the provider again
    assert [e["type"] for e in events(report) if e["type"].startswith("run/")] == \
        ["run/start", "run/stopped"] * 2
