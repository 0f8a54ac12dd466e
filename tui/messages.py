"""Messages the log tail thread posts to the app (``post_message`` is thread-safe)."""

from __future__ import annotations

from textual.message import Message

from agenttree.events import Entry

from .conversation_log import ConversationFold


class EventsRead(Message):
    """A batch of new log entries, in ``seq`` order, with their lines' byte offsets in the log."""

    def __init__(self, entries: list[Entry], offsets: list[int]) -> None:
        super().__init__()
        self.entries = entries
        self.offsets = offsets


class CaughtUp(Message):
    """The tail reached the end of the log for the first time (the rest is live)."""


class TailFailed(Message):
    """The log could not be read any further (corruption); the message says where."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class PlanChecked(Message):
    """The plan file was parsed (in a thread): what the header says about it."""

    def __init__(self, status: str, check: int) -> None:
        super().__init__()
        self.status = status
        self.check = check


class ConversationRead(Message):
    """An agent's whole conversation was folded from the log (in a thread)."""

    def __init__(self, conversation: ConversationFold) -> None:
        super().__init__()
        self.conversation = conversation
