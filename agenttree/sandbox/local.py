"""The local backend: each container's ``:cmd`` as a local process group (images ignored).

A container becomes a directory, ``RUN_DIR/containers/<sandbox name>/<container>/``: a container
path covered by one of its ``:mounts`` maps to the mount's project directory, any other path
maps under ``root/`` there (so ``:workdir "/work"`` with a mount of ``"."`` at ``/work`` runs in
the project). Processes get the container's environment (pinned TZ, PYTHONHASHSEED and locale,
then its ``:env``) plus ``PATH`` and ``HOME`` from here, and listen on their own ports on
127.0.0.1 (every container shares this host, so container ports must differ). Output goes to
``<container>.log`` beside them. Processes are started and killed with the process-group
machinery of :mod:`agenttree.sandbox.procs`.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import attrs
import trio

from .. import events as ev
from ..errors import unwrap_group
from .base import (
    DEFAULT_LIMITS,
    ContainerEnvironment,
    Emit,
    Environment,
    Events,
    ExecResult,
    Limits,
    OutputStream,
    SandboxError,
    run_shell,
    sandbox_name,
    stream_process,
    tail_text,
    wait_healthy,
)
from .procs import signal_group, stop_group, wait_group_gone
from .spawn import Child, open_process
from .spec import Container, ContainerSpec, resolve_mount


@attrs.define
class LocalSandbox:
    """One local container: a directory and, if it has a ``:cmd``, a process group."""

    name: str
    container: Container
    root: Path
    mounts: list[tuple[str, Path]]
    env: dict[str, str]
    log_path: Path
    grace_s: float
    output_cap: int
    process: Child | None = None
    exit_code: int | None = None
    exited: trio.Event = attrs.Factory(trio.Event)
    stop_reason: str | None = None

    @property
    def pid_path(self) -> Path:
        """Where the running process group is recorded (``pgid start-time``)."""
        return self.log_path.with_suffix(".pid")

    def host_path(self, path: str) -> Path:
        """The host path for a container path."""
        path = posixpath.normpath(posixpath.join(self.container.workdir or "/", path))
        for container_path, host in self.mounts:
            if path == container_path or path.startswith(container_path.rstrip("/") + "/"):
                return host / posixpath.relpath(path, container_path)
        return self.root / path.lstrip("/")

    def _cwd(self, cwd: str | None) -> Path:
        directory = self.host_path(cwd or self.container.workdir or "/")
        directory.mkdir(parents=True, exist_ok=True)
        return directory

    async def exec(self, argv: Sequence[str], *, cwd: str | None = None,
                   env: Mapping[str, str] | None = None, stdin: bytes | None = None,
                   timeout: float | None = None) -> ExecResult:
        """Run ``argv`` here (see :class:`~agenttree.sandbox.base.Sandbox`)."""
        return await run_shell(shlex.join(argv), cwd=self._cwd(cwd),
                               env={**self.env, **(env or {})}, stdin=stdin,
                               timeout=timeout,
                               output_cap=self.output_cap, grace_s=self.grace_s)

    def exec_stream(self, argv: Sequence[str], *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None,
                    stdin: bytes | None = None) -> AbstractAsyncContextManager[OutputStream]:
        """Run ``argv`` here and stream its output (see ``Sandbox.exec_stream``)."""
        return stream_process(argv, cwd=self._cwd(cwd), env={**self.env, **(env or {})},
                              stdin=stdin, grace_s=self.grace_s)

    async def write_file(self, path: str, data: bytes) -> None:
        """Write a file at a container path."""
        target = self.host_path(path)
        await trio.to_thread.run_sync(_write, target, data)

    async def read_file(self, path: str) -> bytes:
        """Read a file at a container path."""
        try:
            return await trio.Path(self.host_path(path)).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            raise SandboxError(f"{self.name}: no such file {path}") from None

    async def start(self, events: Events) -> None:
        """Start the container's ``:cmd`` (if any) in a new process group."""
        if self.container.cmd is None:
            return
        for port in self.container.ports:
            _check_port_free(self.name, port.container)
        with self.log_path.open("ab") as log:
            try:
                self.process = await open_process(
                    self.container.cmd, cwd=self._cwd(None), env=self.env,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
            except OSError as exc:
                events.send(ev.ContainerExited, name=self.name, reason="failed")
                raise SandboxError(f"container {self.name!r} could not start "
                                   f"{self.container.cmd[0]!r}: {exc.strerror}") from None
        # So `containers down` (or a retried open) can stop it should this process die first.
        self.pid_path.write_text(f"{self.process.pid} {_start_time(self.process.pid)}\n")
        events.send(ev.ContainerStarted, name=self.name, backend="local",
                    ref=str(self.process.pid), image=self.container.image)

    def check_programs(self, events: Events) -> None:
        """Check the programs of ``:cmd`` and ``:health`` named without a path are on PATH.

        Raises:
            SandboxError: one is not installed here (images are ignored by this backend).
        """
        health = self.container.health
        for argv in (self.container.cmd, health.cmd if health is not None else None):
            if argv and "/" not in argv[0] and \
                    shutil.which(argv[0], path=self.env.get("PATH", os.defpath)) is None:
                events.send(ev.ContainerExited, name=self.name, reason="failed")
                image = f" and ignores :image {self.container.image!r}" \
                    if self.container.image else ""
                raise SandboxError(
                    f"container {self.name!r}: {argv[0]!r} is not installed here (the local "
                    f"backend runs :cmd and :health on this machine{image}): install it, or "
                    "use --backend docker")

    async def watch(self, events: Events) -> None:
        """Wait for the process to end by itself and record it."""
        assert self.process is not None
        code = await self.process.wait()
        self._record_exit(events, code, self.stop_reason or "exited")

    def _record_exit(self, events: Events, code: int, reason: str) -> None:
        if self.exited.is_set():
            return
        self.exit_code = code
        self.exited.set()
        events.send(ev.ContainerExited, name=self.name, exit_code=code, reason=reason)

    async def wait_healthy(self, events: Events) -> None:
        """Run the health check until it passes (see :func:`~.base.wait_healthy`)."""
        try:
            await wait_healthy(self, self.container, events, self.dead)
        except SandboxError:
            self.stop_reason = self.stop_reason or "unhealthy"
            raise

    async def dead(self) -> str | None:
        """Why the container cannot become healthy any more (``None`` while it runs)."""
        if not self.exited.is_set():
            return None
        return (f"container {self.name!r} exited with code {self.exit_code}; its log ends: "
                f"{tail_text(self.log_path, 400)!r}")

    async def aclose(self, events: Events | None = None) -> None:
        """Kill the process group (SIGTERM, grace, SIGKILL); shielded and bounded."""
        process = self.process
        if process is None:
            return
        if process.returncode is None:
            self.stop_reason = self.stop_reason or "stopped"
        await stop_group(process, process.pid, self.grace_s)
        self.pid_path.unlink(missing_ok=True)
        if events is not None and process.returncode is not None:
            self._record_exit(events, process.returncode, self.stop_reason or "exited")


def _start_time(pid: int) -> str:
    """The process's start time (clock ticks since boot): tells a pid from a reused one."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


async def stop_leftovers(directory: Path) -> list[int]:
    """Kill the process groups recorded in ``directory/*.pid`` that are still the same
    processes (same start time); the process groups killed."""
    killed = []
    for pid_file in sorted(directory.glob("*.pid")):
        pid, _, started = pid_file.read_text().strip().partition(" ")
        if pid.isdigit() and started and _start_time(int(pid)) == started:
            signal_group(int(pid), signal.SIGKILL)
            await wait_group_gone(int(pid), 1.0)
            killed.append(int(pid))
        pid_file.unlink(missing_ok=True)
    return killed


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)


def _check_port_free(name: str, port: int) -> None:
    with socket.socket() as sock:
        # As servers do: a port whose last connections linger in TIME_WAIT is free to listen on.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise SandboxError(f"container {name!r}: port {port} on 127.0.0.1 is already in "
                               "use (the local backend runs every container on this host)") \
                from None


class LocalEnvironment(ContainerEnvironment):
    """The containers of a spec started locally for one case."""

    sandboxes: dict[str, LocalSandbox]

    async def wait(self, name: str | None = None) -> ExecResult:
        """Wait for the container's ``:cmd`` to exit: exit code and the end of its log."""
        box = self.sandbox(name)
        if box.process is None:
            raise SandboxError(f"container {box.name!r} has no :cmd to wait for")
        started = trio.current_time()
        await box.exited.wait()
        return ExecResult(exit_code=box.exit_code, output=tail_text(box.log_path, box.output_cap),
                          duration_s=trio.current_time() - started)

    async def logs(self, name: str | None = None) -> str:
        """The container's log so far."""
        box = self.sandbox(name)
        return await trio.to_thread.run_sync(tail_text, box.log_path, box.output_cap)


class LocalBackend:
    """Runs specs as local processes under ``run_dir/containers/``.

    Args:
        run_dir: where container directories and logs go.
        project: the directory mounts are relative to (default: the current directory).
        emit: where ``container/*`` events go (e.g. a run's ``EventLog.emit``).
        max_creates: how many environments may be starting at once.
    """

    name = "local"

    def __init__(self, run_dir: str | os.PathLike[str] = ".", project: str | os.PathLike[str]
                 = ".", emit: Emit | None = None, max_creates: int = 4) -> None:
        self.run_dir = Path(run_dir)
        self.project = Path(project)
        self.emit = emit
        self.creates = trio.CapacityLimiter(max_creates)

    async def down(self, name: str) -> list[int]:
        """Stop whatever sandbox ``name`` left running (its process groups killed)."""
        return await stop_leftovers(self.run_dir / "containers" / name)

    def render(self, spec: ContainerSpec, case: str = "case") -> dict[str, object]:
        """The processes ``open`` would start: per container its argv, cwd and env."""
        name = sandbox_name(spec, case)
        return {"name": name, "containers": [
            {"name": c.name, "cmd": list(c.cmd) if c.cmd else None,
             "cwd": str(self._sandbox(spec, c, name, DEFAULT_LIMITS)
                        .host_path(c.workdir or "/")),
             "env": c.environment()} for c in spec.containers]}

    def _sandbox(self, spec: ContainerSpec, c: Container, name: str,
                 limits: Limits) -> LocalSandbox:
        directory = self.run_dir / "containers" / name
        mounts = sorted(((m.container, resolve_mount(self.project, m)) for m in c.mounts),
                        key=lambda m: -len(m[0]))
        env = {k: os.environ[k] for k in ("PATH", "HOME") if k in os.environ}
        env.update(c.environment())
        return LocalSandbox(name=c.name, container=c, root=directory / c.name / "root",
                            mounts=mounts, env=env, log_path=directory / f"{c.name}.log",
                            grace_s=limits.grace_s, output_cap=limits.output_cap)

    @asynccontextmanager
    async def open(self, spec: ContainerSpec, *, case: str = "case",
                   limits: Limits = DEFAULT_LIMITS) -> AsyncIterator[Environment]:
        """Start the spec's containers in dependency order, each once its dependencies are
        healthy; yield the environment; kill everything on the way out (also on cancel).

        Raises:
            SandboxError: a container could not start or become healthy in ``limits.start_s``.
        """
        name = sandbox_name(spec, case)
        events = Events(self.emit, case)
        boxes = {c.name: self._sandbox(spec, c, name, limits) for c in spec.containers}
        env = LocalEnvironment(spec=spec, case=case, name=name,
                               directory=self.run_dir / "containers" / name, sandboxes=boxes)
        env.directory.mkdir(parents=True, exist_ok=True)
        await stop_leftovers(env.directory)  # an earlier attempt that died without teardown
        started: list[LocalSandbox] = []
        try:
            async with trio.open_nursery() as nursery:
                try:
                    async with self.creates:
                        await self._start_all(spec, boxes, started, events, nursery, limits)
                    yield env
                finally:
                    with trio.CancelScope(shield=True):
                        await _teardown(started, events, limits)
                    nursery.cancel_scope.cancel()
        except trio.Cancelled:
            raise
        except BaseExceptionGroup as group:
            # The watchers never fail: a group here holds the body's or the start-up's error.
            raise unwrap_group(group) from None

    async def _start_all(self, spec: ContainerSpec, boxes: dict[str, LocalSandbox],
                         started: list[LocalSandbox], events: Events,
                         nursery: trio.Nursery, limits: Limits) -> None:
        try:
            for box in boxes.values():  # before starting anything
                box.check_programs(events)
            with trio.fail_after(limits.start_s):
                for c in spec.containers:
                    box = boxes[c.name]
                    started.append(box)
                    await box.start(events)
                    if box.process is not None:
                        nursery.start_soon(box.watch, events)
                    await box.wait_healthy(events)
        except trio.TooSlowError:
            raise SandboxError(f"{spec.name}: containers not started and healthy within "
                               f"{limits.start_s:g} s ({len(started)} of "
                               f"{len(spec.containers)} started)") from None


async def _teardown(started: list[LocalSandbox], events: Events, limits: Limits) -> None:
    """Stop containers in reverse start order; save where their logs are. Bounded."""
    with trio.move_on_after(limits.teardown_s):
        for box in reversed(started):
            await box.aclose(events)
    for box in started:
        if box.process is not None:
            size = box.log_path.stat().st_size if box.log_path.exists() else 0
            events.send(ev.ContainerLogs, name=box.name, path=str(box.log_path), bytes=size,
                        tail=tail_text(box.log_path))
