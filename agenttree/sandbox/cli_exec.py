"""A container reached through a command line's ``exec`` (``docker exec``, ``kubectl exec``).

The command runs under ``sh`` inside the container, which first records its pid in a file
there; so a timeout or a cancel kills the process *inside* the container (killing the local
``docker``/``kubectl`` client alone would leave it running), and the file is removed after.
Files move through ``sh`` and ``cat`` (byte for byte). Used by the docker and kubernetes
backends; the image needs ``sh``.
"""

from __future__ import annotations

import itertools
import os
import shlex
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import attrs
import trio

from .base import ExecResult, OutputStream, SandboxError, run_shell, stream_process
from .spec import Container

_exec_ids = itertools.count(1)
KILL_S = 10.0


@attrs.define
class CliExecSandbox:
    """One container; subclasses say how to reach it (:meth:`target`)."""

    name: str
    container: Container
    output_cap: int

    def target(self, cwd: str, env: Mapping[str, str], interactive: bool) -> list[str]:
        """The local argv that runs a command in the container (the command follows)."""
        raise NotImplementedError

    def in_container_cwd(self) -> bool:
        """Whether the command must ``cd`` itself (the CLI has no working-directory flag)."""
        return False

    def _argv(self, argv: Sequence[str], cwd: str | None, env: Mapping[str, str] | None,
              pidfile: str, interactive: bool) -> list[str]:
        directory = cwd or self.container.workdir or "/"
        cd = f"cd {shlex.quote(directory)} || exit 127; " if self.in_container_cwd() else ""
        return [*self.target(directory, env or {}, interactive), "sh", "-c",
                f'{cd}echo $$ > {pidfile}; exec "$@"', "sh", *argv]

    async def _kill(self, pidfile: str) -> None:
        script = f"kill -9 $(cat {pidfile}) 2>/dev/null; rm -f {pidfile}"
        command = shlex.join([*self.target("/", {}, False), "sh", "-c", script])
        with trio.move_on_after(KILL_S, shield=True):
            await run_shell(command, cwd=".", timeout=KILL_S)

    @staticmethod
    def _pidfile() -> str:
        return f"/tmp/.agenttree-exec-{os.getpid()}-{next(_exec_ids)}"

    async def exec(self, argv: Sequence[str], *, cwd: str | None = None,
                   env: Mapping[str, str] | None = None, stdin: bytes | None = None,
                   timeout: float | None = None) -> ExecResult:
        """Run ``argv`` in the container; on timeout or cancel it is killed there too."""
        pidfile = self._pidfile()
        command = shlex.join(self._argv(argv, cwd, env, pidfile, stdin is not None))
        try:
            done = await run_shell(command, cwd=".", stdin=stdin,
                                   timeout=timeout, output_cap=self.output_cap)
        except BaseException:
            await self._kill(pidfile)
            raise
        if done.timed_out:
            await self._kill(pidfile)
        return done

    @asynccontextmanager
    async def _stream(self, argv: Sequence[str], cwd: str | None,
                      env: Mapping[str, str] | None,
                      stdin: bytes | None) -> AsyncIterator[OutputStream]:
        pidfile = self._pidfile()
        try:
            async with stream_process(self._argv(argv, cwd, env, pidfile, stdin is not None),
                                      stdin=stdin) as out:
                yield out
        finally:
            await self._kill(pidfile)

    def exec_stream(self, argv: Sequence[str], *, cwd: str | None = None,
                    env: Mapping[str, str] | None = None,
                    stdin: bytes | None = None) -> AbstractAsyncContextManager[OutputStream]:
        """Run ``argv`` in the container and stream its output."""
        return self._stream(argv, cwd, env, stdin)

    async def write_file(self, path: str, data: bytes) -> None:
        """Write a file in the container (parents created)."""
        result = await self.exec(["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"',
                                  "sh", path], stdin=data)
        if not result.ok:
            raise SandboxError(f"{self.name}: cannot write {path}: {result.output.strip()}")

    async def read_file(self, path: str) -> bytes:
        """Read a file from the container, byte for byte."""
        chunks = []
        async with self.exec_stream(["cat", path]) as out:
            async for chunk in out:
                chunks.append(chunk)
            code = await out.wait()
        if code != 0:
            raise SandboxError(f"{self.name}: no such file {path}")
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Nothing by default: the environment's teardown removes the container."""
