"""A list of event lines with a filter: a line-API scroll view that keeps the last
:data:`MAX_LINES` events and draws only the rows on screen.

Not Textual's ``Log``: it measures every batch of lines in a worker thread of its own (a thread
per write, and a layout pass when it reports back), which at a thousand events a second kept the
UI busy. Here an event is turned into its line only when its row is drawn (or a filter with
words must read it), so a batch costs little more than one refresh.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from rich.cells import cell_len
from rich.segment import Segment
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from agenttree.events import Entry

from ..event_filter import EventFilter
from ..look import event_line

NARROW = 100
"""Below this terminal width, lines leave out the time since the start."""
MAX_LINES = 2000
"""Lines kept; older ones scroll away (the whole log is one filter away)."""


class EventList(ScrollView, can_focus=True):
    """Event lines that pass :attr:`filter`; follows the end while :attr:`follow` is on."""

    DEFAULT_CSS = """
    EventList {
        background: $surface;
        color: $text;
        overflow: scroll;
        &:focus { background-tint: $foreground 5%; }
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.filter = EventFilter()
        self.start_t = 0
        self._follow = True
        self._lines: deque[str | Entry] = deque(maxlen=MAX_LINES)
        """Lines, or events whose lines are not drawn yet."""
        self._width = 0

    @property
    def lines(self) -> Sequence[str]:
        """The lines kept, oldest first."""
        return tuple(self._line(i) for i in range(len(self._lines)))

    def _line(self, index: int) -> str:
        item = self._lines[index]
        if isinstance(item, str):
            return item
        line = event_line(item, self.start_t, self.app.size.width < NARROW)
        self._lines[index] = line
        if cell_len(line) > self._width:  # the view may scroll further right (after this draw)
            self._width = cell_len(line)
            self.call_later(self._resize)
        return line

    def _resize(self) -> None:
        self.virtual_size = Size(self._width, len(self._lines))

    @property
    def follow(self) -> bool:
        """Whether new lines scroll the list to its end."""
        return self._follow

    @follow.setter
    def follow(self, on: bool) -> None:
        self._follow = on
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

    def add_entries(self, entries: Sequence[Entry], start: int) -> None:
        """Append the new entries, ``entries[start:]``, that pass the filter (only the last
        :data:`MAX_LINES` of a big batch: the rest would scroll away unseen, and are not even
        looked at). Lines are made when drawn, unless the filter has words to look for."""
        flt = self.filter
        newest_first = (entries[i] for i in range(len(entries) - 1, start - 1, -1))
        if flt.words:
            kept: list[str | Entry] = list(self._lines_for(newest_first, MAX_LINES))
        else:
            kept = []
            for entry in newest_first:
                if flt.matches_entry(entry):
                    kept.append(entry)
                    if len(kept) == MAX_LINES:
                        break
        if kept:
            kept.reverse()
            self.write_lines(kept)

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
        self.write_lines(lines, scroll_end=True)

    def clear(self) -> None:
        """Remove every line."""
        self._lines.clear()
        self._width = 0
        self.virtual_size = Size(0, 0)
        self.refresh()

    def write_lines(self, lines: Iterable[str | Entry], scroll_end: bool | None = None) -> None:
        """Append ``lines`` (or events, drawn as their lines; the oldest go past
        :data:`MAX_LINES`); scroll to the end if following (or ``scroll_end``) and the view
        was there."""
        at_end = self.is_vertical_scroll_end
        for line in lines:
            self._lines.append(line)
            if isinstance(line, str):
                self._width = max(self._width, cell_len(line))
        self.virtual_size = Size(self._width, len(self._lines))
        if scroll_end or (self.follow and at_end and not self.is_vertical_scrollbar_grabbed):
            # after the coming layout: a horizontal scroll bar may just have taken a row
            self.scroll_end(animate=False, x_axis=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        """Row ``y`` of the view: a line of the list, cropped to the view's width."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        style = self.rich_style
        index = scroll_y + y
        if index >= len(self._lines):
            return Strip.blank(width, style)
        strip = Strip([Segment(self._line(index), style)])
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, index)
