"""The scripted model: deterministic turns from the plan, so runs need no network and no key.

A task's ``:script`` lists one entry per model turn (see docs/plans.md); a turn the agent's
watchdog gives it is answered by waiting again, and uses no entry. When the script runs out,
or a task has none, the model answers from a default script that inspects the goal: it
looks around the working directory, writes a notes file for the task, tells its parent, and
finishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import trio

from ..context import estimate_tokens
from .base import ModelRequest, ModelResponse, ToolCall, Usage


def default_script(task_id: str, goal: str, has_parent: bool) -> list[dict[str, Any]]:
    """The turns an agent without a script takes."""
    note = f"# {task_id}\n\nGoal: {goal}\n"
    turns: list[dict[str, Any]] = [
        {"calls": [{"tool": "list-dir", "args": {"path": "."}}]},
        {"calls": [{"tool": "write-file", "args": {"path": f"{task_id}.md", "content": note}}]},
    ]
    if has_parent:
        turns.append({"calls": [{"tool": "message",
                                 "args": {"to": "parent", "text": f"{task_id}: notes written"}}]})
    turns.append({"say": f"{task_id}: {goal or 'done'}"})
    return turns


WAITING = "(still waiting for my children)"
"""The scripted model's answer to a watchdog turn: no tool call, so the agent waits again."""


class ScriptedModel:
    """Plays back a list of turns; after the last one it only ever says it is done."""

    __slots__ = ("_turns", "name")

    def __init__(self, turns: Sequence[dict[str, Any]], *, name: str = "scripted") -> None:
        self.name = name
        self._turns = turns

    def params(self, request: ModelRequest) -> dict[str, Any]:
        """Nothing is sent anywhere: the script answers."""
        return {}

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Return the request's turn of the script (after its ``delay_ms``, a checkpoint either
        way). Indexed by the agent's own turns (``request.turn`` less its watchdog turns), so
        an agent resumed at turn 7 gets the step it was at; a watchdog turn uses no step: the
        answer is to go on waiting. (The answer is made in a plain method: a waiting agent
        holds this frame's three locals.)"""
        turn = self._turn(request)
        await trio.sleep((turn.get("delay_ms") or 0) / 1000)
        return self._answer(request, turn)

    def _turn(self, request: ModelRequest) -> dict[str, Any]:
        if request.watchdog:
            return {"say": WAITING}
        index = request.turn - request.watchdog_turns - 1
        return self._turns[index] if 0 <= index < len(self._turns) else {"say": "done"}

    @staticmethod
    def _answer(request: ModelRequest, turn: dict[str, Any]) -> ModelResponse:
        calls = tuple(
            ToolCall(id=f"{request.agent}#{request.turn}.{i}", tool=c["tool"],
                     args=dict(c.get("args") or {}))
            for i, c in enumerate(turn.get("calls") or ())
        )
        text = turn.get("say") or ""
        completion = turn.get("tokens") or estimate_tokens(
            text + "".join(orjson.dumps(c.args).decode() for c in calls))
        prompt = sum(len(str(m.get("content") or "")) for m in request.messages) // 4
        return ModelResponse(text=text, calls=calls,
                             usage=Usage(prompt=prompt, completion=completion, estimated=True))
