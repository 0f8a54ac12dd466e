"""``agenttree bench SUITE …`` and ``agenttree bench compare RUN…``: the command's arguments
(docs/bench.md). The benchmark itself (:mod:`.command`) is imported when the command runs."""

from __future__ import annotations

import argparse
from typing import Any

from .names import BACKENDS, BUILTIN_SUITES


def register(sub: Any) -> None:
    """Add the ``bench`` command to the ``agenttree`` subparsers."""
    bench = sub.add_parser(
        "bench", help="run a benchmark suite (or: bench compare RUN...)",
        description="Run SUITE (a built-in suite: tool_calling or coding; or a suite "
                    "directory) against models, or 'agenttree bench compare RUN RUN...' to "
                    "compare finished runs.")
    bench.add_argument("suite", help="built-in suite name (" + ", ".join(BUILTIN_SUITES)
                       + ") or suite directory, or 'compare'")
    bench.add_argument("runs", nargs="*", help="with compare: report directories")
    bench.add_argument("--model", action="append", dest="models", metavar="SPEC",
                       help="model to run (repeatable; default scripted:reference)")
    bench.add_argument("--cases", metavar="GLOB",
                       help="only cases whose id matches (several globs: separate with commas)")
    bench.add_argument("--concurrency", type=int, default=None, metavar="N",
                       help="case runs at once (default 1)")
    bench.add_argument("--epochs", type=int, metavar="K", help="runs of each case (default 1)")
    bench.add_argument("--seed", type=int, metavar="S", help="case order and decoys (default 0)")
    bench.add_argument("--resume", metavar="RUN", help="continue the report directory RUN")
    bench.add_argument("--reports", default="reports", metavar="DIR",
                       help="where new reports go (default reports/)")
    bench.add_argument("--backend", default="local", metavar="|".join(BACKENDS),
                       help="where the coding suite's agents and programs run (default local "
                            "processes, sealed by bubblewrap)")
    bench.add_argument("--unsealed", action="store_true",
                       help="coding suite: run a real model even where nothing can seal the "
                            "hidden tests from it (the report is marked unsealed)")
    bench.add_argument("--max-sandboxes", type=int, metavar="N",
                       help="systems under test at once (default: --concurrency)")
    bench.add_argument("--max-procs", type=int, metavar="N",
                       help="helper subprocesses at once (default: --concurrency)")
    bench.add_argument("--max-connections", type=int, metavar="N",
                       help="model calls at once, per provider (default: --concurrency)")
    bench.add_argument("--retry-errors", type=int, nargs="?", const=1, metavar="N",
                       help="run a case run that ended in an infra error again, up to N times "
                            "(default 1); with --resume, the recorded ones too")
    bench.add_argument("--max-infra-errors", type=int, metavar="N",
                       help="stop the run when more than N case runs end in an infra error")
    bench.add_argument("--max-tool-calls", type=int, metavar="N",
                       help="tool calls each case run may make, in place of the suite's budget "
                            "(12 a tool-calling case, 80 a coding case)")
    bench.add_argument("--settings", metavar="FILE",
                       help="EDN map of :providers, :model-settings and :prices for every case "
                            "(with compare: :prices prices the runs' tokens)")
    bench.add_argument("--markdown", metavar="FILE", help="with compare: also write Markdown")
    bench.add_argument("--quiet", action="store_true", help="no progress bar")
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    """``agenttree bench``: :func:`agenttree.bench.command.cmd_bench`."""
    from . import command

    return command.cmd_bench(args)
