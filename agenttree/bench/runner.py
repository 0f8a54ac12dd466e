"""The bench runner: which case runs (case, model and epoch) there are, in what order, how many
at once, how infra errors are retried, when a run stops early, and how a stopped or killed run
resumes.

Each case run gets a fingerprint (suite version, case spec hash, model, seed, the tools offered
in order). A resumed run skips every case run that has a ``case/end`` (an infra error too,
unless ``retry_errors`` asks to run those again), reruns an interrupted one as a new attempt in a
new directory (the old attempt's files stay), and refuses, naming the case and what changed,
when a recorded fingerprint no longer matches the suite on disk.

A run stops early when it is interrupted (Ctrl-C, SIGTERM: :func:`run_interruptible`) or when
its infra errors pass ``max_infra_errors``: the case runs in flight are cancelled (they have no
``case/end``, so a resume runs them again), ``run/stopped`` says why, and :class:`RunStopped` is
raised.
"""

from __future__ import annotations

import fnmatch
import random
import re
import signal
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import orjson
import trio

from ..errors import UserError
from ..log import LineReader
from ..plan import Settings
from ..redact import redact
from .case import CaseRun, Limiters, Outcome
from .report import (
    EVENTS,
    SUMMARY,
    TIMING,
    ReportLog,
    report_reader,
    summarize,
    timing,
    write_json,
)
from .suites import Case, Suite


@attrs.frozen(kw_only=True)
class Options:
    """What ``agenttree bench`` was asked for."""

    models: tuple[str, ...]
    cases: str = "*"
    epochs: int = 1
    seed: int = 0
    concurrency: int = 1
    sandboxes: int | None = None
    subprocesses: int | None = None
    connections: int | None = None
    backend: str = "local"
    settings_file: str | None = None
    """``--settings FILE``: recorded in the report, read again on a resume."""
    settings: Settings = attrs.Factory(Settings)
    sealed: bool = True
    """Whether the run is sealed: its agents and their programs cannot reach the suite (false
    only for a coding run where nothing can seal it); in ``run/start`` and the summary."""
    retry_errors: int = 0
    """Run a case run that ended in an infra error again, up to this many more times (and, on
    a resume, the recorded infra errors too)."""
    max_infra_errors: int | None = None
    """Stop the run when more case runs than this end in an infra error (after retries)."""
    max_tool_calls: int | None = None
    """Each case run's tool-call budget in place of the suite's (``--max-tool-calls``):
    recorded in the report, kept by a resume."""


class RunStopped(Exception):
    """The run stopped before every case ran; ``reason`` says why."""

    def __init__(self, reason: str, *, interrupted: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.interrupted = interrupted


@attrs.frozen(kw_only=True)
class Work:
    """One case run to do."""

    case: Case
    model: str
    epoch: int
    tools: tuple[str, ...]
    fingerprint: dict[str, Any]

    @property
    def key(self) -> str:
        """Identifies the case run within the report."""
        return f"{self.case.id}|{self.model}|e{self.epoch}"


def fingerprint(suite: Suite, case: Case, model: str, seed: int,
                tools: tuple[str, ...]) -> dict[str, Any]:
    """What a recorded case result depends on."""
    return {"suite_version": suite.version, "spec": case.hash, "model": model, "seed": seed,
            "tools": list(tools)}


def matches(case_id: str, patterns: str) -> bool:
    """Whether ``case_id`` matches ``--cases``: one glob, or several separated by commas."""
    return any(fnmatch.fnmatchcase(case_id, p.strip()) for p in patterns.split(","))


def plan_work(suite: Suite, opts: Options) -> list[Work]:
    """Every case run, in the order ``--seed`` fixes (epoch by epoch; cases shuffled)."""
    named: dict[str, str] = {}
    for model in opts.models:
        other = named.get(_safe(model))
        if other is not None:
            raise UserError(f"model {model!r} given twice" if other == model else
                            f"models {other!r} and {model!r} would share case directories")
        named[_safe(model)] = model
    cases = [c for c in suite.cases if matches(c.id, opts.cases)]
    if not cases:
        raise UserError(f"no case of suite {suite.name} matches --cases {opts.cases!r}")
    order = sorted(cases, key=lambda c: c.id)
    random.Random(opts.seed).shuffle(order)
    work = []
    for epoch in range(1, opts.epochs + 1):
        for case in order:
            tools = suite.offered(case, opts.seed)
            for model in opts.models:
                work.append(Work(case=case, model=model, epoch=epoch, tools=tools,
                                 fingerprint=fingerprint(suite, case, model, opts.seed, tools)))
    return work


def new_report_dir(base: Path, suite: Suite) -> Path:
    """``BASE/<suite>/run-<UTC yyyymmdd-hhmmss>`` (with a suffix if taken)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path = base / suite.name / f"run-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = base / suite.name / f"run-{stamp}-{n}"
    return path


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


@attrs.define
class Recorded:
    """What an existing report says: its parameters, finished runs (each key's last
    ``case/end``) and attempts so far."""

    start: dict[str, Any]
    reader: LineReader[dict[str, Any]]
    """The scan of the log: a torn last line it skipped is cut when the run goes on."""
    fingerprints: dict[str, dict[str, Any]] = attrs.Factory(dict)
    ended: dict[str, dict[str, Any]] = attrs.Factory(dict)
    attempts: dict[str, int] = attrs.Factory(dict)
    last_seq: int = 0
    sealed: bool = True
    """Whether every stretch of the run so far was sealed (each ``run/start`` says)."""


def read_recorded(report: Path) -> Recorded:
    """Scan a report log for resuming."""
    path = report / EVENTS
    if not path.is_file():
        raise UserError(f"{report}: not a bench report (no {EVENTS})")
    recorded: Recorded | None = None
    reader = report_reader(path)
    for e in reader:
        kind = e.get("type")
        if kind == "run/start":
            recorded = recorded or Recorded(start=e, reader=reader)
            recorded.sealed = recorded.sealed and e.get("sealed", True) is not False
        elif recorded is None:
            raise UserError(f"{path}: does not begin with run/start")
        elif kind == "case/start":
            recorded.fingerprints[e["key"]] = e["fingerprint"]
            recorded.attempts[e["key"]] = e["attempt"]
        elif kind == "case/end":
            recorded.ended[e["key"]] = e
        if recorded is not None:
            recorded.last_seq = e.get("seq", recorded.last_seq)
    if recorded is None:
        raise UserError(f"{path}: empty report log")
    return recorded


def check_resumable(recorded: Recorded, work: list[Work], report: Path) -> None:
    """Refuse to resume when a recorded case run's fingerprint differs from today's."""
    current = {w.key: w for w in work}
    for key, old in recorded.fingerprints.items():
        w = current.get(key)
        if w is None:
            raise UserError(f"cannot resume {report}: case run {key} is no longer in the suite")
        if old != w.fingerprint:
            changed = ", ".join(k for k in w.fingerprint if old.get(k) != w.fingerprint[k])
            raise UserError(f"cannot resume {report}: case {w.case.id} ({w.model}, epoch "
                            f"{w.epoch}) no longer matches its fingerprint ({changed} changed); "
                            "start a new run")


ProgressFn = Callable[[str, str, int, int], None]
"""Called after each case run with its key, its status, the number done and the total."""


class Runner:
    """Runs a suite into a report directory (new, or an existing one to resume)."""

    def __init__(self, suite: Suite, opts: Options, report: Path, *,
                 recorded: Recorded | None = None,
                 progress: ProgressFn | None = None) -> None:
        self.suite = suite
        self.opts = opts
        self.report = report
        self.recorded = recorded
        self.progress = progress
        self.work = plan_work(suite, opts)
        if recorded is not None:
            check_resumable(recorded, self.work, report)
        self.ends = dict(recorded.ended) if recorded is not None else {}
        """The last ``case/end`` of each finished case run, recorded or new."""
        self.attempts = dict(recorded.attempts) if recorded is not None else {}
        self.todo = [w for w in self.work if self._to_run(w.key)]
        self.done = len(self.work) - len(self.todo)
        self.infra_errors = 0
        """Case runs of this invocation that ended in an infra error after their retries."""
        self._stop: RunStopped | None = None
        self._scope: trio.CancelScope | None = None

    def _to_run(self, key: str) -> bool:
        end = self.ends.get(key)
        return end is None or (self.opts.retry_errors > 0 and end["status"] == "infra-error")

    def params(self) -> dict[str, Any]:
        """The run/start fields."""
        o = self.opts
        return {"suite": self.suite.name, "version": self.suite.version,
                "kind": self.suite.kind, "suite_path": str(self.suite.root),
                "models": list(o.models), "seed": o.seed, "epochs": o.epochs, "cases": o.cases,
                "concurrency": o.concurrency, "total": len(self.work),
                "settings": o.settings_file, "max_tool_calls": o.max_tool_calls,
                "sealed": o.sealed}

    def stop(self, reason: str, *, interrupted: bool = False) -> None:
        """Stop the run: no new case run starts and those in flight are cancelled; :meth:`run`
        then raises :class:`RunStopped` (the first reason given wins)."""
        if self._stop is None:
            self._stop = RunStopped(reason, interrupted=interrupted)
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> dict[str, Any]:
        """Run what is left; write summary.json and timing.json; return the summary.

        Raises:
            RunStopped: :meth:`stop` was called (the report is left ready to resume).
        """
        self.report.mkdir(parents=True, exist_ok=True)
        next_seq = 1
        if self.recorded is not None:
            next_seq = self.recorded.last_seq + 1
            self.recorded.reader.cut_torn_tail()
        log = ReportLog(self.report / EVENTS, next_seq)
        try:
            log.write("run/start", **self.params(), resumed=self.recorded is not None,
                      skipped=self.done)
            n = self.opts.concurrency
            limiters = Limiters(
                model_connections=self.opts.connections or n,
                sandboxes=trio.CapacityLimiter(self.opts.sandboxes or n),
                subprocesses=trio.CapacityLimiter(self.opts.subprocesses or n))
            cases = trio.CapacityLimiter(n)
            async with trio.open_nursery() as nursery:
                self._scope = nursery.cancel_scope
                if self._stop is not None:  # stopped before it began
                    nursery.cancel_scope.cancel()
                for w in self.todo:
                    await cases.acquire_on_behalf_of(w.key)
                    nursery.start_soon(self._one, w, log, limiters, cases)
            self._scope = None
            if self._stop is not None:
                log.write("run/stopped", reason=self._stop.reason,
                          interrupted=self._stop.interrupted, done=self.done,
                          total=len(self.work))
                raise self._stop
            summary = self._finish()
            log.write("run/end", totals=summary["totals"])
        finally:
            log.close()
        return summary

    async def _one(self, w: Work, log: ReportLog, limiters: Limiters,
                   cases: trio.CapacityLimiter) -> None:
        try:
            outcome = await self._attempt(w, log, limiters)
            for _ in range(self.opts.retry_errors):
                if outcome.status != "infra-error":
                    break
                outcome = await self._attempt(w, log, limiters)
            self._ended(w, outcome)
        finally:  # after _ended: a stop it makes comes before the next case run can start
            cases.release_on_behalf_of(w.key)

    def _ended(self, w: Work, outcome: Outcome) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(w.key, outcome.status, self.done, len(self.work))
        if outcome.status == "infra-error":
            self.infra_errors += 1
            limit = self.opts.max_infra_errors
            if limit is not None and self.infra_errors > limit:
                self.stop(f"{self.infra_errors} case runs ended in an infra error, more than "
                          f"--max-infra-errors {limit} allows (the last: {outcome.reason})")

    async def _attempt(self, w: Work, log: ReportLog,
                       limiters: Limiters) -> Outcome:
        await trio.lowlevel.checkpoint_if_cancelled()  # a stopped run starts nothing new
        attempt = self.attempts.get(w.key, 0) + 1
        self.attempts[w.key] = attempt
        case_dir = (self.report / "cases"
                    / f"{w.case.id}-{_safe(w.model)}-e{w.epoch}-a{attempt}")
        log.write("case/start", key=w.key, case=w.case.id, model=w.model, epoch=w.epoch,
                  attempt=attempt, fingerprint=w.fingerprint,
                  dir=str(case_dir.relative_to(self.report)))
        run = CaseRun(case=w.case, model=w.model, seed=self.opts.seed, epoch=w.epoch,
                      attempt=attempt, case_dir=case_dir, offered=w.tools, limiters=limiters,
                      backend=self.opts.backend, settings=self.opts.settings,
                      max_tool_calls=self.opts.max_tool_calls, sealed=self.opts.sealed,
                      on_event=lambda type_, fields: log.write(type_, key=w.key, **fields))
        started = time.monotonic()
        try:
            outcome = await self.suite.run_case(run)
        except Exception as exc:  # the harness broke, not the model: record it, go on
            case_dir.mkdir(parents=True, exist_ok=True)
            (case_dir / "crash.log").write_text(redact(traceback.format_exc()))
            outcome = Outcome(status="infra-error", score=0.0,
                              reason=f"harness error: {exc!r}")
        wall = round(time.monotonic() - started, 3)
        self.ends[w.key] = log.write(
            "case/end", key=w.key, case=w.case.id, model=w.model, epoch=w.epoch,
            attempt=attempt, fingerprint=w.fingerprint, status=outcome.status,
            score=outcome.score, metrics=outcome.metrics, failures=list(outcome.failures),
            reason=outcome.reason, timing={**outcome.timing, "wall_s": wall})
        return outcome

    def _finish(self) -> dict[str, Any]:
        summary = summarize(self.params(), self.ends.values())
        write_json(self.report / SUMMARY, summary)
        write_json(self.report / TIMING, timing(self.ends.values()))
        return summary


async def run_interruptible(runner: Runner) -> dict[str, Any]:
    """:meth:`Runner.run`, stopped cleanly by Ctrl-C (SIGINT) or SIGTERM: the runs in flight
    are cancelled and :class:`RunStopped` (``interrupted``) is raised. Main thread only."""
    stopped: RunStopped | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                async for signum in signals:
                    name = signal.Signals(signum).name
                    runner.stop(f"interrupted ({name})", interrupted=True)

            nursery.start_soon(watch)
            try:
                summary = await runner.run()
            except RunStopped as exc:
                stopped = exc
            nursery.cancel_scope.cancel()
    if stopped is not None:
        raise stopped
    return summary


def resume_options(recorded: Recorded, given: dict[str, Any]) -> Options:
    """The options of the run being resumed; a flag given now must agree with it."""
    start = recorded.start
    for name, value in given.items():
        if value is None:
            continue
        was = start.get(name)
        if name == "models":
            value = list(value)
        if value != was:
            raise UserError(f"--{name.replace('_', '-')} {orjson.dumps(value).decode()} differs "
                            f"from the run being resumed ({orjson.dumps(was).decode()}); "
                            "leave it out")
    return Options(models=tuple(start["models"]), cases=start["cases"], epochs=start["epochs"],
                   seed=start["seed"], concurrency=start.get("concurrency", 1),
                   settings_file=start.get("settings"),
                   max_tool_calls=start.get("max_tool_calls"))
