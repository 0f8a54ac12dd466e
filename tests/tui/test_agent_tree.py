"""The agent tree widget on its own: the cursor lands on the agent asked for."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.app import App, ComposeResult

from agenttree.log import LogReader
from agenttree.state import RunState, apply
from tui.widgets.agent_tree import AgentTree


class _TreeApp(App[None]):
    def compose(self) -> ComposeResult:
        yield AgentTree(id="tree")


def test_selecting_an_agent_the_tree_has_not_drawn_yet_puts_the_cursor_on_it(
        recorded_run: Path) -> None:
    """A live run folds events faster than the tree redraws: selecting an agent whose node is
    added by the selection itself (no line number yet) must not put the cursor on the root —
    ``x`` would then cancel the whole run instead of one subtree."""
    entries = list(LogReader(recorded_run / "events.jsonl"))
    first_child = next(i for i, e in enumerate(entries)
                       if getattr(e.event, "parent", None) == "root")

    async def main() -> None:
        app = _TreeApp()
        async with app.run_test(size=(80, 30)) as pilot:
            tree = app.query_one(AgentTree)
            state = RunState()
            for entry in entries[:first_child]:
                apply(state, entry)
            tree.sync(state)
            await pilot.pause()
            for entry in entries[first_child:]:  # folded, not yet synced into the widget
                apply(state, entry)
            children = state.agents["root"].children
            assert len(children) >= 2
            for agent_id in (children[-1], children[0], "root", children[-1]):
                assert tree.select_agent(agent_id)
                assert tree.selected_agent == agent_id

    asyncio.run(main())
