"""Where a coding case's agent and its program run: the *stage*, sealed off from the suite.

The hidden tests themselves always run in the bench's own process, on the host, from the copy
read when the suite was loaded (:class:`~agenttree.bench.checks.HiddenTests`). What the agent
runs and what is tested runs on a stage, with one interface and one implementation per backend:

* :class:`LocalStage` (``--backend local``, the default): this machine. Sealed, the agent's
  ``sh`` and the program run in the sealed bubblewrap view of :mod:`.seal` -- the workspace and
  the system, nothing of the suite, the reports, ``.git`` or the run's own files; the program
  shares the host's network so the tests reach its port. Unsealed (no working bubblewrap, and
  ``--unsealed`` or a scripted model), they are plain processes.
* :class:`DockerStage` (``--backend docker``): containers of :data:`CODING_IMAGE`, with the
  workspace mounted at ``/work`` and no network beyond their own. The agent's ``sh`` runs in
  one container; the program starts afterwards in a fresh one, with that image's Python. It
  listens on 127.0.0.1 inside its container, as the specs say, where a published port cannot
  reach it, so socat forwards a second port to it and that one is published on the host's
  127.0.0.1. Always sealed.
"""

from __future__ import annotations

import hashlib
import posixpath
import socket
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

import attrs

from ..errors import UserError
from ..plan import is_scripted
from ..sandbox.base import ExecResult, Sandbox, SandboxError, open_backend
from ..sandbox.images import CODING_IMAGE, is_current
from ..sandbox.procs import Confinement
from ..sandbox.spec import Container, ContainerSpec, Health, Mount, Port
from ..workspace import Workspace
from .names import BACKENDS
from .seal import SealedConfinement, can_seal

MOUNT = "/work"
"""Where a container sees the workspace."""
IDLE = ("sleep", "86400")
"""What a container without a program runs: a container backend can only exec in a running
container."""
INNER_PORT, FORWARD_PORT = 8000, 8001
"""In a container: the port the program is told to listen on, and socat's, which is published."""


def free_port() -> int:
    """A port nothing listens on now (the program binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def connects(python: str, *ports: int) -> tuple[str, ...]:
    """A health check: ``python`` connects to each of ``ports`` on 127.0.0.1."""
    script = "; ".join(f"socket.create_connection(('127.0.0.1', {p}), 1).close()" for p in ports)
    return (python, "-c", f"import socket; {script}")


def fill(cmd: Sequence[str], python: str, port: int | None) -> tuple[str, ...]:
    """A case's ``:cmd`` with ``{python}`` and ``{port}`` filled in."""
    return tuple(a.replace("{python}", python).replace("{port}", str(port)) for a in cmd)


@attrs.frozen(kw_only=True)
class AgentPlace:
    """Where the agent's ``sh`` runs: a confinement for the engine's own shell, or (in a
    container) a shell that replaces it."""

    confinement: Confinement | None = None
    shell: Any = None


@attrs.frozen(kw_only=True)
class Program:
    """How the program under test is started and reached.

    ``spec`` is its one container ``sut`` (a server's, or an idle one for a command-line
    case); ``port`` is where the tests connect on the host; ``python`` and ``launch`` make the
    argv of a command the tests run through the container's ``exec``.
    """

    spec: ContainerSpec
    port: int | None
    python: str
    launch: Callable[[list[str]], list[str]]


class Stage(Protocol):
    """A coding case's stage (see the module docstring)."""

    backend: str

    def agent(self) -> AbstractAsyncContextManager[AgentPlace]:
        """Ready a place for the agent's commands; tear it down on exit."""
        ...

    def program(self, name: str, cmd: Sequence[str] | None) -> Program:
        """How the program of ``:cmd`` (``None``: a command-line case) starts, for case
        ``name``."""
        ...


def sandbox_case(run_dir: Path) -> str:
    """The sandbox case name of a case run: its directory's name and a hash of its path, so
    two reports running the same case at once never share a container name."""
    digest = hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:8]
    return f"{run_dir.name}-{digest}"


def _spec(name: str, container: Container) -> ContainerSpec:
    return ContainerSpec(name=f"bench-{name}".lower().replace("_", "-")[:40],
                         sut=container.name, containers=(container,))


@attrs.frozen(kw_only=True)
class LocalStage:
    """This machine; sealed by bubblewrap when ``sealed`` (see the module docstring).

    Args:
        workspace: the case's workspace.
        sealed: confine the agent and the program to the sealed view.
        hidden: paths laid over with an empty directory should the view include them.
    """

    workspace: Path
    sealed: bool
    hidden: tuple[str, ...] = ()
    backend: str = "local"

    def _confinement(self, network: bool = False) -> Confinement:
        if not self.sealed:
            return Confinement(kind="none")
        return SealedConfinement(hidden=self.hidden, network=network)

    @asynccontextmanager
    async def agent(self) -> AsyncIterator[AgentPlace]:
        """The engine's own shell, confined."""
        yield AgentPlace(confinement=self._confinement())

    def _wrap(self, argv: Sequence[str], network: bool = False) -> list[str]:
        ws = self.workspace.resolve()
        return self._confinement(network).wrap(list(argv), workspace=ws, cwd=ws)

    def program(self, name: str, cmd: Sequence[str] | None) -> Program:
        """The program as a local process (the health check runs on the host)."""
        python = sys.executable
        port = free_port() if cmd else None
        container = Container(
            name="sut", workdir=MOUNT, mounts=(Mount(host=".", container=MOUNT),),
            cmd=tuple(self._wrap(fill(cmd, python, port), network=True)) if cmd else IDLE,
            health=Health(cmd=connects(python, port), interval_ms=100, retries=150,
                          timeout_ms=2000) if port else None)
        return Program(spec=_spec(name, container), port=port, python=python,
                       launch=self._wrap)


@attrs.frozen(kw_only=True)
class ContainerShell:
    """The engine's shell in a container: ``sh`` runs there, in the workspace mounted at
    :data:`MOUNT`. A working directory is checked like any workspace path."""

    box: Sandbox
    name: str = "agent"

    async def exec(self, argv: Sequence[str], *, cwd: str | None = None,
                   env: Mapping[str, str] | None = None, stdin: bytes | None = None,
                   timeout: float | None = None, read_only: Sequence[str] = (),
                   on_start: Callable[[int], None] | None = None) -> ExecResult:
        """Run ``argv`` in the container (killed there on timeout or cancel).

        Raises:
            SandboxError: ``read_only`` paths were asked for (a container shell cannot guard
                locked paths; the bench's plans take no locks).
            WorkspaceError: ``cwd`` leaves the workspace.
        """
        if read_only:
            raise SandboxError("a container shell cannot keep locked paths read-only")
        where = posixpath.join(MOUNT, Workspace.normalise(cwd or "."))
        return await self.box.exec(argv, cwd=where, env=env, stdin=stdin, timeout=timeout)


@attrs.frozen(kw_only=True)
class DockerStage:
    """Containers of :data:`CODING_IMAGE` (see the module docstring).

    Args:
        workspace: the case's workspace, mounted at :data:`MOUNT`.
        run_dir: the case's run directory (container logs go under it).
    """

    workspace: Path
    run_dir: Path
    backend: str = "docker"

    def _container(self, **fields: Any) -> Container:
        return Container(image=CODING_IMAGE.name, workdir=MOUNT,
                         mounts=(Mount(host=".", container=MOUNT),), **fields)

    @asynccontextmanager
    async def agent(self) -> AsyncIterator[AgentPlace]:
        """A container for the agent's commands, removed when the agent is done.

        Raises:
            SandboxError: it could not be started.
        """
        backend = open_backend("docker", run_dir=self.run_dir.resolve(),
                               project=self.workspace.resolve())
        spec = _spec(f"agent-{self.run_dir.name}", self._container(name="agent", cmd=IDLE))
        async with backend.open(spec, case=sandbox_case(self.run_dir)) as env:
            yield AgentPlace(shell=ContainerShell(box=env.sandbox()))

    def program(self, name: str, cmd: Sequence[str] | None) -> Program:
        """The program in its own container, its port forwarded and published."""
        python = "python3"
        if not cmd:
            return Program(spec=_spec(name, self._container(name="sut", cmd=IDLE)), port=None,
                           python=python, launch=list)
        forward = (f"socat TCP-LISTEN:{FORWARD_PORT},fork,reuseaddr "
                   f"TCP:127.0.0.1:{INNER_PORT} & exec \"$@\"")
        port = free_port()
        container = self._container(
            name="sut", cmd=("sh", "-c", forward, "sh", *fill(cmd, python, INNER_PORT)),
            ports=(Port(container=FORWARD_PORT, host=port),),
            health=Health(cmd=connects(python, INNER_PORT, FORWARD_PORT), interval_ms=100,
                          retries=150, timeout_ms=2000))
        return Program(spec=_spec(name, container), port=port, python=python, launch=list)


def stage_for(backend: str, *, workspace: Path, run_dir: Path, sealed: bool,
              hidden: Sequence[Path] = ()) -> Stage:
    """The stage of ``backend`` for one case run.

    Raises:
        UserError: the coding suite does not run on ``backend``.
    """
    if backend == "docker":
        return DockerStage(workspace=workspace, run_dir=run_dir)
    if backend == "local":
        return LocalStage(workspace=workspace, sealed=sealed,
                          hidden=tuple(str(p.resolve()) for p in hidden))
    raise unsupported(backend)


def unsupported(backend: str) -> UserError:
    """The refusal of a backend the coding suite does not run on."""
    return UserError(f"--backend {backend}: the coding suite runs on {' or '.join(BACKENDS)}")


def check_backend(backend: str) -> None:
    """Refuse, before anything runs, a backend the coding suite cannot use here.

    Raises:
        UserError: not local or docker; docker without the coding image (saying how to build
            it) or without an engine that answers.
    """
    if backend not in BACKENDS:
        raise unsupported(backend)
    if backend == "docker" and not is_current(CODING_IMAGE):
        raise UserError(f"--backend docker: the coding suite runs in image {CODING_IMAGE.name}, "
                        f"which is missing or out of date here; build it (as root, offline "
                        f"from Debian packages): {CODING_IMAGE.command()}")


def sealing(backend: str, models: Sequence[str], *, unsealed: bool) -> bool:
    """Whether a run on ``backend`` is sealed; refuses an unsealed run of a real model unless
    ``unsealed`` (the run is then recorded as unsealed).

    Raises:
        UserError: nothing can seal it here, a model is not scripted, and no ``--unsealed``.
    """
    if backend == "docker" or can_seal():
        return True
    real = [m for m in models if not is_scripted(m)]
    if real and not unsealed:
        raise UserError(f"model {real[0]!r}: nothing here can seal the coding suite (bubblewrap "
                        "does not work: apt-get install bubblewrap, or use --backend docker), "
                        "so the agent could read the hidden tests; give --unsealed to run "
                        "anyway (the report is marked unsealed)")
    return False
