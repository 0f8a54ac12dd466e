"""A key-value store over a small JSON REST API."""

import argparse
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = re.compile(r"^/kv/([A-Za-z0-9_-]+)$")
STORE = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def _json(self, status, value=None):
        body = b"" if value is None else json.dumps(value).encode()
        self.send_response(status)
        if value is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _key(self):
        match = KEY.match(self.path)
        if match is None:
            self._json(404, {"error": "no such path"})
            return None
        return match.group(1)

    def do_GET(self):
        if self.path == "/kv":
            with LOCK:
                self._json(200, {"keys": sorted(STORE)})
            return
        key = self._key()
        if key is None:
            return
        with LOCK:
            if key in STORE:
                self._json(200, {"key": key, "value": STORE[key]})
            else:
                self._json(404, {"error": f"no key {key}"})

    def do_PUT(self):
        key = self._key()
        if key is None:
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            body = None
        if not isinstance(body, dict) or "value" not in body:
            self._json(400, {"error": "the body must be {\"value\": ...}"})
            return
        with LOCK:
            status = 200 if key in STORE else 201
            STORE[key] = body["value"]
        self._json(status, {"key": key, "value": body["value"]})

    def do_DELETE(self):
        key = self._key()
        if key is None:
            return
        with LOCK:
            found = STORE.pop(key, KEY) is not KEY
        if found:
            self._json(204)
        else:
            self._json(404, {"error": f"no key {key}"})

    def log_message(self, format, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
