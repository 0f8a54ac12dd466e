"""Whole tool outputs, kept outside the workspace, and ``read-output`` to read them.

A tool output too long for the transcript is cut there (:func:`agenttree.context.cut_output`)
and kept whole in ``RUN_DIR/outputs/<agent>/<name>.txt``; so is an output compaction shortened.
The run's workspace stays as the agents left it (a graded workspace holds only their work), and
an agent reads its own outputs, by the name its transcript's pointer gives, with ``read-output``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from ..context import NAME
from ..errors import ToolError
from ..log import replace_whole
from .base import AgentHandle, Param, tool

HEADER_ROOM = 200
"""Characters of a ``read-output`` answer kept for its header line."""


class OutputStore:
    """The ``outputs`` directory of a run: one directory per agent, one file per output."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, agent: str, name: str) -> Path:
        """Where ``agent``'s output ``name`` is kept (``name`` as :func:`output_name` makes
        them; anything else is refused, so a name never leaves the directory)."""
        if not NAME.match(name):
            raise ToolError(f"{name!r} is not the name of a saved output (the pointer in a cut "
                            "output gives it, e.g. read-output {\"id\": \"call_1\"})")
        return self.root / agent / f"{name}.txt"

    def save(self, agent: str, name: str, text: str) -> None:
        """Keep ``text`` as ``agent``'s output ``name`` (replacing an older one: an agent's
        next attempt may reuse a call id). Blocking: call it in a thread for a large output."""
        path = self.path(agent, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_whole(path, text.encode("utf-8", "surrogateescape"))

    def read(self, agent: str, name: str) -> str:
        """``agent``'s whole output ``name`` (blocking: call it in a thread).

        Raises:
            ToolError: there is no such output.
        """
        path = self.path(agent, name)
        try:
            return path.read_text(encoding="utf-8", errors="surrogateescape")
        except FileNotFoundError:
            kept = sorted(p.stem for p in path.parent.glob("*.txt")) if path.parent.is_dir() \
                else []
            listed = ", ".join(kept[-10:]) if kept else "none yet"
            raise ToolError(f"no saved output {name!r}; yours: {listed}") from None


@tool("read-output", "Read more of a tool output of yours that was cut or shortened: its "
      "pointer gives the id (and where the cut began).",
      id=Param(type="string", description='the id the pointer names, e.g. "call_1"'),
      offset=Param(type="integer", description="the first character to read (default 0)",
                   required=False),
      length=Param(type="integer", description="how many characters (default: as many as "
                   "fit in one answer)", required=False))
async def read_output(agent: AgentHandle, args: dict[str, Any]) -> str:
    text = await trio.to_thread.run_sync(agent.engine.outputs.read, agent.id, args["id"])
    offset = args.get("offset") or 0
    if offset < 0 or offset > len(text):
        raise ToolError(f"offset {offset} is outside the output ({len(text):,} characters)")
    most = max(1, agent.output_cap - HEADER_ROOM)
    length = args.get("length")
    if length is not None and length < 1:
        raise ToolError("length must be at least 1")
    end = min(len(text), offset + min(most, length or most))
    more = f"; read on with offset {end}" if end < len(text) else "; that is the end"
    return f"[{args['id']}: characters {offset:,} to {end:,} of {len(text):,}{more}]\n" \
        + text[offset:end]
