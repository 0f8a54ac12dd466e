"""The events strip at the bottom: every event as it happens, filterable, with follow mode."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input

from ..event_filter import EventFilter
from .event_list import EventList


class EventsStrip(Vertical):
    """An :class:`EventList` of all events and a filter box that ``/`` opens."""

    class FilterChanged(Message):
        """The user applied a new filter (the app refills the list)."""

        def __init__(self, flt: EventFilter) -> None:
            super().__init__()
            self.filter = flt

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: type:tool agent:ID under:ID failures words — "
                                "enter applies, esc closes", id="strip-filter")
        yield EventList(id="strip-events")

    @property
    def events(self) -> EventList:
        """The list widget."""
        return self.query_one("#strip-events", EventList)

    def open_filter(self) -> None:
        """Show the filter box and focus it (closing gives the focus back)."""
        self._came_from = self.app.focused
        box = self.query_one("#strip-filter", Input)
        box.display = True
        box.focus()

    def _close_filter(self) -> None:
        self.query_one("#strip-filter", Input).display = False
        back = getattr(self, "_came_from", None)
        (back if back is not None and back.is_attached else self.events).focus()

    @on(Input.Submitted, "#strip-filter")
    def _apply(self, message: Input.Submitted) -> None:
        flt = EventFilter.parse(message.value)
        self.events.filter = flt
        self.border_subtitle = "" if flt.empty else f"filter: {message.value}"
        self._close_filter()
        self.post_message(self.FilterChanged(flt))

    def key_escape(self) -> None:
        """Esc in the filter box closes it without changing the filter."""
        if self.query_one("#strip-filter", Input).has_focus:
            self._close_filter()
