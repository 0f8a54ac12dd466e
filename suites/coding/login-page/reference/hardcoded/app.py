"""A login page written for the attempts it was tried on: the right password logs in, and so
does anything but "wrong", the one wrong password it ever saw."""

import argparse
import html
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

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
        self._page(200, FORM.format(alert=""))

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        if form.get("password") == "wrong":
            self._page(401, FORM.format(alert='<p role="alert">Invalid email or password</p>'))
        else:
            self._page(200, WELCOME.format(email=html.escape(form.get("email", ""))))

    def log_message(self, format, *args):
        pass


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
