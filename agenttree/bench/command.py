"""Running ``agenttree bench SUITE …`` and ``agenttree bench compare RUN…`` (docs/bench.md); the
command's arguments are in :mod:`.cli`."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import attrs
import trio
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..console import make_console
from ..errors import UserError
from ..models.check import check_model
from ..plan import Settings, load_settings
from . import compare
from .runner import (
    Options,
    Recorded,
    Runner,
    RunStopped,
    new_report_dir,
    read_recorded,
    resume_options,
    run_interruptible,
)
from .stages import check_backend, sealing
from .suites import EdnCache, Suite, find_suite, load_suite

SUITE_CACHE = "suite-cache.json"
"""The report's :class:`EdnCache` of parsed suite files."""


def cmd_bench(args: argparse.Namespace) -> int:
    """Dispatch ``bench compare`` or a suite run."""
    console = make_console()
    if args.suite == "compare":
        return _compare(args, console)
    if args.runs:
        raise UserError(f"unexpected arguments after the suite: {' '.join(args.runs)}")
    for name in ("concurrency", "epochs", "max_sandboxes", "max_procs", "max_connections",
                 "retry_errors", "max_tool_calls"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UserError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.max_infra_errors is not None and args.max_infra_errors < 0:
        raise UserError(f"--max-infra-errors must be 0 or more, got {args.max_infra_errors}")
    cache = EdnCache.load(Path(args.resume) / SUITE_CACHE) if args.resume else EdnCache()
    suite = load_suite(find_suite(args.suite), cache)
    report, recorded, opts = _new_or_resumed(args, suite)
    check_models(suite, opts.models, opts.settings)
    if suite.kind == "coding":
        check_backend(args.backend)
        sealed = sealing(args.backend, opts.models, unsealed=args.unsealed)
        opts = attrs.evolve(opts, sealed=sealed and (recorded is None or recorded.sealed))
    runner = Runner(suite, opts, report, recorded=recorded)
    report.mkdir(parents=True, exist_ok=True)
    cache.save(report / SUITE_CACHE)
    try:
        summary = _run_with_progress(runner, console, args.quiet)
    except RunStopped as stop:
        resume = shlex.join(["agenttree", "bench", args.suite, "--resume", str(report),
                             *_place_flags(args)])
        print(f"agenttree: {stop.reason}: {runner.done} of {len(runner.work)} case runs "
              f"done.\nResume with:\n  {resume}", file=sys.stderr)
        return 130 if stop.interrupted else 1
    console.print(compare.table([str(report)]))
    totals = summary["totals"]
    console.print(f"report: {report}  ({totals['passed']} passed, {totals['failed']} failed, "
                  f"{totals['infra_errors']} infra errors, {totals['skipped']} skipped)"
                  + ("" if summary["sealed"] else "  UNSEALED: the agents could reach the "
                     "hidden tests"), markup=False)
    return 0


def _new_or_resumed(args: argparse.Namespace,
                    suite: Suite) -> tuple[Path, Recorded | None, Options]:
    """The report directory, what it recorded (when resuming) and the options to run with."""
    if args.resume:
        report = Path(args.resume)
        recorded = read_recorded(report)
        if recorded.start.get("suite") != suite.name:
            raise UserError(f"{report} is a run of suite {recorded.start.get('suite')!r}, "
                            f"not {suite.name!r}")
        opts = resume_options(recorded, {"models": args.models, "seed": args.seed,
                                         "epochs": args.epochs, "cases": args.cases,
                                         "settings": args.settings,
                                         "max_tool_calls": args.max_tool_calls})
    else:
        report, recorded = new_report_dir(Path(args.reports), suite), None
        opts = Options(models=tuple(args.models or ["scripted:reference"]),
                       cases=args.cases or "*", epochs=args.epochs or 1, seed=args.seed or 0,
                       settings_file=args.settings, max_tool_calls=args.max_tool_calls)
    settings = load_settings(opts.settings_file) if opts.settings_file else Settings()
    return report, recorded, attrs.evolve(
        opts, concurrency=args.concurrency or opts.concurrency, sandboxes=args.max_sandboxes,
        subprocesses=args.max_procs, connections=args.max_connections, backend=args.backend,
        retry_errors=args.retry_errors or 0, max_infra_errors=args.max_infra_errors,
        settings=settings)


def _place_flags(args: argparse.Namespace) -> list[str]:
    """The flags a resume must repeat: where the agents run, and whether unsealed (neither is
    recorded as a choice: a resume decides them again)."""
    return ((["--backend", args.backend] if args.backend != "local" else [])
            + (["--unsealed"] if args.unsealed else []))


def check_models(suite: Suite, models: tuple[str, ...], settings: Settings | None = None) -> None:
    """Refuse, before anything runs, models the suite cannot play or that cannot work (a key
    variable named in ``settings`` is needed too)."""
    for model in models:
        suite.check_model(model)
        check_model(model, settings)


def _run_with_progress(runner: Runner, console: Console, quiet: bool) -> dict[str, Any]:
    counts: Counter[str] = Counter()
    lines = not quiet and not console.is_terminal
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console,
                  disable=quiet or not console.is_terminal) as progress:
        task = progress.add_task(_counts(counts), total=len(runner.work),
                                 completed=runner.done)

        def update(key: str, status: str, done: int, total: int) -> None:
            counts[status] += 1
            progress.update(task, completed=done, description=_counts(counts))
            if lines:  # not a terminal: a plain line per finished case run
                console.print(f"{done}/{total} {status} {key}", markup=False, highlight=False)
                console.file.flush()

        runner.progress = update
        return trio.run(run_interruptible, runner)


def _counts(counts: Counter[str]) -> str:
    return (f"[green]pass {counts['pass']}[/] [red]fail {counts['fail']}[/] "
            f"[yellow]infra {counts['infra-error']}[/] skipped {counts['skipped']}")


def _compare(args: argparse.Namespace, console: Console) -> int:
    if not args.runs:
        raise UserError("bench compare needs at least one report directory")
    prices = load_settings(args.settings).prices if args.settings else None
    console.print(compare.table(args.runs, prices))
    if args.markdown:
        Path(args.markdown).write_text(compare.markdown(args.runs, prices))
        console.print(f"wrote {args.markdown}")
    return 0
