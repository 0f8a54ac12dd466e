"""The names of the built-in tools, as plans and models spell them; and how an MCP server's
tools are named (``:server/tool`` in plans and logs, ``server__tool`` on the wire, ``:server/*``
for all of them in a policy)."""

from __future__ import annotations

from collections.abc import Container, Iterable

TOOL_NAMES = frozenset({
    "read-file", "write-file", "list-dir", "sh",
    "spawn", "message", "report-state", "wait", "finish",
    "bridge", "bridge-close", "grant", "request-upgrade",
    "lock", "unlock", "locks", "who-holds", "resolve-conflict",
    "read-output",
})

WIRE_SEPARATOR = "__"
"""Joins a server's name and its tool's on the wire (models' function names cannot hold ``/``)."""


def server_of(name: str) -> str | None:
    """The MCP server a tool name belongs to (``calc`` for ``calc/add`` and ``calc/*``)."""
    server, slash, _ = name.partition("/")
    return server if slash else None


def all_of(server: str) -> str:
    """The name that allows every tool of ``server`` (``calc/*``)."""
    return f"{server}/*"


def wire_name(name: str) -> str:
    """The function name models see: ``calc/add`` becomes ``calc__add``, others are as-is."""
    return name.replace("/", WIRE_SEPARATOR, 1)


def covers(allowed: Iterable[str], name: str) -> bool:
    """Whether a tool set allows ``name``: it holds the name, or its server's ``server/*``."""
    allowed = allowed if isinstance(allowed, frozenset | set) else frozenset(allowed)
    server = server_of(name)
    return name in allowed or (server is not None and all_of(server) in allowed)


def narrow(a: Iterable[str], b: Iterable[str]) -> frozenset[str]:
    """The tools both sets allow (``calc/*`` narrowed by ``calc/add`` is ``calc/add``)."""
    a, b = frozenset(a), frozenset(b)
    both = {n for n in a if covers(b, n)} | {n for n in b if covers(a, n)}
    return frozenset(n for n in both
                     if n.endswith("/*") or not covers(both - {n}, n))


def plan_tool_name(name: str, servers: Container[str]) -> str:
    """A tool name as plans spell it, from the one a model used: ``calc__add`` is ``calc/add``
    when ``calc`` is one of ``servers`` (the plan refuses any other tool named so)."""
    server, separator, tool = name.partition(WIRE_SEPARATOR)
    return f"{server}/{tool}" if separator and server in servers else name
