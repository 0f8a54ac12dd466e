"""Keeping an agent's transcript within its model's context window. Pure functions: no I/O.

Two mechanisms, both deterministic (a resumed or replayed agent rebuilds the same transcript
from the same recorded answers and outputs):

* **Cut outputs.** A tool output longer than the agent's cap goes into the transcript as its
  head and tail around a *pointer* (:func:`cut_output`); the runtime keeps the whole output in
  ``RUN_DIR/outputs/<agent>/<name>.txt``, and ``read-output`` reads it by name
  (:func:`output_name`: the tool call's id, made safe for a file name).
* **Compaction** (:func:`compact`), before a request whose prompt would not fit: the system
  prompt and the goal (the first two messages) and the latest :data:`KEEP_TURNS` turns are
  always kept; older tool outputs are shortened first, oldest first (each to its head and a
  pointer; the runtime saves the whole output when no file holds it yet), then long arguments
  of older tool calls, then older turns are dropped, oldest first, and summed up in one
  message after the goal — until the transcript is down to :data:`LOW_WATER` of the limit, so
  the next turns fit without compacting again; last, only if it does not fit at all yet, the
  kept turns' outputs and arguments are shortened too. If even that does not fit,
  :class:`WindowTooSmall`.

Transcript messages are OpenAI-style dicts (``role``, ``content``, ``tool_calls``,
``tool_call_id``); the summary message also carries its tallies under ``summary``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import attrs
import orjson

CHARS_PER_TOKEN = 4
"""The estimate's rate (about four characters a token)."""
MESSAGE_TOKENS = 4
"""Tokens each message (and each tool call) costs besides its text: role and framing."""
KEEP_TURNS = 2
"""The latest model turns (with their tool results and what came after) compaction keeps."""
SHORT_CHARS = 240
"""Characters of a shortened output, or of a shortened argument, that stay."""
SAID_CHARS = 400
"""Characters of the model's own words from dropped turns that the summary quotes."""
LOW_WATER = 0.75
"""The share of the limit a compaction brings older turns down to. Compacting only to the limit
would compact again at nearly every turn, and each compaction changes the transcript's start,
which a provider's prompt cache is keyed on."""

Message = dict[str, Any]


def estimate_tokens(text: str) -> int:
    """A rough token count (about four characters a token) for providers that do not say."""
    return max(1, len(text) // CHARS_PER_TOKEN)


def message_tokens(message: Message) -> int:
    """The estimated tokens of one transcript message."""
    chars = len(str(message.get("content") or ""))
    calls = message.get("tool_calls") or ()
    for call in calls:
        chars += len(call["tool"]) + len(_json(call["args"]))
    return MESSAGE_TOKENS * (1 + len(calls)) + chars // CHARS_PER_TOKEN


def schema_tokens(tools: list[dict[str, Any]]) -> int:
    """The estimated tokens the tool schemas of a request take."""
    return len(orjson.dumps(tools)) // CHARS_PER_TOKEN if tools else 0


def _json(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


# --- cut outputs -------------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$")
"""A saved output's name: what :func:`output_name` makes (so never a path)."""


def output_name(call_id: str) -> str:
    """The name a tool call's saved output goes by: its id with every character but letters,
    digits, ``_``, ``-`` and ``.`` made ``_``, not starting with ``.``, at most 100 long."""
    name = _UNSAFE.sub("_", call_id)[:100] or "_"
    return "_" + name[1:] if name.startswith(".") else name


def marker(name: str) -> str:
    """What every pointer to the saved output ``name`` contains."""
    return f'read-output {{"id": "{name}"'


def cut_output(text: str, cap: int, name: str) -> str:
    """``text`` cut to about ``cap`` characters: its head, a pointer, its tail (a quarter of
    what is shown: errors come last)."""
    def note(cut: int, offset: int) -> str:
        return (f"\n[… {cut:,} of {len(text):,} characters cut here; the whole output is saved: "
                f'{marker(name)}, "offset": {offset}}} reads it from where the cut begins]\n')

    room = max(0, cap - len(note(len(text), len(text))))  # the longest the note can be
    tail = room // 4
    head = room - tail
    return (text[:head] + note(len(text) - head - tail, head)
            + (text[len(text) - tail:] if tail else ""))


def _short_output(text: str, name: str) -> str:
    return (text[:SHORT_CHARS] + f"\n[… shortened to fit the context window; "
            f"{marker(name)}}} reads the whole output]")


def _short_args(args: Any) -> Any:
    """Tool-call arguments with every long string shortened (an object stays an object)."""
    if isinstance(args, str):
        return args if len(args) <= 2 * SHORT_CHARS else (
            args[:SHORT_CHARS] + f"…[{len(args) - SHORT_CHARS:,} characters cut]")
    if isinstance(args, dict):
        return {k: _short_args(v) for k, v in args.items()}
    if isinstance(args, list):
        return [_short_args(v) for v in args]
    return args


# --- compaction ---------------------------------------------------------------------------------


class WindowTooSmall(Exception):
    """Even compacted as far as it goes, the transcript does not fit."""

    def __init__(self, needed: int, limit: int) -> None:
        super().__init__(f"the context window is too small: the system prompt, the goal and the "
                         f"latest turns need about {needed:,} tokens, and only {limit:,} are "
                         "left for the prompt (raise :context-tokens, or lower "
                         ":max-output-tokens)")
        self.needed = needed
        self.limit = limit


@attrs.frozen(kw_only=True)
class SavedOutput:
    """An output compaction shortened that no file holds yet: save ``text`` as ``name``."""

    name: str
    text: str


@attrs.frozen(kw_only=True)
class Compacted:
    """A compacted transcript and what compaction did."""

    messages: list[Message]
    tokens_before: int
    tokens_after: int
    turns_dropped: int
    """Model turns (an answer with its tool results) dropped into the summary."""
    messages_dropped: int
    outputs_shortened: int
    to_save: tuple[SavedOutput, ...]


def compact(messages: list[Message], *, limit: int,
            count: Callable[[Message], int] = message_tokens,
            low_water: float = LOW_WATER) -> Compacted | None:
    """``messages`` made to fit ``limit`` tokens as counted by ``count``; ``None`` when they
    fit already. Older turns are compacted down to ``low_water`` of ``limit`` (as far as they
    go), the latest turns only as far as ``limit`` needs. The input is never changed.

    Raises:
        WindowTooSmall: the kept part alone does not fit.
    """
    sizes = [count(m) for m in messages]
    before = sum(sizes)
    if before <= limit:
        return None
    work = _Work(list(messages), sizes, count)
    goal = min(limit, int(limit * low_water))
    for stage in (work.shorten_outputs, work.shorten_args):
        if stage(work.body(), goal):
            return work.result(before)
    if work.drop(goal) or work.total <= limit:
        return work.result(before)
    for stage in (work.shorten_outputs, work.shorten_args):
        if stage(range(work.head_end, len(work.messages)), limit):
            return work.result(before)
    raise WindowTooSmall(work.total, limit)


class _Work:
    """One compaction in progress (the stages of :func:`compact`)."""

    def __init__(self, messages: list[Message], sizes: list[int],
                 count: Callable[[Message], int]) -> None:
        self.messages = messages
        self.count = count
        self.sizes = sizes
        self.total = sum(sizes)
        has_summary = len(messages) > 2 and "summary" in messages[2]
        self.head_end = min(len(messages), 3 if has_summary else 2)
        self.shortened = 0
        self.turns_dropped = 0
        self.messages_dropped = 0
        self.to_save: list[SavedOutput] = []

    def _set(self, index: int, message: Message) -> None:
        self.messages[index] = message
        size = self.count(message)
        self.total += size - self.sizes[index]
        self.sizes[index] = size

    def tail_start(self) -> int:
        """Where the kept latest turns begin: the :data:`KEEP_TURNS`-th last model turn (the
        last message at least)."""
        answers = [i for i in range(self.head_end, len(self.messages))
                   if self.messages[i].get("role") == "assistant"]
        start = answers[-KEEP_TURNS] if len(answers) >= KEEP_TURNS else (
            answers[0] if answers else len(self.messages))
        return max(self.head_end, min(start, len(self.messages) - 1))

    def body(self) -> range:
        """The messages older than the kept turns (after the head)."""
        return range(self.head_end, self.tail_start())

    def shorten_outputs(self, indices: range, limit: int) -> bool:
        """Shorten long tool outputs among ``indices``, oldest first, until the transcript
        fits; whether it fits."""
        for i in indices:
            if self.total <= limit:
                return True
            message = self.messages[i]
            content = str(message.get("content") or "")
            if message.get("role") != "tool" or len(content) <= 2 * SHORT_CHARS:
                continue
            name = output_name(str(message.get("tool_call_id") or ""))
            if marker(name) not in content:  # no file holds it yet
                self.to_save.append(SavedOutput(name=name, text=content))
            self._set(i, {**message, "content": _short_output(content, name)})
            self.shortened += 1
        return self.total <= limit

    def shorten_args(self, indices: range, limit: int) -> bool:
        """Shorten long arguments of tool calls among ``indices``, oldest first, until the
        transcript fits; whether it fits."""
        for i in indices:
            if self.total <= limit:
                return True
            message = self.messages[i]
            if not message.get("tool_calls"):
                continue
            calls = [{**c, "args": _short_args(c["args"])} for c in message["tool_calls"]]
            if calls != message["tool_calls"]:
                self._set(i, {**message, "tool_calls": calls})
        return self.total <= limit

    def drop(self, limit: int) -> bool:
        """Drop the oldest turns (an answer with its tool results; a message of news) before
        the kept ones into one summary after the goal, until the transcript fits; whether it
        fits."""
        tally = dict(self.messages[2]["summary"]) if self.head_end == 3 else {
            "turns": 0, "calls": {}, "said": ""}
        tally["calls"] = Counter(tally["calls"])
        start, end = self.head_end, self.tail_start()
        if start >= end:
            return self.total <= limit
        kept = self.messages[end:]
        base = sum(self.sizes[:2])
        rest = sum(self.sizes[end:])
        i = start
        while i < end:
            unit_end = i + 1
            while unit_end < end and self.messages[unit_end].get("role") == "tool":
                unit_end += 1
            for message in self.messages[i:unit_end]:
                if message.get("role") == "assistant":
                    tally["turns"] += 1
                    self.turns_dropped += 1
                    tally["calls"].update(c["tool"] for c in message.get("tool_calls") or ())
                    if str(message.get("content") or "").strip():
                        tally["said"] = str(message["content"]).strip()[:SAID_CHARS]
                self.messages_dropped += 1
            i = unit_end
            summary = _summary(tally)
            summary_size = self.count(summary)
            middle = sum(self.sizes[i:end])
            if base + summary_size + middle + rest <= limit:
                break
        self.messages = [*self.messages[:2], summary, *self.messages[i:end], *kept]
        self.sizes = [*self.sizes[:2], summary_size, *self.sizes[i:]]
        self.total = sum(self.sizes)
        self.head_end = 3
        return self.total <= limit

    def result(self, before: int) -> Compacted:
        return Compacted(messages=self.messages, tokens_before=before, tokens_after=self.total,
                         turns_dropped=self.turns_dropped, messages_dropped=self.messages_dropped,
                         outputs_shortened=self.shortened, to_save=tuple(self.to_save))


def _summary(tally: dict[str, Any]) -> Message:
    calls = tally["calls"]
    listed = ", ".join(f"{tool} x{n}" for tool, n in sorted(calls.items()))
    text = (f"[Earlier turns were dropped to fit your context window: {tally['turns']} of your "
            f"turns, with {sum(calls.values())} tool calls" + (f" ({listed})" if listed else "")
            + ".")
    if tally["said"]:
        text += f' The last thing you said in them: "{tally["said"]}"'
    return {"role": "user", "content": text + "]",
            "summary": {"turns": tally["turns"], "calls": dict(calls), "said": tally["said"]}}
