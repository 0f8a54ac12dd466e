"""A model that answers the tool-calling suite the way real models do, served through an
OpenAI-compatible mock (:class:`~tests.bench.fake_provider.FakeProvider`).

Every answer is right, in the shapes real models give right answers (seen from GPT-4o-class
hosted models and Qwen/Llama-class local ones):

- optional parameters sent with their default (``"unit": "celsius"``, ``"limit": 3``), and
  optional ones without a default sent as ``null``;
- a city with its country (``"Tokyo, Japan"``), a time zone by its canonical IANA name
  (``"Etc/UTC"`` for ``"UTC"``), a folder with a trailing slash (``"src/"``);
- free text capitalised with a full stop (``"Call mom."``), lists in another order where order
  does not matter;
- in a multi-turn case, independent inputs fetched one per turn; the final reply states the
  result in a sentence, with thousands separators (``"5,000,000"``);
- no call at all where no tool fits, and a question where information is missing.

``mistakes`` makes it answer some cases wrongly, the way real models get them wrong, to show
that the fair matcher still fails what is wrong.

Run it on its own to score another checkout (the before/after figure in docs/bench.md)::

    python -m tests.bench.real_answers 8765        # serves until Ctrl-C
    agenttree bench suites/tool_calling --model openai:real@http://127.0.0.1:8765/v1
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
import trio

from agenttree.bench.scoring import ABSENT, Arg, Expected
from agenttree.bench.suites import load_suite
from agenttree.bench.toolcalls import ToolCallingSuite, ToolCase

from .fake_provider import FakeProvider
from .helpers import TOOL_CALLING

COUNTRIES = {"paris": "France", "tokyo": "Japan", "oslo": "Norway", "cairo": "Egypt",
             "lima": "Peru", "berlin": "Germany", "sydney": "Australia", "toronto": "Canada",
             "nairobi": "Kenya", "reykjavik": "Iceland", "london": "UK", "rome": "Italy"}
ZONE_NAMES = {"UTC": "Etc/UTC", "Asia/Kolkata": "Asia/Calcutta"}
"""Canonical IANA names models write for the names a case uses."""
MISTAKES = {
    "s-weather": "a wrong city",
    "t-weather-mul": "the second call made in the first turn, with a guessed value",
    "x-weather": "a call with a made-up city instead of asking",
    "i-capital": "a tool called where none fits",
    "t-add-mul": "the wrong final answer",
}
"""The cases ``mistakes`` answers wrongly, and how."""


def _shaped(arg: Arg) -> Any:
    """The value a real model sends for an argument it gets right."""
    if not arg.asked or not arg.concrete:
        default = next((a for a in arg.answers if a is not ABSENT), ABSENT)
        return None if default is ABSENT else default  # explicit default, or null
    value = arg.concrete[0]
    if arg.match == "place":
        return f"{value}, {COUNTRIES[value.casefold()]}"
    if arg.match == "timezone":
        return ZONE_NAMES.get(value, value)
    if arg.match == "path":
        return value + "/"
    if arg.match == "unordered":
        return list(reversed(value))
    if isinstance(value, str) and " " in value and "@" not in value:
        return value[0].upper() + value[1:] + ("" if value[-1] in ".?!" else ".")
    return value


def _call(expected: Expected) -> tuple[str, dict[str, Any]]:
    return expected.tool, {name: _shaped(arg) for name, arg in expected.args.items()}


def _said(answer: Any) -> str:
    if isinstance(answer, float) and answer.is_integer():
        answer = int(answer)
    return f"{answer:,}" if isinstance(answer, int) else str(answer)


Turn = list[tuple[str, dict[str, Any]]] | str
"""The calls a model turn makes, or the final reply."""


def plan(case_id: str, tc: ToolCase, mistakes: bool) -> list[Turn]:
    """The turns the model plays for a case: lists of calls, then the final reply."""
    judged = tc.judged
    if judged.ask:
        if mistakes and case_id in MISTAKES:
            return [[("weather", {"city": "New York", "unit": "celsius"})], "Here you go."]
        return [f"Sure! Which {judged.ask[0]} do you mean?"]
    if not judged.expect:
        if mistakes and case_id in MISTAKES:
            return [[(tc.tools[0], {"city": "Rome"})], "Rome."]
        return ["I can answer that directly, no tool needed: here is my answer."]
    turns: list[Turn] = []
    for turn in judged.expect:
        calls = [_call(c) for c in turn]
        if judged.by_dependency:
            turns += [[c] for c in calls]  # independent inputs, one per turn
        else:
            turns.append(calls)
    if mistakes and case_id == "s-weather":
        turns = [[("weather", {"city": "Lyon, France", "unit": "celsius"})]]
    if mistakes and case_id == "t-weather-mul":
        turns = [[turns[0][0], turns[1][0]]]  # no waiting for the temperature
    answer = judged.answer[0] if judged.answer else None
    if mistakes and case_id == "t-add-mul":
        answer = 25
    final = "Done." if answer is None else f"The result is {_said(answer)}."
    return [*turns, final]


class RealModel:
    """Answers chat requests for the suite's cases (by their prompt) as :func:`plan` says."""

    def __init__(self, *, mistakes: bool = False) -> None:
        self.suite = load_suite(TOOL_CALLING)
        assert isinstance(self.suite, ToolCallingSuite)
        self.mistakes = mistakes
        self.unknown_prompts: list[str] = []

    def _case(self, prompt: str) -> tuple[str, ToolCase] | None:
        # An older harness appends its instructions to the prompt; the longest prompt that
        # starts the message is the case.
        found = [(len(tc.prompt), cid, tc) for cid, tc in self.suite.parsed.items()
                 if prompt.startswith(tc.prompt)]
        return max(found)[1:] if found else None

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """The assistant message (``content`` or ``tool_calls``) for a chat request."""
        messages = request["messages"]
        prompt = next(str(m["content"]) for m in messages if m["role"] == "user")
        found = self._case(prompt)
        if found is None:
            self.unknown_prompts.append(prompt)
            return {"content": "I don't know this case."}
        case_id, tc = found
        turns = plan(case_id, tc, self.mistakes)
        turn = turns[min(sum(m["role"] == "assistant" for m in messages), len(turns) - 1)]
        if isinstance(turn, str):
            return {"content": turn}
        # A model sends only parameters the request's schema has.
        schema = {t["function"]["name"]: t["function"]["parameters"]["properties"]
                  for t in request.get("tools", ())}
        return {"tool_calls": [
            {"index": i, "id": f"call_{i}", "type": "function", "function": {
                "name": name, "arguments": orjson.dumps(
                    {k: v for k, v in args.items() if k in schema.get(name, args)}).decode()}}
            for i, (name, args) in enumerate(turn)]}


async def _serve(port: int) -> None:
    provider = FakeProvider(answer=RealModel().answer)
    async with trio.open_nursery() as nursery:
        print(await provider.serve(nursery, port=port), flush=True)


if __name__ == "__main__":
    trio.run(_serve, int(sys.argv[1]) if len(sys.argv) > 1 else 0)
