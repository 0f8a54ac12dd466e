"""An agent's whole conversation folded from the log equals the full fold's."""

from __future__ import annotations

from pathlib import Path

from agenttree.log import LogReader
from agenttree.state import fold
from tui.conversation_log import ConversationFold, entries_naming


def test_each_conversation_equals_the_full_fold(demo_run: Path, recorded_run: Path) -> None:
    for run in (demo_run, recorded_run):
        entries = list(LogReader(run / "events.jsonl"))
        for cut in (len(entries) // 3, len(entries)):
            whole = fold(entries[:cut])
            for agent, view in whole.agents.items():
                at_once = ConversationFold(agent).extend(entries[:cut])
                in_steps = ConversationFold(agent).extend(entries[:cut // 2]).extend(
                    entries[:cut])  # what was folded already is skipped
                named = ConversationFold(agent).extend(
                    entries_naming(run / "events.jsonl", agent, cut)).skip_to(cut)
                assert at_once.items == view.conversation == in_steps.items == named.items, \
                    (run, agent)
                assert at_once.seq == cut == named.seq
