"""The engine's own projection of its run: the fold with each conversation cut to its tail.

The engine folds every event it writes, so its summary, the watchdog, the control tail and
reconcile can read the run as the log tells it. Keeping every agent's whole conversation there
made the engine's memory grow with the log (26 MiB per 100,000 events); nothing in the engine
reads more than the last :data:`RECENT_ITEMS` items of one (reconcile's summary of a previous
attempt). So the engine keeps :func:`apply_live`'s projection: :func:`agenttree.state.apply`,
with each agent's conversation cut to its last :data:`RECENT_ITEMS` items after every event.
Everything else is the full fold. The TUI keeps this projection too, with fewer items (it folds
the conversation it shows from the log); the web view, ``replay`` and ``resume`` fold the log
themselves, whole.

It is still a pure fold: ``fold_live(log) == engine.state`` (the engine tests check it).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import events as ev
from .events import Entry
from .state import RunState, apply

RECENT_ITEMS = 12
"""Conversation items kept per agent (what reconcile summarises of an attempt)."""


_ADDS_TO: dict[type[ev.Event], tuple[str, ...]] = {
    ev.AgentMessage: ("sender", "to"), ev.ModelResponded: ("agent",),
    ev.ToolRequested: ("agent",), ev.ToolResult: ("agent",),
}
"""The events whose fold adds (at most) one item to a conversation, and the fields naming
whose."""


def apply_live(state: RunState, entry: Entry, keep: int = RECENT_ITEMS) -> RunState:
    """Fold one entry into the engine's projection (in place) and return it (``keep``: the
    items kept of each conversation; the TUI keeps fewer)."""
    apply(state, entry)
    names = _ADDS_TO.get(type(entry.event))
    if names is not None:
        for name in names:
            view = state.agents.get(getattr(entry.event, name))
            if view is not None and len(view.conversation) > keep:
                del view.conversation[0]  # one item came: one goes
    return state


def to_live(state: RunState) -> RunState:
    """Cut a whole fold (a resume's) to the engine's projection, in place, and return it."""
    for view in state.agents.values():
        del view.conversation[:-RECENT_ITEMS]
    return state


def fold_live(entries: Iterable[Entry], keep: int = RECENT_ITEMS) -> RunState:
    """The engine's projection of a log (what ``Engine.state`` holds once it has written it)."""
    state = RunState()
    for entry in entries:
        apply_live(state, entry, keep)
    return state
