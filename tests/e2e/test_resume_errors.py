"""``agenttree resume`` on a run it cannot write (a read-only log, a full disk): one line, exit
status 2, no traceback, and nothing lost: with room again, the same run resumes to its end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agenttree.log import read_events
from agenttree.state import fold

from ..runtime.test_resume import TREE, cut, run_plan


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_plan(tmp_path_factory.mktemp("tree"), TREE)


def crashed(full: Path, where: Path) -> Path:
    entries = list(read_events(full / "events.jsonl"))
    return cut(full, len(entries) // 2, where / "run")


def resume(run_dir: Path, *, read_only: bool = False) -> subprocess.CompletedProcess[str]:
    """``agenttree resume RUN_DIR``; ``read_only``: as a user file modes stop (root gives up
    the capability to override them)."""
    argv = [sys.executable, "-m", "agenttree", "resume", str(run_dir), "--quiet"]
    if read_only and os.geteuid() == 0:
        argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def finishes(run_dir: Path) -> bool:
    done = resume(run_dir)
    assert done.returncode == 0, done.stderr
    return fold(read_events(run_dir / "events.jsonl")).status == "done"


@pytest.mark.parametrize("what", ["run directory", "log"])
def test_resume_of_a_read_only_run_is_one_line(full: Path, tmp_path: Path, what: str) -> None:
    run_dir = crashed(full, tmp_path)
    before = (run_dir / "events.jsonl").read_bytes()
    targets = [run_dir / "events.jsonl"] if what == "log" else [*run_dir.rglob("*"), run_dir]
    for path in targets:
        path.chmod(0o555 if path.is_dir() else 0o444)
    refused = resume(run_dir, read_only=True)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.startswith("agenttree: error: ") and refused.stderr.count("\n") == 1
    assert "Permission denied" in refused.stderr
    assert (run_dir / "events.jsonl").read_bytes() == before
    for path in targets:
        path.chmod(0o755 if path.is_dir() else 0o644)
    assert finishes(run_dir)


def test_resume_on_a_full_disk_is_one_line(full: Path, tmp_path: Path) -> None:
    """A file size limit (``ulimit -f``) stands in for the full disk: the write fails the same
    way, with an OSError from ``write``."""
    run_dir = crashed(full, tmp_path)
    blocks = (run_dir / "events.jsonl").stat().st_size // 1024 + 1
    limited = subprocess.run(
        ["bash", "-c", f'trap "" XFSZ; ulimit -f {blocks}; exec "$0" -m agenttree resume "$1"'
         " --quiet", sys.executable, str(run_dir)], capture_output=True, text=True, timeout=120)
    assert limited.returncode == 2, limited.stderr
    assert limited.stderr == f"agenttree: error: {run_dir}/events.jsonl: File too large\n"
    assert finishes(run_dir)  # the torn record the failed write left is cut; nothing is lost
