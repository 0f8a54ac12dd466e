"""A yes/no question for anything that changes a run, listing exactly what it affects."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

MAX_LISTED = 12
"""Affected agents listed by name; the rest are counted."""


def affected_text(agents: list[str]) -> str:
    """``3 agents: root.lib, root.lib.tests, …`` (long lists cut, the count always whole)."""
    names = ", ".join(agents[:MAX_LISTED])
    more = f", … and {len(agents) - MAX_LISTED} more" if len(agents) > MAX_LISTED else ""
    return f"{len(agents)} agent{'s' if len(agents) != 1 else ''}: {names}{more}"


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True when confirmed (``y`` / enter on the button), False otherwise."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm-no"),
    ]

    def __init__(self, title: str, body: str, yes: str = "Yes") -> None:
        super().__init__()
        self.title_text, self.body, self.yes = title, body, yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="yes")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def action_answer(self, answer: bool) -> None:
        """Close with ``answer``."""
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, message: Button.Pressed) -> None:
        self.dismiss(message.button.id == "yes")
