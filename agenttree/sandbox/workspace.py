"""The run's workspace as a :class:`~agenttree.sandbox.base.Sandbox`: where ``sh`` runs.

The local backend's sandbox for a run's own commands (the ``sh`` tool and acceptance checks):
local processes in the workspace, each in a process group of its own, confined by bubblewrap
when the engine detected it (:func:`agenttree.sandbox.procs.detect_confinement`). Paths (``cwd``,
files) are relative to the workspace and checked like the file tools' paths: nothing outside it
is reachable through them. Commands run with :func:`agenttree.sandbox.procs.run_process`, so every
guarantee of docs/sh.md holds: output cut to its head and tail, the whole group killed on
timeout or cancel, ``on_start(pgid)`` called as it starts. See docs/sandboxes.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import attrs
import trio

from ..errors import WorkspaceError
from ..workspace import Workspace
from .base import ExecResult, OutputStream, SandboxError, exec_result, stream_process
from .procs import Confinement, run_process


@attrs.define
class WorkspaceSandbox:
    """Commands and files in ``workspace``.

    Args:
        workspace: the run's workspace (paths are relative to its root).
        confinement: bubblewrap or none (``detect_confinement(plan.sandbox)``).
        env: the whole environment commands get (the engine's fixed set); ``exec``'s ``env``
            is added to it.
        output_cap: bytes of output kept (head and tail).
        grace_s: between SIGTERM and SIGKILL.
    """

    workspace: Workspace
    confinement: Confinement
    env: Mapping[str, str]
    output_cap: int = 64_000
    grace_s: float = 2.0
    name: str = "workspace"

    async def directory(self, cwd: str | None) -> Path:
        """The host directory for ``cwd`` (relative to the workspace; made if missing).

        Raises:
            WorkspaceError: ``cwd`` leaves the workspace.
        """
        return await trio.to_thread.run_sync(
            lambda: self.workspace.resolve_dir(cwd or ".", create=True))

    async def exec(self, argv: Sequence[str], *, cwd: str | None = None,
                   env: Mapping[str, str] | None = None, stdin: bytes | None = None,
                   timeout: float | None = None, read_only: Sequence[str] = (),
                   on_start: Callable[[int], None] | None = None) -> ExecResult:
        """Run ``argv`` (see :class:`~agenttree.sandbox.base.Sandbox`); ``on_start(pgid)`` is
        called once its process group exists. ``read_only``: workspace paths (existing files
        or directories) the command cannot change -- under bubblewrap; unconfined, nothing
        can stop it."""
        root = self.workspace.root
        done = await run_process(argv, cwd=await self.directory(cwd),
                                 env={**self.env, **(env or {})}, stdin=stdin,
                                 timeout_s=timeout, output_cap=self.output_cap,
                                 grace_s=self.grace_s, confinement=self.confinement,
                                 workspace=root, on_start=on_start,
                                 read_only=[root / Workspace.normalise(p) for p in read_only])
        return exec_result(done)

    def exec_stream(self, argv: Sequence[str], *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None,
                    stdin: bytes | None = None) -> AbstractAsyncContextManager[OutputStream]:
        """Run ``argv`` confined like :meth:`exec` and stream its output; leaving the block
        (also on cancel) kills its process group."""
        return self._stream(argv, cwd, env, stdin)

    @asynccontextmanager
    async def _stream(self, argv: Sequence[str], cwd: str | None,
                      env: Mapping[str, str] | None,
                      stdin: bytes | None) -> AsyncIterator[OutputStream]:
        directory = await self.directory(cwd)
        wrapped = self.confinement.wrap(list(argv), workspace=self.workspace.root,
                                        cwd=directory)
        async with stream_process(wrapped, cwd=directory, env={**self.env, **(env or {})},
                                  stdin=stdin, grace_s=self.grace_s) as out:
            yield out

    async def write_file(self, path: str, data: bytes) -> None:
        """Write a file in the workspace, atomically (parents made)."""
        await trio.to_thread.run_sync(self.workspace.write_bytes, path, data)

    async def read_file(self, path: str) -> bytes:
        """Read a whole file of the workspace.

        Raises:
            SandboxError: no such file (or it leaves the workspace).
        """
        try:
            data, _ = await trio.to_thread.run_sync(
                lambda: self.workspace.read_bytes(path, limit=1 << 62))
        except WorkspaceError as exc:
            raise SandboxError(f"{self.name}: no such file {path} ({exc})") from None
        return data

    async def aclose(self) -> None:
        """Nothing to stop: every command ends (or is killed) before its call returns."""
