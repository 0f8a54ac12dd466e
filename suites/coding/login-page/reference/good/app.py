"""A login page: an accessible form; the right credentials get a welcome page."""

import argparse
import html
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

USERS = {"ada@example.com": "correct-horse"}
FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in</title></head>
<body><main><h1>Log in</h1>{alert}
<form method="post" action="/login">
  <label for="email">Email</label> <input id="email" name="email" type="email">
  <label for="password">Password</label> <input id="password" name="password" type="password">
  <button type="submit">Log in</button>
</form></main></body></html>"""
WELCOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Welcome</title></head>
<body><main><h1>Welcome, {email}</h1></main></body></html>"""


class Handler(BaseHTTPRequestHandler):
    def _page(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/":
            self._page(200, FORM.format(alert=""))
        else:
            self._page(404, "not found")

    def do_POST(self):
        if self.path != "/login":
            self._page(404, "not found")
            return
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        email, password = form.get("email", ""), form.get("password", "")
        if USERS.get(email) == password and password:
            self._page(200, WELCOME.format(email=html.escape(email)))
        else:
            alert = '<p role="alert">Invalid email or password</p>'
            self._page(401, FORM.format(alert=alert))

    def log_message(self, format, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
