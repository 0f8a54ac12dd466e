"""The Activity tab: one row per agent, following the tree, with a bar from spawn to finish
coloured by status and marks for what it did (model calls, tool calls, acceptance runs, lock
waits, messages) across the run's time.

Drawn with Textual's line API (:class:`~textual.scroll_view.ScrollView`): only the rows on
screen are ever rendered, so 10,000 agents scroll as fast as ten. The marks come from
:class:`agenttree.activity.Activity`, the module the web page's Activity panel uses too.

Keys: ↑/↓ rows, space opens or closes a subtree, ←/→ the previous or next mark of the row,
enter opens the selected mark's event, + and - zoom, shift+←/→ pan, ``w`` shows the whole run
and follows it live again.
"""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter
from typing import ClassVar

import attrs
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from agenttree.activity import Activity, Mark, end_of, time_span
from agenttree.console import STATUS_LOOK
from agenttree.state import RunState

from ..look import display_status, lock_waiters

LABEL = 24
"""Columns of the name column (the rest is the time lane)."""
MARK_LOOK: dict[str, tuple[str, str]] = {
    "model": ("●", "bold blue"), "tool": ("▲", "bold yellow"), "acceptance": ("✔", "bold green"),
    "lock": ("◔", "bold magenta"), "message": ("✉", "bold cyan"),
}
"""Mark kind -> (glyph, style); a failed mark is drawn red (a failed check as ✘)."""
BAR = {"running": "#1f3d5c", "waiting": "#4d4000", "blocked": "#4a1f4a", "needs-you": "#5c1f1f",
       "done": "#1f4a2a", "failed": "#5c1f1f", "cancelled": "#3a3a3a",
       "budget-exhausted": "#5c1f1f", "pending": "#303030"}
"""Display status -> the bar's background colour."""
MIN_WINDOW_MS = 10


@attrs.frozen
class Window:
    """The time shown: ``start`` to ``end`` epoch ms; ``follow`` keeps its end at now."""

    start: int
    end: int
    follow: bool = True


class ActivityChart(ScrollView, can_focus=True):
    """Rows of agents over time; :meth:`show` brings it up to date with a (new) state."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False, id="activity-up"),
        Binding("down", "cursor(1)", "Down", show=False, id="activity-down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="activity-page-up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="activity-page-down"),
        Binding("home", "cursor(-1000000000)", "First", show=False, id="activity-home"),
        Binding("end", "cursor(1000000000)", "Last", show=False, id="activity-end"),
        Binding("space", "toggle", "Open/close", id="activity-toggle"),
        Binding("left", "mark(-1)", "Prev mark", show=False, id="activity-prev-mark"),
        Binding("right", "mark(1)", "Next mark", show=False, id="activity-next-mark"),
        Binding("enter", "open_mark", "Open event", id="activity-open"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom in", id="activity-zoom-in"),
        Binding("minus", "zoom(2)", "Zoom out", id="activity-zoom-out"),
        Binding("shift+left", "pan(-0.25)", "Pan left", show=False, id="activity-pan-left"),
        Binding("shift+right", "pan(0.25)", "Pan right", show=False, id="activity-pan-right"),
        Binding("w", "whole", "Whole run", id="activity-whole"),
    ]

    class MarkOpened(Message):
        """The user opened a mark: show the event with seq ``seq``."""

        def __init__(self, seq: int) -> None:
            super().__init__()
            self.seq = seq

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.state = RunState()
        self.activity = Activity()
        self.until: int | None = None
        """Viewing the past: marks opened after this seq are left out."""
        self.now_t = 0
        self.rows: list[str] = []
        """Agent ids in tree order, without the subtrees of :attr:`collapsed` agents."""
        self.collapsed: set[str] = set()
        self.cursor = 0
        self.mark_index: int | None = None
        """The selected mark of the cursor's row (None: none)."""
        self.window: Window | None = None
        self._shape: tuple[int, int] = (-1, -1)

    # --- data -------------------------------------------------------------------------------

    def show(self, state: RunState, activity: Activity, now_t: int,
             until: int | None = None) -> None:
        """Draw ``state`` with ``activity``'s marks, as of ``now_t`` (epoch ms)."""
        self.state, self.activity, self.until, self.now_t = state, activity, until, now_t
        start, end = time_span(state, now_t)
        if self.window is None or self.window.follow:
            self.window = Window(start, end)
        shape = (id(state), len(state.agents))
        if shape != self._shape:
            self._shape = shape
            self._flatten()
        self.refresh()

    def _flatten(self) -> None:
        state, rows = self.state, []
        stack = [state.root] if state.root is not None else []
        while stack:
            agent_id = stack.pop()
            rows.append(agent_id)
            if agent_id not in self.collapsed:
                stack.extend(reversed(state.agents[agent_id].children))
        selected = self.selected_agent
        self.rows = rows
        if selected in state.agents:
            self.select_agent(selected, scroll=False)
        self.cursor = max(0, min(self.cursor, len(rows) - 1))
        self.virtual_size = Size(self.size.width, len(rows) + 1)

    @property
    def selected_agent(self) -> str | None:
        """The agent of the cursor's row."""
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    @property
    def selected_mark(self) -> Mark | None:
        """The selected mark of the cursor's row."""
        agent = self.selected_agent
        if agent is None or self.mark_index is None:
            return None
        marks = self.activity.marks_of(agent, self.until)
        return marks[self.mark_index] if self.mark_index < len(marks) else None

    def select_agent(self, agent_id: str, scroll: bool = True) -> bool:
        """Put the cursor on ``agent_id``'s row, if it has one."""
        try:
            index = self.rows.index(agent_id)
        except ValueError:
            return False
        self._move(index, scroll)
        return True

    # --- keys -------------------------------------------------------------------------------

    def action_cursor(self, step: int) -> None:
        """Move the cursor ``step`` rows."""
        self._move(self.cursor + step)

    def action_page(self, pages: int) -> None:
        """Move the cursor a screenful."""
        self._move(self.cursor + pages * max(1, self.size.height - 2))

    def _move(self, index: int, scroll: bool = True) -> None:
        index = max(0, min(index, len(self.rows) - 1))
        if index != self.cursor:
            self.mark_index = None
        self.cursor = index
        if scroll:
            top = self.scroll_offset.y
            lines = max(1, self.size.height - 1)
            if index < top:
                self.scroll_to(y=index, animate=False)
            elif index >= top + lines:
                self.scroll_to(y=index - lines + 1, animate=False)
        self.refresh()

    def action_toggle(self) -> None:
        """Open or close the cursor's subtree."""
        agent = self.selected_agent
        if agent is None or not self.state.agents[agent].children:
            return
        self.collapsed.symmetric_difference_update({agent})
        self._flatten()
        self.refresh()

    def action_mark(self, step: int) -> None:
        """Select the previous (-1) or next (1) mark of the cursor's row."""
        agent = self.selected_agent
        marks = self.activity.marks_of(agent, self.until) if agent else []
        if not marks:
            return
        if self.mark_index is None:
            self.mark_index = 0 if step > 0 else len(marks) - 1
        else:
            self.mark_index = max(0, min(len(marks) - 1, self.mark_index + step))
        self._keep_in_view(marks[self.mark_index])
        self.refresh()

    def action_open_mark(self) -> None:
        """Open the selected mark's event."""
        mark = self.selected_mark
        if mark is not None:
            self.post_message(self.MarkOpened(mark.seq))

    def action_zoom(self, factor: float) -> None:
        """Show ``factor`` times as much time, around the selected mark (else the middle)."""
        window = self._window()
        mark = self.selected_mark
        centre = mark.t if mark is not None else (window.start + window.end) // 2
        span = max(MIN_WINDOW_MS, round((window.end - window.start) * factor))
        start = centre - span // 2
        self.window = Window(start, start + span, follow=False)
        self.refresh()

    def action_pan(self, fraction: float) -> None:
        """Move the window by ``fraction`` of its width."""
        window = self._window()
        shift = round((window.end - window.start) * fraction)
        self.window = Window(window.start + shift, window.end + shift, follow=False)
        self.refresh()

    def action_whole(self) -> None:
        """Show the whole run, following its end live."""
        self.window = None
        self.show(self.state, self.activity, self.now_t, self.until)

    def _keep_in_view(self, mark: Mark) -> None:
        window = self._window()
        if not window.start <= mark.t <= window.end:
            span = window.end - window.start
            self.window = Window(mark.t - span // 2, mark.t - span // 2 + span, follow=False)

    def _window(self) -> Window:
        if self.window is None:
            start, end = time_span(self.state, self.now_t)
            self.window = Window(start, end)
        return self.window

    def on_click(self, event: events.Click) -> None:
        """A click on a row selects it; on a mark, opens the mark's event."""
        if event.y < 1:
            return
        self._move(self.scroll_offset.y + event.y - 1, scroll=False)
        column = event.x - LABEL - 1
        agent = self.selected_agent
        if column < 0 or agent is None:
            return
        marks = self.activity.marks_of(agent, self.until)
        for i, mark in reversed(list(enumerate(marks))):
            if self._column(mark.t) == column:
                self.mark_index = i
                self.refresh()
                self.post_message(self.MarkOpened(mark.seq))
                return

    # --- drawing ----------------------------------------------------------------------------

    def on_resize(self) -> None:
        """The lane's width changed: its virtual size too."""
        self.virtual_size = Size(self.size.width, len(self.rows) + 1)

    def _lane(self) -> int:
        return max(1, self.size.width - LABEL - 1)

    def _column(self, t: int) -> int:
        window = self._window()
        return (t - window.start) * self._lane() // max(1, window.end - window.start)

    def render_line(self, y: int) -> Strip:
        """Line 0 is the time axis and legend; the rest are agents' rows."""
        width = self.size.width
        if y == 0:
            return self._axis(width)
        index = self.scroll_offset.y + y - 1
        if index >= len(self.rows):
            return Strip.blank(width)
        return self._row(self.rows[index], index == self.cursor, width)

    def _axis(self, width: int) -> Strip:
        window = self._window()
        run_start = time_span(self.state, self.now_t)[0]
        left = (window.start - run_start) / 1000
        right = (window.end - run_start) / 1000
        follow = " live" if window.follow and self.until is None \
            and self.state.status == "running" else ""
        head = f"{left:.1f}s … {right:.1f}s{follow}"
        legend = [Segment(" ")]
        for kind, (mark, style) in MARK_LOOK.items():
            legend += [Segment(mark, Style.parse(style)), Segment(f"{kind} ")]
        segments = [Segment(f"{head:<{LABEL + 1}}", Style(bold=True)), *legend]
        return Strip(segments).crop_extend(0, width, Style())

    def _row(self, agent_id: str, is_cursor: bool, width: int) -> Strip:
        state = self.state
        agent = state.agents[agent_id]
        status = display_status(state, agent, lock_waiters(state) if state.locks else
                                frozenset())
        glyph, glyph_style = STATUS_LOOK.get(status, ("?", ""))
        opener = " " if not agent.children else "▸" if agent_id in self.collapsed else "▾"
        name = agent_id.rsplit(".", 1)[-1]
        indent = min(agent.depth, 8)
        label = f"{' ' * indent}{opener}{glyph} {name}"
        label = label[:LABEL] if len(label) <= LABEL else label[:LABEL - 1] + "…"
        base = Style(reverse=True) if is_cursor else Style()
        rest = f"{label[indent + 2:]:<{LABEL - indent - 1}} "
        segments = [Segment(label[:indent + 1], base),
                    Segment(glyph, base + Style.parse(glyph_style)),
                    Segment(rest, base + Style(bold=True))]
        lane = self._lane()
        cells: list[tuple[str, Style]] = [(" ", Style())] * lane
        bar = Style(bgcolor=BAR.get(status, BAR["running"]))
        end = agent.finished_t if agent.finished_t is not None and agent.finished_t <= \
            self.now_t else self.now_t
        first, last = max(0, self._column(agent.started_t)), min(lane - 1, self._column(end))
        for c in range(first, last + 1):
            cells[c] = (" ", bar)
        marks = self.activity.marks_of(agent_id, self.until)
        selected = self.mark_index if is_cursor else None
        for i, mark in enumerate(marks):
            column = self._column(mark.t)
            if not 0 <= column < lane and i != selected:
                continue
            look, style = MARK_LOOK[mark.kind]
            if not mark.ok:
                look, style = ("✘" if mark.kind == "acceptance" else look), "bold red"
            mark_style = bar + Style.parse(style) if first <= column <= last else \
                Style.parse(style)
            if mark.end_t != mark.t and mark.kind in ("model", "tool", "lock"):
                stop = min(lane - 1, self._column(end_of(mark, agent, self.now_t)))
                for c in range(max(0, column + 1), stop + 1):
                    if cells[c][0] == " ":
                        cells[c] = ("─", mark_style)
            if i == selected:
                mark_style += Style(reverse=True)
                column = max(0, min(lane - 1, column))
            if 0 <= column < lane:
                cells[column] = (look, mark_style)
        # One segment per run of cells in the same style (a lane is mostly bar or blank).
        segments += [Segment("".join(char for char, _ in run), style)
                     for style, run in groupby(cells, key=itemgetter(1))]
        return Strip(segments).crop_extend(0, width, Style())
