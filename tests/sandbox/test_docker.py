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
    net, ports_net, redis, redis_ports, redis_start, sut, sut_start = commands
    assert net[:3] == ["network", "create", "--internal"]
    name = net[-1].removesuffix("-net")
    assert redis[:4] == ["create", "--init", "--name", f"{name}-redis"]
    assert f"agenttree.io/sandbox={name}" in redis
    assert "127.0.0.1:16379:6379" in redis
    assert redis[-1] == "redis:7"
    assert redis_ports == ["network", "connect", ports_net[-1], f"{name}-redis"]
    assert (redis_start, sut_start) == (["start", f"{name}-redis"], ["start", f"{name}-sut"])
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
    assert calls[:8] == ["image", "image", "ps", "network ls", "volume", "network create",
                         "network create", "rm"]
    assert calls.index("exec") < [i for i, c in enumerate(calls) if c == "start"][1], \
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
    monkeypatch.setenv("FAKE_DOCKER_FAIL", "create:2")
    with trio.fail_after(30):
        async with backend.open(parse_spec(SPEC), case="c2"):
            pass
    calls = fake_docker.calls()
    creates = [c for c in calls if c[0] == "create"]
    assert len(creates) == 4  # redis failed twice, then both went through
    first_create = calls.index(creates[0])
    assert calls[first_create - 1][:2] == ["rm", "-f"]  # a retried create starts from clean
    assert fake_docker.state()["containers"] == {}


async def test_a_hanging_docker_command_times_out(tmp_path, fake_docker, monkeypatch) -> None:
    monkeypatch.setenv("FAKE_DOCKER_HANG", "create")
    # The timeout covers every docker command, the teardown's too: generous enough for the
    # fake docker (a Python script) to start on a busy machine (0.3 s was not, at load 13).
    backend = open_backend("docker", run_dir=tmp_path, project=tmp_path,
                           cli=DockerCli(timeout_s=3, retries=1, backoff_s=0.01))
    with trio.fail_after(60), pytest.raises(SandboxError,
                                            match=r"docker create .*timed out, 2 tries"):
        async with backend.open(parse_spec(SPEC), case="c3"):
            pass
    assert fake_docker.state()["networks"] == {}


async def test_never_healthy_is_a_clear_error_and_all_removed(backend, fake_docker) -> None:
    spec = parse_spec(SPEC.replace(':cmd ["true"]', ':cmd ["false"]'))
    with trio.fail_after(30), pytest.raises(SandboxError, match="'redis' not healthy after 3"):
        async with backend.open(spec, case="c4"):
            pass
    assert not [c for c in fake_docker.calls() if c[0] == "create" and "python:3.11" in c]
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



PORTS = '''
{:containers
 [{:name "a" :image "x" :ports [{:container 80 :host 8080} 81]}
  {:name "b" :image "x" :ports [90] :network :internet}
  {:name "c" :image "x"}]}'''


def test_ports_are_published_on_loopback_whatever_the_network(backend) -> None:
    commands = backend.render(parse_spec(PORTS), "p")
    creates = {c[c.index("--name") + 1].rsplit("-", 1)[1]: c for c in commands
               if c[0] == "create"}
    published = {n: [c[i + 1] for i, a in enumerate(c) if a == "-p"] for n, c in creates.items()}
    assert published == {"a": ["127.0.0.1:8080:80", "127.0.0.1::81"], "b": ["127.0.0.1::90"],
                         "c": []}
    networks = {c[-1].rsplit("-", 1)[1]: c for c in commands if c[:2] == ["network", "create"]}
    assert sorted(networks) == ["egress", "net", "ports"]
    assert "--internal" in networks["net"] and "--internal" not in networks["ports"]
    assert "com.docker.network.bridge.enable_ip_masquerade=false" in networks["ports"]
    connects = {c[-1].rsplit("-", 1)[1]: c[2].rsplit("-", 1)[1] for c in commands
                if c[:2] == ["network", "connect"]}
    assert connects == {"a": "ports", "b": "egress"}  # c stays on the internal network alone
    order = [c[0] if c[0] != "network" else f"connect {c[-1][-1]}" for c in commands[3:]]
    assert order == ["create", "connect a", "start", "create", "connect b", "start", "create",
                     "start"], "a container joins its networks before its command starts"


async def test_a_missing_image_that_cannot_be_pulled_is_one_clear_error(backend,
                                                                        fake_docker) -> None:
    spec = parse_spec(SPEC.replace('"redis:7"', '"missing/redis:7"'))
    with trio.fail_after(30), pytest.raises(SandboxError) as caught:
        async with backend.open(spec, case="c9"):
            pass
    message = str(caught.value)
    assert "image 'missing/redis:7' is not on this docker engine and cannot be pulled" in message
    assert "pull access denied" in message and "agenttree containers image" in message
    calls = verbs(fake_docker.calls())
    assert calls.count("pull") == 1 and "create" not in calls and "network create" not in calls
