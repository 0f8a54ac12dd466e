"""One agent's whole conversation, folded from the log on demand.

The TUI's live state keeps only the tail of each conversation
(:func:`agenttree.live_state.apply_live`), so its memory does not grow with every agent's every
turn. The conversation shown is folded from the log when it is asked for: only the events that
add to or change that agent's conversation are folded (its spawn starts it afresh, as a restart
does), and new ones are folded in as they arrive.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from agenttree import events as ev
from agenttree.events import Entry
from agenttree.log import decode
from agenttree.state import AgentView, RunState, apply

_CHANGES = (ev.AgentMessage, ev.ModelResponded, ev.ToolRequested, ev.ToolResult,
            ev.ApprovalRequested, ev.ToolApproved, ev.ToolDenied)
"""The events that add an item to a conversation or change one."""


class ConversationFold:
    """The conversation of ``agent`` as of ``seq`` (fold more with :meth:`extend`)."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.seq = 0
        self._state = RunState()

    @property
    def items(self) -> list[dict[str, Any]]:
        """The conversation's items, oldest first."""
        view = self._state.agents.get(self.agent)
        return [] if view is None else view.conversation

    def extend(self, entries: Iterable[Entry]) -> ConversationFold:
        """Fold the entries after :attr:`seq` (older ones are skipped); returns itself."""
        agent, state = self.agent, self._state
        for entry in entries:
            if entry.seq <= self.seq:
                continue
            self.seq = entry.seq
            event = entry.event
            if isinstance(event, ev.AgentSpawned):
                if event.agent == agent:
                    state.agents[agent] = AgentView(
                        id=agent, parent=None, task=event.task, goal=event.goal,
                        depth=event.depth, model=event.model, models=event.models,
                        tools=event.tools)
            elif isinstance(event, _CHANGES) and agent in (
                    getattr(event, "agent", None), getattr(event, "sender", None),
                    getattr(event, "to", None)) and agent in state.agents:
                apply(state, entry)
        return self

    def skip_to(self, seq: int) -> ConversationFold:
        """Count the entries up to ``seq`` as folded (none of them concerns the agent)."""
        self.seq = max(self.seq, seq)
        return self


def entries_naming(path: Path, agent: str, until: int) -> Iterator[Entry]:
    """The entries of the log at ``path`` up to seq ``until`` whose line names ``agent`` (as a
    JSON string: its id, a message's sender or recipient). Only those lines are decoded, so
    reading one agent's events from a long log costs little more than reading its lines."""
    needle = orjson.dumps(agent)
    with path.open("rb") as f:
        for line in islice(f, until):
            if needle in line:
                yield decode(line.rstrip(b"\n"))
