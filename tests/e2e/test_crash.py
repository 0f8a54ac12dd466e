"""Crash safety: SIGKILL a real engine at 50 points, resume each time, compare with a clean run.

The plan (tests/e2e/crash_plan.py) has 37 agents whose ``sh`` tool calls and acceptance
commands append their task's name to files in the workspace, so repeats can be counted. The
kill points are seeded: half by event count (the log is watched), half at random times once the
engine is writing. One run directory takes kill after kill (and, now and then, a torn last line)
until it finishes; then the next one starts, until 50 kills have landed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from agenttree.log import LogReader
from agenttree.state import fold

from .crash_plan import EXPECTED, crash_plan

KILLS = 50
SEED = 20261206
EXIT_SHORTFALL = 1
"""How every run and resume of the crash plan ends: g1-l4 fails and g2-l4 runs out of budget
by design, so not every task ends done (docs/cli.md, exit status)."""
POLL_S = 0.002
"""How often the watcher looks at the log (the kill condition is the log's content)."""


def launch(*args: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "agenttree", *args, "--quiet"], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class LineCounter:
    """Counts a growing file's complete lines, reading only what was appended."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self.lines = path, 0, 0

    def __call__(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return 0
        self.offset += len(chunk)
        self.lines += chunk.count(b"\n")
        return self.lines


def kill_at(proc: subprocess.Popen[bytes], log: Path, rng: random.Random, by_events: bool) -> bool:
    """SIGKILL ``proc`` at a seeded point; ``False`` if it ended on its own first."""
    lines = LineCounter(log)
    start = lines()
    target = start + (rng.randint(2, 160) if by_events else 1)
    while lines() < target:  # by events; or (by time) until the engine is up and writing
        if proc.poll() is not None:
            return False
        time.sleep(POLL_S)
    if not by_events:
        time.sleep(rng.uniform(0.0, 0.3))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return True


def tear_last_line(log: Path) -> None:
    """Cut the last record in half, as a crash in the middle of a write would."""
    data = log.read_bytes()
    start = data.rfind(b"\n", 0, len(data) - 1) + 1
    if start > 0:
        log.write_bytes(data[: start + (len(data) - start) // 2])


def effects(workspace: Path) -> Counter[str]:
    """How many times each task's tool call and acceptance command ran."""
    counts: Counter[str] = Counter()
    for name in ("tools.log", "effects.log"):
        path = workspace / name
        if path.exists():
            counts.update(f"{name}:{line}" for line in path.read_text().split())
    return counts


def check_log(log: Path) -> tuple[dict[str, str], bool]:
    """The log parses (dropping at most its torn last line) with a gapless seq; returns the
    task statuses and whether the run has finished."""
    reader = LogReader(log)
    entries = list(reader)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    state = fold(entries)
    return {t.id: t.status for t in state.tasks.values()}, state.status != "running"


def test_sigkill_at_50_points_then_resume_ends_like_a_clean_run(tmp_path: Path) -> None:
    (tmp_path / "crash.edn").write_text(crash_plan())
    clean = subprocess.run([sys.executable, "-m", "agenttree", "run", "crash.edn", "--run-dir",
                            "clean", "--quiet"], cwd=tmp_path, capture_output=True, timeout=120)
    assert clean.returncode == EXIT_SHORTFALL, clean.stderr
    clean_statuses, _ = check_log(tmp_path / "clean" / "events.jsonl")
    assert clean_statuses == EXPECTED

    rng = random.Random(SEED)
    kills, runs = 0, 0
    run_dirs: list[Path] = []
    seen_done: dict[Path, dict[str, int]] = {}  # run dir -> task -> side effects when done
    finished = True
    done_at_kills = 0  # tasks found done right after a kill, summed over the kills
    run_dir = tmp_path
    while kills < KILLS:
        if finished:
            runs += 1
            run_dir = tmp_path / f"run{runs}"
            run_dirs.append(run_dir)
            seen_done[run_dir] = {}
            proc = launch("run", "crash.edn", "--run-dir", run_dir.name, cwd=tmp_path)
        else:
            proc = launch("resume", run_dir.name, cwd=tmp_path)
        log = run_dir / "events.jsonl"
        killed = kill_at(proc, log, rng, by_events=kills % 2 == 0)
        if killed:
            kills += 1
            if kills % 6 == 0:
                tear_last_line(log)
        else:
            _, err = proc.communicate()
            assert proc.returncode == EXIT_SHORTFALL, err.decode()
        statuses, finished = check_log(log)
        done_at_kills += killed * sum(status == "done" for status in statuses.values())
        counts = effects(run_dir / "workspace")
        for task, status in statuses.items():
            if status == "done":
                seen_done[run_dir].setdefault(task, counts[f"effects.log:{task}"]
                                              + counts[f"tools.log:{task}"])

    for run_dir in run_dirs:  # resume what is left to the end
        while not check_log(run_dir / "events.jsonl")[1]:
            done = subprocess.run([sys.executable, "-m", "agenttree", "resume", run_dir.name,
                                   "--quiet"], cwd=tmp_path, capture_output=True, timeout=120)
            assert done.returncode == EXIT_SHORTFALL, done.stderr.decode()
        reader = LogReader(run_dir / "events.jsonl")
        list(reader)
        assert reader.torn is None
        statuses, _ = check_log(run_dir / "events.jsonl")
        assert statuses == clean_statuses, run_dir
        counts = effects(run_dir / "workspace")
        repeated = {task: (before, counts[f"effects.log:{task}"] + counts[f"tools.log:{task}"])
                    for task, before in seen_done[run_dir].items()
                    if counts[f"effects.log:{task}"] + counts[f"tools.log:{task}"] != before}
        assert repeated == {}, f"{run_dir.name}: tasks done before a kill ran again: {repeated}"
    assert done_at_kills >= KILLS, "too few tasks were done at the kills to test anything"
