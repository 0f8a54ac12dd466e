"""The Plan tab: the plan the run follows, with line numbers (EDN read as Clojure)."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.containers import VerticalScroll
from textual.widgets import Static


class PlanView(VerticalScroll):
    """The plan text; ``e`` opens it in the editor."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(Static(id="plan-text"), id=id)
        self._text: str | None = None

    def show(self, text: str) -> None:
        """Show ``text`` (redrawn only when it changes)."""
        if text == self._text:
            return
        self._text = text
        body = Syntax(text, "clojure", line_numbers=True, theme="ansi_dark",
                      background_color="default", word_wrap=False) if text else \
            "The run has not loaded its plan yet."
        self.query_one("#plan-text", Static).update(body)
