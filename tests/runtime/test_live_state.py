"""The engine's projection of its run (agenttree.live_state), and what a long run retains."""

from __future__ import annotations

import gc
import sys
import types
from pathlib import Path

import attrs

from agenttree import events as ev
from agenttree.live_state import RECENT_ITEMS, fold_live
from agenttree.log import read_events
from agenttree.state import fold
from bench.long_run import EVENTS_PER_TURN, make_engine

from .test_engine import make_engine as engine_for

NOTES = " ".join(f'{{:call :message :args {{:to "parent" :text "note {i}"}}}}' for i in range(20))
CHATTY = (
    '{:tiers [{:depth 0 :models ["scripted"] :budget {:tool-calls 100 :tokens 1000000}}]\n'
    ' :task {:task/id "root" :script [{:say "go"}]\n'
    '        :children [{:task/id "a" :script [' + NOTES + ' {:say "a done"}]}]}}\n')


async def test_the_engine_keeps_each_conversation_s_tail_and_the_rest_of_the_fold(
        tmp_path: Path) -> None:
    engine = engine_for(tmp_path, CHATTY)
    assert await engine.run() == "done"
    entries = list(read_events(engine.run_dir / "events.jsonl"))
    whole = fold(entries)
    assert fold_live(entries) == engine.state
    assert len(whole.agents["root.a"].conversation) > 3 * RECENT_ITEMS  # (the test bites)
    for agent_id, view in whole.agents.items():
        kept = engine.state.agents[agent_id]
        assert kept.conversation == view.conversation[-RECENT_ITEMS:]
        assert attrs.evolve(kept, conversation=[]) == attrs.evolve(view, conversation=[])
    assert attrs.evolve(engine.state, agents={}) == attrs.evolve(whole, agents={})


_OPAQUE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
           types.CodeType)


def retained_bytes(root: object) -> int:
    """The size of every object reachable from ``root`` (not through modules, classes or
    functions, which are the program, not its data)."""
    seen: set[int] = set()
    stack, total = [root], 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, _OPAQUE):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total


async def test_a_long_run_retains_nothing_per_event(tmp_path: Path, autojump_clock) -> None:
    """Three workers take 500 turns each (transcripts compacted by their context window):
    what the engine holds after 6,000 events is what it held after 2,000."""
    early, late = 2_000, 6_000
    sizes: dict[int, int] = {}
    engine = None

    def measure(entry: ev.Entry) -> None:
        if entry.seq in (early, late):
            sizes[entry.seq] = retained_bytes(engine)

    engine = make_engine(3, 3 * 500 * EVENTS_PER_TURN, str(tmp_path / "run"), measure,
                         durability="none")
    assert await engine.run() == "done"
    assert engine.state.seq > late
    # Before the engine kept only each conversation's tail, 4,000 more events kept ~1.5 MB
    # more (every conversation item); a few KB of slack is dicts and lists resizing.
    assert sizes[late] - sizes[early] < 16_384, sizes
