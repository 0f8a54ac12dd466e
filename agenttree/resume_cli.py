"""``agenttree resume RUN_DIR``: the command around :mod:`agenttree.runtime.resume`."""

from __future__ import annotations

import argparse
import gc
import sys
from typing import Any

from .durability import DURABILITY


def register(sub: Any) -> None:
    """Add ``agenttree resume`` to the CLI's subcommands."""
    resume = sub.add_parser("resume", help="take over a run whose engine died, from its log")
    resume.add_argument("run_dir", help="the run directory")
    resume.add_argument("--durability", choices=DURABILITY, default=None,
                        help="when events are fsynced (default: as the run was started)")
    resume.add_argument("--quiet", action="store_true", help="print only the summary")
    resume.set_defaults(func=cmd_resume)


def cmd_resume(args: argparse.Namespace) -> int:
    """``agenttree resume RUN_DIR``: exit 0 when the run ends (or had ended) with every task
    done or cancelled on purpose (:mod:`agenttree.verdict`), 1 otherwise."""
    import trio  # the engine and what runs it are imported only when the command runs

    from .console import make_console, print_summary
    from .models.check import check_models
    from .run_view import run_with_view, unsandboxed_warning
    from .rundir import require_run_dir
    from .runtime.engine import tune_gc
    from .runtime.resume import finish_only, kill_leftovers, plan_of, read_run, resumed_engine
    from .runtime.runlock import engine_lock
    from .state import FINISHED
    from .verdict import succeeded

    run_dir = require_run_dir(args.run_dir)
    console = make_console()
    with engine_lock(run_dir):
        found, reader = read_run(run_dir / "events.jsonl")
        # The folded log lives as long as the run and holds no cycles: out of the collector's
        # sight at once, or tune_gc's full collection below scans all of it (0.3-0.5 s for
        # 100,000 events).
        gc.freeze()
        state = found.state
        if state.status in FINISHED:
            print(f"{run_dir}: the run already finished ({state.status}); nothing to resume")
            print_summary(console, state, str(run_dir))
            return 0 if succeeded(state) else 1
        torn = reader.cut_torn_tail()
        if torn is not None:
            print(f"agenttree: warning: {torn}", file=sys.stderr)
        killed = trio.run(kill_leftovers, state.processes)
        durability = args.durability or found.durability
        root = state.agents.get(state.root or "")
        if root is not None and root.finished:
            trio.run(finish_only, run_dir, found, root.status, durability)
        else:
            plan = plan_of(run_dir, state)
            check_models(plan, state.model_override)
            engine = resumed_engine(run_dir, plan, found, killed, durability)
            if (warning := unsandboxed_warning(engine)) is not None:
                print(f"agenttree: {warning}", file=sys.stderr)
            tune_gc()
            trio.run(run_with_view, engine, console, args.quiet)
            if engine.interrupted:
                print_summary(console, engine.state, str(run_dir))
                return 130
    print_summary(console, state, str(run_dir))
    return 0 if succeeded(state) else 1
