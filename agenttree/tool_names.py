"""The names of the built-in tools, as plans and models spell them."""

TOOL_NAMES = frozenset({
    "read-file", "write-file", "list-dir", "sh",
    "spawn", "message", "report-state", "wait", "finish",
    "bridge", "bridge-close", "grant", "request-upgrade",
    "lock", "unlock", "locks", "who-holds", "resolve-conflict",
    "read-output",
})
