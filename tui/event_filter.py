"""The events strip's filter: a few words typed after ``/``.

=================  ==============================================================
``type:tool``      events whose type starts with ``tool`` (``tool/requested``...)
``agent:root.lib`` events of that agent only
``under:root.lib`` events of that agent and its whole subtree
``failures``       only failures (``!`` for short): failed tools, acceptance, ends
anything else      text the event's line must contain (case-insensitive)
=================  ==============================================================

All the words must match. An empty filter shows everything.
"""

from __future__ import annotations

import attrs

from agenttree.events import Entry

from .look import event_agent, event_type, is_failure


@attrs.frozen(kw_only=True)
class EventFilter:
    """A parsed filter; :meth:`matches` decides for one entry and its rendered line."""

    types: tuple[str, ...] = ()
    agent: str | None = None
    under: str | None = None
    failures: bool = False
    words: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> EventFilter:
        """Parse the words of a filter (never fails: unknown words are text to look for)."""
        types: list[str] = []
        words: list[str] = []
        agent = under = None
        failures = False
        for word in text.split():
            key, _, value = word.partition(":")
            if key == "type" and value:
                types.append(value)
            elif key == "agent" and value:
                agent = value
            elif key == "under" and value:
                under = value
            elif word in ("failures", "!"):
                failures = True
            else:
                words.append(word.lower())
        return cls(types=tuple(types), agent=agent, under=under, failures=failures,
                   words=tuple(words))

    @property
    def empty(self) -> bool:
        """Whether the filter lets everything through."""
        return self == EventFilter()

    def matches(self, entry: Entry, line: str) -> bool:
        """Whether ``entry`` (drawn as ``line``) passes."""
        return self.matches_entry(entry) and self.matches_line(line)

    def matches_line(self, line: str) -> bool:
        """Whether a drawn line has all the words."""
        lowered = line.lower()
        return all(word in lowered for word in self.words)

    def matches_entry(self, entry: Entry) -> bool:
        """Whether ``entry`` passes everything but the words (cheap: nothing is drawn)."""
        event = entry.event
        if self.types and not event_type(event).startswith(self.types):
            return False
        if self.agent is not None or self.under is not None:
            who = event_agent(event)
            if self.agent is not None and who != self.agent:
                return False
            if self.under is not None and who != self.under \
                    and not who.startswith(self.under + "."):
                return False
        return not self.failures or is_failure(event)
