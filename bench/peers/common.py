"""Shared by the peer scripts (stdlib only: they run in the peers' own venv)."""

from __future__ import annotations

import json
import resource
import sys

FAKE_MODEL_CALL_S = 0.01
"""Every worker "awaits a model call" of this length (W1)."""


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux: ``ru_maxrss`` is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(wall_s: float, added_mb: float) -> None:
    """Print the one JSON line :mod:`bench.peers.run` reads."""
    print(json.dumps({"wall_s": wall_s, "added_mb": added_mb}), flush=True)


def size() -> int:
    """N, the script's one argument."""
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit(f"usage: {sys.argv[0]} N")
    return int(sys.argv[1])
