"""Closing dialogs: what to do with a running run, and a text to read (the applied plan diff)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from .confirm import ChoiceScreen


class QuitScreen(ChoiceScreen[str]):
    """Dismisses with ``stop`` (cancel the run), ``leave`` (it goes on headless) or ``stay``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "answer('stop')", "Stop the run", id="quit-stop"),
        Binding("l", "answer('leave')", "Leave it running", id="quit-leave"),
        Binding("escape,c", "answer('stay')", "Stay", id="quit-stay"),
    ]

    def __init__(self, run_dir: str) -> None:
        super().__init__(
            "The run is still going",
            f"Stop it (cancel every agent), or leave it running headless? You can come back "
            f"with:  agenttree tui {run_dir}",
            [(Button("Stop the run (s)", variant="error", id="stop"), "stop"),
             (Button("Leave it running (l)", variant="primary", id="leave"), "leave"),
             (Button("Stay (esc)", id="stay"), "stay")], focus="leave")


class InfoScreen(ModalScreen[None]):
    """A title and a scrollable text; any of enter/esc/q closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,enter,q", "close", "Close", id="info-close"),
    ]

    def __init__(self, title: str, body: str) -> None:
        super().__init__()
        self.title_text, self.body = title, body

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            with VerticalScroll(classes="dialog-scroll"):
                yield Static(self.body, classes="dialog-body", markup=False)
            yield Button("Close (enter)", id="close")

    def action_close(self) -> None:
        """Close."""
        self.dismiss(None)

    @on(Button.Pressed, "#close")
    def _closed(self) -> None:
        self.dismiss(None)
