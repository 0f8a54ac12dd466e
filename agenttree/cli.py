"""The ``agenttree`` command.

Exit status (see docs/cli.md): 0 success -- for ``run`` and ``resume``: every task ended done or
was cancelled or removed on purpose (:mod:`agenttree.verdict`); 1 a task did not end done; 2 bad
input (one clear line, no traceback); 130 interrupted with Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, control_cli, resume_cli
from .bench import cli as bench_cli
from .durability import DURABILITY
from .errors import LogCorrupt, UserError, describe_os_error, only_error
from .export import cli as export_cli
from .redact import redact
from .sandbox import cli as sandbox_cli
from .web import cli as web_cli

if TYPE_CHECKING:
    from rich.console import Console

    from .runtime.replay import RegressionReplay

# Building the parser imports only the commands' parsers: each command imports what it uses
# when it runs, so `--version`, `--help` and the control commands never load the engine
# (tests/test_startup.py checks which modules each command imports).

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def _parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; when ``command`` (the first argument) is a built-in one,
    without the plugins' (it needs none of them, nor the scan that finds them)."""
    parser = argparse.ArgumentParser(
        prog="agenttree", description="Run trees of LLM agents on Trio.")
    parser.add_argument("--version", action="version", version=f"agenttree {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a plan headless")
    run.add_argument("plan", help="the plan (EDN file)")
    run.add_argument("--run-dir", help="run directory (default runs/<plan>-<UTC time>)")
    run.add_argument("--model", help="use this model for every agent (e.g. scripted)")
    run.add_argument("--seed", type=int, default=0, help="seed for any randomness (default 0)")
    run.add_argument("--durability", choices=DURABILITY, default="batch",
                     help="when events are fsynced (default batch: within 50 ms)")
    run.add_argument("--quiet", action="store_true", help="print only the summary")
    run.add_argument("--replay-from", metavar="RUN_DIR", help="regression replay: feed this "
                     "recorded run's model responses, stop at the first divergence")
    run.set_defaults(func=cmd_run)

    replay = sub.add_parser("replay", help="print a run's state from its event log")
    replay.add_argument("run_dir", help="a run directory (or its events.jsonl)")
    replay.add_argument("--until", type=int, metavar="SEQ", help="state as of this event")
    replay.add_argument("--json", action="store_true", help="print the state as JSON")
    replay.add_argument("--agent", action="append", metavar="ID",
                        help="also print this agent's conversation (repeatable)")
    replay.add_argument("--conversations", action="store_true",
                        help="also print every agent's conversation")
    replay.set_defaults(func=cmd_replay)

    locks = sub.add_parser("locks", help="print a run's lock table and conflicts")
    locks.add_argument("run_dir")
    locks.add_argument("--until", type=int, metavar="SEQ", help="as of this event")
    locks.set_defaults(func=cmd_locks)

    control_cli.register(sub)
    resume_cli.register(sub)

    plan = sub.add_parser("plan", help="plan tools")
    plan_sub = plan.add_subparsers(dest="plan_command", required=True, metavar="ACTION")
    check = plan_sub.add_parser("check", help="validate a plan and say what it would run")
    check.add_argument("plan")
    check.set_defaults(func=cmd_plan_check)
    control_cli.register_plan(plan_sub)
    web_cli.register(sub)
    export_cli.register(sub)
    bench_cli.register(sub)
    sandbox_cli.register(sub)
    if command not in sub.choices:
        _register_plugins(sub)
    return parser


def _register_plugins(sub: Any) -> None:
    from importlib.metadata import entry_points

    for plugin in entry_points(group="agenttree.commands"):  # `tui` (see pyproject.toml)
        try:
            register = plugin.load()
        except ImportError as exc:  # the engine works without its plugins
            print(f"agenttree: warning: no {plugin.name!r} command: {exc}", file=sys.stderr)
            continue
        register(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``agenttree`` console script."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser(argv[0] if argv else None).parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except BaseException as exc:  # one error from inside trio.run's nurseries is still one
        error = only_error(exc)
        if isinstance(error, UserError | LogCorrupt):
            print(redact(f"agenttree: error: {error}"), file=sys.stderr)
            return EXIT_USAGE
        if isinstance(error, OSError):  # a read-only run directory, a full disk...
            print(redact(f"agenttree: error: {describe_os_error(error)}"), file=sys.stderr)
            return EXIT_USAGE
        if isinstance(error, KeyboardInterrupt):
            return EXIT_INTERRUPTED
        raise


def cmd_run(args: argparse.Namespace) -> int:
    """``agenttree run PLAN``."""
    import trio

    from .console import make_console, print_summary
    from .models.check import check_models
    from .plan import load_plan
    from .run_view import run_with_view, unsandboxed_warning
    from .rundir import fresh_run_dir
    from .runtime.engine import Engine, tune_gc
    from .runtime.replay import RegressionReplay
    from .verdict import succeeded

    plan = load_plan(args.plan)
    if not args.replay_from:  # a regression replay calls no model: no key needed
        check_models(plan, args.model)
    run_dir = fresh_run_dir(plan, args.run_dir)
    engine = Engine(plan, run_dir, seed=args.seed, durability=args.durability,
                    model_override=args.model, handle_signals=True)
    if args.replay_from:
        engine.replayer = RegressionReplay(args.replay_from)
    elif (warning := unsandboxed_warning(engine)) is not None:
        print(f"agenttree: {warning}", file=sys.stderr)
    console = make_console()
    tune_gc()
    trio.run(run_with_view, engine, console, args.quiet)
    print_summary(console, engine.state, str(run_dir))
    if engine.interrupted:
        return EXIT_INTERRUPTED
    if args.replay_from:
        return print_replay_verdict(console, engine.replayer)
    return EXIT_OK if succeeded(engine.state) else EXIT_FAILED


def print_replay_verdict(console: Console, replay: RegressionReplay) -> int:
    """Print how a regression replay went; the exit status: 0 when the run matched the
    recording, 1 at a divergence."""
    divergence = replay.verdict()
    if divergence is None:
        console.print(f"replay matched {replay.source}: {replay.checked} events checked",
                      soft_wrap=True)
        return EXIT_OK
    console.print(f"[bold red]replay diverged from {replay.source}[/]: {divergence}",
                  soft_wrap=True)
    return EXIT_FAILED


def cmd_replay(args: argparse.Namespace) -> int:
    """``agenttree replay RUN_DIR``: fold the log and print the state."""
    import orjson

    from .console import make_console
    from .log import LogReader
    from .replay_view import print_replay
    from .rundir import log_of
    from .state import fold, state_to_json

    reader = LogReader(log_of(args.run_dir))
    state = fold(reader, until=args.until)
    if reader.torn is not None:
        print(f"agenttree: warning: {reader.torn}", file=sys.stderr)
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(state_to_json(state), option=orjson.OPT_INDENT_2))
        sys.stdout.write("\n")
        return EXIT_OK
    console = make_console()
    print_replay(console, state, str(Path(args.run_dir)), agents=args.agent,
                 conversations=args.conversations)
    return EXIT_OK


def cmd_locks(args: argparse.Namespace) -> int:
    """``agenttree locks RUN_DIR``: the lock table (holders, waiters) and conflict threads."""
    from .console import conflict_table, lock_table, make_console
    from .log import LogReader
    from .rundir import log_of
    from .state import fold

    state = fold(LogReader(log_of(args.run_dir)), until=args.until)
    console = make_console()
    console.print(lock_table(state))
    if state.conflicts:
        console.print(conflict_table(state))
    return EXIT_OK


def cmd_plan_check(args: argparse.Namespace) -> int:
    """``agenttree plan check PLAN``: validation only (its ``:python`` tools are imported)."""
    from .plan import load_plan
    from .tools.custom import custom_tools

    plan = load_plan(args.plan)
    custom_tools(plan)
    tasks = list(plan.walk())
    depth = max(d for _, _, d in tasks)
    print(f"{args.plan}: ok — plan {plan.name!r}, {len(tasks)} tasks, depth {depth}")
    return EXIT_OK
