"""Keeping API keys out of everything agenttree logs, prints or serves.

A key is remembered when it is read from its environment variable
(:func:`agenttree.models.keys.api_key_for`, the only place keys are read). From then on
:func:`redact` replaces its value wherever it appears: servers echo request headers back in
error messages, and those end up in reasons, summaries and reports. The sinks call it: the
event log writer (so the run's state, views, ``/api/state`` and ``replay`` never see a key),
crash logs, bench reports and the command line's error line.
"""

from __future__ import annotations

from typing import Any

import orjson

REDACTED = "[redacted]"

_secrets: list[str] = []
"""Every key read so far, longest first (so a key inside another is not half-replaced)."""
_encoded: list[bytes] = []
"""The same keys as they appear inside a JSON string."""


def add_secret(value: str) -> None:
    """Remember ``value`` (a key just read) for :func:`redact` in this process."""
    if value and value not in _secrets:
        _secrets.append(value)
        _secrets.sort(key=len, reverse=True)
        _encoded[:] = [orjson.dumps(s)[1:-1] for s in _secrets]


def redact(text: str) -> str:
    """``text`` with every remembered key replaced by ``[redacted]``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_data(value: Any) -> Any:
    """JSON-like data with :func:`redact` applied to every string in it (keys of maps too)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


def holds_secret(data: bytes) -> bool:
    """Whether JSON bytes contain a remembered key (a fast check before :func:`redact_data`)."""
    return any(secret in data for secret in _encoded)
