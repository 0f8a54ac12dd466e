"""A list of event lines (Textual's ``Log``: line API, cheap at any length) with a filter."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import Log

from agenttree.events import Entry

from ..event_filter import EventFilter
from ..look import event_line

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

    def _lines_for(self, entries: Sequence[Entry]) -> list[str]:
        flt, start = self.filter, self.start_t
        out = []
        for entry in entries:
            line = event_line(entry, start)
            if flt.matches(entry, line):
                out.append(line)
        return out

    def add_entries(self, entries: Sequence[Entry]) -> None:
        """Append the lines of new entries that pass the filter."""
        lines = self._lines_for(entries)
        if lines:
            self.write_lines(lines)

    def show_until(self, entries: Sequence[Entry], seq: int) -> None:
        """Show the last :data:`MAX_LINES` matching events up to ``seq`` (after a filter change or
        a jump in time). Scans backwards, so it is quick however long the log is."""
        self.clear()
        picked: list[str] = []
        flt, start = self.filter, self.start_t
        for entry in reversed(entries[:seq]):
            line = event_line(entry, start)
            if flt.matches(entry, line):
                picked.append(line)
                if len(picked) == MAX_LINES:
                    break
        picked.reverse()
        if picked:
            self.write_lines(picked)
        self.scroll_end(animate=False)
