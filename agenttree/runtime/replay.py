"""Regression replay: ``agenttree run PLAN --replay-from RUN_DIR``.

Today's code runs the plan again in a new run directory, with every model response taken from
a recorded run (no model is called, no key is needed) while tools and acceptance checks run
for real. Each event the new run writes is checked against the recording, like Temporal's
non-determinism check: per agent, the sequence of *decisions* must be the same. The first
event that differs stops the run with a report naming it and the recorded event it should have
matched.

What is compared (:func:`key_of`; time stamps, seqs, latencies, token counts, tool outputs and
anything else that depends on timing are not): spawns (agent, parent, task, attempt), model
turns asked for, tool calls (call id, tool, arguments) and whether they succeeded, acceptance
checks and whether they passed, budget exhaustion, and how each agent finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import events as ev
from ..errors import UserError
from ..log import LogReader
from ..models.base import ModelClient, ModelError, ModelRequest, ModelResponse
from ..rundir import log_of
from .recording import Cursor, Recording
from .resume import check_format

if TYPE_CHECKING:
    from .agent import Agent, AgentSpec
    from .engine import Engine

Key = tuple[Any, ...]


def key_of(e: ev.Event) -> Key | None:
    """The part of an event a replay must reproduce (``None``: not compared)."""
    t = type(e)
    if t is ev.AgentSpawned:
        return ("agent/spawned", e.agent, e.parent, e.task, e.attempt)
    if t is ev.ModelRequested:
        return ("model/requested", e.agent, e.turn)
    if t is ev.ToolRequested:
        return ("tool/requested", e.agent, e.call, e.tool, e.args)
    if t is ev.ToolResult:
        return ("tool/result", e.agent, e.call, "ok" if e.ok else "error")
    if t is ev.AcceptanceResult:
        return ("acceptance/result", e.agent, e.cmd, "passed" if e.ok else "failed")
    if t is ev.BudgetExhausted:
        return ("budget/exhausted", e.agent, e.kind)
    if t is ev.AgentFinished:
        return ("agent/finished", e.agent, e.status)
    return None


class RecordedModel:
    """The model of every agent in a regression replay: its cursor feeds each response, so
    this is never asked (no network, no key)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Never called: a turn the recording lacks is a divergence before it gets here."""
        raise ModelError(f"regression replay: no recorded response for {request.agent} turn "
                         f"{request.turn}")

    def params(self, request: ModelRequest) -> dict[str, Any]:
        """Nothing is sent: the recording answers."""
        return {}


def describe(key: Key) -> str:
    """A key as a report shows it: ``tool/result root.docs root.docs#2.0 ok``."""
    return " ".join(str(part) for part in key)


class RegressionReplay:
    """The engine's replayer for ``--replay-from``: feeds recorded model responses, checks
    the events written, and stops the run at the first divergence."""

    def __init__(self, run_dir: str | Path) -> None:
        path = log_of(run_dir)
        if not path.is_file():
            raise UserError(f"--replay-from {run_dir}: no events.jsonl there")
        check_format(path)
        self.source = path
        self.recording = Recording()
        self.expected: dict[str, list[tuple[int, Key]]] = {}
        for entry in LogReader(path):
            self.recording.add(entry)
            key = key_of(entry.event)
            if key is not None:
                self.expected.setdefault(key[1], []).append((entry.seq, key))
        self.seen: dict[str, int] = {}
        self.checked = 0
        self.divergence: str | None = None
        self.engine: Engine | None = None

    # --- engine hooks ------------------------------------------------------------------------

    def admits(self, event: ev.Event) -> bool:
        """Every event is logged."""
        return True

    def written(self, seq: int, event: ev.Event) -> None:
        """Check every event as it is logged (in ``seq`` order, so the first divergence found
        is the earliest)."""
        self.check(seq, event)

    def attach(self, engine: Engine) -> None:
        """Called by the engine once its log exists."""
        self.engine = engine

    async def wait_live(self) -> None:
        """Agents replay model answers to the end: commands apply from the start."""

    def root_spec(self) -> AgentSpec | None:
        """A regression replay starts the root as a new run does."""
        return None

    def model_for(self, agent: Agent) -> ModelClient:
        """No agent calls a model: the recording answers (or the run diverges)."""
        return RecordedModel(agent.model_name)

    def cursor(self, agent: Agent) -> Cursor:
        """Every agent replays its recorded model responses, strictly."""
        return Cursor(self.recording.get(agent.id, agent.spec.attempt), strict=True,
                      on_diverge=self.diverge)

    # --- the check -----------------------------------------------------------------------------

    def check(self, seq: int, event: ev.Event) -> None:
        """Compare one event with the recording."""
        key = key_of(event)
        if key is None or self.divergence is not None:
            return
        agent = key[1]
        index = self.seen.get(agent, 0)
        self.seen[agent] = index + 1
        expected = self.expected.get(agent, ())
        if index >= len(expected):
            self.diverge(f"seq {seq}: {describe(key)}; the recording has no more events "
                         f"for {agent}")
        elif expected[index][1] != key:
            recorded_seq, want = expected[index]
            self.diverge(f"seq {seq}: {describe(key)}; the recording has "
                         f"{describe(want)} (its seq {recorded_seq})")
        else:
            self.checked += 1

    def diverge(self, report: str) -> None:
        """Keep the first divergence and stop the run."""
        if self.divergence is not None:
            return
        self.divergence = report
        if self.engine is not None:
            self.engine.cancel(self.engine.plan.root.id, "regression replay diverged")

    def verdict(self) -> str | None:
        """After the run: the first divergence, counting recorded events the run never
        reached; ``None`` when the run matched the recording."""
        if self.divergence is None:
            missing = [expected[self.seen.get(agent, 0)]
                       for agent, expected in self.expected.items()
                       if self.seen.get(agent, 0) < len(expected)]
            if missing:
                seq, want = min(missing)
                self.divergence = f"the run ended before {describe(want)} (recorded seq {seq})"
        return self.divergence
