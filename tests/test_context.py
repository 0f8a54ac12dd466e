"""Compaction and cut outputs as pure functions (agenttree.context)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttree.context import (
    KEEP_TURNS,
    LOW_WATER,
    NAME,
    WindowTooSmall,
    compact,
    cut_output,
    message_tokens,
    output_name,
)


def turn(i: int, output: str, args: Any = None) -> list[dict[str, Any]]:
    call = {"id": f"c{i}", "tool": "sh", "args": args or {"cmd": f"step {i}"}}
    return [{"role": "assistant", "content": f"turn {i}", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": f"c{i}", "content": output}]


HEAD = [{"role": "system", "content": "rules " * 50}, {"role": "user", "content": "the goal"}]


def transcript(n: int, output_chars: int = 2000) -> list[dict[str, Any]]:
    out = list(HEAD)
    for i in range(n):
        out += turn(i, f"output {i} " + "x" * output_chars)
    return out


def total(messages: list[dict[str, Any]]) -> int:
    return sum(message_tokens(m) for m in messages)


def test_a_transcript_that_fits_is_left_alone() -> None:
    messages = transcript(3)
    assert compact(messages, limit=total(messages)) is None


def test_older_outputs_are_shortened_first_and_nothing_else_when_that_is_enough() -> None:
    messages = transcript(6)
    before = copy.deepcopy(messages)
    done = compact(messages, limit=total(messages) - 1000)
    assert messages == before  # the input is never changed
    assert done is not None and done.turns_dropped == 0
    assert done.tokens_after <= total(messages) - 1000 < done.tokens_before
    shortened = [m for m in done.messages if "shortened to fit" in str(m.get("content"))]
    assert shortened and shortened[0]["tool_call_id"] == "c0"  # oldest first
    assert done.outputs_shortened == len(shortened)
    assert [s.name for s in done.to_save] == [m["tool_call_id"] for m in shortened]
    assert done.messages[-4:] == messages[-4:]  # the latest turns are untouched


def test_older_turns_are_dropped_into_one_summary_keeping_head_and_latest_turns() -> None:
    messages = transcript(8)
    limit = total(HEAD) + total(messages[-2 * KEEP_TURNS:]) + 200
    done = compact(messages, limit=limit)
    assert done is not None and done.tokens_after <= limit
    assert done.messages[:2] == HEAD
    summary = done.messages[2]
    assert summary["role"] == "user"
    assert summary["content"].startswith("[Earlier turns were dropped")
    assert summary["summary"]["turns"] == done.turns_dropped > 0
    assert done.messages_dropped == 2 * done.turns_dropped
    assert [m.get("tool_call_id") for m in done.messages[-3::2]] == ["c6", "c7"]
    # a second compaction adds to the same summary rather than writing another
    grown = done.messages + turn(8, "y" * 3000) + turn(9, "z" * 3000)
    again = compact(grown, limit=limit)
    assert again is not None
    assert sum(1 for m in again.messages if "summary" in m) == 1
    assert again.messages[2]["summary"]["turns"] == done.turns_dropped + again.turns_dropped


def test_a_compaction_leaves_room_so_the_next_turns_fit_without_another() -> None:
    messages = transcript(12)
    limit = total(messages) - 500
    done = compact(messages, limit=limit)
    assert done is not None and done.tokens_after <= limit * LOW_WATER
    grown = done.messages
    for i in range(12, 15):  # a few more turns of short outputs
        grown = grown + turn(i, f"output {i}")
        assert compact(grown, limit=limit) is None


def test_the_latest_turns_are_shortened_only_as_far_as_the_limit_needs() -> None:
    messages = transcript(6)
    kept = messages[-2 * KEEP_TURNS:]
    limit = total(HEAD) + total(kept) + 100  # fits once older turns go, above the low water
    assert total(HEAD) + total(kept) > limit * LOW_WATER
    done = compact(messages, limit=limit)
    assert done is not None and done.tokens_after <= limit
    assert done.messages[-2 * KEEP_TURNS:] == kept  # the latest turns are untouched


def test_the_kept_part_alone_too_big_is_refused_with_what_it_needs() -> None:
    with pytest.raises(WindowTooSmall, match=r"need about [\d,]+ tokens, and only 10 are left"):
        compact(transcript(3), limit=10)


def test_cut_output_keeps_head_and_tail_around_a_pointer_within_the_cap() -> None:
    text = "".join(f"{i:06d}\n" for i in range(5000))
    cut = cut_output(text, 1000, "call_7")
    assert len(cut) <= 1000
    offset = int(re.search(r'"offset": (\d+)', cut).group(1))
    assert cut.startswith(text[:offset])
    assert text.endswith(cut[cut.rindex("]\n") + 2:])
    assert 'read-output {"id": "call_7", "offset": ' in cut


@pytest.mark.parametrize("call_id,name", [
    ("call_1", "call_1"), ("root#3.0", "root_3.0"), ("../../etc/passwd", "_._.._etc_passwd"),
    ("", "_"), ("x" * 300, "x" * 100), (".hidden", "_hidden"),
])
def test_output_names_are_never_paths(call_id: str, name: str) -> None:
    assert output_name(call_id) == name
    assert NAME.match(output_name(call_id))


@st.composite
def transcripts(draw) -> list[dict[str, Any]]:
    out = list(HEAD)
    for i in range(draw(st.integers(0, 10))):
        size = draw(st.integers(0, 3000))
        out += turn(i, "o" * size, args={"content": "a" * draw(st.integers(0, 2000))})
        if draw(st.booleans()):
            out.append({"role": "user", "content": "news " * draw(st.integers(0, 100))})
    return out


@settings(max_examples=300, deadline=None)
@given(transcripts(), st.integers(50, 6000))
def test_compaction_fits_and_keeps_the_transcript_well_formed(messages, limit) -> None:
    try:
        done = compact(messages, limit=limit)
    except WindowTooSmall:
        return
    result = messages if done is None else done.messages
    assert total(result) <= limit or done is None
    assert result[:2] == HEAD
    assert result[-1].get("role") == messages[-1].get("role")
    pending: set[str] = set()
    for m in result[2:]:
        if m["role"] == "tool":
            assert m["tool_call_id"] in pending  # every result right after its call
            pending.discard(m["tool_call_id"])
        else:
            assert not pending
            pending = {c["id"] for c in m.get("tool_calls") or ()}
