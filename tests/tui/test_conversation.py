"""The conversation view: only new items are mounted, and it follows new items only while the
reader is at the bottom."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import App, ComposeResult

from agenttree.state import AgentView
from tui.widgets.conversation import MAX_ITEMS, ConversationView


class ConversationApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ConversationView(id="conv")


def agent(n: int) -> AgentView:
    view = AgentView(id="root.a", parent="root", task="a", goal="talk", depth=1,
                     model="scripted", models=["scripted"], tools=[])
    view.conversation = [{"kind": "chat", "from": "root", "to": "root.a", "text": f"note {i}",
                          "seq": i} for i in range(n)]
    return view


def test_follows_only_at_the_bottom() -> None:
    async def main() -> None:
        app = ConversationApp()
        async with app.run_test(size=(60, 20)) as pilot:
            conv = app.query_one(ConversationView)
            conv.show(agent(30))
            await pilot.pause()
            assert conv.at_end and conv.max_scroll_y > 0
            first: Any = conv.query(".turn").first()
            conv.show(agent(40))  # only the ten new items are mounted
            await pilot.pause()
            assert conv.query(".turn").first() is first and len(conv.query(".turn")) == 40
            assert conv.at_end  # it was at the end: it follows
            conv.scroll_home(animate=False)
            await pilot.pause()
            conv.show(agent(50))
            await pilot.pause()
            assert conv.scroll_y == 0  # reading above: not yanked down
            conv.scroll_end(animate=False)
            await pilot.pause()
            conv.show(agent(MAX_ITEMS + 20))
            await pilot.pause()
            assert conv.at_end
            assert len(conv.query(".turn")) == MAX_ITEMS
            assert "20 earlier items" in str(conv.query_one("#conv-head").content)

    asyncio.run(main())
