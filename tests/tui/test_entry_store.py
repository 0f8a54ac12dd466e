"""The TUI's store of entries: the recent ones decoded, older ones read back from the log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from agenttree import events as ev
from agenttree.errors import LogCorrupt
from agenttree.live_state import fold_live
from agenttree.log import LogReader, encode
from agenttree.state import state_to_json
from tui import app as tui_app
from tui.app import AgentTreeApp
from tui.entry_store import BLOCK, RECENT, EntryStore
from tui.timeline import TAIL_ITEMS, Timeline
from tui.widgets.event_list import EventList

from .conftest import drive, make_app, wait_for

EVENTS = 3 * RECENT + 345  # several blocks read back, and a last block not full


def write_log(path: Path, count: int = EVENTS) -> list[int]:
    """A log of ``count`` events (an agent reporting its state over and over); the byte
    offset of each line."""
    events: list[ev.Event] = [
        ev.RunStarted(plan_name="t", plan_path="-", run_dir="-", seed=0, durability="none"),
        ev.AgentSpawned(agent="root", parent=None, task="root", goal="g", depth=0, model="m",
                        models=["m"], tools=["sh"], budget={})]
    events += [ev.AgentState(agent="root", status="running", detail=f"step {i}")
               for i in range(count - len(events))]
    lines = [encode(seq, 1_700_000_000_000 + seq, "t", e) for seq, e in enumerate(events, 1)]
    path.write_bytes(b"".join(lines))
    offsets, at = [], 0
    for line in lines:
        offsets.append(at)
        at += len(line)
    return offsets


@pytest.fixture
def log(tmp_path: Path) -> tuple[Path, list[int]]:
    path = tmp_path / "events.jsonl"
    return path, write_log(path)


def test_old_entries_are_read_back_from_the_log(log: tuple[Path, list[int]]) -> None:
    path, offsets = log
    entries = list(LogReader(path))
    timeline = Timeline(path=path)
    for start in range(0, EVENTS, 700):  # batches across block boundaries
        timeline.extend(entries[start:start + 700], offsets[start:start + 700])
    store = timeline.entries
    assert store.held <= RECENT + BLOCK  # the rest is in the log, not in memory
    assert len(store) == EVENTS and timeline.last_seq == EVENTS
    assert list(store) == entries
    assert list(reversed(store)) == entries[::-1]  # a filter scanning back from the end
    assert [store[i] for i in (0, BLOCK - 1, BLOCK, 2 * BLOCK + 5, -1)] == \
        [entries[i] for i in (0, BLOCK - 1, BLOCK, 2 * BLOCK + 5, -1)]
    assert store[BLOCK - 3:BLOCK + 4] == entries[BLOCK - 3:BLOCK + 4]
    assert store.held <= RECENT + BLOCK  # read back as lines, decoded when asked for
    for seq in (1, BLOCK + 17, RECENT, EVENTS - 1):  # time travel replays read-back entries
        assert state_to_json(timeline.state_at(seq)) == \
            state_to_json(fold_live(entries[:seq], TAIL_ITEMS))
    assert [e.seq for e in timeline.agent_entries("root", BLOCK + 10, 20)] == \
        list(range(BLOCK - 9, BLOCK + 11))


def test_a_line_changed_in_the_log_is_an_error_when_read_back(
        log: tuple[Path, list[int]]) -> None:
    path, offsets = log
    entries = list(LogReader(path))
    timeline = Timeline(path=path)
    timeline.extend(entries, offsets)
    data = bytearray(path.read_bytes())
    at = offsets[5] + data[offsets[5]:].index(b"step") + len(b"step ")
    data[at] = ord("9") if data[at] != ord("9") else ord("8")  # same length, wrong CRC
    path.write_bytes(bytes(data))
    with pytest.raises(LogCorrupt, match="seq 6 read back: CRC mismatch"):
        timeline.entries[5]
    assert timeline.entries[BLOCK] == entries[BLOCK]  # other blocks still read


def test_without_offsets_every_entry_stays_decoded(log: tuple[Path, list[int]]) -> None:
    path, _ = log
    entries = list(LogReader(path))
    timeline = Timeline(path=path)
    timeline.extend(entries)
    assert timeline.entries.held == EVENTS and list(timeline.entries) == entries
    with pytest.raises(IndexError):
        timeline.entries[EVENTS]


def test_following_a_long_log_reads_it_once(log: tuple[Path, list[int]],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The app draws new events while it catches up; it must not read back the ones it has
    already let go of (each draw did, a block at a time: catch-up of a 100,000-event log took
    a quarter longer)."""
    path, _ = log
    read_back: list[int] = []
    original = EntryStore._block

    def counting(store: EntryStore, block: int) -> list[bytes]:
        read_back.append(block)
        return original(store, block)

    monkeypatch.setattr(EntryStore, "_block", counting)

    async def script(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, AgentTreeApp)
        assert app.timeline.last_seq == EVENTS
        strip = app.query_one("#strip-events", EventList)
        assert strip.lines[-1].endswith(f"step {EVENTS - 3}")  # the newest event is drawn

    drive(make_app(path.parent, fold_budget_s=0), script)  # one slice a tick: drawn mid-way
    assert read_back == []


def test_the_chat_tab_reads_the_log_again_once_it_is_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While a long log is read, the shown agent (touched at every draw) is not read from
    the whole log again whenever more than the held entries came: once, when the log has been
    read."""
    path = tmp_path / "events.jsonl"
    write_log(path, 10 * RECENT)
    reads: list[int] = []
    original = tui_app.entries_naming

    def counting(log_path: Path, agent: str, until: int) -> Iterator[ev.Entry]:
        reads.append(until)
        return original(log_path, agent, until)

    monkeypatch.setattr(tui_app, "entries_naming", counting)
    monkeypatch.setattr(tui_app, "CATCH_UP_DRAW_S", 0)  # drawn at every fold, one slice each
    monkeypatch.setattr(tui_app, "FOLD_SLICE", RECENT + BLOCK)  # more than held: read again

    async def script(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, AgentTreeApp)
        await wait_for(pilot, lambda: app._conversation is not None
                       and app._conversation.seq == 10 * RECENT, "the whole conversation shown")
        assert reads == [reads[0], 10 * RECENT]  # at the first draw, and once all is read

    drive(make_app(path.parent, fold_budget_s=0), script)
