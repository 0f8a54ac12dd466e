"""The tests' virtual clock (:mod:`tests.clock`): no virtual time passes while a process the run
started is alive, unless the test moves it on or opts out; it jumps again once the process has
exited; and no process outlives the clock."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from agenttree.sandbox.procs import CommandResult, run_command

from .clock import virtual_clock

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


async def test_a_hanging_command_times_out_when_the_test_moves_time_on(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    pgids: list[int] = []
    started = trio.Event()
    result = None

    async def hang() -> None:
        nonlocal result
        result = await run_command("exec sleep 600", cwd=tmp_path, timeout_s=30,
                                   on_start=lambda pgid: (pgids.append(pgid), started.set()))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hang)
        await started.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == 0  # held while it lives...
        autojump_clock.jump(30)  # ...until the test moves time on (its timeout)
        moved_to = trio.current_time()
    assert result.timed_out and result.exit_code is None
    assert trio.current_time() == moved_to  # the kill and the reaping moved it no further
    assert not Path(f"/proc/{pgids[0]}").exists()  # killed and reaped: not even a zombie


def test_with_the_opt_out_time_passes_while_a_process_lives(tmp_path: Path) -> None:
    """The engine's bounded wait for the killed process passes at once too, leaving it
    unreaped; the clock reaps it when its ``with`` ends."""
    async def hang() -> tuple[CommandResult, float]:
        result = await run_command("exec sleep 600", cwd=tmp_path, timeout_s=30, grace_s=1)
        return result, trio.current_time()

    with virtual_clock(hold_for_processes=False) as clock:
        result, now = trio.run(hang, clock=clock)
    assert result.timed_out and now >= 30
    assert not Path(f"/proc/{result.pgid}").exists()  # killed and reaped: not even a zombie
