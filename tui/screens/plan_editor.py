"""The plan editor: the run's plan in a text area; saving checks it with the engine's own
validator. A plan with an error shows the error (file:line: key: what) and moves the cursor to
that line; nothing is kept. A valid plan is kept as the draft that ``R`` applies."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from agenttree.errors import PlanError

from ..widgets.edn_text_area import EdnTextArea


class PlanEditorScreen(ModalScreen[str | None]):
    """Dismisses with the validated text (ctrl+s), or None (esc: discard the edit)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Check & keep", id="plan-save", priority=True),
        Binding("escape", "close", "Discard", id="plan-close", priority=True),
    ]

    def __init__(self, text: str, source: str) -> None:
        super().__init__()
        self.text, self.source = text, source

    def compose(self) -> ComposeResult:
        with Vertical(classes="editor"):
            yield Static(f"Editing {self.source} — ctrl+s checks and keeps it (then R applies "
                         "it to the run), esc discards", classes="dialog-title")
            yield EdnTextArea(self.text, id="plan-editor", show_line_numbers=True,
                              tab_behavior="indent", soft_wrap=False)
            yield Static("", id="plan-error", classes="error")

    def on_mount(self) -> None:
        self.query_one(EdnTextArea).focus()

    def action_save(self) -> None:
        """Validate; keep the text if it is a valid plan, else show why."""
        editor = self.query_one(EdnTextArea)
        text = editor.text
        from agenttree.plan import parse_plan  # imported when needed: ~6 MB, rarely used

        try:
            parse_plan(text, source=self.source)
        except PlanError as exc:
            self.query_one("#plan-error", Static).update(f"✗ {exc} — nothing was applied")
            if exc.line is not None:
                editor.move_cursor((exc.line - 1, 0), center=True)
            return
        self.dismiss(text)

    def action_close(self) -> None:
        """Close without keeping the edit."""
        self.dismiss(None)
