"""Commands as their own process group, killed as a whole; and the OS confinement for them.

Plain ``trio.run_process`` cancellation kills only the direct child, so ``sh -c 'server &
tests'`` would orphan the server. Here every command starts a new session (its own process
group); on cancel or timeout the whole group gets SIGTERM, a grace period, then SIGKILL; and
after the leader exits the group is SIGKILLed anyway, so background leftovers never outlive the
command. Every process starts from the one spawner thread of :mod:`agenttree.sandbox.spawn`, so
a sandbox's ``--die-with-parent`` ties it to the engine process, never to a worker thread. See
docs/sh.md.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

import attrs
import trio

from ..errors import SandboxUnavailable
from .spawn import Child, open_process

READ_CHUNK = 65536


@attrs.frozen(kw_only=True)
class CommandResult:
    """What a command did. ``exit_code`` is ``None`` when we killed it (timeout)."""

    exit_code: int | None
    output: str
    truncated: bool
    timed_out: bool
    duration_s: float
    pgid: int
    sandboxed: bool


@attrs.frozen(kw_only=True)
class Confinement:
    """How commands are confined on this machine: ``bwrap`` (bubblewrap) or ``none``. (Not
    a :class:`~agenttree.sandbox.base.Sandbox`: one of those runs commands; this wraps them.)"""

    kind: str

    def wrap(self, argv: list[str], *, workspace: str | os.PathLike[str],
             cwd: str | os.PathLike[str],
             read_only: Sequence[str | os.PathLike[str]] = ()) -> list[str]:
        """``argv`` wrapped so it can write only the workspace -- less the existing
        ``read_only`` paths inside it -- and reach no network."""
        if self.kind != "bwrap":
            return argv
        ws = os.fspath(workspace)
        kept: list[str] = []
        for path in map(os.fspath, read_only):
            kept += ["--ro-bind", path, path]  # after the workspace's bind, so it wins
        # No --new-session: the command already runs in a session of its own without a
        # controlling terminal, and staying in our process group is what lets one killpg
        # reach everything inside.
        return ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp", "--bind", ws, ws, *kept, "--unshare-all",
                "--die-with-parent", "--chdir", os.fspath(cwd), "--", *argv]


@functools.cache
def _bwrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = Confinement(kind="bwrap").wrap(["/bin/true"], workspace="/tmp", cwd="/")
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def detect_confinement(mode: str = "auto") -> Confinement:
    """The confinement for a plan's ``:sandbox`` mode: ``auto``, ``required`` or ``off``.

    Raises:
        SandboxUnavailable: ``required`` and no working bubblewrap here.
    """
    if mode == "off":
        return Confinement(kind="none")
    if _bwrap_works():
        return Confinement(kind="bwrap")
    if mode == "required":
        raise SandboxUnavailable(
            "this plan requires an OS sandbox for sh (:sandbox :required) but bubblewrap is "
            "not available here: apt-get install bubblewrap")
    return Confinement(kind="none")


def signal_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to process group ``pgid``; a group already gone (or not ours) is ignored."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _Output:
    """Keeps the head and the tail of a stream within ``cap`` bytes."""

    def __init__(self, cap: int) -> None:
        self.head = bytearray()
        self.tail = bytearray()
        self.cap = cap
        self.total = 0

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.cap // 2 - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            del self.tail[: max(0, len(self.tail) - self.cap // 2)]

    def text(self) -> tuple[str, bool]:
        kept = len(self.head) + len(self.tail)
        if kept >= self.total:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace"), False
        marker = f"\n[... {self.total - kept} bytes cut ...]\n".encode()
        return (bytes(self.head) + marker + bytes(self.tail)).decode("utf-8", "replace"), True


def live_members(pgids: set[int]) -> list[int]:
    """Processes (not zombies) whose process group is one of ``pgids``, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) in pgids and fields[0] != "Z":
            found.append(int(entry))
    return found


async def wait_group_gone(pgid: int, limit_s: float) -> None:
    """Wait (bounded) until a SIGKILLed group has no live member: delivery is asynchronous.

    Orphaned members are reaped by init, which may be slow or absent in a container, so
    zombies do not count.
    """
    with trio.move_on_after(limit_s):
        while True:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            if not live_members({pgid}):
                return
            await trio.sleep(0.002)


async def _kill_group(process: Child, pgid: int, grace_s: float) -> None:
    """SIGTERM the group, wait up to ``grace_s`` for the leader, then SIGKILL the group."""
    signal_group(pgid, signal.SIGTERM)
    with trio.move_on_after(grace_s):
        await process.wait()
    signal_group(pgid, signal.SIGKILL)
    await process.wait()


async def stop_group(process: Child, pgid: int, grace_s: float) -> None:
    """End the process group ``pgid`` led by ``process`` for good, shielded and bounded.

    A leader still running gets SIGTERM and ``grace_s`` to exit; then the whole group is
    SIGKILLed and awaited until no live member is left. Runs to the end even when cancelled
    (at most ``grace_s`` + 1 s).
    """
    with trio.move_on_after(grace_s + 1, shield=True):
        if process.returncode is None:
            await _kill_group(process, pgid, grace_s)
        signal_group(pgid, signal.SIGKILL)
        await wait_group_gone(pgid, 0.5)


async def run_command(command: str, *, cwd: str | os.PathLike[str],
                      env: Mapping[str, str] | None = None, timeout_s: float | None = None,
                      output_cap: int = 64_000, grace_s: float = 2.0,
                      confinement: Confinement | None = None,
                      workspace: str | os.PathLike[str] | None = None,
                      on_start: Callable[[int], None] | None = None) -> CommandResult:
    """Run ``/bin/sh -c command`` with :func:`run_process` (no stdin)."""
    return await run_process(["/bin/sh", "-c", command], cwd=cwd, env=env, timeout_s=timeout_s,
                             output_cap=output_cap, grace_s=grace_s, confinement=confinement,
                             workspace=workspace, on_start=on_start)


async def run_process(argv: Sequence[str], *, cwd: str | os.PathLike[str],
                      env: Mapping[str, str] | None = None, stdin: bytes | None = None,
                      timeout_s: float | None = None, output_cap: int = 64_000,
                      grace_s: float = 2.0, confinement: Confinement | None = None,
                      workspace: str | os.PathLike[str] | None = None,
                      read_only: Sequence[str | os.PathLike[str]] = (),
                      on_start: Callable[[int], None] | None = None) -> CommandResult:
    """Run ``argv`` in its own process group and collect its output (head and tail within
    ``output_cap`` bytes).

    ``stdin`` is fed through a pipe (``None``: ``/dev/null``). ``confinement`` confines it (to
    ``workspace``, default ``cwd``, with the existing ``read_only`` paths in it kept
    read-only). Cancellation or ``timeout_s`` kill the whole group (SIGTERM, ``grace_s``,
    SIGKILL); the cleanup is shielded and bounded, and ``Cancelled`` is re-raised.
    ``on_start(pgid)`` is called once the process exists.
    """
    argv = list(argv)
    sandboxed = confinement is not None and confinement.kind != "none"
    if sandboxed:
        argv = confinement.wrap(argv, workspace=workspace or cwd, cwd=cwd, read_only=read_only)
    started = trio.current_time()
    process = await open_process(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pgid = process.pid  # a new session: the leader's pid is the group id
    if on_start is not None:
        on_start(pgid)
    output = _Output(output_cap)
    timed_out = False
    try:
        with trio.move_on_after(_or_inf(timeout_s)) as timer:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_read_all, process, output)
                if stdin is not None:
                    nursery.start_soon(_feed, process, stdin)
                await process.wait()
                # The leader is gone; leftovers in its group (and their hold on the pipe) go too.
                signal_group(pgid, signal.SIGKILL)
                # A process that left the group could hold the pipe open: read on only briefly.
                nursery.cancel_scope.deadline = trio.current_time() + 1
        timed_out = timer.cancelled_caught
    finally:
        await stop_group(process, pgid, grace_s)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                await _close_quietly(stream)
    text, truncated = output.text()
    return CommandResult(exit_code=None if timed_out else process.returncode, output=text,
                         truncated=truncated, timed_out=timed_out,
                         duration_s=trio.current_time() - started, pgid=pgid,
                         sandboxed=sandboxed)


def _or_inf(timeout_s: float | None) -> float:
    return float("inf") if timeout_s is None else timeout_s


async def _read_all(process: Child, output: _Output) -> None:
    assert process.stdout is not None
    try:
        while chunk := await process.stdout.receive_some(READ_CHUNK):
            output.add(chunk)
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        pass


async def _feed(process: Child, data: bytes) -> None:
    """Write ``data`` to the process's stdin and close it (a process that stops reading early
    just gets less)."""
    assert process.stdin is not None
    try:
        async with process.stdin:
            await process.stdin.send_all(data)
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        pass


async def _close_quietly(stream: trio.abc.AsyncResource) -> None:
    with trio.CancelScope(shield=True):
        await stream.aclose()
