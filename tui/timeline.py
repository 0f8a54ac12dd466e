"""The folded log, with snapshots: the live state, and any earlier state fast.

The TUI keeps every entry it has read (:class:`~tui.entry_store.EntryStore`: the recent ones
decoded, older ones read back from the log) and the live :class:`~agenttree.state.RunState`
(folded in place as entries arrive, conversations cut to their tails as the engine's are,
shorter). It
also keeps copies of the state every so often, so the state as of any ``seq`` is the nearest
earlier snapshot plus a bounded number of replayed events: stepping through history costs the
same at event 10 as at event 100,000.

The spacing is ``max(every, PER_AGENT * agents)`` events. Copying a state costs about as much
as folding 30 events per agent in it, so this spacing keeps the copies under about half the
fold's own cost, and a step back replays at most ``PER_AGENT * agents`` events.
"""

from __future__ import annotations

import bisect
import pickle
from array import array
from collections.abc import Sequence
from pathlib import Path

from agenttree import events as ev
from agenttree.events import Entry
from agenttree.live_state import apply_live
from agenttree.state import RunState

from .entry_store import EntryStore
from .look import display_status, event_agent, lock_waiters

SNAPSHOT_EVERY = 2000
"""Fewest events between two snapshots."""
PER_AGENT = 50
"""Events between two snapshots per agent in the state (big states are copied less often)."""
TAIL_ITEMS = 2
"""Items of each agent's conversation the states keep (a model turn and its tool call: shown at
once when the agent is selected, while its whole conversation is read from the log). The
engine keeps more (:data:`agenttree.live_state.RECENT_ITEMS`); here they were a fifth of the
memory of a live 2,000-agent run."""


def apply_entry(state: RunState, entry: Entry) -> RunState:
    """Fold one entry into a state of the timeline (in place): the engine's projection
    (:func:`~agenttree.live_state.apply_live`) with :data:`TAIL_ITEMS` items a conversation."""
    return apply_live(state, entry, TAIL_ITEMS)


def copy_state(state: RunState) -> RunState:
    """A deep copy of a state (a pickle round trip: several times faster than ``deepcopy``)."""
    return pickle.loads(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))


class Timeline:
    """Every entry read so far, the live state, and snapshots for time travel."""

    def __init__(self, every: int = SNAPSHOT_EVERY, path: Path | None = None) -> None:
        self.every = every
        self.entries = EntryStore(path)
        """Every entry read (older ones read back from the log at ``path`` when asked for)."""
        self.live = RunState()
        """The state after the last entry (updated in place), each conversation cut to its
        last :data:`TAIL_ITEMS` items (:func:`apply_entry`; the whole one is folded from the
        log when shown: :mod:`tui.conversation_log`)."""
        self.by_agent: dict[str, array[int]] = {}
        """Agent id -> the seqs of the events about it (see :func:`~tui.look.event_agent`), as
        machine integers: 8 bytes an event, not a list's pointer and an int object (36)."""
        self.streaming: dict[str, str] = {}
        """Text streamed so far (``model/delta``) of each agent's unfinished model turn."""
        self.counts: dict[str, int] = {}
        """Display status -> number of agents, in the live state."""
        self._status_of: dict[str, str] = {}
        self._next_snap = every
        self._snap_seqs: list[int] = [0]
        self._snaps: list[RunState] = [RunState()]

    @property
    def last_seq(self) -> int:
        """The seq of the newest entry (0 before any)."""
        return len(self.entries)

    def extend(self, entries: Sequence[Entry], offsets: Sequence[int] | None = None) -> set[str]:
        """Fold new entries (in ``seq`` order, following the last one) into the live state;
        ``offsets`` are their byte offsets in the log (see :class:`~tui.entry_store.EntryStore`).

        Returns the agents whose row may look different now (the sender and the recipient of
        a message, the agent of anything else); :attr:`counts` is brought up to date.
        """
        live, streaming, by_agent = self.live, self.streaming, self.by_agent
        touched: set[str] = set()
        recount = False
        self.entries.extend(entries, offsets)
        for entry in entries:
            apply_entry(live, entry)
            event = entry.event
            kind = type(event)
            agent = event_agent(event)
            if agent:
                touched.add(agent)
                seqs = by_agent.get(agent)
                if seqs is None:
                    by_agent[agent] = array("q", (entry.seq,))
                else:
                    seqs.append(entry.seq)
            else:
                recount = True  # run-wide events (run/finished can make the root need you)
            if kind is ev.AgentMessage:
                touched.add(event.to)
            elif kind is ev.ModelDelta:
                streaming[event.agent] = streaming.get(event.agent, "") + event.text
            elif kind is ev.ModelResponded or kind is ev.AgentFinished:
                streaming.pop(event.agent, None)
            if entry.seq >= self._next_snap:
                self._snapshot(entry.seq)
        self._recount(None if recount else touched)
        return touched

    def _snapshot(self, seq: int) -> None:
        spacing = max(self.every, PER_AGENT * len(self.live.agents))
        if seq - self._snap_seqs[-1] >= spacing:
            self._snap_seqs.append(seq)
            self._snaps.append(copy_state(self.live))
        self._next_snap = self._snap_seqs[-1] + spacing

    def _recount(self, touched: set[str] | None) -> None:
        live, status_of, counts = self.live, self._status_of, self.counts
        waiters = lock_waiters(live)
        for agent_id in live.agents if touched is None else touched:
            agent = live.agents.get(agent_id)
            if agent is None:
                continue
            new, old = display_status(live, agent, waiters), status_of.get(agent_id)
            if new != old:
                status_of[agent_id] = new
                counts[new] = counts.get(new, 0) + 1
                if old is not None:
                    counts[old] -= 1

    def state_at(self, seq: int) -> RunState:
        """The state as of event ``seq`` (clamped to what has been read); never the live object."""
        seq = max(0, min(seq, self.last_seq))
        i = bisect.bisect_right(self._snap_seqs, seq) - 1
        state = copy_state(self._snaps[i])
        for entry in self.entries.between(self._snap_seqs[i], seq):
            apply_entry(state, entry)
        return state

    def agent_entries(self, agent: str, until: int, limit: int) -> list[Entry]:
        """The last ``limit`` entries about ``agent`` up to seq ``until``."""
        seqs = self.by_agent.get(agent, ())
        end = bisect.bisect_right(seqs, until)
        entries = self.entries
        return [entries[seq - 1] for seq in seqs[max(0, end - limit):end]]
