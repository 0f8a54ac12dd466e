"""``agenttree serve`` as a real process: Ctrl-C stops it, even while clients stream a long log
(a KeyboardInterrupt raised inside a request handler used to be swallowed by the web server,
which went on serving)."""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

from agenttree import events as ev
from agenttree.log import encode

CLIENTS = 3
STARTED_BYTES = 1 << 20


def long_log(run_dir: Path, events: int = 100_000) -> None:
    run_dir.mkdir()
    first = encode(1, 0, "long", ev.RunStarted(plan_name="long", plan_path="long.edn",
                                                run_dir=str(run_dir), seed=0,
                                                durability="none"))
    deltas = (encode(seq, seq, "long", ev.ModelDelta(agent="root", turn=1, text="x" * 150))
              for seq in range(2, events + 1))
    (run_dir / "events.jsonl").write_bytes(first + b"".join(deltas))


def stream(host: str, port: int, token: str, started: threading.Event) -> None:
    """A websocket client reading the whole history as fast as the socket gives it."""
    with socket.create_connection((host, port)) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /ws/events?token={token}&from=1 HTTP/1.1\r\nHost: {host}:{port}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        got = 0
        try:
            while chunk := s.recv(1 << 20):
                got += len(chunk)
                if got >= STARTED_BYTES:
                    started.set()
        except OSError:
            pass


def test_ctrl_c_stops_serve_while_clients_stream(tmp_path: Path) -> None:
    long_log(tmp_path / "run")
    server = subprocess.Popen([sys.executable, "-m", "agenttree", "serve", "run", "--port", "0"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    try:
        url = server.stdout.readline().split(" at ")[1].strip()
        base, token = url.split("/?token=")
        host, port = base.removeprefix("http://").split(":")
        started = [threading.Event() for _ in range(CLIENTS)]
        for event in started:
            threading.Thread(target=stream, args=(host, int(port), token, event),
                             daemon=True).start()
        for event in started:
            assert event.wait(120), "a client got no data"  # a hang guard only
        server.send_signal(signal.SIGINT)  # while every client is being sent the history
        _, err = server.communicate(timeout=120)  # a hang guard only: it used to never end
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 130
    assert "Traceback" not in err and "Error in ASGI" not in err
