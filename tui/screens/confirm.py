"""Questions answered with a button (or its key): a yes/no confirmation for anything that
changes a run, listing exactly what it affects, and the :class:`ChoiceScreen` it is made of."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

T = TypeVar("T")

MAX_LISTED = 12
"""Affected agents listed by name; the rest are counted."""


def affected_text(agents: list[str]) -> str:
    """``3 agents: root.lib, root.lib.tests, …`` (long lists cut, the count always whole)."""
    names = ", ".join(agents[:MAX_LISTED])
    more = f", … and {len(agents) - MAX_LISTED} more" if len(agents) > MAX_LISTED else ""
    return f"{len(agents)} agent{'s' if len(agents) != 1 else ''}: {names}{more}"


class ChoiceScreen(ModalScreen[T]):
    """A title, a text and a row of buttons; dismisses with the answer of the button pressed.

    ``choices`` pairs each button (with an id) with its answer; ``focus`` is the id of the
    button focused at first. Subclasses bind keys to ``answer(...)`` with the same answers.
    """

    def __init__(self, title: str, body: str, choices: Sequence[tuple[Button, T]],
                 focus: str) -> None:
        super().__init__()
        self.title_text, self.body, self.focus_id = title, body, focus
        self.buttons = [button for button, _ in choices]
        self.answers = {button.id: answer for button, answer in choices}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            with Horizontal(classes="dialog-buttons"):
                yield from self.buttons

    def on_mount(self) -> None:
        self.query_one(f"#{self.focus_id}", Button).focus()

    def action_answer(self, answer: T) -> None:
        """Close with ``answer``."""
        self.dismiss(answer)

    @on(Button.Pressed)
    def _pressed(self, message: Button.Pressed) -> None:
        self.dismiss(self.answers[message.button.id])


class ConfirmScreen(ChoiceScreen[bool]):
    """Dismisses with True when confirmed (``y`` / enter on the button), False otherwise."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm-no"),
    ]

    def __init__(self, title: str, body: str, yes: str = "Yes") -> None:
        super().__init__(title, body, [(Button(f"{yes} (y)", variant="error", id="yes"), True),
                                       (Button("Cancel (n)", id="no"), False)], focus="no")
