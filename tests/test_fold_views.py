"""A fold of a log file reads field views, not records: it must fold exactly as the records do.

``fold(LogReader(path))`` decodes each line into a :class:`~agenttree.events.FieldView` (the
wire dict as the record's attributes); iterating the reader builds the typed records. The two
must give equal states, the same torn tail, the same errors, on any log.
"""

from __future__ import annotations

import collections
import zlib
from pathlib import Path
from unittest import mock

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttree import events as ev
from agenttree.errors import LogCorrupt
from agenttree.log import LogReader, TornTail, decode, encode
from agenttree.state import RunState, fold

from .test_events import sample

RECORDED = Path(__file__).parent / "recorded"


def _outcome(path: Path, *, views: bool) -> tuple:
    """What a fold of ``path`` gives: the state and the reader's bookkeeping, or the error."""
    reader = LogReader(path)
    try:
        state = fold(reader) if views else fold(list(reader))
    except LogCorrupt as exc:
        return ("corrupt", str(exc))
    return (state, reader.torn, reader.end, reader.last_seq)


def _frame(seq: int, wire: dict) -> bytes:
    body = orjson.dumps({"seq": seq, "t": 1000 + seq, "run": "r", **wire})
    return b'%b,"crc":%d}\n' % (body[:-1], zlib.crc32(body))


@pytest.mark.parametrize("name", ["demo", "conflict", "spawned", "web-fold"])
def test_a_recorded_log_folds_as_its_records_do(name: str) -> None:
    path = RECORDED / name / "events.jsonl"
    views = _outcome(path, views=True)
    assert views == _outcome(path, views=False)
    assert views[0].seq > 0 and views[0].agents


def test_the_benchmark_mix_folds_as_its_records_do(tmp_path: Path) -> None:
    from bench.run import make_replay_log

    make_replay_log(tmp_path / "events.jsonl", 5_000)
    assert (_outcome(tmp_path / "events.jsonl", views=True)
            == _outcome(tmp_path / "events.jsonl", views=False))


@pytest.mark.parametrize("cls", sorted(ev.REGISTRY.values(), key=lambda c: c.TYPE),
                         ids=lambda c: c.TYPE)
def test_a_view_reads_every_field_as_the_record(cls: type[ev.Event], tmp_path: Path) -> None:
    event = sample(cls)
    (tmp_path / "e.jsonl").write_bytes(encode(1, 5, "r", event))
    folded = RunState()
    seen = []
    LogReader(tmp_path / "e.jsonl").fold_into(
        folded, {ev.VIEW_CLASSES[cls]: lambda state, view, t: seen.append((view, t))})
    ((view, t),) = seen
    assert isinstance(view, ev.FieldView) and view.TYPE == cls.TYPE
    assert type(view) is ev.VIEW_CLASSES[cls]
    for field in ev.converter.unstructure(event):
        assert getattr(view, field) == getattr(event, field)
    assert (folded.seq, folded.t, folded.run, t) == (1, 5, "r", 5)


@pytest.mark.parametrize("fields", [
    {"agent": "root", "status": "running"},  # an older log: defaults apply
    {"agent": "root", "status": "s", "facts": None, "detail": ""},  # another order
    {"agent": "root", "status": "s", "detail": "", "facts": None, "mood": "odd"},  # unknown
    {"agent": "root", "status": "s", "detail": "", "mood": "odd"},  # as many keys, one odd
    {"agent": "root"},  # a required field missing
], ids=["older", "reordered", "unknown", "swapped", "missing"])
def test_a_line_the_writer_would_not_write_folds_as_its_record_would(
        fields: dict, tmp_path: Path) -> None:
    lines = [encode(1, 1000, "r", ev.AgentSpawned(
        agent="root", parent=None, task="t", goal="g", depth=0, model="m", models=["m"],
        tools=[], budget={}))]
    lines.append(_frame(2, {"type": "agent/state", **fields}))
    lines.append(encode(3, 1003, "r", ev.RunFinished(status="done")))
    for tail in (3, 2):  # the odd line inside the log, then as its last line
        path = tmp_path / f"e{tail}.jsonl"
        path.write_bytes(b"".join(lines[:tail]))
        assert _outcome(path, views=True) == _outcome(path, views=False)
        assert _read(path) == _reference(path)


def _small_log() -> bytes:
    events = [ev.RunStarted(plan_name="p", plan_path="p.edn", run_dir=".", seed=1,
                            durability="batch"),
              ev.AgentSpawned(agent="root", parent=None, task="t", goal="g", depth=0, model="m",
                              models=["m"], tools=["sh"], budget={"tool_calls": 3}),
              ev.ToolRequested(agent="root", call="c1", tool="sh", args={"cmd": "ls"}),
              ev.ToolResult(agent="root", call="c1", tool="sh", ok=True, output="a"),
              ev.AgentFinished(agent="root", status="done", result="ok")]
    return b"".join(encode(i + 1, 1000 + i, "r", e) for i, e in enumerate(events))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_log_folds_and_fails_as_its_records_do(data, tmp_path_factory) -> None:
    log = bytearray(_small_log())
    for _ in range(data.draw(st.integers(1, 3))):
        pos = data.draw(st.integers(0, len(log) - 1))
        log[pos] ^= 1 << data.draw(st.integers(0, 7))
    cut = data.draw(st.integers(0, len(log)))
    path = tmp_path_factory.mktemp("damaged") / "events.jsonl"
    path.write_bytes(bytes(log[:cut]))
    assert _outcome(path, views=True) == _outcome(path, views=False)


def test_a_fold_from_the_middle_of_a_log_goes_on_from_its_state(tmp_path: Path) -> None:
    data = _small_log()
    path = tmp_path / "events.jsonl"
    path.write_bytes(data)
    first = fold(LogReader(path), until=2)
    offset = sum(len(line) + 1 for line in data.split(b"\n")[:2])
    state = fold(LogReader(path, start=offset, after_seq=2), first)
    assert state == fold(list(LogReader(path)), RunState())


@pytest.mark.parametrize("cls", sorted(ev.REGISTRY.values(), key=lambda c: c.TYPE),
                         ids=lambda c: c.TYPE)
def test_every_handler_folds_a_view_as_its_record(cls: type[ev.Event], tmp_path: Path) -> None:
    """A type's sample after a spawn of the agent samples name ("x"): a handler that told
    types apart with ``isinstance`` would fold a view differently (or fail differently)."""
    spawn = ev.AgentSpawned(agent="x", parent=None, task="x", goal="g", depth=0, model="m",
                            models=["m"], tools=[], budget={"tokens": 5})
    path = tmp_path / "events.jsonl"
    path.write_bytes(encode(1, 1000, "r", spawn) + encode(2, 1001, "r", sample(cls)))

    def outcome(views: bool) -> tuple:
        try:
            return _outcome(path, views=views)
        except Exception as exc:  # a sample a handler cannot take: the same error
            return (type(exc).__name__, str(exc))

    assert outcome(True) == outcome(False)


def _long_log(turns: int) -> list[bytes]:
    events: list[ev.Event] = [
        ev.RunStarted(plan_name="p", plan_path="p.edn", run_dir=".", seed=1,
                      durability="batch"),
        ev.AgentSpawned(agent="root", parent=None, task="t", goal="g", depth=0, model="m",
                        models=["m"], tools=["sh"], budget={"tool_calls": 3})]
    for turn in range(turns):
        call = f"c{turn}"
        events += [ev.ModelResponded(agent="root", model="m", turn=turn, text="t", calls=[],
                                     usage={"prompt": 1, "completion": 2},
                                     charged={"tokens": 3}),
                   ev.ToolRequested(agent="root", call=call, tool="sh", args={"cmd": "ls"},
                                    charged={"tool_calls": 1}),
                   ev.ToolResult(agent="root", call=call, tool="sh", ok=True, output="a")]
    return [encode(i + 1, 1000 + i, "r", e) for i, e in enumerate(events)]


def _damaged(data: st.DataObject, lines: list[bytes], directory: Path) -> Path:
    """The log of ``lines`` with up to two bits flipped anywhere and maybe cut short."""
    for _ in range(data.draw(st.integers(0, 2))):
        at = data.draw(st.integers(0, len(lines) - 1))
        line = bytearray(lines[at])
        pos = data.draw(st.integers(0, len(line) - 1))
        line[pos] ^= 1 << data.draw(st.integers(0, 7))
        lines[at] = bytes(line)
    log = b"".join(lines)
    cut = data.draw(st.one_of(st.just(len(log)), st.integers(0, len(log))))
    path = directory / "events.jsonl"
    path.write_bytes(log[:cut])
    return path


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_a_long_damaged_log_folds_and_fails_as_its_records_do(data, tmp_path_factory) -> None:
    """Damage anywhere in a longer log (several of the reader's blocks of lines), with or
    without ``until``, folds (or fails) as the records read one at a time do."""
    lines = _long_log(300)  # 902 lines: several runs
    path = _damaged(data, lines, tmp_path_factory.mktemp("damaged"))
    assert _outcome(path, views=True) == _outcome(path, views=False)
    until = data.draw(st.integers(1, 902))
    try:
        folded = fold(LogReader(path), until=until)
    except LogCorrupt as exc:
        folded = str(exc)
    try:
        expected = fold(iter(LogReader(path)), until=until)  # the records, one at a time
    except LogCorrupt as exc:
        expected = str(exc)
    assert folded == expected


def _reference(path: Path) -> tuple:
    """What reading a log must give, from one line at a time through ``decode`` (the framing,
    the seq rule and the torn-tail rule as docs/events.md states them): the entries, the torn
    tail, the end and the last seq, or the corrupt line's error."""
    *lines, rest = path.read_bytes().split(b"\n")
    entries: list[ev.Entry] = []
    offset = last = 0
    bad: TornTail | None = None
    for number, line in enumerate(lines, start=1):
        if bad is not None:
            break
        try:
            entry = decode(line)
            if entry.seq != last + 1:
                raise ValueError(f"seq {entry.seq} where {last + 1} was expected")
        except ValueError as exc:
            bad = TornTail(line=number, offset=offset, length=len(line) + 1, reason=str(exc))
            continue
        entries.append(entry)
        last, offset = entry.seq, offset + len(line) + 1
    if bad is not None and (rest or bad.line < len(lines)):
        return ("corrupt", f"{path}:{bad.line}: corrupt event record (byte {bad.offset}): "
                           f"{bad.reason}; records after it are intact, so this is not a torn "
                           "write")
    if bad is None and rest:
        bad = TornTail(line=len(lines) + 1, offset=offset, length=len(rest),
                       reason="no newline at the end (write cut short)")
    return (entries, bad, offset, last)


def _read(path: Path) -> tuple:
    """What iterating a reader of ``path`` gives: the entries, torn tail, end and last seq, or
    the error."""
    reader = LogReader(path)
    try:
        return (list(reader), reader.torn, reader.end, reader.last_seq)
    except LogCorrupt as exc:
        return ("corrupt", str(exc))


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_reading_a_damaged_log_in_blocks_gives_what_one_line_at_a_time_gives(
        data, tmp_path_factory) -> None:
    """The reader takes a block of lines at a time and decodes inline (typed records when
    iterated, field views when folded); with blocks of any size, a damaged log reads as the
    lines decoded one at a time do: the same entries and state, torn tail, end and last seq,
    or the same error."""
    lines = _long_log(40)
    path = _damaged(data, lines, tmp_path_factory.mktemp("damaged"))
    expected = _reference(path)
    block = data.draw(st.sampled_from([1, 7, 150, 400, 1 << 20]))
    with mock.patch("agenttree.log.READ_BLOCK", block):
        assert _read(path) == expected
        reader = LogReader(path)
        try:
            folded = (fold(reader), reader.torn, reader.end, reader.last_seq)
        except LogCorrupt as exc:
            folded = ("corrupt", str(exc))
    assert folded == (expected if expected[0] == "corrupt"
                      else (fold(expected[0]), *expected[1:]))


@pytest.mark.parametrize("block", [1, 100, 1 << 20])
def test_a_fold_that_stops_leaves_the_end_after_the_line_it_took(
        block: int, tmp_path: Path) -> None:
    """Folding ``until`` a seq stops after its line; a handler's error stops at its own
    line: either way :attr:`end` is after the last line the fold took."""
    lines = _long_log(10)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(lines))

    def fail(state: RunState, view: object, t: int) -> None:
        if state.seq == 7:
            raise RuntimeError("no")

    with mock.patch("agenttree.log.READ_BLOCK", block):
        reader = LogReader(path)
        fold(reader, until=4)
        assert reader.end == sum(map(len, lines[:4])) and reader.last_seq == 4
        reader = LogReader(path)
        with pytest.raises(RuntimeError):
            reader.fold_into(RunState(), collections.defaultdict(lambda: fail))
        assert reader.end == sum(map(len, lines[:7])) and reader.last_seq == 7


@pytest.mark.parametrize("how", ["reader", "records"])
def test_a_fold_to_a_seq_reads_no_line_after_it(how: str, tmp_path: Path) -> None:
    """A bad line right after seq ``until`` (with lines after it: a corrupt log) is no error of
    a fold to ``until`` (``agenttree replay --until``, the web view's state as of a seq)."""
    lines = _long_log(10)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join([*lines[:6], b'{"seq": 7, torn\n', *lines[7:]]))
    first_six = tmp_path / "first-six.jsonl"
    first_six.write_bytes(b"".join(lines[:6]))
    reader = LogReader(path)
    state = fold(reader if how == "reader" else iter(reader), until=6)
    assert state == fold(LogReader(first_six))
    if how == "reader":
        assert reader.end == sum(map(len, lines[:6])) and reader.last_seq == 6
    with pytest.raises(LogCorrupt):
        fold(LogReader(path), until=7)
