"""The docker backend against a real engine: published ports answer, the example specs run, and
nothing labelled with a test's sandbox is left -- also after ``up`` is SIGKILLed and ``down``
cleans up. Skipped locally without an engine and the test images (saying how to get them);
required in CI (engine.py).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from agenttree.cli import main
from agenttree.sandbox import SandboxError, load_spec, open_backend, parse_spec, sandbox_name
from agenttree.sandbox.images import PYTHON_IMAGE

from .engine import NOTHING, engine_problem, leftovers, require, unique_case

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "plans" / "containers"


@pytest.fixture(autouse=True)
def engine() -> None:
    require(engine_problem())


def free_port() -> int:
    """A TCP port nothing on 127.0.0.1 listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def write_spec(tmp_path: Path, text: str) -> str:
    path = tmp_path / "spec.edn"
    path.write_text(text)
    return str(path)


async def published(ref: str, port: int) -> list[str]:
    """Where docker publishes the container's ``port`` (``docker port``: ``HOST:PORT`` lines)."""
    done = await trio.run_process(["docker", "port", ref, str(port)], capture_stdout=True)
    return done.stdout.decode().split()


async def http_status_line(port: int) -> bytes:
    """The status line a GET of / on 127.0.0.1:``port`` answers with."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        answer = b""
        while b"\r\n" not in answer and (chunk := await stream.receive_some(4096)):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def _web(name: str, ports: str, network: str = ":none") -> str:
    return (f'{{:name "{name}" :image "{PYTHON_IMAGE.name}" :network {network} :ports {ports}'
            ' :cmd ["python3" "-m" "http.server" "8000"]'
            ' :health {:cmd ["python3" "-c" "import urllib.request as u; '
            "u.urlopen('http://127.0.0.1:8000/')\"] :interval-ms 100 :retries 100}}")


async def test_ports_are_published_on_loopback_and_answer_whatever_the_network(tmp_path) -> None:
    host = free_port()
    spec = parse_spec("{:containers [" + " ".join([
        _web("fixed", f"[{{:container 8000 :host {host}}}]"),
        _web("free", "[8000]"),
        _web("online", "[8000]", network=":internet")]) + "]}")
    case = unique_case("ports")
    backend = open_backend("docker", run_dir=tmp_path / "run", project=tmp_path)
    with trio.fail_after(120):
        async with backend.open(spec, case=case) as env:
            for name in ("fixed", "free", "online"):
                (address,) = await published(env.sandbox(name).ref, 8000)
                ip, port = address.rsplit(":", 1)
                assert ip == "127.0.0.1", f"{name} is published beyond loopback: {address}"
                if name == "fixed":
                    assert int(port) == host
                assert await http_status_line(int(port)) == b"HTTP/1.0 200 OK", name
    assert leftovers(sandbox_name(spec, case)) == NOTHING


def test_the_hello_docker_example_runs(tmp_path, capsys) -> None:
    """docs/sandboxes.md's docker quick start: sut reaches web by name."""
    spec = str(EXAMPLES / "hello-docker.edn")
    case, run_dir = unique_case("hello"), str(tmp_path / "run")
    assert main(["containers", "up", spec, "--backend", "docker", "--run-dir", run_dir,
                 "--case", case]) == 0
    assert "sut exited with code 0" in capsys.readouterr().out
    assert main(["containers", "logs", spec, "--run-dir", run_dir, "--case", case,
                 "--container", "sut"]) == 0
    assert capsys.readouterr().out == "sut got HTTP 200\n"
    assert leftovers(sandbox_name(load_spec(spec), case)) == NOTHING


REDIS_TEST = '''import os
import socket


def test_redis_answers_by_name():
    with socket.create_connection((os.environ["REDIS_HOST"], 6379), timeout=10) as conn:
        conn.sendall(b"PING\\r\\n")
        assert conn.recv(64) == b"+PONG\\r\\n"
'''


def test_the_redis_sut_example_runs_its_tests_against_redis(tmp_path, capsys) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_redis.py").write_text(REDIS_TEST)
    text = (EXAMPLES / "redis-sut.edn").read_text().replace(":host 6379", f":host {free_port()}")
    spec = write_spec(tmp_path, text)
    case, run_dir = unique_case("redis"), str(tmp_path / "run")
    assert main(["containers", "up", spec, "--backend", "docker", "--project", str(project),
                 "--run-dir", run_dir, "--case", case]) == 0
    out = capsys.readouterr().out
    assert "container/healthy redis" in out and "sut exited with code 0" in out
    assert main(["containers", "logs", spec, "--run-dir", run_dir, "--case", case,
                 "--container", "sut"]) == 0
    assert "1 passed" in capsys.readouterr().out
    assert leftovers(sandbox_name(load_spec(spec), case)) == NOTHING


async def test_never_healthy_is_a_clear_error_and_nothing_is_left(tmp_path) -> None:
    spec = parse_spec(f'{{:containers [{{:name "sut" :image "{PYTHON_IMAGE.name}" '
                      ':depends-on ["db"]} '
                      f'{{:name "db" :image "{PYTHON_IMAGE.name}" :ports [5432] '
                      ':health {:cmd ["false"] :interval-ms 10 :retries 2}}]}')
    case = unique_case("sick")
    backend = open_backend("docker", run_dir=tmp_path, project=tmp_path)
    with trio.fail_after(120), pytest.raises(SandboxError, match="'db' not healthy after 2"):
        async with backend.open(spec, case=case):
            pytest.fail("must not get here")
    assert leftovers(sandbox_name(spec, case)) == NOTHING


async def test_down_after_a_sigkilled_up_leaves_nothing(tmp_path) -> None:
    spec = write_spec(tmp_path, f'{{:containers [{{:name "sut" :image "{PYTHON_IMAGE.name}" '
                                ':depends-on ["web"]} ' + _web("web", "[8000]") + "]}")
    case, run_dir = unique_case("killed"), str(tmp_path / "run")
    name = sandbox_name(load_spec(spec), case)
    with trio.fail_after(120):
        up = await trio.lowlevel.open_process(
            [sys.executable, "-m", "agenttree", "containers", "up", spec, "--backend", "docker",
             "--run-dir", run_dir, "--case", case],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert up.stdout is not None
        seen = b""
        while b"Ctrl-C to stop" not in seen:
            chunk = await up.stdout.receive_some(4096)
            assert chunk, f"up ended before the containers were up: {seen!r}"
            seen += chunk
        up.send_signal(signal.SIGKILL)
        assert await up.wait() == -signal.SIGKILL
        await up.stdout.aclose()
    left = leftovers(name)
    assert len(left["containers"]) == 2 and left["networks"], "the kill left them running"
    down = ["containers", "down", spec, "--backend", "docker", "--run-dir", run_dir, "--case", case]
    assert await trio.to_thread.run_sync(main, down) == 0  # main runs trio itself
    assert leftovers(name) == NOTHING
