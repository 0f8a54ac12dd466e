"""The engine as a child process of the TUI (``agenttree tui PLAN``).

The TUI never shares memory with the engine: it starts ``agenttree run PLAN --run-dir D --quiet``
in its own session (so Ctrl-C or a closed terminal reaches the TUI only), reads the log the engine
writes, and steers it through ``control.jsonl`` like any other process would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from agenttree.control import Cancel, append_command

STOP_WAIT_S = 10.0
"""How long a stopped run gets to cancel its tree cleanly before it is terminated."""


class EngineProcess:
    """A running ``agenttree run`` child; its output goes to ``RUN_DIR/engine.log``."""

    def __init__(self, plan: Path, run_dir: Path, model: str | None = None) -> None:
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "agenttree", "run", str(plan), "--run-dir", str(run_dir),
                "--quiet"]
        if model:
            argv += ["--model", model]
        with open(run_dir / "engine.log", "ab") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        """The engine's process id."""
        return self.proc.pid

    def running(self) -> bool:
        """Whether the engine has not exited yet."""
        return self.proc.poll() is None

    def stop(self, root: str | None, wait_s: float = STOP_WAIT_S) -> int:
        """Cancel the whole tree through the control file (``root`` is the root agent's id,
        the plan's root task id), wait for the engine to finish cleanly (every agent's end
        logged), and terminate its process group if it does not. With no root agent yet
        (``None``) there is nothing to cancel: it is terminated at once.

        Blocks up to ``wait_s`` plus a few seconds. Returns the engine's exit status.
        """
        if self.running() and root is not None:
            append_command(self.run_dir, Cancel(agent=root))
            try:
                return self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                pass
        for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, None)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                return self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                continue
        return self.proc.wait()
