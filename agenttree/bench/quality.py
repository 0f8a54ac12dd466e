"""Soft metrics of a coding agent's work: lint findings and cyclomatic complexity (both from
ruff), and the size of its change against the seed."""

from __future__ import annotations

import difflib
import re
import shutil
import sys
from pathlib import Path

import orjson
import trio

SKIP = ("__pycache__", ".ruff_cache")
_COMPLEXITY = re.compile(r"\((\d+) > 0\)")


def _ruff() -> str | None:
    beside = Path(sys.executable).parent / "ruff"
    return str(beside) if beside.exists() else shutil.which("ruff")


async def lint(workspace: Path) -> dict[str, int | None]:
    """``lint_issues`` (ruff E, F, W findings) and ``complexity_max`` (the most complex
    function's McCabe number); ``None`` each when ruff is not installed."""
    ruff = _ruff()
    if ruff is None:
        return {"lint_issues": None, "complexity_max": None}
    result = await trio.run_process(
        [ruff, "check", "--isolated", "--no-cache", "--select", "E,F,W,C90", "--config",
         "lint.mccabe.max-complexity = 0", "--output-format", "json", "."],
        cwd=workspace, capture_stdout=True, capture_stderr=True, check=False)
    findings = orjson.loads(result.stdout or b"[]")
    complexity = [int(m.group(1)) for f in findings if f["code"] == "C901"
                  and (m := _COMPLEXITY.search(f["message"]))]
    return {"lint_issues": sum(f["code"] != "C901" for f in findings),
            "complexity_max": max(complexity, default=0)}


def _text_files(root: Path) -> dict[str, list[str]]:
    if not root.is_dir():
        return {}
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and not any(s in p.parts for s in SKIP):
            try:
                out[p.relative_to(root).as_posix()] = p.read_text().splitlines()
            except (UnicodeDecodeError, OSError):
                continue
    return out


def diff_lines(seed: Path, workspace: Path) -> int:
    """Lines added plus lines removed, over every text file, from ``seed`` to ``workspace``."""
    before, after = _text_files(seed), _text_files(workspace)
    total = 0
    for name in sorted(set(before) | set(after)):
        for line in difflib.unified_diff(before.get(name, []), after.get(name, []), n=0,
                                         lineterm=""):
            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                total += 1
    return total
