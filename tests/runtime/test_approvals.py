"""Approvals: calls that wait for a person (``:approve``), decided through the control file or
by the clock (``:approve-timeout-s``); and call ids unique within a run."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from agenttree import events as ev
from agenttree.control import Approve, Deny, append_command
from agenttree.log import read_events
from agenttree.state import fold

from ..models.fake_openai import FakeOpenAI, completion
from .test_engine import events_of, finished, make_engine, when_written

GATED = """
{:tiers [{:depth 0 :models ["scripted"] :approve [:sh] %s
          :budget {:tool-calls 20 :tokens 100000}}]
 :task {:task/id "root"
        :script [{:call :write-file :args {:path "a.txt" :content "free"}}
                 {:call :sh :args {:cmd "echo ran > b.txt"}}
                 {:say "done"}]}}
"""


async def _until_waiting(engine, call: str = "root#2.0") -> None:
    """Until the engine has logged (and folded) the approval request for ``call``."""
    asked = when_written(engine, lambda e: isinstance(e, ev.ApprovalRequested) and e.call == call)
    await asked.wait()


async def test_a_matching_call_waits_for_a_person_and_runs_once_approved(
        tmp_path: Path, autojump_clock) -> None:
    engine = make_engine(tmp_path, GATED % "")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await _until_waiting(engine)
        await trio.sleep(3600)  # an hour of virtual time: nobody decided, so it still waits
        assert engine.state.agents["root"].status == "needs-you"
        assert engine.state.agents["root"].waiting_call == "root#2.0"
        assert engine.state.approvals["root#2.0"]["status"] == "pending"
        assert not (engine.workspace.root / "b.txt").exists()
        append_command(engine.run_dir, Approve(call="root#2.0"))
    assert finished(engine) == {"root": "done"}
    assert (engine.run_dir / "workspace" / "b.txt").read_text() == "ran\n"
    kinds = [(type(e.event).TYPE, getattr(e.event, "call", None))
             for e in read_events(engine.run_dir / "events.jsonl")
             if type(e.event).TYPE.startswith("tool/")]
    assert kinds == [("tool/requested", "root#1.0"), ("tool/result", "root#1.0"),
                     ("tool/requested", "root#2.0"), ("tool/approval-requested", "root#2.0"),
                     ("tool/approved", "root#2.0"), ("tool/result", "root#2.0")]
    assert engine.state.approvals["root#2.0"]["status"] == "approved"
    assert fold(read_events(engine.run_dir / "events.jsonl")) == engine.state


async def test_nobody_deciding_within_the_timeout_denies_the_call(tmp_path: Path,
                                                                 autojump_clock) -> None:
    engine = make_engine(tmp_path, GATED % ":approve-timeout-s 90")
    written: dict[str, float] = {}
    engine.on_event = lambda entry: written.setdefault(type(entry.event).TYPE,
                                                       trio.current_time())
    await engine.run()
    # virtual time: 90 s after the request (the log writer takes a virtual millisecond)
    waited = written["tool/denied"] - written["tool/approval-requested"]
    assert waited == pytest.approx(90, abs=0.005)
    [event] = events_of(engine, ev.ToolDenied)
    assert (event.call, event.reason, event.timed_out) == ("root#2.0", "timed out", True)
    result = next(r for r in events_of(engine, ev.ToolResult) if r.call == "root#2.0")
    assert not result.ok and result.output.startswith("denied: timed out")
    assert not (engine.run_dir / "workspace" / "b.txt").exists()
    assert finished(engine) == {"root": "done"}


async def test_a_denial_reaches_the_model_with_its_reason(tmp_path: Path) -> None:
    """Against a real (fake) OpenAI server: the request after the denial carries the tool
    error with the person's reason, for the call the model made."""
    server = FakeOpenAI([completion("", [("sh", {"cmd": "rm -rf build"})]), completion("ok")])
    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        engine = make_engine(tmp_path, f"""
{{:tiers [{{:depth 0 :models ["openai:m@{base}"] :approve [:sh]}}]
 :providers {{"{base}" {{:stream false}}}}
 :task {{:task/id "root" :goal "clean up" :tools [:sh :finish]}}}}""")
        with trio.fail_after(30):
            async with trio.open_nursery() as run:
                run.start_soon(engine.run)
                await _until_waiting(engine, "call_0")
                append_command(engine.run_dir, Deny(call="call_0",
                                                    reason="not on the shared disk"))
        nursery.cancel_scope.cancel()
    tool_messages = [m for m in server.requests[-1]["body"]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_0"]
    assert tool_messages[0]["content"].startswith("ERROR: denied: not on the shared disk")
    assert finished(engine) == {"root": "done"}


async def test_deciding_an_unknown_or_decided_call_is_rejected_and_the_run_goes_on(
        tmp_path: Path, autojump_clock) -> None:
    engine = make_engine(tmp_path, GATED % "")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await _until_waiting(engine)
        # Commands are answered in order: once line 4 has its answer, all four have.
        answered = when_written(engine, lambda e: isinstance(
            e, ev.ControlApplied | ev.ControlRejected) and e.line == 4)
        for command in (Approve(call="root#9.9"), Deny(call="root#1.0"),
                        Deny(call="root#2.0", reason="no"), Approve(call="root#2.0")):
            append_command(engine.run_dir, command)
        with trio.fail_after(60):  # virtual seconds: a missing answer fails, never hangs
            await answered.wait()
    rejected = {r.line: r.reason for r in events_of(engine, ev.ControlRejected)}
    assert rejected == {1: "no call 'root#9.9' in this run asked for approval",
                        2: "no call 'root#1.0' in this run asked for approval",
                        4: "call 'root#2.0' was denied already"}
    assert [(a.line, a.detail) for a in events_of(engine, ev.ControlApplied)] == [
        (3, "denied root#2.0 (sh for root)")]


async def test_cancelling_a_waiting_agent_withdraws_its_request(tmp_path: Path,
                                                                autojump_clock) -> None:
    engine = make_engine(tmp_path, GATED % "")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await _until_waiting(engine)
        engine.cancel("root", "test over")
    assert finished(engine) == {"root": "cancelled"}
    assert engine.state.approvals["root#2.0"]["status"] == "withdrawn"
    assert engine.state.agents["root"].waiting_call is None
    assert not events_of(engine, ev.ToolResult)[1:]


CHILD = """
{:tiers [{:depth 0 :models ["scripted"] :approve [:write-file]
          :budget {:tool-calls 20 :tokens 100000}}
         {:depth 1 :models ["scripted"] :approve [:sh]}]
 :task {:task/id "root" :script [{:say "waiting"}]
        :children [{:task/id "kid" :approve []
                    :script [{:call :write-file :args {:path "k.txt" :content "k"}}
                             {:say "done"}]}]}}
"""


async def test_a_child_cannot_drop_an_approval_its_parent_requires(tmp_path: Path,
                                                                   autojump_clock) -> None:
    engine = make_engine(tmp_path, CHILD)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await _until_waiting(engine, "root.kid#1.0")
        assert engine.state.agents["root.kid"].status == "needs-you"
        append_command(engine.run_dir, Approve(call="root.kid#1.0"))
    assert finished(engine) == {"root.kid": "done", "root": "done"}


RESTARTED = """
{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 30 :tokens 100000}}]
 :task {:task/id "root"
        :script [{:say "waiting"}
                 {:call :grant :args {:agent "root.kid" :budget {:tool_calls 3}}}
                 {:say "granted"}]
        :children [{:task/id "kid" :budget {:tool-calls 1}
                    :script [{:call :list-dir :args {:path "."}}
                             {:call :list-dir :args {:path "."}}
                             {:say "done"}]}]}}
"""


async def test_call_ids_stay_unique_when_an_agent_is_restarted(tmp_path: Path,
                                                               autojump_clock) -> None:
    """The kid runs out of tool calls, is granted more and restarted; its new attempt's model
    numbers its calls from turn 1 again, and the log must not show an id twice."""
    engine = make_engine(tmp_path, RESTARTED)
    await engine.run()
    spawns = [s.attempt for s in events_of(engine, ev.AgentSpawned) if s.agent == "root.kid"]
    assert spawns == [1, 2]
    requested = [r.call for r in events_of(engine, ev.ToolRequested)]
    assert len(requested) == len(set(requested)), requested
    kid = [r.call for r in events_of(engine, ev.ToolRequested) if r.agent == "root.kid"]
    assert kid[0] == "root.kid#1.0" and "root.kid#1.0@2" in kid


async def test_an_id_the_model_repeats_is_made_unique(tmp_path: Path) -> None:
    """A server that numbers calls per response (``call_0`` every turn): each call still gets
    its own id in the log and on the wire."""
    server = FakeOpenAI([completion("", [("list-dir", {"path": "."})]),
                         completion("", [("list-dir", {"path": "."})]), completion("ok")])
    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        engine = make_engine(tmp_path, f"""
{{:tiers [{{:depth 0 :models ["openai:m@{base}"]}}]
 :providers {{"{base}" {{:stream false}}}}
 :task {{:task/id "root" :goal "look" :tools [:list-dir :finish]}}}}""")
        with trio.fail_after(30):
            await engine.run()
        nursery.cancel_scope.cancel()
    assert [r.call for r in events_of(engine, ev.ToolRequested)] == ["call_0", "call_0~2"]
    last = server.requests[-1]["body"]["messages"]
    assert [m["tool_call_id"] for m in last if m["role"] == "tool"] == ["call_0", "call_0~2"]
