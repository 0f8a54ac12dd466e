"""Live followers across a crash and a resume: the engine is SIGKILLed, its last record torn,
and ``agenttree resume`` cuts the torn line off and writes on. The log tailer, the web hub
(``serve``) and a ``tail`` client keep following, with every seq once and no corruption."""

from __future__ import annotations

from pathlib import Path

import trio

from agenttree.errors import LogCorrupt
from agenttree.log import LogReader, Tailer
from agenttree.state import fold, state_to_json
from agenttree.web.hub import Hub
from agenttree.web.server import serve
from agenttree.web.tail import tail

from .crashed import crashed_run, resume_cancelled

TOKEN = "t" * 32


def all_entries(path: Path) -> list:
    reader = LogReader(path)
    entries = list(reader)
    assert reader.torn is None
    return entries


def test_the_log_tailer_reads_on_after_the_resume(tmp_path: Path) -> None:
    run_dir = crashed_run(tmp_path)
    log = run_dir / "events.jsonl"
    tailer = Tailer(log)
    before = tailer.poll()
    reader = LogReader(log)
    assert [e.seq for e in before] == [e.seq for e in reader] and reader.torn is not None
    assert resume_cancelled(run_dir).returncode == 1
    try:
        after = tailer.poll()
    except LogCorrupt as exc:
        raise AssertionError(f"the tailer broke at the resume: {exc}") from None
    assert before + after == all_entries(log)


async def test_serve_and_tail_clients_follow_across_the_resume(tmp_path: Path) -> None:
    run_dir = await trio.to_thread.run_sync(crashed_run, tmp_path)
    log = run_dir / "events.jsonl"
    hub = Hub(run_dir)
    printed: list[str] = []
    caught_up, seen_end = trio.Event(), trio.Event()

    def out(line: str) -> None:
        printed.append(line)
        if len(printed) == hub.seq:
            caught_up.set()
        if '"type":"run/finished"' in line:
            seen_end.set()

    with trio.fail_after(120):  # a hang guard only
        async with trio.open_nursery() as nursery:
            base = await nursery.start(lambda task_status: serve(
                hub, TOKEN, port=0, task_status=task_status))
            nursery.start_soon(lambda: tail(f"{base}/?token={TOKEN}", raw=True, out=out))
            await caught_up.wait()  # the client has every record before the torn line
            done = await trio.to_thread.run_sync(resume_cancelled, run_dir)
            assert done.returncode == 1, done.stderr
            await seen_end.wait()
            hub.poll()
            nursery.cancel_scope.cancel()
    entries = all_entries(log)
    assert hub.error is None
    assert state_to_json(hub.state) == state_to_json(fold(entries))
    assert [int(line.split('"seq":')[1].split(",")[0]) for line in printed] == \
        [e.seq for e in entries]
    assert "\n".join(printed) + "\n" == log.read_text()
