"""One behaviour for every backend: the Sandbox protocol, run against each available backend.

``local`` always runs; ``docker-fake`` runs the docker backend against the fake ``docker`` on
PATH; ``kubernetes-fake`` the Kubernetes runner against the stub API server with ``exec``
through the fake ``kubectl``; ``docker`` runs against a real engine with an image built from
Debian packages (see engine.py: skipped locally, saying how to enable it, when there is none;
required in CI), and checks after each test that nothing labelled with its sandbox is left.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from agenttree.sandbox import (
    Sandbox,
    SandboxBackend,
    SandboxError,
    open_backend,
    parse_spec,
    sandbox_name,
)
from agenttree.sandbox.docker import DockerCli
from agenttree.sandbox.images import PYTHON_IMAGE
from agenttree.sandbox.kubernetes import client_for

from .engine import NOTHING, engine_problem, leftovers, require, unique_case
from .fakes import use_fake_kubectl
from .stub_kube import StubKube

SPEC = parse_spec(f'{{:containers [{{:name "box" :image "{PYTHON_IMAGE.name}" '
                  ':env {"GREETING" "hi"} :cmd ["sleep" "3600"]}]}')
CASE = unique_case("conf")


@pytest.fixture(params=["local", "docker-fake", "kubernetes-fake", "docker"])
async def backend(request, tmp_path: Path, monkeypatch, nursery):
    run_dir, project = tmp_path / "run", tmp_path / "project"
    project.mkdir()
    if request.param == "local":
        yield open_backend("local", run_dir=run_dir, project=project)
    elif request.param == "docker":
        require(engine_problem())
        yield open_backend("docker", run_dir=run_dir, project=project)
        assert leftovers(sandbox_name(SPEC, CASE)) == NOTHING
    elif request.param == "docker-fake":
        request.getfixturevalue("fake_docker")
        yield open_backend("docker", run_dir=run_dir, project=project,
                           cli=DockerCli(timeout_s=10, retries=0))
    else:  # the runner against the stub API server, exec through the fake kubectl
        stub = StubKube()
        stub.auto_ready = True
        await nursery.start(stub.serve)
        use_fake_kubectl(tmp_path, monkeypatch, stub.url)
        client = client_for(stub.url)
        yield open_backend("kubernetes", run_dir=run_dir, client=client, poll_s=0.02)
        await client.close()


async def test_exec_exit_code_output_and_env(backend) -> None:
    with trio.fail_after(60):
        async with backend.open(SPEC, case=CASE) as env:
            box = env.sandbox()
            assert isinstance(box, Sandbox)
            result = await box.exec(["sh", "-c", 'echo "$GREETING $TZ $EXTRA"; exit 4'],
                                    env={"EXTRA": "x"})
            assert result.exit_code == 4 and not result.ok
            assert result.output.strip() == "hi UTC x"


async def test_exec_with_stdin(backend) -> None:
    with trio.fail_after(60):
        async with backend.open(SPEC, case=CASE) as env:
            result = await env.sandbox().exec(["cat"], stdin=b"fed through stdin")
            assert result.ok and result.output == "fed through stdin"


async def test_exec_timeout_kills(backend) -> None:
    with trio.fail_after(60):
        async with backend.open(SPEC, case=CASE) as env:
            result = await env.sandbox().exec(["sleep", "30"], timeout=0.3)
            assert result.timed_out and result.exit_code is None


async def test_exec_stream_yields_output_as_it_comes(backend) -> None:
    with trio.fail_after(60):
        async with backend.open(SPEC, case=CASE) as env:
            chunks = []
            async with env.sandbox().exec_stream(
                    ["sh", "-c", "echo one; read x; echo two"], stdin=b"go\n") as out:
                async for chunk in out:
                    chunks.append(chunk)
                assert await out.wait() == 0
            assert b"".join(chunks) == b"one\ntwo\n"


async def test_exec_stream_echoes_more_stdin_than_a_pipe_holds(backend) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB
    received = bytearray()
    with trio.fail_after(60):
        async with backend.open(SPEC, case=CASE) as env, \
                env.sandbox().exec_stream(["cat"], stdin=data) as out:
            async for chunk in out:
                received += chunk
            assert await out.wait() == 0
    assert received == data


async def test_files_round_trip_byte_for_byte(backend, tmp_path) -> None:
    data = bytes(range(256)) * 8
    path = str(tmp_path / "inside" / "deep" / "blob.bin")
    with trio.fail_after(60):
        async with backend.open(SPEC, case=CASE) as env:
            box = env.sandbox()
            await box.write_file(path, data)
            assert await box.read_file(path) == data
            with pytest.raises(SandboxError, match="no such file"):
                await box.read_file(path + ".missing")


def test_backends_follow_the_protocol(tmp_path) -> None:
    for name in ("local", "docker", "kubernetes"):
        assert isinstance(open_backend(name, run_dir=tmp_path, project=tmp_path),
                          SandboxBackend)
    with pytest.raises(SandboxError, match="unknown sandbox backend 'podman'"):
        open_backend("podman")


async def test_unknown_container_name(backend) -> None:
    async with backend.open(SPEC, case=CASE) as env:
        with pytest.raises(SandboxError, match="no container 'nope'"):
            env.sandbox("nope")
