"""The engine runs ``sh`` and acceptance commands through its Sandbox (``Engine.shell``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from agenttree import events as ev
from agenttree.log import read_events
from agenttree.plan import parse_plan
from agenttree.runtime.engine import Engine
from agenttree.sandbox import ExecResult
from agenttree.sandbox.workspace import WorkspaceSandbox

PLAN = """
{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 10 :tokens 100000}}]
 :task {:task/id "root" :cwd "app"
        :acceptance [{:sh "test -f made-by-sh" :timeout-s 30}]
        :script [{:call :sh :args {:cmd "touch made-by-sh" :timeout_s 5}}
                 {:say "done"}]}}
"""

FAKE_PGID = 2_000_000_000  # no such process group: nothing here ever signals it


class RecordingSandbox:
    """A sandbox that runs nothing: it records each call and answers exit 0."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str | None, dict[str, str], float | None]] = []

    async def exec(self, argv: Sequence[str], *, cwd: str | None = None,
                   env: Mapping[str, str] | None = None, stdin: bytes | None = None,
                   timeout: float | None = None, read_only: Sequence[str] = (),
                   on_start: Callable[[int], None] | None = None) -> ExecResult:
        self.calls.append((list(argv), cwd, dict(env or {}), timeout))
        if on_start is not None:
            on_start(FAKE_PGID)
        return ExecResult(exit_code=0, output="from the recording sandbox\n")


def events_of(run_dir: Path, cls: type[ev.Event]) -> list:
    return [e.event for e in read_events(run_dir / "events.jsonl") if isinstance(e.event, cls)]


async def test_sh_and_acceptance_run_through_the_engines_sandbox(tmp_path: Path) -> None:
    engine = Engine(parse_plan(PLAN, source="test.edn"), tmp_path / "run", durability="none")
    engine.shell = recorder = RecordingSandbox()
    assert await engine.run() == "done"
    agent = {"AGENTTREE_AGENT": "root"}
    assert recorder.calls == [(["/bin/sh", "-c", "touch made-by-sh"], "app", agent, 5.0),
                              (["/bin/sh", "-c", "test -f made-by-sh"], "app", agent, 30.0)]
    # nothing ran locally: the sandbox's answers are what the agent saw
    assert not (tmp_path / "run" / "workspace" / "app" / "made-by-sh").exists()
    [result] = [r for r in events_of(engine.run_dir, ev.ToolResult) if r.tool == "sh"]
    assert result.ok and result.output == "exit 0\nfrom the recording sandbox\n"
    [check] = events_of(engine.run_dir, ev.AcceptanceResult)
    assert check.ok and check.output == "from the recording sandbox\n"
    started = events_of(engine.run_dir, ev.ProcessStarted)
    assert [(p.pgid, p.cmd) for p in started] == [(FAKE_PGID, "touch made-by-sh"),
                                                  (FAKE_PGID, "test -f made-by-sh")]


async def test_by_default_commands_run_in_the_workspace_sandbox(tmp_path: Path) -> None:
    engine = Engine(parse_plan(PLAN, source="test.edn"), tmp_path / "run", durability="none")
    assert await engine.run() == "done"
    assert isinstance(engine.shell, WorkspaceSandbox)
    assert engine.shell.confinement is engine.confinement
    assert (tmp_path / "run" / "workspace" / "app" / "made-by-sh").exists()
    [check] = events_of(engine.run_dir, ev.AcceptanceResult)
    assert check.ok and check.exit_code == 0
