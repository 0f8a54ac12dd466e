"""Recorded runs to export, and the exports of them (written by the real command)."""

from __future__ import annotations

from pathlib import Path

from agenttree.events import Entry
from agenttree.log import LogReader

RECORDED = Path(__file__).resolve().parents[1] / "recorded"
RUNS = ("demo", "conflict", "web-fold")
"""``web-fold`` has a re-opened agent (attempt 2) and a resume that re-runs a tool call."""


def entries(run: str) -> list[Entry]:
    return list(LogReader(RECORDED / run / "events.jsonl"))
