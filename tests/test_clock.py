"""The tests' virtual clock (:mod:`tests.clock`): no virtual time passes while a process the run
started is alive, unless the test opts out; and it jumps again once the process has exited."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from agenttree.sandbox.procs import run_command

SLOW = "sleep 0.2; echo done"
"""A command that takes real time: long enough that the clock would jump before it ends."""


async def test_a_command_takes_no_virtual_time(tmp_path: Path, autojump_clock) -> None:
    before = trio.current_time()
    result = await run_command(SLOW, cwd=tmp_path, timeout_s=60)
    assert (result.timed_out, result.exit_code, result.output) == (False, 0, "done\n")
    assert trio.current_time() == before
    await trio.sleep(3600)  # the process is gone: the clock jumps again
    assert trio.current_time() == before + 3600


async def test_a_process_anyio_starts_takes_no_virtual_time(autojump_clock) -> None:
    """The MCP SDK's stdio servers start through ``trio.lowlevel.open_process`` (anyio)."""
    before = trio.current_time()
    process = await trio.lowlevel.open_process(["sh", "-c", SLOW])
    with trio.move_on_after(60) as timer:
        await process.wait()
    assert not timer.cancelled_caught
    assert (process.returncode, trio.current_time()) == (0, before)


async def test_a_hanging_command_times_out_with_the_opt_out(
        tmp_path: Path, autojump_clock_past_processes: trio.testing.MockClock) -> None:
    before = trio.current_time()
    result = await run_command("sleep 600", cwd=tmp_path, timeout_s=30, grace_s=1)
    assert result.timed_out and result.exit_code is None
    assert trio.current_time() - before >= 30
