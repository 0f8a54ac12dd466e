"""Process groups: output, timeouts, and cancellation that leaves nothing running."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

from agenttree.errors import SandboxUnavailable
from agenttree.sandbox import procs
from agenttree.sandbox.procs import Confinement, detect_confinement, live_members, run_command

GRACE = 0.5


alive_in_groups = live_members


async def test_output_exit_code_cwd_and_env(tmp_path: Path) -> None:
    result = await run_command("pwd; echo $GREETING; echo oops >&2; exit 7", cwd=tmp_path,
                               env={"GREETING": "hi", "PATH": os.environ["PATH"]})
    assert result.exit_code == 7
    assert result.output == f"{tmp_path}\nhi\noops\n"
    assert not result.timed_out and not result.truncated


async def test_output_cap_keeps_head_and_tail(tmp_path: Path) -> None:
    result = await run_command("seq 1 100000", cwd=tmp_path, output_cap=100)
    assert result.truncated
    assert result.output.startswith("1\n2\n3\n")
    assert result.output.endswith("99999\n100000\n")
    assert "bytes cut" in result.output


async def test_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    result = await run_command("sleep 1000 & sleep 1000; wait", cwd=tmp_path, timeout_s=0.2,
                               grace_s=GRACE)
    assert result.timed_out and result.exit_code is None
    assert alive_in_groups({result.pgid}) == []


async def test_background_leftovers_die_with_the_command(tmp_path: Path) -> None:
    result = await run_command("sleep 1000 & echo started", cwd=tmp_path)
    assert result.exit_code == 0 and result.output == "started\n"
    assert alive_in_groups({result.pgid}) == []


HANG_GUARD_S = 60.0
"""Fails a test that hangs rather than waiting for ever; never a bound on how fast it is
(durations are measured in `make bench`)."""


async def _cancel_many(tmp_path: Path, command: str, grace_s: float, n: int = 50) -> None:
    """Start ``n`` copies of ``command``, wait until each has forked its background child,
    cancel them all, and check that no process of theirs is left."""
    pgids: set[int] = set()
    all_started = trio.Event()

    def started(pgid: int) -> None:
        pgids.add(pgid)
        if len(pgids) == n:
            all_started.set()

    with trio.fail_after(HANG_GUARD_S):
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(lambda: run_command(command, cwd=tmp_path, grace_s=grace_s,
                                                       on_start=started))
            await all_started.wait()
            # wait until each shell has forked its background child (no sleeping: poll /proc)
            while len(alive_in_groups(pgids)) < 2 * n:
                await trio.sleep(0)
            nursery.cancel_scope.cancel()
    assert alive_in_groups(pgids) == []


async def test_cancel_kills_50_process_trees(tmp_path: Path) -> None:
    # A grace period twice the hang guard: the cancel passes only because SIGTERM ended each
    # tree and its leader's exit cut the grace short; waiting the grace out fails the guard.
    await _cancel_many(tmp_path, "sleep 1000 & sleep 1000; wait", grace_s=2 * HANG_GUARD_S)


async def test_cancel_kills_trees_that_ignore_sigterm(tmp_path: Path) -> None:
    command = "trap '' TERM; (trap '' TERM; sleep 1000) & sleep 1000; wait"
    await _cancel_many(tmp_path, command, grace_s=GRACE)  # SIGKILL after the grace period


async def test_cancel_during_cleanup_leaks_nothing(tmp_path: Path) -> None:
    pgids: set[int] = set()
    started = trio.Event()
    with trio.CancelScope() as outer:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: run_command(
                "trap '' TERM; sleep 1000", cwd=tmp_path, grace_s=GRACE,
                on_start=lambda p: (pgids.add(p), started.set())))
            await started.wait()
            while not alive_in_groups(pgids):
                await trio.sleep(0)
            nursery.cancel_scope.cancel()  # cleanup starts: SIGTERM is ignored, grace runs
            await trio.sleep(0)
            outer.cancel()  # a second cancel lands during the shielded cleanup
    assert alive_in_groups(pgids) == []


def test_detect_confinement_modes(monkeypatch) -> None:
    assert detect_confinement("off") == Confinement(kind="none")
    monkeypatch.setattr(procs, "_bwrap_works", lambda: False)
    assert detect_confinement("auto") == Confinement(kind="none")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        detect_confinement("required")
    monkeypatch.setattr(procs, "_bwrap_works", lambda: True)
    assert detect_confinement("required") == Confinement(kind="bwrap")


needs_bwrap = pytest.mark.skipif(not procs._bwrap_works(),
                                 reason="bubblewrap (bwrap) is not installed or cannot run here")


@needs_bwrap
async def test_bwrap_confines_writes_and_network(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    outside = tmp_path / "outside.txt"
    confinement = Confinement(kind="bwrap")
    inside = await run_command("echo ok > inside.txt && cat inside.txt", cwd=workspace,
                               confinement=confinement, workspace=workspace)
    assert inside.exit_code == 0 and inside.sandboxed
    # /tmp inside is private (a tmpfs): the write "works" there and never reaches the host
    await run_command(f"echo pwned > {outside}", cwd=workspace, confinement=confinement,
                      workspace=workspace)
    assert not outside.exists()
    system = await run_command("echo pwned > /usr/agenttree-sandbox-test", cwd=workspace,
                               confinement=confinement, workspace=workspace)
    assert system.exit_code != 0 and not Path("/usr/agenttree-sandbox-test").exists()
    net = await run_command("cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '",
                            cwd=workspace, confinement=confinement, workspace=workspace)
    assert net.output.split() == ["lo"]


def alive_with_arg(marker: str) -> list[int]:
    """Live processes with ``marker`` among their arguments."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in args and state != "Z":
            found.append(int(entry))
    return found


@needs_bwrap
async def test_bwrap_commands_die_on_cancel(tmp_path: Path) -> None:
    """Inside bwrap the shell has its own session; killing bwrap must still end it all."""
    marker = "987.654"  # a sleep duration no other process uses
    pgids: set[int] = set()
    with trio.fail_after(HANG_GUARD_S):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: run_command(
                f"sleep {marker} & sleep {marker}; wait", cwd=tmp_path,
                confinement=Confinement(kind="bwrap"), workspace=tmp_path, grace_s=GRACE,
                on_start=pgids.add))
            while len(alive_with_arg(marker)) < 2:
                await trio.sleep(0)
            nursery.cancel_scope.cancel()
    assert alive_in_groups(pgids) == []
    with trio.fail_after(HANG_GUARD_S):  # pid-namespace teardown is asynchronous in the kernel
        while alive_with_arg(marker):
            await trio.sleep(0.01)
