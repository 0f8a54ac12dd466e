"""``agenttree export`` as a user runs it: bad input is one line and exit 2, a live run (torn
tail) exports with a warning, and OpenTelemetry is loaded by ``export`` only."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from agenttree.cli import main

from .conftest import RECORDED


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    shutil.copytree(RECORDED / "demo", tmp_path / "run")
    return tmp_path / "run"


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("agenttree: error: ")
    return err.strip()


@pytest.mark.parametrize(("args", "message"), [
    (["{tmp}/nope", "-o", "{tmp}/t.json"], "{tmp}/nope: no such run directory"),
    (["{tmp}", "-o", "{tmp}/t.json"], "{tmp}: not a run directory (no events.jsonl)"),
    (["{run}", "--format", "svg", "-o", "{tmp}/t.json"],
     "unknown format 'svg': choose chrome-trace or otlp-json"),
    (["{run}"], "say where the trace goes: -o FILE (or - for standard output), --otlp URL, "
                "or both"),
    (["{run}", "-o", "{tmp}/no/such/dir/t.json"],
     "-o {tmp}/no/such/dir/t.json: cannot write there: No such file or directory"),
    (["{run}", "-o", "{run}/workspace"], "-o {run}/workspace: cannot write there: "
                                         "Is a directory"),
    (["{run}", "-o", "{run}/events.jsonl"],
     "-o {run}/events.jsonl: that is the run's own events.jsonl; choose another file"),
    (["{run}", "--otlp", "localhost:4318"], "--otlp 'localhost:4318': give the collector's "
                                            "http(s) URL, e.g. http://127.0.0.1:4318 (its "
                                            "/v1/traces is used)"),
    (["{run}", "--otlp", "ftp://127.0.0.1/"], "--otlp 'ftp://127.0.0.1/': give the"),
    (["{run}", "--otlp", "http://"], "--otlp 'http://': give the"),
    (["{run}", "--otlp", "http://127.0.0.1:4318", "--otlp-timeout", "0"],
     "--otlp-timeout 0: give a number of seconds > 0"),
])
def test_bad_input_is_one_line_and_exit_2(args: list[str], message: str, run_dir: Path,
                                          tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    (run_dir / "workspace").mkdir(exist_ok=True)
    log = (run_dir / "events.jsonl").read_bytes()

    def fill(text: str) -> str:
        return text.replace("{tmp}", str(tmp_path)).replace("{run}", str(run_dir))

    assert main(["export", *map(fill, args)]) == 2
    assert one_error_line(capsys).startswith(f"agenttree: error: {fill(message)}")
    assert (run_dir / "events.jsonl").read_bytes() == log  # nothing lost
    assert sorted(p.name for p in run_dir.iterdir()) == ["events.jsonl", "workspace"]
    assert not list((run_dir / "workspace").iterdir())  # no temporary file left behind


def test_a_log_with_no_events_yet_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "events.jsonl").write_bytes(b"")
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "t.json")]) == 2
    assert one_error_line(capsys) == \
        f"agenttree: error: {tmp_path}: the log has no run in it yet; nothing to export"
    assert not (tmp_path / "t.json").exists()


def test_a_corrupt_log_is_one_line_and_exit_2(run_dir: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    lines = (run_dir / "events.jsonl").read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b'"seq":6', b'"seq":7')
    (run_dir / "events.jsonl").write_bytes(b"\n".join(lines))
    assert main(["export", str(run_dir), "-o", str(run_dir / "t.json")]) == 2
    assert "events.jsonl:6: corrupt event record" in one_error_line(capsys)


def test_a_live_run_with_a_torn_tail_exports_with_a_warning(
        run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = (run_dir / "events.jsonl").read_bytes()
    (run_dir / "events.jsonl").write_bytes(data[:data.index(b"\n", len(data) // 3) + 25])
    out = run_dir / "trace.json"
    assert main(["export", str(run_dir), "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("agenttree: warning: dropped a torn last record at line ")
    events = json.loads(out.read_text())["traceEvents"]
    still = [e for e in events if e["ph"] == "X" and e["args"].get("agenttree.open")]
    assert {e["cat"] for e in still} >= {"run", "agent"}


def test_dash_writes_the_trace_to_standard_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", str(RECORDED / "conflict"), "--format", "otlp-json", "-o", "-"]) == 0
    request = json.loads(capsys.readouterr().out)
    assert request["resourceSpans"][0]["scopeSpans"][0]["spans"]


def test_an_existing_file_is_replaced_whole(run_dir: Path) -> None:
    out = run_dir / "trace.json"
    out.write_text("x" * 10_000_000)
    assert main(["export", str(run_dir), "-o", str(out)]) == 0
    assert json.loads(out.read_text())["traceEvents"]


@pytest.mark.parametrize("fmt", ["chrome-trace", "otlp-json"])
def test_exporting_a_log_twice_gives_the_same_bytes(fmt: str, tmp_path: Path) -> None:
    files = [tmp_path / "a", tmp_path / "b"]
    for out in files:
        assert main(["export", str(RECORDED / "web-fold"), "--format", fmt, "-o", str(out)]) == 0
    assert files[0].read_bytes() == files[1].read_bytes()


IMPORTED = ("import json, sys; from agenttree.cli import main; rc = main(sys.argv[1:]); "
            "print(json.dumps([rc, sorted({m.split('.')[1] for m in sys.modules "
            "if m.startswith('opentelemetry.')})]))")


@pytest.mark.parametrize(("args", "sdk", "loaded"), [
    (["replay", "{run}"], False, []),
    (["plan", "check", "plans/demo.edn"], False, []),
    (["export", "{run}", "-o", "{tmp}/t.json"], False, ["semconv"]),  # the attribute names
    (["export", "{run}", "--format", "otlp-json", "-o", "{tmp}/t.json"], True, None),
])
def test_only_export_imports_opentelemetry(args: list[str], sdk: bool, loaded: list[str] | None,
                                           tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    args = [a.replace("{run}", str(RECORDED / "demo")).replace("{tmp}", str(tmp_path))
            for a in args]
    result = subprocess.run([sys.executable, "-c", IMPORTED, *args], cwd=root,
                            capture_output=True, text=True, timeout=120)
    rc, found = json.loads(result.stdout.splitlines()[-1])
    assert rc == 0, result.stderr
    assert ("sdk" in found) is sdk
    assert loaded is None or found == loaded


LIVE_PLAN = """{:run/name "live"
 :tiers [{:depth 0 :models ["scripted"] :tools :all}]
 :task {:task/id "root" :goal "wait for the test"
        :script [{:call :sh :args {:cmd "echo started > started; cat release"}}
                 {:say "released"}]}}
"""


async def test_a_live_run_exports_what_is_running_as_open_spans(tmp_path: Path) -> None:
    """A real engine, held inside its ``sh`` call by two FIFOs: the call opens ``started``
    (the test sees it has begun) and reads ``release`` (it ends when the test says so)."""
    plan, run = tmp_path / "live.edn", tmp_path / "live"
    plan.write_text(LIVE_PLAN)
    (run / "workspace").mkdir(parents=True)
    os.mkfifo(run / "workspace" / "started")
    os.mkfifo(run / "workspace" / "release")
    log = tmp_path / "engine.out"
    with log.open("wb") as out:
        engine = subprocess.Popen([sys.executable, "-m", "agenttree", "run", str(plan),
                                   "--run-dir", str(run), "--quiet"], stdout=out, stderr=out)
    try:
        with trio.fail_after(120):
            said = await trio.to_thread.run_sync(
                (run / "workspace" / "started").read_text, abandon_on_cancel=True)
        assert said == "started\n"
        out = tmp_path / "live.json"
        exported = await trio.run_process(
            [sys.executable, "-m", "agenttree", "export", str(run), "-o", str(out)],
            capture_stderr=True)
        assert exported.returncode == 0
        spans = {e["name"]: e["args"] for e in json.loads(out.read_text())["traceEvents"]
                 if e["ph"] == "X"}
        assert {name for name, args in spans.items() if args.get("agenttree.open")} == \
            {"run live", "invoke_agent root", "execute_tool sh"}
        assert spans["chat scripted"]["status"] == "ok"
    finally:
        with trio.fail_after(120):
            await trio.to_thread.run_sync((run / "workspace" / "release").write_text, "go",
                                          abandon_on_cancel=True)
            await trio.to_thread.run_sync(engine.wait)
    assert engine.returncode == 0, log.read_text()
