"""Starting processes whose lives hang on no thread's life: every fork happens in one thread.

bubblewrap's ``--die-with-parent`` is ``PR_SET_PDEATHSIG``, and the kernel sends that signal
when the *thread* that forked the sandbox exits, not when its process does.
``trio.lowlevel.open_process`` forks from a Trio worker thread, and Trio retires a worker after
about 10 s idle: every sandboxed command was killed (``exit -9``) about 10 s in. Here every
process is started by the **spawner thread**, started on first use, which never returns: it
lives exactly as long as the process. So a command lives until it is stopped (cancel,
timeout) or its engine process dies -- and then the kernel kills every sandbox, whatever
killed the engine (SIGKILL included).

Waiting for an exit uses a pidfd (``os.pidfd_open``): no thread sits waiting on a process.
Every command of the engine starts here (:func:`agenttree.sandbox.procs.run_process`,
:func:`agenttree.sandbox.base.stream_process`, the local backend's containers).
"""

from __future__ import annotations

import contextlib
import os
import queue
import subprocess
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

import outcome
import trio

Redirect = int | IO[Any] | None
"""What a standard stream of a new process is: ``subprocess.PIPE``/``DEVNULL``/``STDOUT``, a
file descriptor, an open file, or ``None`` (inherit ours)."""


class _SpawnerThread:
    """One daemon thread that runs every fork, for as long as the process lives."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, job: Callable[[], None]) -> None:
        """Run ``job`` (which must not raise) in the spawner thread, starting it if need be."""
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="agenttree-spawner",
                                                daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def _serve(self) -> None:
        while True:  # never returns: the processes it forked die with this thread
            job = self._jobs.get()
            try:
                job()
            except Exception:  # a job's own bug must not end the thread (and every sandbox)
                traceback.print_exc()

    def forget(self) -> None:
        """In a forked child: the parent's spawner thread does not exist here."""
        self._guard = threading.Lock()
        self._jobs = queue.SimpleQueue()
        self._thread = None


_SPAWNER = _SpawnerThread()
os.register_at_fork(after_in_child=_SPAWNER.forget)


def spawn(argv: Sequence[str], **options: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **options)``, forked by the spawner thread.

    For any thread but a Trio one (Trio code uses :func:`open_process`): blocks the calling
    thread until the process exists. The process does not die when the calling thread exits.

    Raises:
        OSError: the program could not be started.
    """
    done = threading.Event()
    result: list[outcome.Outcome[subprocess.Popen[bytes]]] = []

    def job() -> None:
        result.append(outcome.capture(subprocess.Popen, list(argv), **options))
        done.set()

    _SPAWNER.submit(job)
    done.wait()
    return result[0].unwrap()


async def _spawn(argv: Sequence[str], options: dict[str, Any]) -> subprocess.Popen[bytes]:
    token = trio.lowlevel.current_trio_token()
    started = trio.Event()
    result: list[outcome.Outcome[subprocess.Popen[bytes]]] = []

    def deliver(found: outcome.Outcome[subprocess.Popen[bytes]]) -> None:
        result.append(found)
        started.set()

    def job() -> None:
        found = outcome.capture(subprocess.Popen, list(argv), **options)
        try:
            token.run_sync_soon(deliver, found)
        except trio.RunFinishedError:  # nobody is left to stop it: stop it here
            if isinstance(found, outcome.Value):
                found.value.kill()
                found.value.wait()

    await trio.lowlevel.checkpoint_if_cancelled()
    _SPAWNER.submit(job)
    # Once asked for, the process will exist: wait for it (a fork takes milliseconds) so the
    # caller can always stop it, even when cancelled meanwhile.
    with trio.CancelScope(shield=True):
        await started.wait()
    return result[0].unwrap()


class Child:
    """A process started by :func:`open_process`: its pipes as Trio streams, and its exit.

    Attributes:
        pid: the process id (with ``start_new_session``, also its process group's id).
        stdin: a stream to its standard input (``stdin=PIPE``), else ``None``.
        stdout: a stream from its standard output (``stdout=PIPE``), else ``None``.
    """

    def __init__(self, popen: subprocess.Popen[bytes], stdin: trio.lowlevel.FdStream | None,
                 stdout: trio.lowlevel.FdStream | None) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdin = stdin
        self.stdout = stdout
        self._wait_lock = trio.Lock()
        self._pidfd: int | None
        try:
            self._pidfd = os.pidfd_open(popen.pid)
        except OSError:  # a kernel before 5.3: wait in a thread instead
            self._pidfd = None

    @property
    def returncode(self) -> int | None:
        """Its exit status (negative: the signal that killed it), ``None`` while it runs."""
        code = self._popen.poll()
        if code is not None:
            self._close_pidfd()
        return code

    async def wait(self) -> int:
        """Wait until it exits (and reap it); its exit status. Cancelling stops the wait only."""
        async with self._wait_lock:
            if self._popen.poll() is None:
                if self._pidfd is not None:
                    with contextlib.suppress(trio.ClosedResourceError):  # reaped meanwhile
                        await trio.lowlevel.wait_readable(self._pidfd)
                else:
                    await trio.to_thread.run_sync(self._wait_exited, abandon_on_cancel=True)
                self._popen.wait()
            self._close_pidfd()
        assert self._popen.returncode is not None
        return self._popen.returncode

    def _wait_exited(self) -> None:
        os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            trio.lowlevel.notify_closing(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None


async def open_process(argv: Sequence[str], *, cwd: str | os.PathLike[str] | None = None,
                       env: Mapping[str, str] | None = None,
                       stdin: Redirect = subprocess.DEVNULL, stdout: Redirect = None,
                       stderr: Redirect = None, start_new_session: bool = True) -> Child:
    """Start ``argv`` from the spawner thread; ``subprocess.PIPE`` gives a Trio stream.

    A checkpoint; once the process is asked for, the call waits (shielded) until it exists,
    so the caller always gets the :class:`Child` it must stop.

    Raises:
        OSError: the program could not be started (nothing is left open).
    """
    redirects = {"stdin": stdin, "stdout": stdout}
    ours: dict[str, trio.lowlevel.FdStream] = {}
    theirs: list[int] = []
    try:
        for name, child_reads in (("stdin", True), ("stdout", False)):
            if redirects[name] == subprocess.PIPE:
                read, write = os.pipe()
                ours[name] = trio.lowlevel.FdStream(write if child_reads else read)
                redirects[name] = read if child_reads else write
                theirs.append(read if child_reads else write)
        popen = await _spawn(argv, {
            "cwd": None if cwd is None else os.fspath(cwd),
            "env": None if env is None else dict(env), **redirects, "stderr": stderr,
            "start_new_session": start_new_session})
    except BaseException:
        for stream in ours.values():
            stream.close()
        raise
    finally:
        for fd in theirs:  # the child has its own copies; EOF comes when it closes them
            os.close(fd)
    return Child(popen, ours.get("stdin"), ours.get("stdout"))
