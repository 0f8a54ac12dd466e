"""The Sandbox protocol: where commands run, whatever runs them.

A :class:`SandboxBackend` turns a validated :class:`~agenttree.sandbox.spec.ContainerSpec` into
running containers for one *case*::

    backend = open_backend("local", run_dir=run_dir, project=".")
    async with backend.open(spec, case="case-7", limits=Limits(start_s=60)) as env:
        result = await env.sandbox().exec(["python", "-m", "pytest"], timeout=600)
        status = await env.wait()          # the SUT's own :cmd, if it has one

``render(spec)`` is pure (what would be created, as plain data); ``open`` creates, waits for
health checks, yields an :class:`Environment`, and tears everything down in ``finally`` --
shielded and bounded -- on success, error and cancellation alike. A failure to start raises
:class:`SandboxError` (one case's problem: the caller records it and goes on with other cases).
Names are deterministic (:func:`sandbox_name`) so a retried create finds, and replaces, what an
earlier attempt left behind. See docs/sandboxes.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import attrs
import trio
import yaml

from .. import events as ev
from ..errors import AgentTreeError
from .procs import READ_CHUNK, CommandResult, run_process, stop_group
from .spawn import Child, open_process
from .spec import Container, ContainerSpec

Emit = Callable[[ev.Event], object]
"""Where container events go (``EventLog.emit`` in a run)."""


LOG_TAIL = 2000
"""Characters of a log's end carried in ``container/logs`` and error messages."""


def tail_text(path: Path, limit: int = LOG_TAIL) -> str:
    """The last ``limit`` characters of a file (empty if it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
            return f.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


class Events:
    """Container events for one case, sent to an optional ``emit`` callback."""

    def __init__(self, emit: Emit | None, case: str) -> None:
        self.emit, self.case = emit, case

    def send(self, cls: type[ev.Event], **fields: object) -> None:
        """Emit ``cls(case=..., **fields)`` if there is somewhere to send it."""
        if self.emit is not None:
            self.emit(cls(case=self.case, **fields))


def save_log(events: Events, directory: Path, name: str, text: str) -> None:
    """Write container ``name``'s log to ``directory/<name>.log`` and emit ``container/logs``
    with where it is, its size and its last :data:`LOG_TAIL` characters."""
    path = directory / f"{name}.log"
    path.write_text(text)
    events.send(ev.ContainerLogs, name=name, path=str(path), bytes=len(text.encode()),
                tail=text[-LOG_TAIL:])


class SandboxError(AgentTreeError):
    """A sandbox could not be created, started or made healthy (message says which and why)."""


@attrs.frozen(kw_only=True)
class ExecResult:
    """What a command in a sandbox did. ``exit_code`` is ``None`` when it was killed (timeout)."""

    exit_code: int | None
    output: str
    timed_out: bool = False
    truncated: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        """Exited 0."""
        return self.exit_code == 0


@attrs.frozen(kw_only=True)
class Limits:
    """Per-case limits: start-up time (all containers healthy), output kept, kill grace."""

    start_s: float = 300.0
    output_cap: int = 64_000
    grace_s: float = 2.0
    teardown_s: float = 30.0


DEFAULT_LIMITS = Limits()


class OutputStream:
    """Chunks of a running command's output (stdout and stderr together), then its exit code.

    ``async for chunk in stream`` yields bytes as they arrive; afterwards ``await
    stream.wait()`` gives the exit code.
    """

    def __init__(self, process: Child) -> None:
        self._process = process

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        assert self._process.stdout is not None
        try:
            while chunk := await self._process.stdout.receive_some(READ_CHUNK):
                yield chunk
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return

    async def wait(self) -> int:
        """Wait for the command to exit; its exit code."""
        return await self._process.wait()


@asynccontextmanager
async def stream_process(argv: Sequence[str], *, cwd: str | os.PathLike[str] | None = None,
                         env: Mapping[str, str] | None = None, stdin: bytes | None = None,
                         grace_s: float = 2.0) -> AsyncIterator[OutputStream]:
    """Run ``argv`` in its own process group and stream its output.

    ``stdin`` is read from an unlinked temporary file, so a command may write any amount of
    output before it has read all of its input (or never read it). Leaving the block (normally,
    on error or on cancel) kills the whole group: SIGTERM, ``grace_s``, SIGKILL -- shielded and
    bounded -- with :func:`agenttree.sandbox.procs.stop_group`.
    """
    # The child gets its own descriptor: the file is closed (and gone) once it has started.
    with nullcontext() if stdin is None else tempfile.TemporaryFile() as spool:
        if spool is not None:
            await trio.to_thread.run_sync(_fill, spool, stdin)
        process = await open_process(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL if spool is None else spool,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pgid = process.pid
    try:
        yield OutputStream(process)
    finally:
        await stop_group(process, pgid, grace_s)
        if process.stdout is not None:
            with trio.CancelScope(shield=True):
                await process.stdout.aclose()


def _fill(spool: IO[bytes], data: bytes) -> None:
    """Write ``data`` to ``spool`` and go back to its start, for a child to read."""
    spool.write(data)
    spool.seek(0)


@runtime_checkable
class Sandbox(Protocol):
    """One container of an open environment: run commands in it, move files in and out."""

    name: str

    async def exec(self, argv: Sequence[str], *, cwd: str | None = None,
                   env: Mapping[str, str] | None = None, stdin: bytes | None = None,
                   timeout: float | None = None) -> ExecResult:
        """Run ``argv`` (no shell) and collect its output; on ``timeout`` the process (group)
        is killed and ``timed_out`` set. ``cwd`` is a container path (default its workdir);
        ``env`` is added to the container's environment. Cancellation kills it too."""
        ...

    def exec_stream(self, argv: Sequence[str], *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None,
                    stdin: bytes | None = None) -> AbstractAsyncContextManager[OutputStream]:
        """Like :meth:`exec`, but ``async with ... as out: async for chunk in out`` yields output
        as it comes; leaving the block kills the command if it still runs."""
        ...

    async def write_file(self, path: str, data: bytes) -> None:
        """Write ``data`` to the container path ``path`` (parents created)."""
        ...

    async def read_file(self, path: str) -> bytes:
        """The bytes of the container path ``path``.

        Raises:
            SandboxError: no such file.
        """
        ...

    async def aclose(self) -> None:
        """Stop this container (idempotent; the environment's teardown calls it too)."""
        ...


@runtime_checkable
class Environment(Protocol):
    """The containers of one spec, started for one case (what ``backend.open`` yields)."""

    spec: ContainerSpec
    case: str
    name: str

    def sandbox(self, name: str | None = None) -> Sandbox:
        """The container ``name`` (default: the spec's SUT)."""
        ...

    async def wait(self, name: str | None = None) -> ExecResult:
        """Wait until the container's ``:cmd`` exits: its exit code and the tail of its log."""
        ...

    async def logs(self, name: str | None = None) -> str:
        """The container's log so far (its ``:cmd``'s stdout and stderr)."""
        ...


@attrs.define
class ContainerEnvironment:
    """What the local and docker environments share: their containers by name."""

    spec: ContainerSpec
    case: str
    name: str
    directory: Path
    sandboxes: dict[str, Any]

    def sandbox(self, name: str | None = None) -> Any:
        """The container ``name`` (default: the SUT).

        Raises:
            SandboxError: no such container in the spec.
        """
        try:
            return self.sandboxes[name or self.spec.sut]
        except KeyError:
            raise SandboxError(f"no container {name!r} in this spec") from None


@runtime_checkable
class SandboxBackend(Protocol):
    """Creates environments from specs. ``render`` is pure; ``open`` does the work."""

    name: str

    def render(self, spec: ContainerSpec, case: str = "case") -> object:
        """What ``open`` would create, as plain data (no I/O)."""
        ...

    async def down(self, name: str) -> object:
        """Remove whatever sandbox ``name`` left behind (idempotent)."""
        ...

    def open(self, spec: ContainerSpec, *, case: str = "case",
             limits: Limits = DEFAULT_LIMITS) -> AbstractAsyncContextManager[Environment]:
        """Create and start the spec's containers for ``case``; tear them down on exit.

        Raises:
            SandboxError: a container failed to start or become healthy within
                ``limits.start_s`` (everything already started is torn down first).
        """
        ...


async def wait_healthy(box: Sandbox, container: Container, events: Events,
                       dead: Callable[[], Awaitable[str | None]]) -> None:
    """Run ``container``'s health check in ``box`` until it passes (no check: return at once).

    ``dead()`` says why the container can no longer become healthy (it exited), or ``None``.

    Raises:
        SandboxError: it died first, or every try failed.
    """
    health = container.health
    if health is None:
        return
    await trio.sleep(health.start_period_ms / 1000)
    last = None
    for attempt in range(1, health.retries + 1):
        if (why := await dead()) is not None:
            raise SandboxError(f"{why} before it was healthy")
        last = await box.exec(health.cmd, timeout=health.timeout_ms / 1000)
        if last.ok:
            events.send(ev.ContainerHealthy, name=container.name, checks=attempt)
            return
        await trio.sleep(health.interval_ms / 1000)
    assert last is not None
    status = "timed out" if last.timed_out else f"exit {last.exit_code}"
    raise SandboxError(
        f"container {container.name!r} not healthy after {health.retries} checks every "
        f"{health.interval_ms} ms (last: {status}: {last.output[-300:]!r})")


async def run_shell(command: str, *, cwd: str | os.PathLike[str],
                    env: Mapping[str, str] | None = None, stdin: bytes | None = None,
                    timeout: float | None = None, output_cap: int = 64_000,
                    grace_s: float = 2.0) -> ExecResult:
    """``/bin/sh -c command`` through :func:`agenttree.sandbox.procs.run_process` (its own
    process group, killed on timeout or cancel; ``stdin`` fed through a pipe)."""
    done = await run_process(["/bin/sh", "-c", command], cwd=cwd, env=env, stdin=stdin,
                             timeout_s=timeout, output_cap=output_cap, grace_s=grace_s)
    return exec_result(done)


def exec_result(done: CommandResult) -> ExecResult:
    """A :class:`~agenttree.sandbox.procs.CommandResult` as an :class:`ExecResult`."""
    return ExecResult(exit_code=done.exit_code, output=done.output, timed_out=done.timed_out,
                      truncated=done.truncated, duration_s=done.duration_s)


def sandbox_name(spec: ContainerSpec, case: str) -> str:
    """A deterministic DNS-label name for ``spec`` run on ``case``: retries reuse it."""
    slug = re.sub(r"[^a-z0-9-]+", "-", case.lower()).strip("-")[:20] or "case"
    digest = hashlib.sha256(f"{spec.name}\0{case}".encode()).hexdigest()[:8]
    return f"at-{spec.name[:28].strip('-')}-{slug}-{digest}"


MANAGED_BY = "app.kubernetes.io/managed-by"
SANDBOX_LABEL = "agenttree.io/sandbox"


def labels(spec: ContainerSpec, name: str) -> dict[str, str]:
    """Labels put on everything a backend creates, so teardown can find it all by name."""
    return {MANAGED_BY: "agenttree", SANDBOX_LABEL: name, "agenttree.io/spec": spec.name}


def duration(ms: int) -> str:
    """Milliseconds as a docker duration (``"500ms"``, ``"5s"``)."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


class _Dumper(yaml.SafeDumper):
    """Writes a value shared by two places twice rather than as a YAML anchor and alias."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def dump_yaml(*documents: object) -> str:
    """Rendered objects as YAML (several documents separated by ``---``), keys as built."""
    return yaml.dump_all(documents, Dumper=_Dumper, sort_keys=False,
                         default_flow_style=False, width=100)


def open_backend(name: str, **options: object) -> SandboxBackend:
    """The backend called ``name`` (``local``, ``docker`` or ``kubernetes``).

    ``options`` go to its constructor (``run_dir``, ``project``, ``emit``, ...).

    Raises:
        SandboxError: unknown backend name.
    """
    if name == "local":
        from .local import LocalBackend
        return LocalBackend(**options)  # type: ignore[arg-type]
    if name == "docker":
        from .docker import DockerBackend
        return DockerBackend(**options)  # type: ignore[arg-type]
    if name == "kubernetes":
        from .kubernetes import KubernetesBackend
        return KubernetesBackend(**options)  # type: ignore[arg-type]
    raise SandboxError(f"unknown sandbox backend {name!r} (local, docker or kubernetes)")

