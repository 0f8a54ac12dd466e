"""`make bench-peers`: W1 on raw Trio, agenttree, LangGraph and AutoGen, in one run.

W1: a root starts N workers; each awaits a 10 ms fake model call, messages the root and ends.
raw Trio and agenttree run in this project's environment through ``bench/fanout.py`` (the
``make bench`` fan-out: agenttree logs and folds every event, with the tuned GC that
``agenttree run`` uses); LangGraph and AutoGen run their own idiomatic code
(``langgraph_w1.py``, ``autogen_w1.py``) in their own venv (``--peers-python``), and log nothing.
Every trial is a fresh process; each round runs every framework at every size, in an order
rotated from round to round; a framework that fails or times out at a size is skipped there
afterwards (and listed). Ratios are per round (same minute) against raw Trio, then the median.

Writes ``results.jsonl`` (one line a trial) and ``results.md`` to ``--out`` (default
``bench/peers/out/``, ignored by git). Usage:
``python -m bench.peers.run --peers-python .venv-peers/bin/python [--rounds 5] [--sizes 100,1000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
IMPLS = ("raw Trio", "agenttree", "LangGraph", "AutoGen")
TIMEOUT_S = 150
"""A trial's hard bound (the peer scripts give up on their own at 120 s)."""


def command(impl: str, n: int, peers_python: str) -> tuple[list[str], Path]:
    """The process (argv, working directory) of one trial."""
    if impl == "raw Trio":
        return [sys.executable, "-m", "bench.fanout", "raw", str(n), "default"], ROOT
    if impl == "agenttree":
        return [sys.executable, "-m", "bench.fanout", "engine", str(n), "tuned"], ROOT
    script = {"LangGraph": "langgraph_w1.py", "AutoGen": "autogen_w1.py"}[impl]
    return [peers_python, script, str(n)], HERE


def trial(impl: str, n: int, peers_python: str) -> dict[str, Any]:
    """Run one trial: ``{"wall_s", "added_mb"}``, or ``{"error"}``."""
    argv, cwd = command(impl, n, peers_python)
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {TIMEOUT_S} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {done.returncode}: {last}"}
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if "rss_kb" in out:  # bench/fanout.py reports the peak RSS added in KB
        out["added_mb"] = out.pop("rss_kb") / 1024
    return {"wall_s": out["wall_s"], "added_mb": out["added_mb"]}


def run(rounds: int, sizes: list[int], peers_python: str, out: Path) -> list[dict[str, Any]]:
    """Every trial of every round; each line is also appended to ``out/results.jsonl``."""
    records: list[dict[str, Any]] = []
    failed: set[tuple[str, int]] = set()
    with open(out / "results.jsonl", "w") as log:
        for r in range(1, rounds + 1):
            for n in sizes:
                order = IMPLS[r % len(IMPLS):] + IMPLS[:r % len(IMPLS)]
                for impl in order:
                    if (impl, n) in failed:
                        continue
                    record = {"round": r, "impl": impl, "n": n,
                              **trial(impl, n, peers_python)}
                    if "error" in record:
                        failed.add((impl, n))
                    records.append(record)
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    shown = record.get("error") or f"{record['wall_s'] * 1000:,.1f} ms"
                    print(f"round {r} N={n:,} {impl}: {shown}", flush=True)
    return records


def _peer_versions(peers_python: str) -> str:
    code = ("from importlib.metadata import version as v; "
            "print(f\"langgraph {v('langgraph')}, autogen-core {v('autogen-core')}\")")
    done = subprocess.run([peers_python, "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or "versions unknown"


def summary(records: list[dict[str, Any]], peers_python: str) -> str:
    """``results.md``: per size, each framework's median time (min-max), its median per-round
    ratio to raw Trio, and the memory it added."""
    ok = [r for r in records if "error" not in r]
    by: dict[tuple[int, str], dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in ok:
        by[(r["n"], r["impl"])][r["round"]] = r
    rounds = max((r["round"] for r in records), default=0)
    lines = ["# W1: agenttree beside LangGraph and AutoGen", "",
             f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, "
             f"Python {platform.python_version()}, trio {version('trio')}, "
             f"{_peer_versions(peers_python)}; {rounds} rounds, each trial a fresh process. "
             "Command: `make bench-peers` (`python -m bench.peers.run`).", "",
             "Time: median (min-max) over rounds. Ratio: the median of per-round ratios to raw "
             "Trio (> 1 is slower). Added memory: peak RSS added by the workload, median.", "",
             "| W1 | framework | time (ms) | ratio to raw Trio | added memory (MB) | runs |",
             "|---|---|---:|---:|---:|---:|"]
    for n in sorted({r["n"] for r in ok}):
        base = by.get((n, "raw Trio"), {})
        for impl in IMPLS:
            runs = by.get((n, impl))
            if not runs:
                continue
            ms = [runs[k]["wall_s"] * 1000 for k in sorted(runs)]
            ratios = [runs[k]["wall_s"] / base[k]["wall_s"] for k in runs if k in base]
            ratio = "-" if impl == "raw Trio" or not ratios else f"{statistics.median(ratios):.2f}x"
            added = statistics.median(r["added_mb"] for r in runs.values())
            lines.append(f"| N={n:,} | {impl} | {statistics.median(ms):,.1f} "
                         f"({min(ms):,.1f}-{max(ms):,.1f}) | {ratio} | {added:,.1f} "
                         f"| {len(ms)} |")
    errors = [r for r in records if "error" in r]
    lines += ["", "## Failures and timeouts (that framework is skipped at that size afterwards)",
              ""]
    lines += [f"- round {r['round']}, N={r['n']:,}, {r['impl']}: {r['error']}"
              for r in errors] or ["- none"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers-python", required=True, metavar="PATH",
                        help="the interpreter of a venv with bench/peers/requirements.txt")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--sizes", default="100,1000,10000", metavar="N,N,...",
                        help="numbers of workers (default 100,1000,10000)")
    parser.add_argument("--out", type=Path, default=HERE / "out",
                        help="where results.jsonl and results.md go (default bench/peers/out)")
    args = parser.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes {args.sizes!r}: give whole numbers separated by commas")
    if args.rounds < 1 or any(n < 1 for n in sizes):
        parser.error("--rounds and every size must be at least 1")
    if not Path(args.peers_python).is_file():
        parser.error(f"--peers-python {args.peers_python}: no such interpreter")
    peers_python = os.path.abspath(args.peers_python)  # not resolved: a venv's is a symlink
    args.out.mkdir(parents=True, exist_ok=True)
    records = run(args.rounds, sizes, peers_python, args.out)
    (args.out / "results.md").write_text(summary(records, peers_python))
    print(f"wrote {args.out / 'results.md'}")


if __name__ == "__main__":
    main()
