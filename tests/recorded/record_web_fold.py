"""Records ``tests/recorded/web-fold/events.jsonl``: a real run with a re-opened parent and a
resume that re-requests a tool call (what the web page's rows are checked against).

    .venv/bin/python tests/recorded/record_web_fold.py /tmp/rec-web-fold
    cp /tmp/rec-web-fold/events.jsonl tests/recorded/web-fold/events.jsonl

The run: ``root.a`` ends with its child ``a1`` done; a reconcile adds ``a2`` under it, which
re-opens ``root.a`` (attempt 2, ``a1`` skipped as done). While ``root.slow`` is in its ``sh``
call, the engine is SIGKILLed; ``agenttree resume`` then requests that call again (same call
id) and the run ends ``done``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from agenttree import events as ev
from agenttree.log import LogReader

PLAN = """
{:run/name "web-fold"
 :tiers [{:depth 0 :models ["scripted"] :tools :all :budget {:tool-calls 100 :tokens 100000}}]
 :task {:task/id "root" :goal "wait for the children" :script [{:say "waiting"}]
        :children [{:task/id "a" :goal "a, quickly"
                    :script [{:call :sh :args {:cmd "echo a"}} {:say "a done"}]
                    :children [{:task/id "a1" :goal "a1" :script [{:say "a1 done"}]}%s]}
                   {:task/id "slow" :goal "sleep"
                    :script [{:call :sh :args {:cmd "echo start"}}
                             {:call :sh :args {:cmd "sleep 8"}}
                             {:say "slept"}]}]}}
"""
A2 = ' {:task/id "a2" :goal "a2" :script [{:say "a2 done"}]}'


def agenttree(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "agenttree", *args])


def wait_for(log: Path, found) -> None:
    """Polls the log (by hand, on a real run) until ``found(entries)``."""
    for _ in range(600):
        if log.exists() and found(list(LogReader(log))):
            return
        time.sleep(0.1)
    raise SystemExit(f"gave up waiting on {log}")


def finished(agent: str, attempt: int):
    def check(entries) -> bool:
        attempts = 0
        for entry in entries:
            e = entry.event
            if isinstance(e, ev.AgentSpawned) and e.agent == agent:
                attempts = e.attempt
            if isinstance(e, ev.AgentFinished) and e.agent == agent and attempts == attempt:
                return True
        return False
    return check


def sleeping(entries) -> bool:
    return any(isinstance(e.event, ev.ToolRequested) and e.event.agent == "root.slow"
               and e.event.args.get("cmd") == "sleep 8" for e in entries)


def main(run_dir: Path) -> None:
    plan = run_dir.parent / f"{run_dir.name}.edn"
    plan.write_text(PLAN % "")
    log = run_dir / "events.jsonl"
    run = agenttree("run", str(plan), "--run-dir", str(run_dir), "--quiet")
    wait_for(log, finished("root.a", 1))
    plan.write_text(PLAN % A2)
    subprocess.run([sys.executable, "-m", "agenttree", "reconcile", str(run_dir), str(plan)],
                   check=True)
    wait_for(log, finished("root.a", 2))
    wait_for(log, sleeping)
    run.send_signal(signal.SIGKILL)
    run.wait()
    resume = agenttree("resume", str(run_dir), "--quiet")
    resume.wait(timeout=120)
    print(f"recorded {log}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
