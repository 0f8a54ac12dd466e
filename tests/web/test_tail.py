"""``agenttree tail`` and the CLI's refusals."""

from __future__ import annotations

import math
import socket
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest
import trio

from agenttree.cli import main
from agenttree.errors import UserError
from agenttree.web.tail import events_url, format_line, tail

from ..test_file_changes import require_notification
from .conftest import TOKEN, RunLog, Served, start_events, start_server


class Printed:
    """What ``tail`` prints, as a channel a test can wait on (instead of sleeping and looking)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.out, self._printed = trio.open_memory_channel[str](math.inf)

    async def wait_for(self, count: int) -> None:
        """Wait until ``tail`` has printed ``count`` lines in all."""
        with trio.fail_after(10):
            while len(self.lines) < count:
                self.lines.append(await self._printed.receive())

    def everything(self) -> list[str]:
        """Every line printed so far (so a doubled line is seen, not left in the channel)."""
        while True:
            try:
                self.lines.append(self._printed.receive_nowait())
            except trio.WouldBlock:
                return self.lines


async def test_tail_prints_one_line_per_event_from_a_seq(served: Served) -> None:
    printed = Printed()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(tail, f"{served.base}/?token={TOKEN}", 2,
                                   out=printed.out.send_nowait))
        await printed.wait_for(3)
        served.log.notes(2)
        await printed.wait_for(5)
        nursery.cancel_scope.cancel()
    lines = printed.everything()
    assert [line.split()[:2] for line in lines] == [
        ["2", "agent/spawned"], ["3", "agent/spawned"], ["4", "agent/spawned"],
        ["5", "agent/message"], ["6", "agent/message"]]
    assert '"agent":"root"' in lines[0] and '"crc"' not in lines[0]


async def test_tail_with_a_wrong_token_says_so(served: Served) -> None:
    with pytest.raises(UserError, match="the server refused: missing or wrong token"):
        await tail(f"{served.base}/?token=wrong")


async def test_tail_to_nowhere_says_so(tmp_path: Path) -> None:
    listener = (await trio.open_tcp_listeners(0, host="127.0.0.1"))[0]
    port = listener.socket.getsockname()[1]
    await listener.aclose()  # a port nobody listens on
    with pytest.raises(UserError, match=f"cannot connect to 127.0.0.1:{port}"):
        await tail(f"http://127.0.0.1:{port}/?token=x")


def test_urls_and_lines() -> None:
    assert events_url("http://127.0.0.1:8765/?token=abc", 7) == \
        "ws://127.0.0.1:8765/ws/events?token=abc&from=7"
    assert events_url("ws://h:1/ws/events?token=abc&from=3", None) == \
        "ws://h:1/ws/events?token=abc&from=3"
    with pytest.raises(UserError, match="has no"):
        events_url("http://127.0.0.1:8765/", 1)
    with pytest.raises(UserError, match="give the URL"):
        events_url("ftp://x/?token=a", 1)
    assert format_line(b"garbage") == "garbage"
    assert format_line(b'{"seq":3,"t":1,"run":"r","type":"x/y","a":1,"crc":5}').split() == \
        ["3", "x/y", '{"a":1}']


@pytest.mark.parametrize(("argv", "message"), [
    (["serve", "/nonexistent/run"], "no such run directory"),
    (["serve", "RUN", "--host", "0.0.0.0"], "add --allow-remote if you mean it"),
    (["serve", "RUN", "--port", "70000"], "must be 0 to 65535"),
    (["serve", "RUN", "--reports", "/nonexistent/reports"], "no such directory"),
    (["tail", "not a url"], "give the URL"),
    (["tail", "http://127.0.0.1:1/?token=x", "--from", "0"], "seqs start at 1"),
])
def test_cli_refuses_bad_input_with_one_line(tmp_path: Path, capsys, argv: list[str],
                                            message: str) -> None:
    argv = [str(tmp_path) if a == "RUN" else a for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


async def test_tail_dropped_by_the_server_resumes_without_gaps_or_doubles(
        tmp_path: Path, nursery: trio.Nursery) -> None:
    log = RunLog(tmp_path / "run")
    log.write(start_events())
    base, hub = await start_server(nursery, log.run_dir)
    printed = Printed()
    async with trio.open_nursery() as inner:
        inner.start_soon(partial(tail, f"{base}/?token={TOKEN}", out=printed.out.send_nowait))
        await printed.wait_for(4)
        for round_ in range(3):
            log.notes(10)
            await printed.wait_for(4 + 10 * round_ + 5)  # mid-way, or just after, a burst
            hub.drop_all("dropped by the test")
        log.notes(5)
        await printed.wait_for(39)
        inner.cancel_scope.cancel()
    assert [int(line.split()[0]) for line in printed.everything()] == list(range(1, 40))


def test_serve_on_a_port_in_use_says_so(tmp_path: Path) -> None:
    # A subprocess: hypercorn leaves the socket it failed to bind for the GC to close.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "agenttree", "serve", str(tmp_path),
                               "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith(f"agenttree: error: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in done.stderr and done.stderr.count("\n") == 1


async def test_the_web_stream_benchmark_clients_resume_when_dropped(
        tmp_path: Path, nursery: trio.Nursery) -> None:
    """`make bench`'s clients fell 10,000 events behind on a busy machine, were dropped with
    "resume with from=…", and the benchmark died with a traceback: they resume, as tail does."""
    from bench.web_stream import _drain

    log = RunLog(tmp_path / "run")
    log.write(start_events())
    base, hub = await start_server(nursery, log.run_dir)
    async with trio.open_nursery() as inner:
        inner.start_soon(_drain, f"ws{base[4:]}/ws/events?token={TOKEN}&from=1", 4 + 30)
        for _ in range(3):
            while hub.clients < 1:
                await trio.sleep(0)
            log.notes(10)
            await trio.testing.wait_all_tasks_blocked()
            hub.poll()
            hub.drop_all("dropped by the test")
        # _drain returns once it holds all 34 events, each seq once (it counts them)


async def test_a_quiet_log_reaches_tail_on_the_change_notification(
        tmp_path: Path, nursery: trio.Nursery) -> None:
    """The hub's poll out of reach: the new event can only come through the notification."""
    await require_notification(tmp_path)
    log = RunLog(tmp_path / "run")
    log.write(start_events())
    base, _ = await start_server(nursery, log.run_dir, poll_s=1e9, gap_s=0)
    printed = Printed()
    async with trio.open_nursery() as inner:
        inner.start_soon(partial(tail, f"{base}/?token={TOKEN}", out=printed.out.send_nowait))
        for count, more in ((4, 1), (5, 2), (7, 0)):
            while len(printed.lines) < count:
                printed.lines.append(await printed._printed.receive())
            log.notes(more)
        inner.cancel_scope.cancel()
    assert [int(line.split()[0]) for line in printed.everything()] == list(range(1, 8))
