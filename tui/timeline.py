"""The folded log, with snapshots: the live state, and any earlier state fast.

The TUI keeps every entry it has read and the live :class:`~agenttree.state.RunState` (folded in
place as entries arrive). It also keeps copies of the state every so often, so the state as of
any ``seq`` is the nearest earlier snapshot plus a bounded number of replayed events: stepping
through history costs the same at event 10 as at event 100,000.

The spacing is ``max(every, PER_AGENT * agents)`` events. Copying a state costs about as much
as folding 30 events per agent in it, so this spacing keeps the copies under about half the
fold's own cost, and a step back replays at most ``PER_AGENT * agents`` events.
"""

from __future__ import annotations

import bisect
import pickle
from collections.abc import Iterable

from agenttree import events as ev
from agenttree.events import Entry
from agenttree.state import RunState, apply

SNAPSHOT_EVERY = 2000
"""Fewest events between two snapshots."""
PER_AGENT = 50
"""Events between two snapshots per agent in the state (big states are copied less often)."""


def copy_state(state: RunState) -> RunState:
    """A deep copy of a state (a pickle round trip: several times faster than ``deepcopy``)."""
    return pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


class Timeline:
    """Every entry read so far, the live state, and snapshots for time travel."""

    def __init__(self, every: int = SNAPSHOT_EVERY) -> None:
        self.every = every
        self.entries: list[Entry] = []
        self.live = RunState()
        """The state after the last entry (updated in place)."""
        self.streaming: dict[str, str] = {}
        """Text streamed so far (``model/delta``) of each agent's unfinished model turn."""
        self._snap_seqs: list[int] = [0]
        self._snaps: list[RunState] = [RunState()]

    @property
    def last_seq(self) -> int:
        """The seq of the newest entry (0 before any)."""
        return len(self.entries)

    def extend(self, entries: Iterable[Entry]) -> None:
        """Fold new entries (in ``seq`` order, following the last one) into the live state."""
        live, every = self.live, self.every
        for entry in entries:
            self.entries.append(entry)
            apply(live, entry)
            event = entry.event
            if type(event) is ev.ModelDelta:
                self.streaming[event.agent] = self.streaming.get(event.agent, "") + event.text
            elif type(event) in (ev.ModelResponded, ev.AgentFinished):
                self.streaming.pop(event.agent, None)
            if entry.seq - self._snap_seqs[-1] >= max(every, PER_AGENT * len(live.agents)):
                self._snap_seqs.append(entry.seq)
                self._snaps.append(copy_state(live))

    def state_at(self, seq: int) -> RunState:
        """The state as of event ``seq`` (clamped to what has been read); never the live object."""
        seq = max(0, min(seq, self.last_seq))
        i = bisect.bisect_right(self._snap_seqs, seq) - 1
        state = copy_state(self._snaps[i])
        for entry in self.entries[self._snap_seqs[i]:seq]:
            apply(state, entry)
        return state

    def touched(self, entries: Iterable[Entry]) -> set[str]:
        """The agents whose row may look different after ``entries`` (and their ancestors'
        collapsed counts)."""
        out: set[str] = set()
        for entry in entries:
            event = entry.event
            agent = getattr(event, "agent", None)
            if agent is not None:
                out.add(agent)
            for name in ("sender", "to", "requester"):
                other = getattr(event, name, None)
                if isinstance(other, str):
                    out.add(other)
        return out
