"""Sealing the coding suite: neither the agent nor its program can read or rewrite the hidden
tests, earlier reports, ``.git`` or the run's own files, on either backend; where nothing can
seal a run, a real model is refused unless ``--unsealed``, and the report says so."""

import os
import shutil
import sys
import tempfile
from functools import partial
from pathlib import Path

import orjson
import pytest
import trio

from agenttree.bench import seal, stages
from agenttree.bench.case import Limiters
from agenttree.bench.compare import entries, rows
from agenttree.bench.engine import run_tree
from agenttree.bench.seal import SealedConfinement, python_roots, shown
from agenttree.bench.stages import DockerStage, LocalStage
from agenttree.bench.suites import load_suite
from agenttree.cli import main
from agenttree.sandbox.images import CODING_IMAGE
from agenttree.sandbox.procs import run_process

from ..sandbox.engine import engine_problem, require
from .helpers import CODING, HANG_GUARD_S, ctrf, one_case_suite, run_bench

REPO = Path(__file__).resolve().parents[2]
PASS = "def test_everything(sut):\n    pass\n"
SHOWN = shown()

REWRITE = '''import glob
import os

# Replace every hidden test this program can reach with one that passes: where it knows the
# suite is, and around its own workspace (not the whole file system: that takes long).
for root in {{{suite!r}, os.path.abspath("../../../..")}} - {{"/"}}:
    for path in glob.glob(os.path.join(root, "**", "hidden", "checks.py"), recursive=True):
        try:
            with open(path, "w") as f:
                f.write({passing!r})
        except OSError:
            pass
'''


def _rewriting_server(root: Path) -> str:
    """The issue's cheat: an http-echo server.py that rewrites the hidden tests on start, then
    serves (as the hard-coded solution does)."""
    serve = (CODING / "http-echo" / "reference" / "hardcoded" / "server.py").read_text()
    return REWRITE.format(suite=str(root), passing=PASS) + serve


async def _rewrite(tmp_path: Path, **options):
    root = tmp_path / "coding"
    root = one_case_suite(tmp_path, "http-echo",
                          {"rewrite": {"server.py": _rewriting_server(root)}})
    checks = root / "http-echo" / "hidden" / "checks.py"
    before = checks.read_text()
    with trio.fail_after(HANG_GUARD_S):
        summary = await run_bench(root, tmp_path / "r", models=("scripted:rewrite",), **options)
    (run,) = summary["cases"]["http-echo"]["scripted:rewrite"]["runs"]
    results = ctrf(tmp_path / "r", "http-echo-scripted_rewrite-e1-a1")["summary"]
    return before, checks.read_text(), run, results


@pytest.mark.parametrize("backend", ["local", "docker"])
async def test_a_program_cannot_rewrite_the_hidden_tests(tmp_path, backend):
    if backend == "docker":
        require(engine_problem())
    before, after, run, results = await _rewrite(tmp_path, backend=backend)
    assert after == before
    assert run["status"] == "fail" and 0 < run["score"] < 1  # it served, and was found out
    assert results["tests"] == results["extra"]["expected"] >= 8


async def test_unsealed_a_rewritten_file_is_not_what_runs(tmp_path):
    before, after, run, results = await _rewrite(tmp_path, sealed=False)
    assert after == PASS != before  # the cheat did reach the file, but the tests ran from the
    assert run["status"] == "fail" and 0 < run["score"] < 1  # copy taken at load
    assert results["tests"] == results["extra"]["expected"] >= 8


SECRET = "SECRET-REFERENCE-SOLUTION"


def _probes(tmp_path: Path, case_dir: Path) -> dict[str, tuple[str, str]]:
    """Name -> (command, what its output shows if it reached what it looked for)."""
    checks = CODING / "http-echo" / "hidden" / "checks.py"
    earlier = tmp_path / "reports" / "coding" / "run-1" / "cases" / "http-echo-e1-a1"
    (earlier / "workspace").mkdir(parents=True)
    (earlier / "workspace" / "server.py").write_text(SECRET)
    relative = os.path.relpath(checks, case_dir / "workspace")
    return {
        "the suite": (f"cat {checks}", "async def test_"),
        "the suite, relatively": (f"cat {relative}", "async def test_"),
        ".git": (f"git -C {REPO} show HEAD:suites/coding/http-echo/hidden/checks.py",
                 "async def test_"),
        "an earlier report": (f"cat {earlier}/workspace/server.py", SECRET),
        "the run's own files": ("cat ../events.jsonl ../plan.edn", "run/started"),
        "another process's root": (f"cat /proc/1/root{checks}", "async def test_"),
        "the docker socket": ("ls -l /var/run/docker.sock /run/docker.sock", "srw"),
        "a search": ("find / -path '*hidden/checks.py' 2>/dev/null | head -3 | xargs -r cat",
                     "async def test_"),
    }


async def _shell(stage, case_dir: Path, commands: list[str]) -> list[str]:
    """What the agent's ``sh`` printed for each command, run as a case's agent on ``stage``."""
    suite = load_suite(CODING)
    reported = []
    script = [{"calls": [{"tool": "sh", "args": {"cmd": c}}]} for c in commands]
    limiters = Limiters(model_connections=1, sandboxes=trio.CapacityLimiter(1),
                        subprocesses=trio.CapacityLimiter(1))
    with trio.fail_after(HANG_GUARD_S):
        async with stage.agent() as place:
            result = await run_tree(suite.plan(suite.cases[0], "scripted:probe"), case_dir,
                                    model="scripted:probe", seed=0, limiters=limiters,
                                    script=[*script, {"say": "done"}],
                                    on_event=lambda kind, f: reported.append((kind, f)),
                                    confinement=place.confinement, shell=place.shell)
    assert result.status == "done"
    outputs = [f["output"] for kind, f in reported if kind == "tool/result"]
    assert len(outputs) == len(commands)
    return outputs


WORKS = ["python -c 'import trio, trio_websocket, httpx; print(\"python works\")'",
         "echo made here > made.txt"]


def _stage(backend: str, case_dir: Path, sealed: bool = True):
    workspace = case_dir / "workspace"
    workspace.mkdir(parents=True)
    if backend == "docker":
        require(engine_problem())
        return DockerStage(workspace=workspace, run_dir=case_dir)
    return LocalStage(workspace=workspace, sealed=sealed,
                      hidden=(str(CODING), str(case_dir.parent.parent)))


@pytest.mark.parametrize("backend", ["local", "docker"])
async def test_the_agent_cannot_read_the_hidden_tests(tmp_path, backend):
    case_dir = tmp_path / "reports" / "coding" / "run-2" / "cases" / "http-echo-e1-a1"
    stage = _stage(backend, case_dir)
    probes = _probes(tmp_path, case_dir)
    outputs = await _shell(stage, case_dir, [c for c, _ in probes.values()] + WORKS)
    for (name, (_, shows)), output in zip(probes.items(), outputs[:len(probes)], strict=True):
        assert shows not in output, (name, output)
    assert "exit 0\npython works" in outputs[-2]  # what the agent was promised is there
    assert (case_dir / "workspace" / "made.txt").read_text() == "made here\n"


async def test_unsealed_the_same_commands_do_reach_it(tmp_path):
    """The control: without the seal, the probes above find what they look for."""
    case_dir = tmp_path / "reports" / "coding" / "run-2" / "cases" / "http-echo-e1-a1"
    stage = _stage("local", case_dir, sealed=False)
    probes = _probes(tmp_path, case_dir)
    reliable = ["the suite", "the suite, relatively", "an earlier report", "the run's own files"]
    if shutil.which("git") is not None:
        reliable.append(".git")
    outputs = await _shell(stage, case_dir, [probes[name][0] for name in reliable])
    for name, output in zip(reliable, outputs, strict=True):
        assert probes[name][1] in output, (name, output)


async def _connects(confinement, tmp_path: Path, port: int):
    code = f"import socket; socket.create_connection(('127.0.0.1', {port}), 5)"
    return await run_process([sys.executable, "-c", code], cwd=tmp_path, confinement=confinement,
                             workspace=tmp_path, timeout_s=60)


async def test_the_sealed_view_has_no_network_and_the_program_shares_the_hosts(tmp_path):
    async def hang_up(stream):
        await stream.aclose()

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, hang_up, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        agent = await _connects(SealedConfinement(), tmp_path, port)
        program = await _connects(SealedConfinement(network=True), tmp_path, port)
        nursery.cancel_scope.cancel()
    assert agent.exit_code != 0 and "ConnectionRefusedError" in agent.output, agent.output
    assert program.exit_code == 0, program.output


async def test_the_sealed_view_shows_the_system_the_python_and_the_workspace_only(tmp_path):
    done = await run_process(["ls", "-A", "/"], cwd=tmp_path, confinement=SealedConfinement(),
                             workspace=tmp_path, timeout_s=60)
    assert done.exit_code == 0 and done.sandboxed, done.output
    shown = set(done.output.split())
    allowed = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "dev", "proc",
               "tmp", tmp_path.parts[1], *(Path(p).parts[1] for p in python_roots())}
    assert shown <= allowed and {"usr", "etc", "tmp"} <= shown, shown
    assert "var" not in shown and "run" not in shown  # no docker socket, no host runtime


async def test_a_python_under_tmp_is_shown_over_the_fresh_tmp(tmp_path, monkeypatch):
    # A clone (and its .venv) under /tmp: the view's own /tmp must not lay over it.
    with tempfile.TemporaryDirectory(dir="/tmp") as prefix:
        tool = Path(prefix) / "bin" / "python"
        tool.parent.mkdir()
        tool.write_text("#!/bin/sh\necho the python under /tmp\n")
        tool.chmod(0o755)
        monkeypatch.setattr(seal, "shown", lambda: (*SHOWN, prefix))
        (tmp_path / "ws").mkdir()
        done = await run_process([str(tool)], cwd=tmp_path / "ws", workspace=tmp_path / "ws",
                                 confinement=SealedConfinement(), timeout_s=60)
    assert done.exit_code == 0 and done.output.strip() == "the python under /tmp", done.output


async def test_a_hidden_path_inside_the_view_is_laid_over_with_an_empty_directory(tmp_path):
    docs = "/usr/share/doc"
    if not os.listdir(docs):
        pytest.skip(f"{docs} is empty here")
    shown = await run_process(["ls", docs], cwd=tmp_path, confinement=SealedConfinement(),
                              workspace=tmp_path, timeout_s=60)
    hidden = await run_process(["ls", docs], cwd=tmp_path, workspace=tmp_path, timeout_s=60,
                               confinement=SealedConfinement(hidden=(docs, str(tmp_path / "x"))))
    assert shown.exit_code == hidden.exit_code == 0
    assert shown.output.strip() and hidden.output == ""


def test_a_real_model_is_refused_where_nothing_can_seal_the_suite(tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setattr(stages, "can_seal", lambda: False)
    code = main(["bench", str(CODING), "--reports", str(tmp_path), "--model", "ollama:q:1b"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert "nothing here can seal the coding suite" in err and "--unsealed" in err
    assert not any(tmp_path.iterdir())


def test_unsealed_lets_a_real_model_run_and_docker_always_seals(monkeypatch):
    monkeypatch.setattr(stages, "can_seal", lambda: False)
    assert stages.sealing("local", ("ollama:q:1b",), unsealed=True) is False
    assert stages.sealing("local", ("scripted:reference",), unsealed=False) is False
    assert stages.sealing("docker", ("ollama:q:1b",), unsealed=False) is True
    monkeypatch.setattr(stages, "can_seal", lambda: True)
    assert stages.sealing("local", ("ollama:q:1b",), unsealed=False) is True


def _summary(report: Path):
    return orjson.loads((report / "summary.json").read_bytes())


def test_an_unsealed_run_is_marked_and_stays_so_when_resumed(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(stages, "can_seal", lambda: False)
    root = one_case_suite(tmp_path, "cli-wordfreq")
    assert main(["bench", str(root), "--reports", str(tmp_path / "r"), "--quiet"]) == 0
    assert "UNSEALED: the agents could reach the hidden tests" in capsys.readouterr().out
    (report,) = (tmp_path / "r" / "coding").iterdir()
    assert _summary(report)["sealed"] is False
    assert _summary(report)["models"]["scripted:reference"]["passed"] == 1
    assert rows(entries([str(report)]))[0][1] == "coding (unsealed)"
    monkeypatch.setattr(stages, "can_seal", lambda: True)  # sealable now: the past is not
    assert main(["bench", str(root), "--resume", str(report), "--quiet"]) == 0
    assert _summary(report)["sealed"] is False


def test_a_sealed_run_says_so(tmp_path, capsys):
    root = one_case_suite(tmp_path, "cli-wordfreq")
    assert main(["bench", str(root), "--reports", str(tmp_path / "r"), "--quiet"]) == 0
    assert "UNSEALED" not in capsys.readouterr().out
    (report,) = (tmp_path / "r" / "coding").iterdir()
    assert _summary(report)["sealed"] is True
    assert rows(entries([str(report)]))[0][1] == "coding"


def test_the_coding_suite_runs_on_local_or_docker_only(tmp_path, capsys):
    code = main(["bench", str(CODING), "--reports", str(tmp_path), "--backend", "kubernetes"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "--backend kubernetes: the coding suite runs on local or docker" in err
    assert not any(tmp_path.iterdir())


def test_docker_without_the_coding_image_says_how_to_build_it(tmp_path, capsys, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "docker"
    fake.write_text('#!/bin/sh\necho "Error: No such image: $5" >&2\nexit 1\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    code = main(["bench", str(CODING), "--reports", str(tmp_path / "r"), "--backend", "docker"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert CODING_IMAGE.command() in err and not (tmp_path / "r").exists()
