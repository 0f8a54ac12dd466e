"""The spawner thread: a sandbox lives as long as the engine process, not as long as a thread.

bubblewrap's ``--die-with-parent`` kills the sandbox when the *thread* that forked it exits.
These tests start sandboxes from threads that exit at once, and kill an engine with SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from agenttree.sandbox.procs import Confinement
from agenttree.sandbox.spawn import open_process, spawn

from .test_procs import alive_with_arg, needs_bwrap

BOUND_S = 20.0
"""Upper bound on waiting for the kernel to finish something asynchronous (never reached on a
working system; only a broken one fails there)."""


def wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds (bounded by :data:`BOUND_S`)."""
    deadline = time.monotonic() + BOUND_S
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.005)


def start_from_a_thread_that_exits(start: Callable[..., subprocess.Popen[bytes]],
                                   argv: list[str]) -> subprocess.Popen[bytes]:
    """Call ``start(argv, ...)`` in a new thread that waits for the command's first line (so
    the sandbox is set up, its parent-death signal armed) and exits; return once that thread is
    gone from the kernel (PDEATHSIG fires when the OS thread exits, not the Python one)."""
    found: dict[str, object] = {}

    def launch() -> None:
        found["tid"] = threading.get_native_id()
        popen = found["popen"] = start(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT)
        found["first"] = popen.stdout.readline()

    thread = threading.Thread(target=launch)
    thread.start()
    thread.join()
    wait_until(lambda: not Path(f"/proc/self/task/{found['tid']}").exists())
    assert found["first"] == b"ready\n"
    popen = found["popen"]
    assert isinstance(popen, subprocess.Popen)
    return popen


@needs_bwrap
@pytest.mark.parametrize(("start", "survives"), [(subprocess.Popen, False), (spawn, True)],
                         ids=["forked-by-the-thread", "spawner-thread"])
def test_a_sandbox_outlives_the_thread_that_started_it_only_through_spawn(
        tmp_path: Path, start: Callable[..., subprocess.Popen[bytes]], survives: bool) -> None:
    # The command cannot end before the test answers it, and the test answers only once the
    # thread that asked for it has exited.
    argv = Confinement(kind="bwrap").wrap(
        ["/bin/sh", "-c", "echo ready; read word; echo got $word"], workspace=tmp_path,
        cwd=tmp_path)
    popen = start_from_a_thread_that_exits(start, argv)
    try:
        out, _ = popen.communicate(b"go\n", timeout=BOUND_S)
    except BrokenPipeError:  # killed before it read its input
        out = b""
        popen.wait(timeout=BOUND_S)
    if survives:
        assert (popen.returncode, out) == (0, b"got go\n")
    else:  # the kernel's PDEATHSIG: what every sandboxed command suffered after ~10 s
        assert popen.returncode == -signal.SIGKILL


def test_spawn_reports_a_missing_program(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        spawn([str(tmp_path / "no-such-program")])


async def test_open_process_pipes_and_exit_status(tmp_path: Path) -> None:
    child = await open_process(["/bin/sh", "-c", "read x; echo \"<$x>\"; exit 3"], cwd=tmp_path,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.returncode is None
    assert child.stdin is not None and child.stdout is not None
    async with child.stdin:
        await child.stdin.send_all(b"hello\n")
    output = b""
    while chunk := await child.stdout.receive_some():
        output += chunk
    await child.stdout.aclose()
    assert await child.wait() == 3
    assert child.returncode == 3 and output == b"<hello>\n"
    assert os.getpgid(os.getpid()) != child.pid  # a session (and process group) of its own


async def test_open_process_failure_leaves_no_descriptor_open(tmp_path: Path) -> None:
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(FileNotFoundError):
        await open_process([str(tmp_path / "missing")], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
    assert set(os.listdir("/proc/self/fd")) == before


async def test_cancelled_before_the_fork_starts_nothing(tmp_path: Path) -> None:
    with trio.CancelScope() as scope:
        scope.cancel()
        await open_process(["/bin/sh", "-c", f"touch {tmp_path / 'ran'}"])
    assert scope.cancelled_caught
    assert not (tmp_path / "ran").exists()


ENGINE = """
import os, sys, trio
from agenttree.sandbox.procs import Confinement, run_command

async def main(workspace, marker):
    await run_command(f"sleep {marker} & sleep {marker}; wait", cwd=workspace,
                      confinement=Confinement(kind="bwrap"), workspace=workspace)

trio.run(main, sys.argv[1], os.environ["MARKER"])  # not in argv: only the sleeps carry it
"""


@needs_bwrap
def test_sigkill_of_the_engine_ends_its_sandboxed_commands(tmp_path: Path) -> None:
    marker = "876.543"  # a sleep duration no other process uses
    engine = subprocess.Popen([sys.executable, "-c", ENGINE, str(tmp_path)],
                              env={**os.environ, "MARKER": marker})
    try:
        wait_until(lambda: len(alive_with_arg(marker)) == 2)
    finally:
        engine.send_signal(signal.SIGKILL)
        engine.wait()
    wait_until(lambda: alive_with_arg(marker) == [])
