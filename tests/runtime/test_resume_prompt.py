"""Resume keeps what issue 16 added: every agent's imposed rules (a spawned child's read back
from the log) and its context window (compaction, saved outputs) as the full run had them."""

from __future__ import annotations

from pathlib import Path

import pytest

from agenttree import events as ev

from .test_context_window import BIG
from .test_resume import cut, events, resume, run_plan

PLAN = """
{:tiers [{:depth 0 :models ["scripted"] :system-prompt "T0: be brief."
          :budget {:tool-calls 100 :tokens 1000000}}
         {:depth 1 :models ["scripted"] :model-settings {"scripted" {:context-tokens 1000
          :max-output-tokens 100 :tool-output-chars 800}}}]
 :task {:task/id "root" :system-prompt "R: never delete files." :goal "delegate"
        :tools [:spawn :wait :finish :read-file :write-file]
        :script [{:call :spawn :args {:goal "read it" :system_prompt "S: quote line numbers."
                                      :tools ["read-file" "write-file" "finish"]
                                      :script [%s]}}
                 {:call :wait :args {}}
                 {:say "root done"}]}}
"""
CHILD = ('{:call :write-file :args {:path "big.txt" :content "' + BIG.replace("\n", "\\n")
         + '"}} {:call :read-file :args {:path "big.txt"}} '
         '{:call :read-file :args {:path "big.txt"}} {:call :read-file :args {:path "big.txt"}} '
         '{:say "read"}')


def prompts(entries: list[ev.Entry]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for e in entries:
        if isinstance(e.event, ev.ModelRequested) and e.event.system_prompt is not None:
            out.setdefault(e.event.agent, []).append(e.event.system_prompt)
    return out


def compactions(entries: list[ev.Entry]) -> list[tuple]:
    return [(c.agent, c.turn, c.tokens_before, c.tokens_after, c.turns_dropped)
            for c in (e.event for e in entries) if isinstance(c, ev.ContextCompacted)]


@pytest.mark.parametrize("fraction", [0.3, 0.6])
def test_a_resumed_agent_gets_the_same_prompt_and_compacts_where_it_did(
        tmp_path: Path, fraction: float, capsys: pytest.CaptureFixture[str]) -> None:
    full = run_plan(tmp_path, PLAN % CHILD)
    whole = events(full)
    child = prompts(whole)["root.1"][0]
    assert "T0: be brief." in child and "R: never delete files." in child
    assert "S: quote line numbers." in child
    assert compactions(whole)
    n = int(len(whole) * fraction)
    run_dir = cut(full, n, tmp_path / "cut")
    (run_dir / "outputs").mkdir()
    if (full / "outputs").exists():  # what the dead engine had saved by then
        saved = {e.event.call.replace("#", "_") for e in whole[:n]
                 if isinstance(e.event, ev.ToolResult) and "characters cut" in e.event.output}
        for name in saved:
            (run_dir / "outputs" / "root.1").mkdir(exist_ok=True)
            (run_dir / "outputs" / "root.1" / f"{name}.txt").write_text(
                (full / "outputs" / "root.1" / f"{name}.txt").read_text())
    code, out, err = resume(run_dir, capsys)
    assert code == 0, out + err
    after = events(run_dir)
    assert "root.1" in prompts(after[n:])  # restarted, with its spawned rules read back
    for agent, texts in prompts(after[n:]).items():
        assert texts == [prompts(whole)[agent][0]], agent  # same prompt, said once more
    assert compactions(after) == compactions(whole)
    assert (run_dir / "outputs" / "root.1" / "root.1_4.0.txt").read_text() == BIG
