"""The Chat tab shows an agent's whole conversation, read from the log, though the live state
keeps only its tail (shorter than the engine's)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agenttree import events as ev
from agenttree.log import encode
from tests.tui.conftest import loaded, make_app, text_of, wait_for
from tui.timeline import TAIL_ITEMS
from tui.widgets.agent_tree import AgentTree
from tui.widgets.conversation import ConversationView

TURNS = 40


def turns(first_seq: int, first_turn: int, n: int) -> bytes:
    return b"".join(
        encode(first_seq + i, 1_800_000_000_000 + first_seq + i, "r", ev.ModelResponded(
            agent="root", model="scripted", turn=first_turn + i, text=f"answer {first_turn + i}",
            calls=[], usage={}))
        for i in range(n))


def test_a_long_conversation_is_shown_whole(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    log = run_dir / "events.jsonl"
    log.write_bytes(
        encode(1, 1_800_000_000_000, "r", ev.RunStarted(
            plan_name="t", plan_path="-", run_dir="-", seed=0, durability="none"))
        + encode(2, 1_800_000_000_001, "r", ev.AgentSpawned(
            agent="root", parent=None, task="root", goal="talk long", depth=0,
            model="scripted", models=["scripted"], tools=[], budget={}))
        + turns(3, 0, TURNS))
    app = make_app(run_dir, readonly=True)

    def shown() -> list[str]:
        return [line.strip() for line in text_of(app.query_one(ConversationView).query(".turn"))
                .splitlines() if line.startswith("answer")]

    async def main() -> None:
        async with app.run_test(size=(120, 40)) as pilot:
            await loaded(pilot)
            assert app.query_one("#tree", AgentTree).select_agent("root")
            # The live state keeps the tail; the tab shows every turn, read from the log.
            assert len(app.timeline.live.agents["root"].conversation) == TAIL_ITEMS
            await wait_for(pilot, lambda: len(shown()) == TURNS, "every turn shown")
            assert shown() == [f"answer {i}" for i in range(TURNS)]
            # New turns are added to the whole conversation as they arrive.
            with log.open("ab") as f:
                f.write(turns(3 + TURNS, TURNS, 5))
            await wait_for(pilot, lambda: len(shown()) == TURNS + 5, "the new turns shown")
            assert shown() == [f"answer {i}" for i in range(TURNS + 5)]
            # Back in time: the conversation as it was then, whole.
            app.goto(22)
            await wait_for(pilot, lambda: len(shown()) == 20, "the turns up to seq 22")
            assert shown() == [f"answer {i}" for i in range(20)]

    asyncio.run(main())
