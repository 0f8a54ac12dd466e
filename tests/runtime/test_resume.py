"""``agenttree resume``: a log cut at seq N is what an engine killed after writing N events
leaves behind, so these tests run a plan, cut its log, resume the cut copy, and compare."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
from pathlib import Path

import orjson
import pytest
import trio

from agenttree import events as ev
from agenttree.cli import main
from agenttree.errors import UserError
from agenttree.log import encode, read_events
from agenttree.plan import parse_plan
from agenttree.runtime.engine import Engine
from agenttree.runtime.resume import Restorer, read_run
from agenttree.runtime.runlock import engine_lock
from agenttree.state import apply, fold

from ..sandbox.test_procs import alive_in_groups
from .test_engine import when_written

TREE = """
{:tiers [{:depth 0 :models ["scripted"] :tools :all
          :budget {:tool-calls 100 :tokens 100000 :retries 3}}]
 :task {:task/id "root" :script [{:say "children at work"} {:say "all done"}]
        :acceptance [(sh "echo root >> effects.log")]
        :children
        [{:task/id "a" :script [{:call :sh :args {:cmd "echo a >> tools.log"}}
                                {:call :write-file :args {:path "a.md" :content "a"}}
                                {:call :message :args {:to "parent" :text "a here"}}
                                {:say "a done"}]
          :acceptance [(sh "echo a >> effects.log")]
          :children [{:task/id "a1" :script [{:call :sh :args {:cmd "echo a1 >> tools.log"}}
                                             {:call :finish :args {:result "a1 ok"}}]
                      :acceptance [(sh "echo a1 >> effects.log")]}]}
         {:task/id "b" :script [{:call :sh :args {:cmd "echo b >> tools.log"}} {:say "b done"}]}]}}
"""

LOCKS = """
{:locks {:mode :advisory :ttl-ms 30000 :wait-ms 60000}
 :tiers [{:depth 0 :models ["scripted"] :tools :all :budget {:tool-calls 50}}]
 :task {:task/id "root" :script [{:say "go"}]
        :children
        [{:task/id "w" :script [{:call :lock :args {:path "f.md"}}
                                {:call :write-file :args {:path "f.md" :content "w" :token 1}}
                                {:call :unlock :args {:path "f.md"}}
                                {:say "written"}]}]}}
"""


def run_plan(tmp_path: Path, text: str, name: str = "full") -> Path:
    run_dir = tmp_path / name
    engine = Engine(parse_plan(text, source="test.edn"), run_dir, durability="none")
    trio.run(engine.run)
    return run_dir


def cut(run_dir: Path, n: int, dest: Path, extra: bytes = b"") -> Path:
    """A copy of ``run_dir`` whose log stops after ``n`` events (plus ``extra`` bytes)."""
    shutil.copytree(run_dir / "workspace", dest / "workspace")
    shutil.copy(run_dir / "plan.edn", dest / "plan.edn")
    (dest / "control.jsonl").touch()
    lines = (run_dir / "events.jsonl").read_bytes().splitlines(keepends=True)
    (dest / "events.jsonl").write_bytes(b"".join(lines[:n]) + extra)
    return dest


def resume(run_dir: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["resume", str(run_dir), "--quiet"])
    out, err = capsys.readouterr()
    return code, out, err


def events(run_dir: Path) -> list[ev.Entry]:
    return list(read_events(run_dir / "events.jsonl"))


def statuses(run_dir: Path) -> dict[str, str]:
    return {t.id: t.status for t in fold(events(run_dir)).tasks.values()}


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_plan(tmp_path_factory.mktemp("tree"), TREE)


def checks_by_agent(entries: list[ev.Entry]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in entries:
        if isinstance(e.event, ev.AcceptanceResult):
            counts[e.event.agent] = counts.get(e.event.agent, 0) + 1
    return counts


def test_the_full_run_is_what_the_cuts_are_compared_with(full: Path) -> None:
    assert statuses(full) == dict.fromkeys(("root", "a", "a1", "b"), "done")
    assert checks_by_agent(events(full)) == {"root": 1, "root.a": 1, "root.a.a1": 1}


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7, 0.9])
def test_resume_from_a_cut_ends_like_the_full_run_without_redoing_recorded_work(
        full: Path, tmp_path: Path, fraction: float, capsys: pytest.CaptureFixture[str]) -> None:
    total = len(events(full))
    n = int(total * fraction)
    run_dir = cut(full, n, tmp_path / "cut")
    before = fold(events(run_dir))
    code, out, err = resume(run_dir, capsys)
    assert code == 0, out + err
    after = events(run_dir)
    assert [e.seq for e in after] == list(range(1, len(after) + 1))  # gapless across the resume
    assert statuses(run_dir) == statuses(full)
    resumed = [e.event for e in after if isinstance(e.event, ev.RunResumed)]
    assert len(resumed) == 1 and resumed[0].from_seq == n
    assert set(resumed[0].restarted) == {a.id for a in before.agents.values() if not a.finished}
    new = after[n:]
    # finished agents are not started again; recorded tool results are not produced again
    spawned = {e.event.agent for e in new if isinstance(e.event, ev.AgentSpawned)}
    assert not spawned & {a.id for a in before.agents.values() if a.finished}
    recorded = {e.event.call for e in after[:n] if isinstance(e.event, ev.ToolResult)}
    redone = [e.event for e in new if isinstance(e.event, ev.ToolResult)]
    assert not {r.call for r in redone} & recorded
    open_calls = {call for a in before.agents.values() for call in a.open_calls}
    assert {r.call for r in redone if r.replayed_uncertain} == open_calls & {
        r.call for r in redone}
    assert checks_by_agent(after) == checks_by_agent(events(full))  # recorded ones not again
    # the fold of the resumed log has each conversation once, not twice: every agent's model
    # turns are numbered 1..k with no turn repeated (how many there are depends on when news
    # arrived, in the full run as in this one)
    for agent in fold(after).agents.values():
        turns = [item["turn"] for item in agent.conversation if item["kind"] == "model"]
        assert turns == list(range(1, len(turns) + 1)), (agent.id, turns)


def test_side_effects_of_recorded_calls_happen_once(full: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    entries = events(full)
    # cut right after b's sh call had its result: the workspace must not see it twice
    n = next(e.seq for e in entries
             if isinstance(e.event, ev.ToolResult) and e.event.agent == "root.b")
    run_dir = tmp_path / "cut"
    cut(full, n, run_dir)
    (run_dir / "workspace" / "tools.log").write_text("".join(
        f"{e.event.agent.rpartition('.')[2]}\n" for e in entries[:n]
        if isinstance(e.event, ev.ToolResult) and e.event.tool == "sh"))
    code, out, err = resume(run_dir, capsys)
    assert code == 0, out + err
    assert sorted((run_dir / "workspace" / "tools.log").read_text().split()) == ["a", "a1", "b"]


def test_a_torn_last_line_is_cut_off_and_reported(full: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    lines = (full / "events.jsonl").read_bytes().splitlines(keepends=True)
    run_dir = cut(full, 20, tmp_path / "cut", extra=lines[20][:30])
    code, out, err = resume(run_dir, capsys)
    assert code == 0, out + err
    assert "dropped a torn last record at line 21" in err
    after = events(run_dir)
    assert [e.seq for e in after] == list(range(1, len(after) + 1))
    resumed = next(e for e in after if isinstance(e.event, ev.RunResumed))
    assert resumed.seq == 21 and "line 21" in resumed.event.torn


def test_a_corrupt_line_in_the_middle_stops_the_resume_naming_it(
        full: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = cut(full, 30, tmp_path / "cut")
    data = bytearray((run_dir / "events.jsonl").read_bytes())
    line_12 = sum(len(x) for x in bytes(data).splitlines(keepends=True)[:11])
    data[line_12 + 5] ^= 0x01  # a bit flip inside line 12
    (run_dir / "events.jsonl").write_bytes(bytes(data))
    code, _, err = resume(run_dir, capsys)
    assert code == 2
    assert ":12: corrupt event record" in err and "Traceback" not in err
    assert (run_dir / "events.jsonl").read_bytes() == bytes(data)  # nothing appended


def test_resume_after_a_clean_finish_is_a_no_op(full: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = cut(full, len(events(full)), tmp_path / "done")
    before = (run_dir / "events.jsonl").read_bytes()
    code, out, _ = resume(run_dir, capsys)
    assert code == 0
    assert "already finished (done); nothing to resume" in out
    assert (run_dir / "events.jsonl").read_bytes() == before


def test_a_log_of_another_format_version_is_refused(full: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = cut(full, 10, tmp_path / "old")
    path = run_dir / "events.jsonl"
    first, rest = path.read_bytes().split(b"\n", 1)
    wire = orjson.loads(first)
    del wire["crc"]
    entry = ev.from_wire(dict(wire, version="9.0.0"))
    line = encode(entry.seq, entry.t, entry.run, entry.event)  # a well-framed line...
    path.write_bytes(line.replace(b'"format":1', b'"format":2') + rest)  # ...of format 2
    code, _, err = resume(run_dir, capsys)
    assert code == 2
    assert "written in log format 2 by agenttree 9.0.0" in err and "reads format 1" in err


def test_a_second_engine_on_the_run_dir_is_refused_naming_the_first(
        full: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = cut(full, 10, tmp_path / "busy")
    lock = run_dir / "engine.lock"
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, b"4242\n")
        code, _, err = resume(run_dir, capsys)
        assert code == 2 and "in use by engine pid 4242" in err
        with pytest.raises(UserError, match="in use by engine pid 4242"), engine_lock(run_dir):
            pass
    finally:
        os.close(fd)
    code, out, err = resume(run_dir, capsys)  # the holder is gone: the lock is free again
    assert code == 0, out + err


def test_leftover_process_groups_of_the_dead_engine_are_killed(
        full: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = cut(full, 25, tmp_path / "cut")
    env = dict(os.environ, AGENTTREE_AGENT="root.b")
    ours = subprocess.Popen(["sleep", "987.654"], env=env, start_new_session=True)
    stranger = subprocess.Popen(["sleep", "987.655"], env=dict(env, AGENTTREE_AGENT="x"),
                                start_new_session=True)
    try:
        entries = events(run_dir)
        last = entries[-1]
        with open(run_dir / "events.jsonl", "ab") as f:
            for i, pid in enumerate((ours.pid, stranger.pid)):
                f.write(encode(last.seq + 1 + i, last.t, last.run, ev.ProcessStarted(
                    agent="root.b", pgid=pid, cmd="sleep")))
        code, out, err = resume(run_dir, capsys)
        assert code == 0, out + err
        assert ours.wait(timeout=10) == -signal.SIGKILL
        assert alive_in_groups({ours.pid}) == []
        assert stranger.poll() is None  # a group of someone else's is left alone
        resumed = next(e.event for e in events(run_dir) if isinstance(e.event, ev.RunResumed))
        assert resumed.killed == [ours.pid]
    finally:
        ours.kill()
        stranger.kill()
        ours.wait()
        stranger.wait()


def test_locks_are_rebuilt_from_the_log_and_fencing_tokens_go_on(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = run_plan(tmp_path, LOCKS)
    entries = events(full)
    n = next(e.seq for e in entries if isinstance(e.event, ev.LockAcquired))
    run_dir = cut(full, n + 2, tmp_path / "cut")  # the lock is held; the write not yet done
    assert fold(events(run_dir)).locks["f.md"]["holders"]["root.w"]["token"] == 1
    code, out, err = resume(run_dir, capsys)
    assert code == 0, out + err
    after = events(run_dir)
    resumed = next(e.event for e in after if isinstance(e.event, ev.RunResumed))
    assert (resumed.locks, resumed.last_token) == (1, 1)
    # the restored hold is honoured: the write with fencing token 1 passes, then the release
    results = {e.event.tool: e.event for e in after[n:] if isinstance(e.event, ev.ToolResult)}
    assert results["write-file"].ok, results["write-file"].output
    released = [e.event for e in after if isinstance(e.event, ev.LockReleased)]
    assert [(r.agent, r.token) for r in released] == [("root.w", 1)]
    assert fold(after).locks == {}
    assert statuses(run_dir) == statuses(full)


WAITING = """
{:task {:task/id "root" :script [{:say "waiting for w"}]
        :children [{:task/id "w" :script [{:call :wait :args {:timeout_s 1000}}]}]}}
"""


async def _run_until_waiting(engine: Engine) -> None:
    waiting = when_written(engine, lambda e: isinstance(e, ev.ToolRequested))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await waiting.wait()
        engine.cancel("root", "test over")


def test_control_commands_answered_before_the_crash_are_not_applied_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = tmp_path / "full"
    engine = Engine(parse_plan(WAITING, source="test.edn"), full, durability="none")
    trio.run(_run_until_waiting, engine)
    entries = events(full)
    n = next(e.seq for e in entries if isinstance(e.event, ev.ToolRequested))
    answered = encode(n + 1, entries[n].t, entries[n].run,
                      ev.ControlApplied(line=1, cmd="cancel", detail="cancelling root"))
    run_dir = cut(full, n, tmp_path / "cut", extra=answered)
    (run_dir / "control.jsonl").write_text('{"cmd":"cancel","agent":"root"}\n'
                                           '{"cmd":"cancel","agent":"root.w"}\n')
    code, out, err = resume(run_dir, capsys)
    assert code == 0, out + err  # line 1 (cancel root) was not applied a second time
    after = events(run_dir)
    control = [e.event for e in after if isinstance(e.event, ev.ControlApplied)]
    assert [c.line for c in control] == [1, 2]
    state = fold(after)
    assert state.agents["root.w"].status == "cancelled"
    assert (state.status, state.agents["root"].status) == ("done", "done")
    requested = [e.seq for e in after if isinstance(e.event, ev.ToolRequested)]
    assert len(requested) == 2 and requested[1] > n  # the unanswered wait ran again


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = Path(__file__).resolve().parents[2]
    return run_plan(tmp_path_factory.mktemp("demo"), (root / "plans" / "demo.edn").read_text())


@pytest.mark.parametrize("where", ["lib's failed check", "explorer out of budget", "the grant"])
def test_the_demo_resumes_through_retries_and_grants(
        demo: Path, tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    entries = events(demo)
    n = next(e.seq for e in entries if {
        "lib's failed check": lambda x: isinstance(x, ev.AcceptanceResult) and not x.ok,
        "explorer out of budget": lambda x: isinstance(x, ev.BudgetExhausted),
        "the grant": lambda x: isinstance(x, ev.ToolRequested) and x.tool == "grant",
    }[where](e.event))
    run_dir = cut(demo, n, tmp_path / "cut")
    code, out, err = resume(run_dir, capsys)
    assert code == 0, out + err
    after = events(run_dir)
    assert [e.seq for e in after] == list(range(1, len(after) + 1))
    assert statuses(run_dir) == statuses(demo) == dict.fromkeys(
        ("root", "lib", "tests", "docs", "explorer"), "done")
    explorer = [e.event.attempt for e in after
                if isinstance(e.event, ev.AgentSpawned) and e.event.agent == "root.explorer"]
    assert explorer == [1, 2]  # one restart by the grant, whether before or after the crash


BRIDGED = """
{:tiers [{:depth 0 :models ["scripted"] :tools :all :budget {:tool-calls 50}}]
 :task {:task/id "root"
        :script [{:call :bridge :args {:a "root.a" :b "root.b"}} {:say "bridged"}]
        :children
        [{:task/id "a" :script [{:call :wait :args {:timeout_s 0.3}}
                                {:call :message :args {:to "root.b" :text "over the bridge"}}
                                {:say "sent"}]}
         {:task/id "b" :script [{:call :wait :args {:timeout_s 30}} {:say "heard"}]}]}}
"""


def test_open_bridges_are_restored(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    full = run_plan(tmp_path, BRIDGED)
    entries = events(full)
    sent = [e.event for e in entries if isinstance(e.event, ev.ToolResult)
            and e.event.tool == "message"]
    assert sent and sent[0].ok, sent
    n = next(e.seq for e in entries if isinstance(e.event, ev.BridgeOpened))
    run_dir = cut(full, n + 1, tmp_path / "cut")
    code, out, err = resume(run_dir, capsys)
    assert code == 0, out + err
    after = events(run_dir)[n + 1:]
    sent = [e.event for e in after if isinstance(e.event, ev.ToolResult)
            and e.event.tool == "message"]
    assert [(s.ok, s.output) for s in sent] == [(True, "sent to root.b")]
    assert not any(isinstance(e.event, ev.BridgeOpened) for e in after)  # not logged twice
    heard = fold(events(run_dir)).agents["root.b"].conversation
    assert any(m.get("text") == "over the bridge" for m in heard)


def test_the_restorer_reads_the_log_as_found_not_the_engines_fold(full: Path,
                                                                   tmp_path: Path) -> None:
    """The engine goes on folding the resumed run into the state it started from; what the
    restorer decides from (who ran, their budgets, their children) stays as the log left it."""
    entries = events(full)
    n = next(e.seq for e in entries if isinstance(e.event, ev.AgentSpawned)
             and e.event.agent == "root.a.a1") + 2
    run_dir = cut(full, n, tmp_path / "cut")
    found, _ = read_run(run_dir / "events.jsonl")
    restorer = Restorer(found, [])
    assert "root.a.a1" in restorer.restart
    later = [e for e in entries[n:] if isinstance(e.event, ev.AgentFinished | ev.ToolRequested
                                                   | ev.AgentSpawned)]
    for entry in later:  # what the engine's own fold takes in as the resumed run goes on
        apply(found.state, entry)
    folded = found.state.agents["root.a.a1"]
    assert folded.finished and folded.used["tool_calls"] == 2
    view = restorer.state.agents["root.a.a1"]
    assert not view.finished and view.used.get("tool_calls", 0) == 0


class SeeingRestorer(Restorer):
    """A restorer that notes each event of a restarted agent offered to the log while that
    agent still replays."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)  # type: ignore[arg-type]
        self.offered_replaying: list[ev.Event] = []

    def admits(self, event: ev.Event) -> bool:
        if getattr(event, "agent", None) in self.replaying:
            self.offered_replaying.append(event)
        return super().admits(event)


TURN_EVENTS = (ev.ModelRequested, ev.ModelResponded, ev.ToolRequested, ev.ToolResult,
               ev.BudgetCharged)


def test_a_replaying_agent_builds_none_of_the_turn_events_the_log_holds(
        full: Path, tmp_path: Path) -> None:
    """Replayed turns are not logged again, and not even built: the engine's emit never sees
    them (a resume of 100,000 events built and dropped ~75,000)."""
    entries = events(full)
    n = max(e.seq for e in entries if isinstance(e.event, ev.ToolResult)
            and e.event.agent == "root.a")  # root.a is deep in its turns, still running
    run_dir = cut(full, n, tmp_path / "cut")
    found, _ = read_run(run_dir / "events.jsonl")
    engine = Engine(parse_plan(found.state.plan_edn, source="test.edn"), run_dir,
                    durability="none", state=found.state)
    restorer = engine.replayer = SeeingRestorer(found, [])
    assert "root.a" in restorer.restart
    trio.run(engine.run)
    assert not [e for e in restorer.offered_replaying if isinstance(e, TURN_EVENTS)]
    after = events(run_dir)
    assert statuses(run_dir) == statuses(full)
    turns = [e.event.turn for e in after if isinstance(e.event, ev.ModelRequested)
             and e.event.agent == "root.a"]
    assert turns == list(range(1, len(turns) + 1))  # replayed turns logged once, not twice
