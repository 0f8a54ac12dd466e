"""The workspace sandbox (where ``sh`` runs): the Sandbox protocol over a run's workspace, with
the process-group guarantees of agenttree.sandbox.procs and the OS confinement passed through."""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import pytest
import trio

from agenttree.errors import WorkspaceError
from agenttree.sandbox import Sandbox, SandboxError
from agenttree.sandbox.procs import Confinement, live_members
from agenttree.sandbox.workspace import WorkspaceSandbox
from agenttree.workspace import Workspace

ENV = {"PATH": os.environ["PATH"], "GREETING": "hi"}


@pytest.fixture
def workspace(tmp_path: Path):
    (tmp_path / "ws").mkdir()
    with Workspace(tmp_path / "ws") as ws:
        yield ws


@pytest.fixture
def box(workspace: Workspace) -> WorkspaceSandbox:
    return WorkspaceSandbox(workspace, Confinement(kind="none"), ENV, grace_s=0.5)


async def test_exec_runs_in_the_workspace_with_env_and_reports_its_group(
        box: WorkspaceSandbox, workspace: Workspace) -> None:
    assert isinstance(box, Sandbox)
    pgids: list[int] = []
    result = await box.exec(["sh", "-c", 'pwd; echo "$GREETING $EXTRA"; echo oops >&2; exit 3'],
                            cwd="src/app", env={"EXTRA": "x"}, on_start=pgids.append)
    assert result.exit_code == 3 and not result.ok and not result.timed_out
    assert result.output == f"{workspace.root / 'src' / 'app'}\nhi x\noops\n"
    assert len(pgids) == 1 and live_members(set(pgids)) == []


async def test_cwd_outside_the_workspace_is_refused(box: WorkspaceSandbox) -> None:
    with pytest.raises(WorkspaceError):
        await box.exec(["true"], cwd="../elsewhere")
    with pytest.raises(WorkspaceError):
        async with box.exec_stream(["true"], cwd="/etc"):
            pass


async def test_timeout_kills_the_whole_group(box: WorkspaceSandbox) -> None:
    pgids: list[int] = []
    result = await box.exec(["sh", "-c", "sleep 1000 & sleep 1000; wait"], timeout=0.2,
                            on_start=pgids.append)
    assert result.timed_out and result.exit_code is None
    assert live_members(set(pgids)) == []


async def test_cancel_kills_the_whole_group(box: WorkspaceSandbox) -> None:
    pgids: list[int] = []
    started = trio.Event()

    def on_start(pgid: int) -> None:
        pgids.append(pgid)
        started.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: box.exec(["sh", "-c", "sleep 1000 & sleep 1000; wait"],
                                            on_start=on_start))
        await started.wait()
        nursery.cancel_scope.cancel()
    assert live_members(set(pgids)) == []


async def test_stdin_and_output_cap(workspace: Workspace) -> None:
    box = WorkspaceSandbox(workspace, Confinement(kind="none"), ENV, output_cap=100)
    fed = await box.exec(["cat"], stdin=b"fed through stdin")
    assert fed.ok and fed.output == "fed through stdin"
    long = await box.exec(["seq", "1", "100000"])
    assert long.truncated and "bytes cut" in long.output
    assert long.output.startswith("1\n2\n") and long.output.endswith("99999\n100000\n")


async def test_a_command_that_ignores_its_stdin_still_finishes(box: WorkspaceSandbox) -> None:
    result = await box.exec(["true"], stdin=b"x" * 1_000_000)
    assert result.ok


async def test_exec_stream_echoes_more_stdin_than_a_pipe_holds(box: WorkspaceSandbox) -> None:
    data = bytes(range(256)) * 4096  # 1 MiB: far more than a pipe buffer
    received = bytearray()
    with trio.fail_after(30):
        async with box.exec_stream(["cat"], stdin=data) as out:
            async for chunk in out:
                received += chunk
            assert await out.wait() == 0
    assert received == data


async def test_exec_stream_of_a_command_that_ignores_its_stdin(box: WorkspaceSandbox) -> None:
    with trio.fail_after(30):
        async with box.exec_stream(["sh", "-c", "echo ignored"], stdin=b"x" * 1_000_000) as out:
            assert b"".join([chunk async for chunk in out]) == b"ignored\n"
            assert await out.wait() == 0


async def test_exec_stream_yields_output_as_it_comes(box: WorkspaceSandbox) -> None:
    chunks = []
    async with box.exec_stream(["sh", "-c", "echo one; read x; echo two"], stdin=b"go\n") as out:
        async for chunk in out:
            chunks.append(chunk)
        assert await out.wait() == 0
    assert b"".join(chunks) == b"one\ntwo\n"


async def test_files_round_trip_inside_the_workspace(box: WorkspaceSandbox,
                                                     workspace: Workspace) -> None:
    data = bytes(range(256)) * 8
    await box.write_file("deep/dir/blob.bin", data)
    assert (workspace.root / "deep" / "dir" / "blob.bin").read_bytes() == data
    assert await box.read_file("deep/dir/blob.bin") == data
    with pytest.raises(SandboxError, match="no such file"):
        await box.read_file("deep/missing.bin")
    with pytest.raises(WorkspaceError):
        await box.write_file("../escape.txt", b"no")
    await box.aclose()  # nothing to stop


@attrs.frozen(kw_only=True)
class MarkingConfinement(Confinement):
    """Stands in for bubblewrap (not usable everywhere): marks what it wrapped."""

    seen: list = attrs.field(factory=list, eq=False)

    def wrap(self, argv, *, workspace, cwd, read_only=()):
        self.seen.append((os.fspath(workspace), os.fspath(cwd), [os.fspath(p) for p in read_only]))
        return ["env", "CONFINED=yes", *argv]


async def test_commands_go_through_the_confinement(workspace: Workspace) -> None:
    confinement = MarkingConfinement(kind="marking")
    box = WorkspaceSandbox(workspace, confinement, ENV)
    result = await box.exec(["sh", "-c", "echo $CONFINED"], cwd="sub",
                            read_only=["sub/../locked.txt"])
    assert result.output == "yes\n"
    async with box.exec_stream(["sh", "-c", "echo $CONFINED"]) as out:
        streamed = b"".join([chunk async for chunk in out])
    assert streamed == b"yes\n"
    root = str(workspace.root)
    assert confinement.seen == [(root, f"{root}/sub", [f"{root}/locked.txt"]),
                                (root, root, [])]
