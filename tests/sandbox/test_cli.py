"""``agenttree containers ...`` end to end (in-process), including bad input."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import yaml

from agenttree.cli import main
from agenttree.log import read_events
from agenttree.sandbox import load_spec, sandbox_name
from agenttree.sandbox.procs import live_members
from agenttree.state import fold, state_to_json

ROOT = Path(__file__).parents[2]
EXAMPLE = str(ROOT / "plans" / "containers" / "redis-sut.edn")


def write_spec(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.edn"
    path.write_text(text)
    return str(path)


def test_compose_prints_a_compose_file(capsys) -> None:
    assert main(["containers", "compose", EXAMPLE, "--project", str(ROOT)]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert list(data["services"]) == ["redis", "sut"]
    assert data["services"]["sut"]["volumes"][0]["source"] == str(ROOT)


def test_the_printed_commands_name_the_project(tmp_path, capsys) -> None:
    """The file has no top-level name (Compose 1.29 refuses one): its comments say how to pass
    the project name."""
    spec = str(ROOT / "plans" / "containers" / "hello-docker.edn")
    assert main(["containers", "compose", spec, "--case", "c-1"]) == 0
    name = sandbox_name(load_spec(spec), "c-1")
    head = capsys.readouterr().out.splitlines()[:3]
    assert head[1] == (f"#   docker-compose -p {name} -f FILE up --abort-on-container-exit "
                       "--exit-code-from sut")
    assert head[2] == f"#   docker-compose -p {name} -f FILE down -v"


def test_k8s_prints_a_job_and_a_network_policy(capsys) -> None:
    assert main(["containers", "k8s", EXAMPLE, "--namespace", "ci", "--case", "t-1"]) == 0
    docs = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == ["Job", "NetworkPolicy"]
    assert docs[0]["metadata"]["namespace"] == "ci"


@pytest.mark.parametrize(("argv", "message"), [
    (["containers", "k8s", "/nonexistent.edn"], "/nonexistent.edn: no such file"),
    (["containers", "compose", "SPEC", "--project", "/nonexistent"], "not a directory"),
    (["containers", "k8s", "SPEC", "--ttl-s", "-1"], "--ttl-s must not be negative"),
    (["containers", "up", "SPEC", "--start-s", "0"], "--start-s must be positive"),
    (["containers", "logs", "SPEC"], "needs --run-dir"),
    (["containers", "logs", "SPEC", "--run-dir", "RUN", "--container", "zz"],
     "--container zz: not a container"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys) -> None:
    spec = write_spec(tmp_path, '{:containers [{:name "a" :image "x" :cmd ["true"]}]}')
    argv = [spec if a == "SPEC" else str(tmp_path) if a == "RUN" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_bad_spec_names_file_line_and_key(tmp_path, capsys) -> None:
    spec = write_spec(tmp_path, '{:containers\n [{:name "a" :ports [{:container 99999}]}]}')
    assert main(["containers", "compose", spec]) == 2
    assert f"{spec}:2: :container: port must be 1-65535" in capsys.readouterr().err


def test_mount_escaping_through_a_symlink(tmp_path, capsys) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "out").symlink_to("/")
    spec = write_spec(tmp_path, '{:containers [{:name "a" :image "x" '
                                ':mounts [{:host "out" :container "/o"}]}]}')
    assert main(["containers", "compose", spec, "--project", str(tmp_path / "p")]) == 2
    assert "resolves outside the project" in capsys.readouterr().err


def test_up_runs_the_sut_logs_events_and_tears_down(tmp_path, capsys) -> None:
    code = "import sys; print('hello from sut'); sys.exit(3)"
    spec = write_spec(tmp_path, f'{{:containers [{{:name "sut" :cmd ["{sys.executable}" "-c" '
                                f'"{code}"] :depends-on ["dep"]}} '
                                '{:name "dep" :cmd ["sleep" "600"] '
                                ':health {:cmd ["true"] :interval-ms 10}}]}')
    run_dir = tmp_path / "run"
    assert main(["containers", "up", spec, "--run-dir", str(run_dir)]) == 1  # the SUT's exit 3
    out = capsys.readouterr().out
    assert out.startswith(f"up: 2 container(s) of spec with the local backend; events in "
                          f"{run_dir / 'events.jsonl'}\n")
    assert "container/healthy dep" in out and "sut exited with code 3" in out
    state = fold(read_events(run_dir / "events.jsonl"))
    assert state.containers["case/sut"]["exit_code"] == 3
    assert state.containers["case/dep"]["status"] == "stopped"
    assert "hello from sut" in state.containers["case/sut"]["log_tail"]
    assert state_to_json(state)["containers"]["case/sut"]["status"] == "exited"
    assert main(["containers", "logs", spec, "--run-dir", str(run_dir),
                 "--container", "sut"]) == 0
    assert capsys.readouterr().out == "hello from sut\n"
    assert main(["containers", "up", spec, "--run-dir", str(run_dir)]) == 2  # not twice
    assert main(["containers", "down", spec, "--run-dir", str(run_dir)]) == 0


def test_up_reports_a_start_failure_with_exit_1(tmp_path, capsys) -> None:
    spec = write_spec(tmp_path, '{:containers [{:name "a" :cmd ["sleep" "600"] '
                                ':health {:cmd ["false"] :interval-ms 10 :retries 2}}]}')
    assert main(["containers", "up", spec, "--run-dir", str(tmp_path / "r")]) == 1
    assert "'a' not healthy after 2 checks" in capsys.readouterr().err


def test_down_with_docker_removes_labelled_leftovers(tmp_path, fake_docker, capsys) -> None:
    spec = write_spec(tmp_path, '{:containers [{:name "a" :image "x"}]}')
    assert main(["containers", "down", spec, "--backend", "docker",
                 "--run-dir", str(tmp_path)]) == 0
    assert [c[0] for c in fake_docker.calls()] == ["ps", "network", "volume"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_up_tears_down_on_sigterm_and_ctrl_c(sig, tmp_path) -> None:
    spec = write_spec(tmp_path, '{:containers [{:name "sut"} {:name "db" '
                                ':cmd ["sh" "-c" "sleep 600 & sleep 600"]}]}')
    run_dir = tmp_path / "run"
    with trio.fail_after(30):
        up = await trio.lowlevel.open_process(
            [sys.executable, "-m", "agenttree", "containers", "up", spec,
             "--run-dir", str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert up.stdout is not None
        seen = b""
        while b"Ctrl-C to stop" not in seen:
            seen += await up.stdout.receive_some(4096)
        up.send_signal(sig)
        assert await up.wait() == 130
        await up.stdout.aclose()
    state = fold(read_events(run_dir / "events.jsonl"))
    assert state.containers["case/db"]["status"] == "stopped"
    assert not live_members({int(state.containers["case/db"]["ref"])})


def test_the_quick_start_example_runs_locally(tmp_path, capsys) -> None:
    """docs/sandboxes.md's quick start, on a free port instead of 8765."""
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    text = (ROOT / "plans" / "containers" / "hello-local.edn").read_text()
    spec = write_spec(tmp_path, text.replace("8765", str(port)))
    run_dir = str(tmp_path / "run")
    assert main(["containers", "up", spec, "--run-dir", run_dir]) == 0
    assert "sut exited with code 0" in capsys.readouterr().out
    assert main(["containers", "logs", spec, "--run-dir", run_dir, "--container", "sut"]) == 0
    assert capsys.readouterr().out == "sut got HTTP 200\n"
