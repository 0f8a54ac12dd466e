"""The local backend for real: processes, health checks, logs, teardown on error and cancel."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import trio

from agenttree import events as ev
from agenttree.sandbox import Limits, SandboxError, open_backend, parse_spec
from agenttree.sandbox.procs import live_members

PY = sys.executable


def edn_vec(*items: str) -> str:
    return "[" + " ".join(f'"{i}"' for i in items) + "]"


def py(code: str) -> str:
    return edn_vec(PY, "-c", code.replace('"', '\\"'))


class Recorder:
    """Collects container events; optionally cancels a scope on one of them."""

    def __init__(self) -> None:
        self.events: list[ev.Event] = []
        self.cancel_on: tuple[type[ev.Event], str] | None = None
        self.scope: trio.CancelScope | None = None

    def __call__(self, event: ev.Event) -> None:
        self.events.append(event)
        if self.cancel_on and isinstance(event, self.cancel_on[0]) \
                and event.name == self.cancel_on[1] and self.scope is not None:
            self.scope.cancel()

    def of(self, cls: type[ev.Event]) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, cls)]

    def pgids(self) -> set[int]:
        return {int(e.ref) for e in self.of(ev.ContainerStarted)}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def backend(tmp_path: Path, recorder: Recorder):
    (tmp_path / "project").mkdir()
    return open_backend("local", run_dir=tmp_path / "run", project=tmp_path / "project",
                        emit=recorder)


SLOW_DEP = f'''
{{:containers
 [{{:name "sut" :workdir "/work" :mounts [{{:host "." :container "/work"}}]
   :cmd {py("import pathlib; print('sut ran'); pathlib.Path('out.txt').write_text('x')")}
   :depends-on ["db"] :env {{"CI" "1"}}}}
  {{:name "db"
   :cmd {py("import time, pathlib; [time.sleep(0.01) for _ in "
            "iter(lambda: pathlib.Path('checked').exists(), True)]; "
            "pathlib.Path('ready').touch(); print('db up', flush=True); time.sleep(600)")}
   :health {{:cmd {py("import pathlib, sys; ready = pathlib.Path('ready').exists(); "
                      "ready or pathlib.Path('checked').touch(); sys.exit(0 if ready else 1)")}
            :interval-ms 50 :retries 200}}}}]}}
'''


async def test_dependency_healthy_after_a_delay(backend, recorder, tmp_path) -> None:
    spec = parse_spec(SLOW_DEP)
    with trio.fail_after(30):
        async with backend.open(spec, case="c1") as env:
            assert [type(e) for e in recorder.events] == [
                ev.ContainerStarted, ev.ContainerHealthy, ev.ContainerStarted]
            assert recorder.of(ev.ContainerHealthy)[0].checks > 1
            result = await env.wait()
            assert result.exit_code == 0
            assert "sut ran" in result.output
            # the SUT's /work is the project directory (the mount)
            assert (tmp_path / "project" / "out.txt").read_text() == "x"
    pgids = recorder.pgids()
    assert not live_members(pgids)
    exited = {e.name: e for e in recorder.of(ev.ContainerExited)}
    assert exited["sut"].reason == "exited" and exited["sut"].exit_code == 0
    assert exited["db"].reason == "stopped"
    logs = {e.name: e for e in recorder.of(ev.ContainerLogs)}
    assert "db up" in logs["db"].tail and Path(logs["db"].path).exists()


async def test_never_healthy_is_a_clear_error_and_all_torn_down(backend, recorder) -> None:
    spec = parse_spec(f'''
{{:containers [{{:name "sut" :cmd {py("import time; time.sleep(600)")} :depends-on ["db"]}}
  {{:name "db" :cmd {py("import time; time.sleep(600)")}
   :health {{:cmd ["false"] :interval-ms 10 :retries 3}}}}]}}''')
    with trio.fail_after(30), pytest.raises(SandboxError) as info:
        async with backend.open(spec, case="c2"):
            pytest.fail("must not get here")
    assert "'db' not healthy after 3 checks" in str(info.value)
    assert [e.name for e in recorder.of(ev.ContainerStarted)] == ["db"]
    assert not live_members(recorder.pgids())
    assert {e.reason for e in recorder.of(ev.ContainerExited)} == {"unhealthy"}


async def test_start_up_time_limit(backend, recorder) -> None:
    spec = parse_spec(f'''
{{:containers [{{:name "db" :cmd {py("import time; time.sleep(600)")}
   :health {{:cmd ["false"] :interval-ms 1000 :retries 100}}}}]}}''')
    with trio.fail_after(30), pytest.raises(SandboxError, match=r"within 0\.2 s"):
        async with backend.open(spec, case="c3", limits=Limits(start_s=0.2)):
            pass
    assert not live_members(recorder.pgids())


async def test_dependency_that_dies_before_healthy(backend, recorder) -> None:
    spec = parse_spec(f'''
{{:containers [{{:name "db" :cmd {py("print('boom'); raise SystemExit(3)")}
   :health {{:cmd ["false"] :interval-ms 20 :retries 500}}}}]}}''')
    with trio.fail_after(30), pytest.raises(SandboxError, match=r"exited with code 3.*boom"):
        async with backend.open(spec, case="c4"):
            pass


async def test_sut_crash_reports_exit_code_and_logs(backend, recorder) -> None:
    spec = parse_spec(f'''
{{:containers [{{:name "sut"
  :cmd {py("import os, signal; print('about to crash', flush=True); "
           "os.kill(os.getpid(), signal.SIGKILL)")}}}]}}''')
    with trio.fail_after(30):
        async with backend.open(spec, case="c5") as env:
            result = await env.wait()
            assert result.exit_code == -9
            assert "about to crash" in result.output
            assert "about to crash" in await env.logs()
    exited = recorder.of(ev.ContainerExited)
    assert [(e.exit_code, e.reason) for e in exited] == [(-9, "exited")]
    assert "about to crash" in recorder.of(ev.ContainerLogs)[0].tail


async def test_cancel_during_start_up_leaves_nothing_running(backend, recorder) -> None:
    spec = parse_spec(f'''
{{:containers [{{:name "sut" :cmd {py("import time; time.sleep(600)")} :depends-on ["db"]}}
  {{:name "db" :cmd ["sh" "-c" "sleep 600 & sleep 600"]
   :health {{:cmd ["false"] :interval-ms 10 :retries 100000}}}}]}}''')
    with trio.fail_after(30):
        with trio.CancelScope() as scope:
            recorder.scope, recorder.cancel_on = scope, (ev.ContainerStarted, "db")
            async with backend.open(spec, case="c6"):
                pytest.fail("must not get here")
        assert scope.cancelled_caught
    assert len(recorder.pgids()) == 1
    assert not live_members(recorder.pgids())
    assert [e.reason for e in recorder.of(ev.ContainerExited)] == ["stopped"]


async def test_error_in_the_body_tears_down_and_propagates(backend, recorder) -> None:
    sleeper = py("import time; time.sleep(600)")
    spec = parse_spec(f'{{:containers [{{:name "sut" :cmd {sleeper}}}]}}')
    with trio.fail_after(30), pytest.raises(KeyError, match="mine"):
        async with backend.open(spec, case="c7"):
            raise KeyError("mine")
    assert not live_members(recorder.pgids())


async def test_port_in_use_is_a_clear_error(backend) -> None:
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        spec = parse_spec(f'{{:containers [{{:name "web" :cmd ["true"] :ports [{port}]}}]}}')
        with pytest.raises(SandboxError, match=rf"port {port} on 127\.0\.0\.1 is already in use"):
            async with backend.open(spec):
                pass


async def test_missing_program_is_a_clear_error(backend, recorder) -> None:
    spec = parse_spec('{:containers [{:name "x" :cmd ["/nonexistent/prog"]}]}')
    with pytest.raises(SandboxError, match="could not start '/nonexistent/prog'"):
        async with backend.open(spec):
            pass
    assert [e.reason for e in recorder.of(ev.ContainerExited)] == ["failed"]


async def test_env_is_pinned_and_workdir_maps_under_the_run_dir(backend, tmp_path) -> None:
    spec = parse_spec('{:containers [{:name "box" :workdir "/srv/app" :env {"A" "1"}}]}')
    async with backend.open(spec, case="c8") as env:
        box = env.sandbox()
        result = await box.exec(["sh", "-c", 'echo "$TZ $PYTHONHASHSEED $LC_ALL $A"; pwd'])
        assert result.ok
        line, cwd = result.output.splitlines()
        assert line == "UTC 0 C.UTF-8 1"
        assert Path(cwd).is_relative_to(tmp_path / "run" / "containers" / env.name)
        assert cwd.endswith("/box/root/srv/app")


def test_render_is_pure(backend, tmp_path) -> None:
    spec = parse_spec(SLOW_DEP)
    rendered = backend.render(spec, case="c1")
    assert rendered == backend.render(spec, case="c1")
    assert [c["name"] for c in rendered["containers"]] == ["db", "sut"]
    assert rendered["containers"][1]["cwd"] == str((tmp_path / "project").resolve())
    assert not (tmp_path / "run").exists()


CRASHING_OWNER = """
import sys, trio
from agenttree.sandbox import open_backend, parse_spec

async def main():
    backend = open_backend("local", run_dir=sys.argv[1])
    async with backend.open(parse_spec(sys.argv[2]), case="crash"):
        print("up", flush=True)
        await trio.sleep_forever()

trio.run(main)
"""


async def test_down_stops_what_a_killed_owner_left_running(tmp_path) -> None:
    import signal
    import subprocess

    from agenttree.sandbox import sandbox_name
    from agenttree.sandbox.local import LocalBackend

    spec_text = f'{{:containers [{{:name "db" :cmd {py("import time; time.sleep(600)")}}}]}}'
    run_dir = tmp_path / "run"
    with trio.fail_after(30):
        owner = await trio.lowlevel.open_process(
            [PY, "-c", CRASHING_OWNER, str(run_dir), spec_text], stdout=subprocess.PIPE)
        assert owner.stdout is not None
        assert (await owner.stdout.receive_some(10)).startswith(b"up")
        owner.send_signal(signal.SIGKILL)  # no teardown runs: the container outlives it
        await owner.wait()
        name = sandbox_name(parse_spec(spec_text), "crash")
        pid_files = list((run_dir / "containers" / name).glob("*.pid"))
        pgids = {int(p.read_text().split()[0]) for p in pid_files}
        assert len(pgids) == 1 and live_members(pgids)
        assert await LocalBackend(run_dir=run_dir).down(name) == sorted(pgids)
        assert not live_members(pgids)
        assert await LocalBackend(run_dir=run_dir).down(name) == []  # idempotent


async def test_concurrent_stdin_execs_in_a_mounted_workdir(backend) -> None:
    spec = parse_spec('{:containers [{:name "box" :workdir "/w" '
                      ':mounts [{:host "." :container "/w"}]}]}')
    results = {}
    async with backend.open(spec, case="c9") as env:
        async def feed(i: int) -> None:
            results[i] = await env.sandbox().exec(["cat"], stdin=f"input {i}".encode())

        async with trio.open_nursery() as nursery:
            for i in range(8):
                nursery.start_soon(feed, i)
        assert {i: r.output for i, r in results.items()} == {i: f"input {i}" for i in range(8)}


async def test_a_program_not_installed_here_fails_before_anything_starts(backend,
                                                                        recorder) -> None:
    spec = parse_spec('{:containers [{:name "sut" :cmd ["sleep" "600"] :depends-on ["db"]}'
                      ' {:name "db" :image "redis:7" :cmd ["sleep" "600"]'
                      '  :health {:cmd ["no-such-program-here" "ping"]}}]}')
    with trio.fail_after(10), pytest.raises(SandboxError) as info:
        async with backend.open(spec):
            pass
    assert str(info.value) == (
        "container 'db': 'no-such-program-here' is not installed here (the local backend runs "
        ":cmd and :health on this machine and ignores :image 'redis:7'): install it, or use "
        "--backend docker")
    assert recorder.of(ev.ContainerStarted) == []
    assert [(e.name, e.reason) for e in recorder.of(ev.ContainerExited)] == [("db", "failed")]


async def test_a_port_whose_connections_linger_in_time_wait_is_free(backend) -> None:
    import socket
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            accepted.close()  # the server side closes first: its end lingers in TIME_WAIT
            assert client.recv(1) == b""
    spec = parse_spec(f'{{:containers [{{:name "web" :cmd ["true"] :ports [{port}]}}]}}')
    async with backend.open(spec) as env:  # the next `up` right after the last one
        assert (await env.wait()).exit_code == 0
