"""The web server over real sockets: the state API, the event stream, the token and Origin
rules, control, path traversal. trio-websocket and httpx are the clients; the server runs
in-process on 127.0.0.1, port 0."""

from __future__ import annotations

import gc
import itertools
import os
import zlib
from pathlib import Path

import httpx
import orjson
import pytest
import trio
from trio_websocket import ConnectionClosed

from agenttree import events as ev
from agenttree.bench.report import ReportLog
from agenttree.log import LogReader
from agenttree.snapshots import Snapshots
from agenttree.state import RunState, fold, state_to_json
from agenttree.web.hub import CHUNK_BYTES, Hub
from agenttree.web.reports import ReportScanner
from agenttree.web.tail import connect as open_websocket_url

from .conftest import TOKEN, RunLog, Served, start_events, start_server

WAIT_S = 20


async def receive_lines(ws, count: int) -> list[bytes]:
    """Exactly ``count`` event lines from the stream (they arrive batched)."""
    lines: list[bytes] = []
    with trio.fail_after(WAIT_S):
        while len(lines) < count:
            lines.extend((await ws.get_message()).encode().splitlines(keepends=True))
    assert len(lines) == count, "received more events than were written"
    return lines


def seqs(lines: list[bytes]) -> list[int]:
    return [orjson.loads(line)["seq"] for line in lines]


# --- the state API -------------------------------------------------------------------------


async def test_state_needs_the_token(served: Served, http: httpx.AsyncClient) -> None:
    for headers, query in [({}, ""), ({}, "?token=wrong"), ({"X-Agenttree-Token": "nope"}, ""),
                           ({"Authorization": "Bearer " + TOKEN[:-1]}, "")]:
        r = await http.get(f"{served.base}/api/state{query}", headers=headers)
        assert r.status_code == 401, (headers, query)
        assert "token" in r.json()["error"] and TOKEN not in r.text
    for headers, query in [({}, f"?token={TOKEN}"), ({"X-Agenttree-Token": TOKEN}, ""),
                           ({"Authorization": f"Bearer {TOKEN}"}, "")]:
        r = await http.get(f"{served.base}/api/state{query}", headers=headers)
        assert r.status_code == 200
        assert sorted(r.json()["agents"]) == ["root", "root.a", "root.b"]


async def test_state_as_of_a_seq_is_the_fold(served: Served, http: httpx.AsyncClient) -> None:
    served.log.write([ev.AgentFinished(agent="root.a", status="done")])
    served.hub.poll()
    for seq in (0, 2, 4, 5):
        r = await http.get(f"{served.base}/api/state?seq={seq}&token={TOKEN}")
        want = state_to_json(fold(LogReader(served.log.path), until=seq))
        got = r.json()
        assert got.pop("server")["seq"] == 5
        assert got == orjson.loads(orjson.dumps(want))
    assert got["agents"]["root.a"]["status"] == "done"
    r = await http.get(f"{served.base}/api/state?agent=root.a&seq=5&token={TOKEN}")
    assert list(r.json()["agents"]) == ["root.a"] and r.json()["root"] == "root"
    r = await http.get(f"{served.base}/api/state?agent=&token={TOKEN}")
    assert r.json()["agents"] == {}


async def test_state_as_of_a_seq_comes_from_the_last_snapshot_before_it(
        tmp_path: Path, nursery: trio.Nursery, http: httpx.AsyncClient) -> None:
    log = RunLog(tmp_path / "run")
    log.write(start_events())
    base, hub = await start_server(nursery, log.run_dir, snapshot_every=10)
    for i in range(6):  # polled in batches, as a live run is
        log.write(ev.AgentState(agent="root.a", status="running", detail=f"step {i}.{j}")
                  for j in range(7))
        hub.poll()
    assert [s.seq for s in hub.snapshots.taken] == [11, 25, 39]  # 4 events, then 7 a poll
    for seq in (0, 3, 10, 11, 12, 24, 30, 39, 46):
        r = await http.get(f"{base}/api/state?seq={seq}&token={TOKEN}")
        r.raise_for_status()
        want = state_to_json(fold(LogReader(log.path), until=seq))
        got = r.json()
        got.pop("server")
        assert got == orjson.loads(orjson.dumps(want)), seq
    # The lines before the last snapshot are no longer read: damage there (which a whole-log
    # fold would stop at) leaves the state after it answering.
    data = log.path.read_bytes()
    log.path.write_bytes(data.replace(b"step 0.0", b"step 0.X"))
    r = await http.get(f"{base}/api/state?seq=45&token={TOKEN}")
    assert r.status_code == 200 and r.json()["agents"]["root.a"]["detail"] == "step 5.5"
    r = await http.get(f"{base}/api/state?seq=10&token={TOKEN}")  # no snapshot before it
    assert r.status_code == 500 and "corrupt event record" in r.json()["error"]


async def test_state_as_of_every_seq_before_a_corrupt_line_is_the_fold(
        tmp_path: Path, nursery: trio.Nursery, http: httpx.AsyncClient) -> None:
    log = RunLog(tmp_path / "run")
    log.write(start_events())
    base, hub = await start_server(nursery, log.run_dir, snapshot_every=3)
    for n in range(8):  # calls open across snapshots, answered in later polls
        log.write([ev.ToolRequested(agent="root.a", call=f"c{n}", tool="sh", args={"n": n}),
                   ev.AgentMessage(sender="root.a", to="root", kind="chat", text=f"m{n}")])
        hub.poll()
        log.write([ev.ToolResult(agent="root.a", call=f"c{n}", tool="sh", ok=True,
                                 output=f"o{n}")])
    with open(log.path, "ab") as f:
        f.write(b'{"seq": 29, "oops"}\n')
    log.write([ev.AgentState(agent="root", status="running")])  # after the damage: never read
    hub.poll()
    assert hub.error is not None and hub.seq == 28 and len(hub.snapshots.taken) > 3
    for seq in range(29):
        r = await http.get(f"{base}/api/state?seq={seq}&token={TOKEN}")
        r.raise_for_status()
        got = r.json()
        assert got.pop("server") == {"seq": 28, "clients": 0, "error": hub.error}
        want = state_to_json(fold(itertools.islice(LogReader(log.path), seq)))
        assert got == orjson.loads(orjson.dumps(want)), seq
    r = await http.get(f"{base}/api/state?seq=29&token={TOKEN}")
    assert r.status_code == 400 and "out of range" in r.json()["error"]


def test_snapshots_keep_to_their_memory_budget_spacing_out(tmp_path: Path) -> None:
    snapshots = Snapshots(every=1, budget=10_000)
    state = RunState()
    for seq in range(1, 201):
        state.seq, state.plan_edn = seq, "x" * 500
        snapshots.note(state, offset=seq * 100)
    sizes = [len(s.state) for s in snapshots.taken]
    assert sum(sizes) <= 10_000 and len(sizes) > 5
    seqs = [s.seq for s in snapshots.taken]
    assert seqs == sorted(seqs) and seqs[-1] > 150 and snapshots.every > 1
    assert all(b - a >= 1 for a, b in itertools.pairwise(seqs))
    assert snapshots.before(0) is None and snapshots.before(seqs[0]).seq == seqs[0]
    assert snapshots.before(seqs[1] - 1).seq == seqs[0]


@pytest.mark.parametrize(("seq", "message"), [
    ("abc", "seq='abc': not a whole number"), ("-1", "seq=-1: out of range"),
    ("6", "seq=6: out of range (this log has seqs 1 to 4"), ("1.5", "not a whole number"),
])
async def test_a_bad_seq_is_a_400_saying_why(served: Served, http: httpx.AsyncClient,
                                            seq: str, message: str) -> None:
    r = await http.get(f"{served.base}/api/state?seq={seq}&token={TOKEN}")
    assert r.status_code == 400
    assert message in r.json()["error"]


# --- the event stream ----------------------------------------------------------------------


async def test_resume_from_seq_misses_nothing_and_doubles_nothing(served: Served) -> None:
    async with open_websocket_url(served.events_url(1)) as ws:
        first = await receive_lines(ws, 4)
        served.log.notes(6)
        first += await receive_lines(ws, 6)
    assert seqs(first) == list(range(1, 11))
    served.log.notes(5)  # written while nobody listens
    async with open_websocket_url(served.events_url(11)) as ws:
        second = await receive_lines(ws, 5)  # from the file
        served.log.notes(3)
        second += await receive_lines(ws, 3)  # live
    assert seqs(second) == list(range(11, 19))
    assert b"".join(first + second) == served.log.path.read_bytes()  # the log's own lines


async def test_the_stream_passes_on_the_bytes_the_log_holds(served: Served) -> None:
    # Framed as the log's CRC rule allows, but not as agenttree's own encoder would write it:
    # the hub passes each line on as it read it, never decoding and encoding it again.
    body = b'{"seq": 5,  "t": 1, "run": "test-run", "type": "run/finished", "status": "done"}'
    line = body[:-1] + b',"crc":%d}\n' % zlib.crc32(body)
    async with open_websocket_url(served.events_url(1)) as live:
        await receive_lines(live, 4)
        with open(served.log.path, "ab") as f:
            f.write(line)
        served.hub.poll()
        assert await receive_lines(live, 1) == [line]  # live, through the hub
    assert served.hub.state.status == "done"


async def test_a_client_joining_mid_stream_gets_history_then_live(
        served: Served) -> None:
    served.log.notes(300, size=2000)  # ~600 KB: history comes in several chunks
    served.hub.poll()  # now seqs up to 304 come from the file, the rest live
    async with open_websocket_url(served.events_url(100)) as ws:
        served.log.notes(20)
        lines = await receive_lines(ws, 304 - 99 + 20)
    assert seqs(lines) == list(range(100, 325))


async def test_two_hundred_clients_each_get_every_event_once(served: Served) -> None:
    clients = 200
    results: dict[int, list[int]] = {}
    connected = trio.Semaphore(0)

    async def client(n: int) -> None:
        async with open_websocket_url(served.events_url(1)) as ws:
            head = await receive_lines(ws, 4)
            connected.release()
            results[n] = seqs(head + await receive_lines(ws, 50))

    async with trio.open_nursery() as nursery:
        for n in range(clients):
            nursery.start_soon(client, n)
        with trio.fail_after(WAIT_S):
            for _ in range(clients):
                await connected.acquire()
        for _ in range(5):
            served.log.notes(10)
            await trio.sleep(0.01)
    assert len(results) == clients
    assert all(got == list(range(1, 55)) for got in results.values())


async def test_a_slow_client_is_dropped_with_a_reason_and_blocks_nobody(
        tmp_path: Path, nursery: trio.Nursery) -> None:
    log = RunLog(tmp_path / "run")
    log.write(start_events())
    base, _ = await start_server(nursery, log.run_dir, buffer=50)
    url = f"ws{base[4:]}/ws/events?token={TOKEN}&from=1"
    bursts, burst, size = 60, 10, 20_000  # 12 MB: more than the socket buffers between us hold
    async with open_websocket_url(url) as slow, open_websocket_url(url) as fast:
        await receive_lines(slow, 4)
        await receive_lines(fast, 4)
        everything = []
        for _ in range(bursts):  # the slow client reads nothing meanwhile
            log.notes(burst, size=size)
            everything += await receive_lines(fast, burst)
        events = bursts * burst
        assert seqs(everything) == list(range(5, events + 5))  # the fast one got it all
        got: list[bytes] = []
        with pytest.raises(ConnectionClosed) as closed, trio.fail_after(WAIT_S):
            while True:
                got.extend((await slow.get_message()).encode().splitlines(keepends=True))
    # the slow one got an unbroken prefix, then a close saying where to resume
    assert seqs(got) == list(range(5, 5 + len(got)))
    assert len(got) < events
    reason = closed.value.reason
    assert reason.code == 1013
    assert "fell more than 50 events behind" in reason.reason
    assert f"resume with from={5 + len(got)}" in reason.reason


async def test_history_is_the_log_lines_before_the_live_start(tmp_path: Path) -> None:
    hub = Hub(tmp_path / "run")  # no log yet: a client from seq 1 is all live
    assert list(hub.history(hub.subscribe(1))) == []
    log = RunLog(tmp_path / "run")
    log.notes(40, size=20_000)  # ~800 KB: several batches
    hub.poll()
    log.notes(1)  # after the poll: live, not history
    batches = list(hub.history(hub.subscribe(3)))
    assert len(batches) > 1 and all(b.endswith(b"\n") for b in batches)
    assert seqs(b"".join(batches).splitlines(keepends=True)) == list(range(3, 41))


async def test_a_poll_s_lines_go_out_whole_in_chunks_of_about_chunk_bytes(
        tmp_path: Path) -> None:
    log = RunLog(tmp_path / "run")
    log.notes(3)
    hub = Hub(tmp_path / "run")
    hub.poll()
    sub = hub.subscribe(4)
    log.notes(90, size=7_000)  # ~630 KB in one poll: three chunks, the last one short
    log.notes(1, size=0)
    hub.poll()
    chunks = []
    while True:
        try:
            chunks.append(sub.receive.receive_nowait())
        except trio.WouldBlock:
            break
    assert len(chunks) == 3
    assert b"".join(c.text.encode() for c in chunks) == log.path.read_bytes().split(b"\n", 3)[3]
    for chunk, nxt in itertools.pairwise(chunks):
        assert nxt.first == chunk.last + 1
        lines = chunk.text.encode().splitlines(keepends=True)
        assert len(b"".join(lines[:-1])) < CHUNK_BYTES <= len(chunk.text.encode())
    for chunk in chunks:
        assert seqs(chunk.text.encode().splitlines(keepends=True)) == list(
            range(chunk.first, chunk.last + 1))
    assert (chunks[0].first, chunks[-1].last) == (4, 94)


@pytest.mark.parametrize("enabled", [True, False])
def test_a_poll_leaves_the_collector_as_it_found_it(tmp_path: Path, enabled: bool) -> None:
    log = RunLog(tmp_path / "run")
    hub = Hub(tmp_path / "run")
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        log.notes(3)
        assert hub.poll() and gc.isenabled() is enabled
        with open(log.path, "ab") as f:  # the corrupt line's way out of a poll, too
            f.write(b'{"seq": 4, "not": "framed"}\n')
        assert not hub.poll() and hub.error is not None
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


async def test_a_corrupt_line_still_lets_the_events_before_it_through(tmp_path: Path) -> None:
    log = RunLog(tmp_path / "run")
    log.notes(3)
    with open(log.path, "ab") as f:
        f.write(b'{"seq": 4, "not": "framed"}\n')
    hub = Hub(tmp_path / "run")
    hub.poll()
    assert hub.seq == 3  # folded up to the bad line
    assert hub.error is not None and "events.jsonl:4" in hub.error


async def test_one_burst_bigger_than_the_buffer_drops_nobody(tmp_path: Path,
                                                             nursery: trio.Nursery) -> None:
    log = RunLog(tmp_path / "run")
    log.write(start_events())
    base, _ = await start_server(nursery, log.run_dir, buffer=5)
    async with open_websocket_url(f"ws{base[4:]}/ws/events?token={TOKEN}&from=1") as ws:
        await receive_lines(ws, 4)
        log.notes(3000)  # one write: the hub takes it in one poll
        assert seqs(await receive_lines(ws, 3000)) == list(range(5, 3005))
        log.notes(1)
        assert seqs(await receive_lines(ws, 1)) == [3005]



def test_a_summary_is_read_once_until_it_changes(tmp_path: Path) -> None:
    run = tmp_path / "tool_calling" / "run-1"
    run.mkdir(parents=True)
    scanner = ReportScanner(tmp_path)
    assert scanner.scan()[0]["summary"] is None
    summary = run / "summary.json"
    summary.write_bytes(b'{"pass_rate": 0.5}')
    assert scanner.scan()[0]["summary"] == {"pass_rate": 0.5}
    stamp = summary.stat().st_mtime_ns
    summary.write_bytes(b'{"pass_rate": 0.7}')  # same size, and the same mtime put back:
    os.utime(summary, ns=(stamp, stamp))
    assert scanner.scan()[0]["summary"] == {"pass_rate": 0.5}  # not read again
    os.utime(summary, ns=(stamp + 10**9, stamp + 10**9))
    assert scanner.scan()[0]["summary"] == {"pass_rate": 0.7}
    summary.write_bytes(b'{"pass_rate"')
    assert "summary.json unreadable" in scanner.scan()[0]["summary_error"]
    summary.unlink()
    assert scanner.scan()[0]["summary"] is None


def test_a_stopped_run_says_why_until_it_is_resumed(tmp_path: Path) -> None:
    run = tmp_path / "tool-calling" / "run-1"
    run.mkdir(parents=True)
    log = ReportLog(run / "events.jsonl")
    log.write("run/start", suite="tool-calling", total=2)
    log.write("case/start", key="a|m|e1", case="a", attempt=1)
    log.write("run/stopped", reason="interrupted (SIGINT)", interrupted=True, done=0, total=2)
    log.close()
    scanner = ReportScanner(tmp_path)
    (report,) = scanner.scan()
    assert (report["stopped"], report["finished"]) == ("interrupted (SIGINT)", False)
    log = ReportLog(run / "events.jsonl", next_seq=4)
    log.write("run/start", suite="tool-calling", total=2, resumed=True)
    log.close()
    assert scanner.scan()[0]["stopped"] is None


def test_a_report_log_started_over_is_read_again(tmp_path: Path) -> None:
    run = tmp_path / "tool_calling" / "run-1"
    run.mkdir(parents=True)
    events = run / "events.jsonl"
    events.write_bytes(b'{"type": "run/start", "total": 3}\n{"type": "case/start", "key": "a"}\n'
                       b'{"type": "case/end", "key": "a", "status": "pass"}\n')
    scanner = ReportScanner(tmp_path)
    assert scanner.scan()[0]["ended"] == 1
    events.write_bytes(b'{"type": "run/start", "total": 2}\n')
    report = scanner.scan()[0]
    assert (report["total"], report["started"], report["ended"]) == (2, 0, 0)


# --- refusals --------------------------------------------------------------------------------


async def refused(url: str, **kwargs) -> str:
    """The close reason of a websocket the server refuses (code 1008)."""
    with trio.fail_after(WAIT_S), pytest.raises(ConnectionClosed) as closed:
        async with open_websocket_url(url, **kwargs) as ws:
            await ws.get_message()
    assert closed.value.reason.code == 1008
    return closed.value.reason.reason


async def test_websocket_without_the_right_token_is_closed_1008(served: Served) -> None:
    ws = f"ws{served.base[4:]}/ws/events"
    assert await refused(f"{ws}?from=1") == "missing or wrong token"
    assert await refused(f"{ws}?token=wrong") == "missing or wrong token"
    assert await refused(f"{ws}?token={TOKEN}x") == "missing or wrong token"
    assert "no such websocket" in await refused(f"ws{served.base[4:]}/ws/other?token={TOKEN}")


async def test_cross_site_websocket_is_refused(served: Served) -> None:
    host = served.base.removeprefix("http://")
    for origin in ["http://evil.example", f"http://{host}.evil.example", "null",
                   f"file://{host}", "http://127.0.0.1:1"]:
        headers = [(b"Origin", origin.encode())]
        reason = await refused(served.events_url(), extra_headers=headers)
        assert "Origin" in reason
    async with open_websocket_url(served.events_url(),
                                  extra_headers=[(b"Origin", f"http://{host}".encode())]) as ws:
        assert len(await receive_lines(ws, 4)) == 4


@pytest.mark.parametrize(("start", "message"), [
    ("abc", "from='abc': not a whole number"), ("0", "from=0: seqs start at 1"),
    ("-3", "from=-3: seqs start at 1"),
])
async def test_a_bad_from_seq_is_refused_with_a_reason(served: Served, start: str,
                                                      message: str) -> None:
    url = f"ws{served.base[4:]}/ws/events?token={TOKEN}&from={start}"
    assert await refused(url) == message


async def test_a_seq_beyond_the_end_waits_for_it_until_the_run_has_finished(
        served: Served) -> None:
    async with open_websocket_url(served.events_url(7)) as ws:
        served.log.notes(4)
        assert seqs(await receive_lines(ws, 2)) == [7, 8]
    served.log.write([ev.RunFinished(status="done")])
    served.hub.poll()
    assert await refused(served.events_url(11)) == (
        "from=11 is past the end of the log (last seq 9) and the run has finished")
    async with open_websocket_url(served.events_url(10)) as ws:  # the next one: fine
        served.log.notes(1)  # (a resumed run may append more)
        assert seqs(await receive_lines(ws, 1)) == [10]


RAW_PATHS = [
    "/events.jsonl", "/plan.edn", "/control.jsonl", "/workspace/secret.txt",
    "/static/../events.jsonl", "/static/..%2fevents.jsonl", "/static/%2e%2e/plan.edn",
    "/static/..%2F..%2Fworkspace%2Fsecret.txt", "/static/../../../../etc/passwd",
    "/../workspace/secret.txt", "//etc/passwd", "/static//etc/passwd", "/static/",
    "/static/%00index.html", "/api/../workspace/secret.txt", "/api/state/../../plan.edn",
]


@pytest.mark.parametrize("path", RAW_PATHS)
async def test_no_path_reaches_the_run_directory(served: Served, path: str) -> None:
    secret = served.log.run_dir / "workspace" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("SECRET-MARKER")
    (served.log.run_dir / "plan.edn").write_text("{:task {:task/id \"SECRET-MARKER\"}}")
    host, port = served.base.removeprefix("http://").rsplit(":", 1)
    with trio.fail_after(WAIT_S):
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:  # the path exactly as written, no client-side normalising
            await stream.send_all(f"GET {path}?token={TOKEN} HTTP/1.1\r\nHost: {host}\r\n"
                                  "Connection: close\r\n\r\n".encode())
            response = b""
            while chunk := await stream.receive_some():
                response += chunk
    status = response.split(b" ", 2)[1]
    assert status in (b"400", b"404"), response[:200]
    assert b"SECRET-MARKER" not in response and b'"seq"' not in response


async def test_unknown_routes_and_methods(served: Served, http: httpx.AsyncClient) -> None:
    r = await http.get(f"{served.base}/api/nothing?token={TOKEN}")
    assert r.status_code == 404
    r = await http.post(f"{served.base}/api/state?token={TOKEN}")
    assert (r.status_code, r.json()["error"]) == (405, "POST /api/state: use GET")
    r = await http.get(f"{served.base}/api/control?token={TOKEN}")
    assert r.status_code == 405


async def test_the_page_and_its_files_are_served_with_safe_headers(
        served: Served, http: httpx.AsyncClient) -> None:
    r = await http.get(f"{served.base}/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for name in ["app.js", "api.js", "rows.js", "tree.js", "style.css"]:
        r = await http.get(f"{served.base}/static/{name}")
        assert r.status_code == 200, name
    r = await http.get(f"{served.base}/static/model.js")  # the page folds nothing itself
    assert r.status_code == 404


# --- reports --------------------------------------------------------------------------------


async def test_reports_show_progress_and_summaries(served: Served, http: httpx.AsyncClient,
                                                   tmp_path: Path) -> None:
    running = tmp_path / "reports" / "tool_calling" / "run-20261206-120000"
    done = tmp_path / "reports" / "tool_calling" / "run-20261205-120000"
    for d in (running, done):
        d.mkdir(parents=True)
    log = ReportLog(running / "events.jsonl")  # the bench's own writer, so its own format
    log.write("run/start", suite="tool_calling", cases="*", total=4)
    log.write("case/start", key="a/m/e1", case="a", attempt=1)
    log.write("case/end", key="a/m/e1", case="a", status="pass", score=1.0)
    log.write("case/start", key="b/m/e1", case="b", attempt=1)
    log.write("case/end", key="b/m/e1", case="b", status="fail", score=0.0)
    log.write("case/start", key="c/m/e1", case="c", attempt=1)  # killed here, then resumed:
    log.write("run/start", suite="tool_calling", cases="*", total=4, resumed=True)
    log.write("case/start", key="c/m/e1", case="c", attempt=2)  # counted once
    log.close()
    with open(running / "events.jsonl", "ab") as f:
        f.write(b"not json\n")
    done.joinpath("events.jsonl").write_bytes(b"")
    done.joinpath("summary.json").write_bytes(orjson.dumps({"pass_rate": 0.5}))
    (tmp_path / "reports" / "stray-file").write_text("ignored")
    elsewhere = tmp_path / "elsewhere" / "run-1"
    elsewhere.mkdir(parents=True)
    elsewhere.joinpath("summary.json").write_text('{"secret": 1}')
    (tmp_path / "reports" / "linked").symlink_to(tmp_path / "elsewhere")
    (done.parent / "run-linked").symlink_to(elsewhere)
    r = await http.get(f"{served.base}/api/reports")
    assert r.status_code == 401
    r = await http.get(f"{served.base}/api/reports?token={TOKEN}")
    first, second = r.json()["reports"]  # the symlinked suite and run are not listed
    assert (first["run"], first["total"], first["started"], first["ended"], first["passed"],
            first["finished"]) == ("run-20261206-120000", 4, 3, 2, 1, False)
    assert second["summary"] == {"pass_rate": 0.5} and second["finished"]
    log = ReportLog(running / "events.jsonl", next_seq=9)  # progress is followed as it grows
    log.write("case/end", key="c/m/e1", case="c", status="pass", score=1.0)
    log.write("run/end", totals={})
    log.close()
    r = await http.get(f"{served.base}/api/reports?token={TOKEN}")
    first = r.json()["reports"][0]
    assert (first["ended"], first["passed"], first["finished"]) == (3, 2, True)


async def test_one_event_is_the_log_s_own_line(served: Served, http: httpx.AsyncClient) -> None:
    r = await http.get(f"{served.base}/api/event?seq=2&token={TOKEN}")
    assert r.status_code == 200
    assert r.json() == {"seq": 2, "event": orjson.loads(
        (served.log.path.read_bytes().splitlines())[1])}
    assert r.json()["event"]["type"] == "agent/spawned"
    r = await http.get(f"{served.base}/api/event?seq=2")
    assert r.status_code == 401


@pytest.mark.parametrize(("query", "error"), [
    ("", "seq='': not a whole number"), ("seq=x", "seq='x': not a whole number"),
    ("seq=0", "seq=0: out of range (this log has seqs 1 to 4)"),
    ("seq=5", "seq=5: out of range"), ("seq=-1", "seq=-1: out of range"),
])
async def test_a_bad_event_seq_is_a_400_saying_why(served: Served, http: httpx.AsyncClient,
                                                  query: str, error: str) -> None:
    r = await http.get(f"{served.base}/api/event?{query}&token={TOKEN}")
    assert r.status_code == 400 and error in r.json()["error"]
