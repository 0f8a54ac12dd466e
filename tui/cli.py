"""``agenttree tui``: registered with the ``agenttree`` command as a plugin (entry point group
``agenttree.commands``), so the engine never imports the UI. Textual is imported only when the
command runs: ``agenttree --help`` and every other command stay as fast as without a UI.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from agenttree.errors import UserError
from agenttree.rundir import require_run_dir


def register(sub: Any) -> None:
    """Add the ``tui`` subcommand to the ``agenttree`` parser's subparsers."""
    tui = sub.add_parser(
        "tui", help="the terminal UI: run a plan, or watch and steer a run directory",
        description="Run PLAN (an .edn file) in a child engine process and watch it, or attach "
                    "to RUN_DIR (a run going on elsewhere, or a finished one to look through).")
    tui.add_argument("target", nargs="?", help="a plan (.edn) to run, or a run directory")
    tui.add_argument("--run-dir", help="run directory for a new run (default runs/<plan>-<time>)")
    tui.add_argument("--model", help="use this model for every agent of a new run (e.g. scripted)")
    tui.add_argument("--readonly", action="store_true",
                     help="watch only: no cancel, grant, reassign, message or reconcile")
    tui.add_argument("--keys", metavar="FILE",
                     help="key map (TOML: binding-id = \"key\"); default "
                          "~/.config/agenttree/keys.toml if it exists")
    tui.add_argument("--list-keys", action="store_true",
                     help="print every binding id with its default key, and exit")
    tui.add_argument("--theme", help="a Textual theme name (default: the terminal's own ANSI "
                                     "colours, ansi-dark or ansi-light)")
    tui.set_defaults(func=cmd_tui)


def default_theme() -> str:
    """``ansi-light`` when the terminal says its background is light (``COLORFGBG``), else
    ``ansi-dark``; both draw with the terminal's own palette."""
    background = os.environ.get("COLORFGBG", "").rsplit(";", 1)[-1]
    return "ansi-light" if background in ("7", "15") else "ansi-dark"


def cmd_tui(args: argparse.Namespace) -> int:
    """``agenttree tui PLAN|RUN_DIR``."""
    from .keymap import load_keymap
    from .keys import binding_ids, key_table

    if args.list_keys:
        print(key_table())
        return 0
    if not args.target:
        raise UserError("tui: give a plan (.edn) to run or a run directory to attach to")
    keymap = load_keymap(Path(args.keys) if args.keys else None, binding_ids())
    target = Path(args.target)
    engine = None
    if target.is_dir():
        if args.run_dir or args.model:
            raise UserError("tui: --run-dir and --model are for starting a plan, not a run "
                            "directory")
        run_dir = require_run_dir(target)
    elif target.is_file():
        if args.readonly:
            raise UserError("tui: --readonly watches an existing run; give its run directory")
        run_dir, engine = _start(target, args)
    else:
        raise UserError(f"{target}: no such plan or run directory")

    from .app import AgentTreeApp

    app = AgentTreeApp(run_dir, engine=engine, readonly=args.readonly, keymap=keymap,
                       theme=args.theme or default_theme(), tune_gc=True)
    result = None
    try:
        result = app.run()
    finally:
        _after(result, run_dir, engine, app.timeline.live.root)
    return 0


def _start(plan_path: Path, args: argparse.Namespace) -> tuple[Path, Any]:
    from agenttree.models.check import check_models
    from agenttree.plan import load_plan
    from agenttree.rundir import fresh_run_dir

    from .engine_proc import EngineProcess

    plan = load_plan(plan_path)
    check_models(plan, args.model)
    run_dir = fresh_run_dir(plan, args.run_dir)
    return run_dir, EngineProcess(plan_path, run_dir, model=args.model)


def _after(result: str | None, run_dir: Path, engine: Any, root: str | None) -> None:
    """Carry out the choice made when closing: stop the run (cancel ``root``, the root
    agent's id as the log names it), or leave it headless."""
    if result == "stop":
        print(f"stopping the run in {run_dir} …", file=sys.stderr)
        if engine is not None:
            engine.stop(root)
            from agenttree.log import LogReader
            from agenttree.state import fold

            status = fold(LogReader(run_dir / "events.jsonl")).status
            print(f"the run ended {status}; see it again with: agenttree tui {run_dir}",
                  file=sys.stderr)
        elif root is None:
            print("the run has no agent yet: nothing to cancel", file=sys.stderr)
        else:
            from agenttree.control import Cancel, append_command

            append_command(run_dir, Cancel(agent=root))
            print("asked the engine to cancel the whole tree", file=sys.stderr)
    elif engine is not None and engine.running():
        print(f"the run goes on headless (engine pid {engine.pid}); watch it again with:\n"
              f"  agenttree tui {run_dir}", file=sys.stderr)
