"""One agent's conversation: messages, model turns (Markdown), tool calls (collapsible).

Only what changed is redrawn: items already shown stay mounted, so a long conversation does not
flicker as a turn arrives. Follow mode: new items scroll the view to the end only while it was
already at the end, so reading an earlier turn is never yanked away. (Not Textual's ``anchor``:
it bottom-aligns a conversation shorter than the view.)
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Collapsible, Static

from agenttree.state import AgentView

MAX_ITEMS = 100
"""Items drawn; older ones are summarised in one line (the Events tab has them all)."""


def _signature(item: dict[str, Any]) -> tuple[Any, ...]:
    return (item.get("seq"), "output" in item, item.get("approval"))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=1) if value else ""


def item_widget(agent_id: str, item: dict[str, Any]) -> Widget:
    """The widget for one conversation item."""
    kind = item.get("kind")
    if kind == "model":
        parts: list[Any] = [Text(f"model · turn {item.get('turn')}", style="bold cyan")]
        if item.get("text"):
            parts.append(_markdown(item["text"]))
        calls = ", ".join(c.get("tool", "?") for c in item.get("calls", []))
        if calls:
            parts.append(Text(f"→ calls {calls}", style="bright_black"))
        return Static(_group(parts), classes="turn model")
    if kind == "tool":
        done = "output" in item
        waiting = item.get("approval") == "pending" and not done
        mark = "!" if waiting else "…" if not done else "✓" if item.get("ok") else "✗"
        args = json.dumps(item.get("args", {}), ensure_ascii=False)
        title = f"{mark} {item.get('tool')} {args[:60]}"
        if waiting:
            title = f"{title} — needs you: a approves, d denies ({item.get('call')})"
        elif item.get("approval") in ("approved", "denied"):
            title = f"{title} ({item['approval']})"
        body = Text(_json(item.get("args")) + "\n")
        if done:
            body.append(str(item.get("output", "")), style="" if item.get("ok") else "red")
        return Collapsible(Static(body), title=title, collapsed=not waiting,
                           classes="turn tool" + ("" if item.get("ok", True) else " failed"))
    sender, to = item.get("from", "?"), item.get("to", "?")
    arrow = "→" if sender == agent_id else "←"
    other = to if sender == agent_id else sender
    head = Text(f"{arrow} {other} ({kind})", style="bold yellow" if kind == "chat" else "bold")
    text = Text(item.get("text", ""))
    if item.get("data") and not item.get("text"):
        text.append(_json(item["data"]), style="bright_black")
    return Static(_group([head, text]), classes=f"turn {kind}")


def _markdown(text: str) -> Any:
    """``text`` as Markdown. Rich's parser (markdown-it, ~3 MB) is imported when the first
    model turn is shown, not when the app starts."""
    from rich.markdown import Markdown

    return Markdown(text)


def _group(parts: list[Any]) -> Group:
    return Group(*parts)


class ConversationView(VerticalScroll):
    """The conversation of one agent as of one state."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.agent_id: str | None = None
        self._shown: list[tuple[Any, ...]] = []
        self._stream = ""
        self._heading = ""
        self._follow = True

    def compose(self) -> ComposeResult:
        yield Static("Select an agent in the tree.", id="conv-head", classes="hint")
        yield Static(id="conv-stream")

    def watch_virtual_size(self) -> None:
        """New items were laid out: keep following the end if the view was there."""
        if self._follow:
            self.scroll_end(animate=False, immediate=True)

    @property
    def at_end(self) -> bool:
        """Whether the view is scrolled to its end."""
        return self.scroll_y >= self.max_scroll_y

    def show(self, agent: AgentView | None, streaming: str = "",
             conversation: list[dict[str, Any]] | None = None, *, whole: bool = True) -> None:
        """Show ``agent``'s conversation (None: nothing selected), plus text still streaming.
        ``conversation``: its items (default: the view's own); ``whole`` False: only the last
        of them, the earlier ones still being read."""
        follow = self.at_end
        head = self.query_one("#conv-head", Static)
        stream = self.query_one("#conv-stream", Static)
        new_id = None if agent is None else agent.id
        if new_id != self.agent_id:
            self.agent_id = new_id
            self._shown = []
            self._stream = ""
            self._heading = ""
            self.query_children(".turn").remove()
            follow = True  # another agent: start at its latest item
        if agent is None:
            head.update("Select an agent in the tree.")
            stream.display = False
            return
        conversation = agent.conversation if conversation is None else conversation
        items = conversation[-MAX_ITEMS:]
        wanted = [_signature(i) for i in items]
        skipped = len(conversation) - len(items)
        heading = ("… reading earlier items from the log" if not whole
                   else f"… {skipped} earlier items (the Events tab has them all)" if skipped
                   else f"{agent.id} — {agent.goal}")
        if wanted == self._shown and streaming == self._stream and heading == self._heading:
            return
        keep = 0
        while keep < min(len(wanted), len(self._shown)) and wanted[keep] == self._shown[keep]:
            keep += 1
        for child in list(self.query_children(".turn"))[keep:]:
            child.remove()
        head.update(heading)
        self._heading = heading
        if items[keep:]:
            self.mount_all([item_widget(agent.id, i) for i in items[keep:]], before=stream)
        stream.display = bool(streaming)
        if streaming:
            stream.update(_group([Text("model · streaming…", style="bold cyan"),
                                  _markdown(streaming)]))
        self._shown = wanted
        self._stream = streaming
        self._follow = follow
        if follow:
            self.scroll_end(animate=False)
