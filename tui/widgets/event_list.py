"""A list of event lines (Textual's ``Log``: line API, cheap at any length) with a filter."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from textual.widgets import Log

from agenttree.events import Entry

from ..event_filter import EventFilter
from ..look import event_line

NARROW = 100
"""Below this terminal width, lines leave out the time since the start."""
MAX_LINES = 2000
"""Lines kept; older ones scroll away (the whole log is one filter away)."""


class EventList(Log):
    """Event lines that pass :attr:`filter`; follows the end while :attr:`follow` is on."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=MAX_LINES, auto_scroll=True, id=id)
        self.filter = EventFilter()
        self.start_t = 0

    @property
    def follow(self) -> bool:
        """Whether new lines scroll the list to its end."""
        return self.auto_scroll

    @follow.setter
    def follow(self, on: bool) -> None:
        self.auto_scroll = on
        if on:
            self.scroll_end(animate=False)

    def _lines_for(self, entries: Iterable[Entry], limit: int | None = None) -> list[str]:
        flt, start = self.filter, self.start_t
        narrow = self.app.size.width < NARROW
        out = []
        for entry in entries:
            if flt.matches_entry(entry):
                line = event_line(entry, start, narrow)
                if flt.matches_line(line):
                    out.append(line)
                    if len(out) == limit:
                        break
        return out

    def add_entries(self, entries: Sequence[Entry]) -> None:
        """Append the lines of new entries that pass the filter (only the last
        :data:`MAX_LINES` of a big batch are drawn: the rest would scroll away unseen)."""
        lines = self._lines_for(reversed(entries), MAX_LINES)
        if lines:
            lines.reverse()
            self.write_lines(lines)

    def show_until(self, entries: Sequence[Entry], seq: int) -> None:
        """Show the last :data:`MAX_LINES` matching events up to ``seq`` (after a filter change or
        a jump in time). Scans backwards, so it is quick however long the log is."""
        self.show_lines(reversed(self._lines_for(
            (entries[i] for i in range(min(seq, len(entries)) - 1, -1, -1)), MAX_LINES)))

    def show_entries(self, entries: Sequence[Entry]) -> None:
        """Show exactly these entries (those passing the filter)."""
        self.show_lines(self._lines_for(entries[-MAX_LINES:]))

    def show_lines(self, lines: Iterable[str]) -> None:
        """Replace the content with ``lines`` and scroll to the end."""
        self.clear()
        lines = list(lines)
        if lines:
            self.write_lines(lines)
        self.scroll_end(animate=False)
