"""The docker backend against a fake ``docker`` on PATH that records its argv."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from agenttree import events as ev
from agenttree.sandbox import SandboxError, open_backend, parse_spec
from agenttree.sandbox.docker import DockerCli

SPEC = '''
{:containers
 [{:name "sut" :image "python:3.11" :workdir "/work" :mounts [{:host "." :container "/work"}]
   :cmd ["python" "-m" "pytest"] :env {"CI" "1"} :depends-on ["redis"]
   :resources {:cpus 2 :memory "2Gi"}}
  {:name "redis" :image "redis:7" :ports [{:container 6379 :host 16379}]
   :health {:cmd ["true"] :interval-ms 10 :retries 3}}]}'''


@pytest.fixture
def events() -> list[ev.Event]:
    return []


@pytest.fixture
def backend(tmp_path: Path, events, fake_docker):
    (tmp_path / "project").mkdir()
    return open_backend("docker", run_dir=tmp_path / "run", project=tmp_path / "project",
                        emit=events.append,
                        cli=DockerCli(timeout_s=5, retries=2, backoff_s=0.01))


def verbs(calls: list[list[str]]) -> list[str]:
    return [" ".join(c[:2]) if c[0] == "network" else c[0] for c in calls]


def test_render_is_pure_and_deterministic(backend, tmp_path) -> None:
    spec = parse_spec(SPEC)
    commands = backend.render(spec, "c1")
    assert commands == backend.render(spec, "c1")
    net, redis, sut = commands
    assert net[:3] == ["network", "create", "--internal"]
    name = net[-1].removesuffix("-net")
    assert redis[:4] == ["run", "-d", "--name", f"{name}-redis"]
    assert f"agenttree.io/sandbox={name}" in redis
    assert "127.0.0.1:16379:6379" in redis
    assert redis[-1] == "redis:7"
    assert sut[-4:] == ["python:3.11", "python", "-m", "pytest"]
    assert f"{(tmp_path / 'project').absolute()}:/work" in sut
    assert ["--memory", str(2 * 1024**3)] == sut[sut.index("--memory"):sut.index("--memory") + 2]
    assert "TZ=UTC" in sut and "CI=1" in sut
    assert not (tmp_path / "run").exists()


async def test_up_in_dependency_order_then_everything_removed(backend, fake_docker, events,
                                                               tmp_path) -> None:
    spec = parse_spec(SPEC)
    with trio.fail_after(30):
        async with backend.open(spec, case="c1") as env:
            state = fake_docker.state()
            assert sorted(state["containers"]) == [f"{env.name}-redis", f"{env.name}-sut"]
            assert state["containers"][f"{env.name}-sut"]["env"]["PYTHONHASHSEED"] == "0"
            result = await env.sandbox().exec(["sh", "-c", "echo $CI $TZ"])
            assert result.ok and result.output.strip() == "1 UTC"
            assert (await env.wait()).exit_code == 0
    calls = verbs(fake_docker.calls())
    assert calls[:4] == ["ps", "network ls", "network create", "rm"]
    assert calls.index("exec") < [i for i, c in enumerate(calls) if c == "run"][1], \
        "the SUT must start after redis is healthy"
    assert fake_docker.state()["containers"] == {}
    assert fake_docker.state()["networks"] == {}
    kinds = [type(e).TYPE for e in events]
    assert kinds[:3] == ["container/started", "container/healthy", "container/started"]
    logs = [e for e in events if isinstance(e, ev.ContainerLogs)]
    assert {e.name for e in logs} == {"sut", "redis"}
    assert Path(logs[0].path).read_text().startswith("log of")


async def test_transient_failures_are_retried_idempotently(backend, fake_docker,
                                                           monkeypatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "run:2")
    with trio.fail_after(30):
        async with backend.open(parse_spec(SPEC), case="c2"):
            pass
    calls = fake_docker.calls()
    runs = [c for c in calls if c[0] == "run"]
    assert len(runs) == 4  # redis failed twice, then both went through
    first_run = calls.index(runs[0])
    assert calls[first_run - 1][:2] == ["rm", "-f"]  # a retried create starts from clean
    assert fake_docker.state()["containers"] == {}


async def test_a_hanging_docker_command_times_out(tmp_path, fake_docker, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_HANG", "run")
    backend = open_backend("docker", run_dir=tmp_path, project=tmp_path,
                           cli=DockerCli(timeout_s=0.3, retries=1, backoff_s=0.01))
    with trio.fail_after(30), pytest.raises(SandboxError, match=r"docker run .*timed out, 2 tries"):
        async with backend.open(parse_spec(SPEC), case="c3"):
            pass
    assert fake_docker.state()["networks"] == {}


async def test_never_healthy_is_a_clear_error_and_all_removed(backend, fake_docker) -> None:
    spec = parse_spec(SPEC.replace(':cmd ["true"]', ':cmd ["false"]'))
    with trio.fail_after(30), pytest.raises(SandboxError, match="'redis' not healthy after 3"):
        async with backend.open(spec, case="c4"):
            pass
    assert not [c for c in fake_docker.calls() if c[0] == "run" and "python:3.11" in c]
    assert fake_docker.state() == {**fake_docker.state(), "containers": {}, "networks": {}}


async def test_dependency_that_exits_before_healthy(backend, fake_docker) -> None:
    spec = parse_spec(SPEC.replace('"redis:7"', '"crash:1"'))
    with trio.fail_after(30), pytest.raises(SandboxError, match="'redis' is exited"):
        async with backend.open(spec, case="c8"):
            pass
    assert fake_docker.state()["containers"] == {}


async def test_cancel_during_start_up_removes_everything(backend, fake_docker, events) -> None:
    spec = parse_spec(SPEC)
    with trio.fail_after(30), trio.CancelScope() as scope:
        def emit(event: ev.Event) -> None:
            events.append(event)
            if isinstance(event, ev.ContainerStarted):
                scope.cancel()
        backend.emit = emit
        async with backend.open(spec, case="c5"):
            pytest.fail("must not get here")
    assert scope.cancelled_caught
    assert fake_docker.state()["containers"] == {}
    assert fake_docker.state()["networks"] == {}


async def test_exec_timeout_kills_the_process_inside(backend, tmp_path) -> None:
    marker = tmp_path / "pid"
    async with backend.open(parse_spec(SPEC), case="c6") as env:
        result = await env.sandbox().exec(
            ["sh", "-c", f"echo $$ > {marker}; exec sleep 30"], timeout=0.5)
        assert result.timed_out and result.exit_code is None
    pid = int(marker.read_text())
    assert not _alive(pid)


async def test_sut_exit_code(backend, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_EXIT", "sut=3")
    async with backend.open(parse_spec(SPEC), case="c7") as env:
        result = await env.wait()
    assert result.exit_code == 3 and "log of" in result.output


def test_images_are_required(backend) -> None:
    from agenttree.sandbox.spec import SpecError
    with pytest.raises(SpecError, match=":image"):
        backend.render(parse_spec('{:containers [{:name "a"}]}'))


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False

