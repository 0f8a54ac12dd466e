"""Context windows in a run: long outputs saved outside the workspace and read back with
read-output, transcripts compacted to fit a tiny :context-tokens (on the MockClock)."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from agenttree import events as ev
from agenttree.live_state import fold_live
from agenttree.log import read_events
from agenttree.models.base import ModelRequest, Usage
from agenttree.plan import ModelSettings
from agenttree.runtime import context_window
from agenttree.runtime.context_window import ContextWindow
from agenttree.tools.outputs import OutputStore

from ..models.fake_openai import FakeOpenAI, completion
from .test_engine import events_of, finished, make_engine

BIG = "".join(f"line {i:05d}\n" for i in range(600))  # 6,600 characters


def plan(script: str, settings: str = ":context-tokens 1000 :max-output-tokens 100 "
                                      ":tool-output-chars 800") -> str:
    """Root writes BIG to big.txt, then follows ``script``, with ``settings`` for its model."""
    content = BIG.replace("\n", "\\n")
    return f"""
{{:model-settings {{"scripted" {{{settings}}}}}
 :task {{:task/id "root" :goal "read the big file" :tools [:read-file :write-file :finish]
        :script [{{:call :write-file :args {{:path "big.txt" :content "{content}"}}}}
                 {script}]}}}}"""


READS = """{:call :read-file :args {:path "big.txt"}}
           {:call :read-file :args {:path "big.txt"}}
           {:call :read-file :args {:path "big.txt"}}
           {:call :read-output :args {:id "root_2.0" :offset 4000 :length 30}}
           {:say "done"}"""


async def test_a_tiny_window_compacts_and_every_output_stays_readable(
        tmp_path: Path, autojump_clock) -> None:
    engine = make_engine(tmp_path, plan(READS))
    assert await engine.run() == "done"
    compacted = events_of(engine, ev.ContextCompacted)
    assert compacted, "the window is too small for the transcript: it must compact"
    assert all(c.tokens_after <= c.limit < c.tokens_before for c in compacted)
    assert compacted[0].turn == 2  # the write-file call's 6,600-character argument, shortened
    assert any(c.turns_dropped >= 1 and c.messages_dropped >= 2 for c in compacted)
    assert any(c.outputs_shortened >= 1 for c in compacted)
    # each long output: cut in the transcript (and the log), whole in RUN_DIR/outputs
    reads = [r for r in events_of(engine, ev.ToolResult) if r.tool == "read-file"]
    assert len(reads) == 3
    for r in reads:
        assert len(r.output) <= 800 and "characters cut here" in r.output
        assert f'read-output {{"id": "{r.call.replace("#", "_")}", "offset": ' in r.output
        assert BIG.startswith(r.output[:400])
    saved = sorted(p.name for p in (engine.run_dir / "outputs" / "root").iterdir())
    assert saved == ["root_2.0.txt", "root_3.0.txt", "root_4.0.txt"]
    assert (engine.run_dir / "outputs" / "root" / "root_2.0.txt").read_text() == BIG
    assert sorted(p.name for p in (engine.run_dir / "workspace").iterdir()) == ["big.txt"]
    read_back = next(r for r in events_of(engine, ev.ToolResult) if r.tool == "read-output")
    assert read_back.ok
    assert read_back.output == ("[root_2.0: characters 4,000 to 4,030 of 6,600; read on with "
                                "offset 4030]\n" + BIG[4000:4030])
    # read-output is offered once an output is saved, not before
    offered = [r.tools for r in events_of(engine, ev.ModelRequested)]
    assert "read-output" not in offered[0] and "read-output" in offered[-1]
    assert fold_live(read_events(engine.run_dir / "events.jsonl")) == engine.state


async def test_without_a_window_nothing_is_compacted_but_long_outputs_are_cut(
        tmp_path: Path, autojump_clock) -> None:
    engine = make_engine(tmp_path, plan(READS, settings=":tool-output-chars 2000"))
    assert await engine.run() == "done"
    assert events_of(engine, ev.ContextCompacted) == []
    reads = [r for r in events_of(engine, ev.ToolResult) if r.tool == "read-file"]
    assert all(len(r.output) <= 2000 for r in reads)


async def test_a_window_too_small_for_the_kept_part_fails_the_agent_clearly(
        tmp_path: Path, autojump_clock) -> None:
    engine = make_engine(tmp_path, plan('{:say "done"}',
                                              settings=":context-tokens 200"))
    assert await engine.run() == "failed"
    reason = events_of(engine, ev.AgentFinished)[0].reason
    assert "the context window is too small" in reason and "raise :context-tokens" in reason
    assert "\n" not in reason


@pytest.mark.parametrize("args,fragment", [
    ('{:id "../../plan"}', "is not the name of a saved output"),
    ('{:id "root_9.0"}', "no saved output 'root_9.0'; yours: root_2.0"),
    ('{:id ""}', "is not the name of a saved output"),
    ('{:id "root_2.0" :offset -1}', "offset -1 is outside the output (6,600 characters)"),
    ('{:id "root_2.0" :offset 6601}', "offset 6601 is outside the output"),
    ('{:id "root_2.0" :length 0}', "length must be at least 1"),
    ('{:id "root_2.0" :offset "10"}', "argument 'offset': expected a whole number"),
    ('{:id 7}', "argument 'id' must be string, got int"),
    ('{:offset 3}', "missing required argument 'id'"),
    ('{:id "root_2.0" :lenght 5}', "unknown argument 'lenght' (did you mean 'length'?)"),
])
async def test_read_output_refuses_malformed_arguments(tmp_path: Path, autojump_clock,
                                                       args: str, fragment: str) -> None:
    script = f"""{{:call :read-file :args {{:path "big.txt"}}}}
                 {{:call :read-output :args {args}}}
                 {{:say "done"}}"""
    engine = make_engine(tmp_path, plan(script))
    assert await engine.run() == "done"
    result = next(r for r in events_of(engine, ev.ToolResult) if r.tool == "read-output")
    assert not result.ok and fragment in result.output


async def test_read_output_reads_only_the_agents_own_outputs(tmp_path: Path,
                                                            autojump_clock) -> None:
    text = plan("""{:call :read-file :args {:path "big.txt"}}
                         {:call :spawn :args {:goal "peek" :tools ["read-output"] :script [
                           {:call :read-output :args {:id "root_2.0"}} {:say "peeked"}]}}
                         {:call :wait :args {}}
                         {:say "done"}""", settings=":tool-output-chars 800").replace(
        ":tools [:read-file :write-file :finish]", ":tools [:read-file :write-file :finish "
        ":spawn :wait]")
    engine = make_engine(tmp_path, text)
    assert await engine.run() == "done"
    peek = next(r for r in events_of(engine, ev.ToolResult) if r.agent == "root.1")
    assert not peek.ok and "no saved output 'root_2.0'; yours: none yet" in peek.output


async def test_the_compacted_transcript_goes_on_the_wire(tmp_path: Path) -> None:
    """Against a real server: the request after compaction holds the system prompt, the goal,
    a summary of the dropped turns and the latest turns, with every tool result after its
    call (so a strict server accepts it)."""
    long_listing = [("read-file", {"path": "big.txt"})]
    server = FakeOpenAI([completion("", [("write-file", {"path": "big.txt", "content": BIG})]),
                         *[completion(f"reading {i}", long_listing) for i in range(5)],
                         completion("done")])
    async with trio.open_nursery() as nursery:
        base = await nursery.start(server.serve)
        engine = make_engine(tmp_path, f"""
{{:tiers [{{:depth 0 :models ["openai:m@{base}"]}}]
 :providers {{"{base}" {{:stream false}}}}
 :model-settings {{"m" {{:context-tokens 1400 :max-output-tokens 100 :tool-output-chars 800}}}}
 :task {{:task/id "root" :goal "read the big file" :tools [:read-file :write-file :finish]}}}}""")
        with trio.fail_after(30):
            status = await engine.run()
        nursery.cancel_scope.cancel()
    assert status == "done" and server.refused == []
    assert finished(engine) == {"root": "done"}
    compacted = events_of(engine, ev.ContextCompacted)
    assert any(c.turns_dropped for c in compacted)
    last = server.requests[-1]["body"]["messages"]
    assert last[0]["role"] == "system" and last[0]["content"].startswith("You are agent root")
    assert last[1] == {"role": "user", "content": "read the big file"}
    assert last[2]["role"] == "user"
    assert last[2]["content"].startswith("[Earlier turns were dropped to fit your context window")
    assert "summary" not in last[2]  # the tallies stay in the agent
    assert [m["content"] for m in last if m["role"] == "assistant"][-2:] == ["reading 3",
                                                                            "reading 4"]


def test_each_message_is_measured_once_however_many_turns_see_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fitting and calibrating every turn measure only the messages new since the last turn
    (not the whole transcript, twice, each turn)."""
    measured: list[str] = []

    def counting(message: dict) -> int:
        measured.append(message["content"])
        return real(message)

    real = context_window.message_tokens
    monkeypatch.setattr(context_window, "message_tokens", counting)
    window = ContextWindow("root", OutputStore(tmp_path), lambda event: 0)
    settings = ModelSettings(context_tokens=100_000)
    tools = [{"type": "function", "function": {"name": "finish", "parameters": {}}}]
    transcript = [{"role": "system", "content": "rules"}, {"role": "user", "content": "goal"}]
    for turn in range(1, 6):
        transcript = window.fit(transcript, tools, settings, turn=turn, model="m")
        request = ModelRequest(agent="root", turn=turn, messages=transcript, tools=tools,
                               settings=settings)
        window.observe(request, Usage(prompt=40 * turn, completion=5))
        transcript.append({"role": "assistant", "content": f"answer {turn}"})
        transcript.append({"role": "user", "content": f"news {turn}"})
    assert sorted(measured) == sorted(m["content"] for m in transcript[:-2])
    assert window.ratio > 1.0  # calibrated all along
