"""The time-travel scrubber (wide screens): where the viewed point sits in the whole log."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


def scrubber_text(seq: int | None, last: int, width: int) -> Text:
    """``[ { ├────●──────┤ } ]  seq 120/179`` sized to ``width`` cells."""
    label = f"  seq {last if seq is None else seq}/{last}  " + \
            ("LIVE" if seq is None else "[ ] step  { } by 10  L live")
    bar = max(10, width - len(label) - 2)
    pos = bar - 1 if seq is None or last == 0 else round((bar - 1) * seq / last)
    out = Text("├", style="bright_black")
    out.append("━" * pos, style="cyan")
    out.append("●", style="bold yellow" if seq is not None else "bold green")
    out.append("─" * (bar - 1 - pos), style="bright_black")
    out.append("┤", style="bright_black")
    out.append(label, style="bright_black")
    return out


class Scrubber(Widget):
    """One line; the app sets it as the view moves."""

    DEFAULT_CSS = "Scrubber { height: 1; }"

    seq: reactive[int | None] = reactive(None)
    """The seq being viewed (None: live)."""
    last: reactive[int] = reactive(0)
    """The newest seq read."""

    def show(self, seq: int | None, last: int) -> None:
        """Draw the position of ``seq`` (None: live) in ``last`` events."""
        self.seq, self.last = seq, last

    def render(self) -> Text:
        return scrubber_text(self.seq, self.last, max(20, self.content_size.width))
