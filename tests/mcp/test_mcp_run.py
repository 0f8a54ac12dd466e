"""MCP servers in runs, end to end on the scripted model against real servers written with the
SDK (tests/mcp/servers.py): a stdio one and a streamable HTTP one on 127.0.0.1 port 0."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from agenttree import events as ev
from agenttree.cli import main
from agenttree.errors import UserError, only_error
from agenttree.log import read_events
from agenttree.plan import load_plan
from agenttree.runtime.engine import Engine

SERVER = str(Path(__file__).with_name("servers.py"))
LIMIT_S = int(os.environ.get("MCP_TEST_LIMIT", "120"))
"""A guard against a hang, never a measure: each run here takes a few seconds."""


def write_plan(directory: Path, script: str, *, mcp: str = "", child: str = "") -> Path:
    """A plan whose root plays ``script``; its server (by default the stdio test server, told
    where to write its pid and where its FIFO is through ``:env``) is ``mcp``."""
    env = f'{{"MCP_TEST_PIDFILE" "{directory / "pids"}" "MCP_TEST_FIFO" "{directory / "fifo"}"}}'
    mcp = mcp or f'{{:calc {{:command ["python" "{SERVER}" "stdio"] :cwd "tools" :env {env}}}}}'
    children = f':children [{{:task/id "kid" :script {child}}}]' if child else ""
    servers = re.findall(r"[{ ]:([a-z]+) \{:(?:command|url)", mcp)
    everything = " ".join(f":{s}/*" for s in servers)
    add = ":calc/add :calc/block" if "calc" in servers else ""
    plan = directory / "plan.edn"
    plan.write_text(f"""
{{:mcp {mcp}
 :tiers [{{:depth 0 :models ["scripted"] :tools [{everything} :spawn :wait :finish]
          :budget {{:tool-calls 40 :tokens 1000000}}}}
         {{:depth 1 :tools [{add} :finish]}}]
 :task {{:task/id "root" :script {script} {children}}}}}
""")
    (directory / "tools").mkdir(exist_ok=True)
    return plan


def entries(run_dir: Path) -> list[ev.Event]:
    return [e.event for e in read_events(run_dir / "events.jsonl")]


def results(run_dir: Path) -> dict[str, ev.ToolResult]:
    return {e.call: e for e in entries(run_dir) if isinstance(e, ev.ToolResult)}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def run(plan: Path, run_dir: Path) -> tuple[str, Engine]:
    engine = Engine(load_plan(plan), run_dir, durability="none")
    with trio.fail_after(LIMIT_S):
        return await engine.run(), engine


async def test_a_stdio_server_s_tools_run_as_tool_calls_narrowed_by_depth(
        tmp_path: Path) -> None:
    plan = write_plan(tmp_path, """[{:call :calc/add :args {"a" 2 "b" 3}}
        {:call :calc/fail :args {"why" "no"}}
        {:call :calc/add :args {"a" "two"}}
        {:call :calc/odd :args {}}
        {:call :calc/nope :args {}}
        {:say "kid at work"} {:say "done"}]""",
                      child='[{:call :calc/add :args {"a" 1 "b" 1}} '
                            '{:call :calc/fail :args {"why" "no"}} {:say "kid done"}]')
    status, _ = await run(plan, tmp_path / "run")
    assert status == "done"
    log = entries(tmp_path / "run")
    [started] = [e for e in log if isinstance(e, ev.McpStarted)]
    assert started.tools == ["calc/add", "calc/block", "calc/crash", "calc/fail",
                             "calc/was_cancelled"]
    assert started.transport == "stdio" and started.target.endswith("servers.py stdio")
    assert "an array schema needs items" in started.left_out["calc/odd"]  # left out, said why
    out = results(tmp_path / "run")
    assert (out["root#1.0"].tool, out["root#1.0"].ok, out["root#1.0"].output) == \
        ("calc/add", True, "5")
    assert not out["root#2.0"].ok and out["root#2.0"].output.startswith("calc/fail: ")
    assert not out["root#3.0"].ok and "validation error" in out["root#3.0"].output
    assert out["root#4.0"].output.startswith(
        "calc/odd: MCP server :calc lists it, but it is left out (a hosted API would refuse it")
    assert out["root#5.0"].output == ("calc/nope: MCP server :calc has no such tool; it has: "
                                      "calc/add, calc/block, calc/crash, calc/fail, "
                                      "calc/was_cancelled")
    assert out["root.kid#1.0"].ok and out["root.kid#1.0"].output == "2"
    assert "not available to root.kid" in out["root.kid#2.0"].output  # narrowed at depth 1
    requested = [e for e in log if isinstance(e, ev.ToolRequested) and e.call == "root#1.0"]
    assert requested[0].tool == "calc/add" and requested[0].args == {"a": 2, "b": 3}
    [asked] = [e for e in log if isinstance(e, ev.ModelRequested) and e.agent == "root"][:1]
    assert "calc/add" in asked.tools and "calc/odd" not in asked.tools
    [(pid, cwd)] = [line.split() for line in (tmp_path / "pids").read_text().splitlines()]
    assert cwd == str(tmp_path / "tools")  # :cwd resolved against the plan's directory
    assert not alive(int(pid))  # the server did not outlive the run


async def test_a_server_that_dies_is_restarted_once_then_its_tools_fail_clearly(
        tmp_path: Path) -> None:
    plan = write_plan(tmp_path, """[{:call :calc/crash}
        {:call :calc/add :args {"a" 1 "b" 2}}
        {:call :calc/crash}
        {:call :calc/add :args {"a" 1 "b" 2}}
        {:say "done"}]""")
    status, _ = await run(plan, tmp_path / "run")
    assert status == "done"
    out = results(tmp_path / "run")
    assert not out["root#1.0"].ok
    assert "MCP server :calc closed the connection during the call" in out["root#1.0"].output
    assert out["root#2.0"].ok and out["root#2.0"].output == "3"  # on the restarted server
    assert not out["root#3.0"].ok
    assert out["root#4.0"].output == ("MCP server :calc died again after its restart; its tools "
                                      "are unavailable for the rest of the run")
    lifecycle = [(type(e).__name__, getattr(e, "attempt", getattr(e, "restarting", None)))
                 for e in entries(tmp_path / "run") if isinstance(e, ev.McpStarted | ev.McpFailed)]
    assert lifecycle == [("McpStarted", 1), ("McpFailed", True), ("McpStarted", 2),
                         ("McpFailed", False)]


async def test_cancelling_an_agent_cancels_its_call_in_flight_on_the_server(
        tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    plan = write_plan(tmp_path, """[{:call :wait :args {"timeout_s" 600}}
        {:call :calc/was_cancelled} {:say "done"}]""", child="[{:call :calc/block}]")
    engine = Engine(load_plan(plan), tmp_path / "run", durability="none")

    def read() -> str:
        return fifo.read_text()

    with trio.fail_after(LIMIT_S):
        async with trio.open_nursery() as nursery:
            outcome: list[str] = []

            async def run_engine() -> None:
                outcome.append(await engine.run())

            nursery.start_soon(run_engine)
            assert await trio.to_thread.run_sync(read, abandon_on_cancel=True) == "started"
            assert engine.cancel("root.kid", "the test cancels it")
            assert await trio.to_thread.run_sync(read, abandon_on_cancel=True) == "cancelled"
    assert outcome == ["done"]
    log = entries(tmp_path / "run")
    finished = {e.agent: e.status for e in log if isinstance(e, ev.AgentFinished)}
    assert finished == {"root.kid": "cancelled", "root": "done"}
    # The root's next call returns only once the server has cancelled the kid's call: the
    # cancellation reached it while it ran on (it was not merely shut down at the end).
    assert results(tmp_path / "run")["root#2.0"].output == "block was cancelled"
    assert sum(isinstance(e, ev.McpStarted) for e in log) == 1
    assert not any(isinstance(e, ev.McpFailed) for e in log)


async def serve_http(nursery: trio.Nursery, token: str) -> str:
    proc = await nursery.start(lambda task_status: trio.run_process(
        [sys.executable, SERVER, "http", token], stdout=subprocess.PIPE, check=False,
        task_status=task_status))
    port = b""
    while not port.endswith(b"\n"):
        port += await proc.stdout.receive_some(1)
    return f"http://127.0.0.1:{int(port)}/mcp"


TOKEN = "mcp-secret-token-0123456789"


async def test_an_http_server_gets_its_headers_from_the_environment_never_logged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_TEST_AUTH", f"Bearer {TOKEN}")
    with trio.fail_after(LIMIT_S):
        async with trio.open_nursery() as nursery:
            url = await serve_http(nursery, TOKEN)
            mcp = f'{{:docs {{:url "{url}" :headers-env {{"Authorization" "MCP_TEST_AUTH"}}}}}}'
            plan = write_plan(tmp_path, '[{:call :docs/add :args {"a" 20 "b" 22}} {:say "ok"}]',
                              mcp=mcp)
            status, _ = await run(plan, tmp_path / "run")
            monkeypatch.setenv("MCP_TEST_AUTH", "Bearer wrong")
            with pytest.raises(BaseExceptionGroup) as refused:
                await run(plan, tmp_path / "refused")
            error = only_error(refused.value)
            assert isinstance(error, UserError)
            assert str(error).startswith("MCP server :docs did not start: ")
            nursery.cancel_scope.cancel()
    assert status == "done"
    assert results(tmp_path / "run")["root#1.0"].output == "42"
    [started] = [e for e in entries(tmp_path / "run") if isinstance(e, ev.McpStarted)]
    assert (started.transport, started.target) == ("http", url)
    files = "\n".join(p.read_text(errors="replace") for p in (tmp_path / "run").rglob("*")
                      if p.is_file())
    assert "MCP_TEST_AUTH" in files and TOKEN not in files


def test_a_header_variable_not_set_is_a_clear_error(tmp_path: Path) -> None:
    mcp = '{:docs {:url "http://127.0.0.1:9/mcp" :headers-env {"Authorization" "MCP_UNSET_X"}}}'
    plan = write_plan(tmp_path, '[{:say "ok"}]', mcp=mcp)
    env = {k: v for k, v in os.environ.items() if k != "MCP_UNSET_X"}
    result = subprocess.run([sys.executable, "-m", "agenttree", "run", str(plan), "--run-dir",
                             str(tmp_path / "run")], capture_output=True, text=True, env=env,
                            check=False, timeout=LIMIT_S)
    assert result.returncode == 2, result.stderr
    assert ("MCP server :docs: header Authorization comes from the environment variable "
            "MCP_UNSET_X, which is not set") in result.stderr
    assert "Traceback" not in result.stderr


def test_resume_restarts_servers_and_replays_recorded_calls(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env = f'{{"MCP_TEST_PIDFILE" "{tmp_path / "pids"}"}}'
    plan = write_plan(tmp_path, """[{:call :calc/add :args {"a" 2 "b" 3}}
        {:call :calc/add :args {"a" 4 "b" 4}} {:say "done"}]""",
                      mcp=f'{{:calc {{:command ["python" "{SERVER}" "stdio"] :env {env}}}}}')
    full = tmp_path / "full"
    assert trio.run(run, plan, full)[0] == "done"
    lines = (full / "events.jsonl").read_bytes().splitlines(keepends=True)
    first = next(i for i, e in enumerate(read_events(full / "events.jsonl"))
                 if isinstance(e.event, ev.ToolResult))
    cut = tmp_path / "cut"
    shutil.copytree(full / "workspace", cut / "workspace")
    shutil.copy(full / "plan.edn", cut / "plan.edn")
    (cut / "events.jsonl").write_bytes(b"".join(lines[:first + 1]))
    assert main(["resume", str(cut), "--quiet"]) == 0, capsys.readouterr()
    log = entries(cut)
    assert sum(isinstance(e, ev.McpStarted) for e in log) == 2  # started again on resume
    out = results(cut)
    assert (out["root#1.0"].output, out["root#2.0"].output) == ("5", "8")
    assert sum(isinstance(e, ev.ToolRequested) for e in log) == 2  # the first one replayed
    pids = [line.split()[0] for line in (tmp_path / "pids").read_text().splitlines()]
    assert len(pids) == 2 and not any(alive(int(p)) for p in pids)


def test_an_interrupted_run_leaves_no_server_behind(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    plan = write_plan(tmp_path, '[{:call :calc/block} {:say "done"}]')
    proc = subprocess.Popen([sys.executable, "-m", "agenttree", "run", str(plan), "--run-dir",
                             str(tmp_path / "run"), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert fifo.read_text() == "started"
    proc.send_signal(signal.SIGINT)
    assert fifo.read_text() == "cancelled"
    proc.communicate(timeout=LIMIT_S)
    [pid] = [line.split()[0] for line in (tmp_path / "pids").read_text().splitlines()]
    assert not alive(int(pid))


def test_the_example_plan_runs_offline(tmp_path: Path) -> None:
    plan = Path(__file__).parents[2] / "plans" / "tools.edn"
    result = subprocess.run([sys.executable, "-m", "agenttree", "run", str(plan), "--run-dir",
                             str(tmp_path / "run"), "--quiet"], capture_output=True, text=True,
                            cwd=tmp_path, check=False, timeout=LIMIT_S)
    assert result.returncode == 0, result.stderr
    out = {r.tool: r.output for r in results(tmp_path / "run").values() if r.ok}
    assert (out["calc/mul"], out["calc/add"]) == ("10.0", "10.0")
