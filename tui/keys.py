"""Every key binding of the UI by id: what ``--keys`` files may remap, and the help table."""

from __future__ import annotations

from textual.binding import Binding
from textual.keys import format_key

from .app import AgentTreeApp
from .screens.ask import FormScreen
from .screens.confirm import ConfirmScreen
from .screens.info import InfoScreen, QuitScreen
from .screens.plan_editor import PlanEditorScreen
from .widgets.agent_tree import AgentTree

OWNERS = (("app", AgentTreeApp), ("tree", AgentTree), ("confirm", ConfirmScreen),
          ("form", FormScreen), ("quit", QuitScreen), ("info", InfoScreen),
          ("editor", PlanEditorScreen))


def bindings() -> list[tuple[str, Binding]]:
    """(where, binding) for every binding that has an id."""
    return [(where, b) for where, owner in OWNERS for b in owner.BINDINGS
            if isinstance(b, Binding) and b.id]


def binding_ids() -> list[str]:
    """The ids a key map may use."""
    return [b.id for _, b in bindings() if b.id]


def key_table() -> str:
    """A plain table: id, default key(s) as typed, where, what it does."""
    rows = [(str(b.id), " ".join(format_key(k) for k in b.key.split(",")), where,
             b.description or b.action) for where, b in bindings()]
    width = max(len(r[0]) for r in rows)
    keyw = max(len(r[1]) for r in rows)
    return "\n".join(f"{i:<{width}}  {k:<{keyw}}  {w:<8} {d}" for i, k, w, d in rows)
