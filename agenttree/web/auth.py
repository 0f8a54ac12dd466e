"""The access token and the checks every request goes through.

The token is made once per server (``secrets.token_urlsafe``), printed in the page's URL like
Jupyter's, compared in constant time (:func:`hmac.compare_digest`) and never logged. Reading
calls may carry it in the query string (a browser cannot put headers on a websocket); control
calls must carry it in a header (``Authorization: Bearer …`` or ``X-Agenttree-Token``), so a
link or a cross-site form can never act on a run.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

TOKEN_HEADER = b"x-agenttree-token"


def new_token() -> str:
    """A fresh random token (32 bytes of entropy, URL-safe)."""
    return secrets.token_urlsafe(32)


def header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> str | None:
    """The first value of header ``name`` (lower case) in an ASGI header list, or None."""
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def query_params(query_string: bytes) -> dict[str, str]:
    """An ASGI query string as a dict (the last value of each key wins)."""
    parsed = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


class Guard:
    """Decides whether a request may go on; holds the token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def _matches(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        return hmac.compare_digest(candidate.encode("utf-8", "replace"), self._token)

    def header_token(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        """Whether the headers carry the token (``Authorization: Bearer`` or our own header)."""
        headers = list(headers)
        auth = header(headers, b"authorization")
        if auth is not None and auth[:7].lower() == "bearer " and self._matches(auth[7:].strip()):
            return True
        return self._matches(header(headers, TOKEN_HEADER))

    def any_token(self, headers: Iterable[tuple[bytes, bytes]], query: dict[str, str]) -> bool:
        """Whether the request carries the token in a header or in ``?token=``."""
        return self.header_token(headers) or self._matches(query.get("token"))


def same_origin(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """The websocket Origin rule: no ``Origin`` (not a browser) or one naming our own host.

    A page on another site can open a websocket to us (browsers do not apply CORS to them) but
    its ``Origin`` names that site; refusing it stops cross-site websocket hijacking.
    """
    headers = list(headers)
    origin = header(headers, b"origin")
    if origin is None:
        return True
    host = header(headers, b"host")
    parts = urlsplit(origin)
    return host is not None and parts.scheme in ("http", "https") and parts.netloc == host
