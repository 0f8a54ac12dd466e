"""The fast EDN reader gives what edn_format gives: the same values of the same types, or (for
what it leaves to edn_format) the same errors, on generated EDN text."""

from __future__ import annotations

from typing import Any

import edn_format
import pytest
from edn_format import ImmutableDict, ImmutableList, Keyword, Symbol
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agenttree.edn_fast import Unusual, loads_plain
from agenttree.edn_source import MAX_NESTING, Context, Locator, check_structure, read_edn
from agenttree.errors import PlanError


def typed(value: Any) -> Any:
    """``value`` with every type spelled out (``ImmutableList([1]) == [1]`` is not enough)."""
    if isinstance(value, ImmutableDict):
        return ("map", tuple((typed(k), typed(v)) for k, v in value.items()))
    if isinstance(value, frozenset):
        return ("set", frozenset(typed(v) for v in value))
    if isinstance(value, ImmutableList | tuple):
        return (type(value).__name__, tuple(typed(v) for v in value))
    if isinstance(value, Keyword | Symbol):
        return (type(value).__name__, value.name)
    return (type(value).__name__, repr(value))


def reference(text: str) -> Any:
    """What ``read_edn`` did before the fast reader: the structure check, then edn_format."""
    ctx = Context(source="t.edn", locate=Locator(text))
    check_structure(ctx, text)
    try:
        return edn_format.loads(text)
    except edn_format.EDNDecodeError as exc:
        raise PlanError(f"EDN syntax error: {exc}") from None
    except Exception as exc:
        raise PlanError(f"{type(exc).__name__}") from None


NAME_CHARS = "abcxyz019.*+!-_?$%&=<>#:/'"
names = st.text(NAME_CHARS, min_size=1, max_size=6)
keywords = st.one_of(
    st.sampled_from([":task/id", ":goal", ":children", ":a", ":run/name", ":tool-calls"]),
    names.map(lambda s: ":" + s))
symbols = st.one_of(st.sampled_from(["sh", "nil", "true", "false", "a/b", "x.y", "nil?"]),
                    names)
integers = st.one_of(st.integers(-10**30, 10**30).map(str),
                     st.sampled_from(["0", "-0", "+7", "007", "12N", "0x1F", "1/2", "-3/4"]))
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1.5", "-2.25e3", "1e5", "1E-2", "+0.5", "1.", ".5", "1.5M", "3M",
                     "##Inf", "##-Inf"]))
string_chars = st.sampled_from([*'abc ;,#{}[]()"\n\t', "\\n", "\\t", "\\\\", '\\"', "\\u00e9",
                                 "\\x41", "\\q", "é", "\\u12", "\\\n", "\\101"])
strings = st.lists(string_chars, max_size=6).map(lambda parts: '"' + "".join(
    p if p != '"' else '\\"' for p in parts) + '"')
odd = st.sampled_from([r"\c", r"\newline", '#inst "2024-01-02"', '#uuid "x"', "#foo 1",
                       "^:m x", "#:ns{:a 1}", "#_", '"open', "]", "}", ")", "\r", "'x",
                       "~", "@x", "`y", "#", ":", "/", "a/b/c", "nil#", ":a/"])
atoms = st.one_of(keywords, symbols, integers, floats, strings, odd)
spaces = st.sampled_from([" ", "\n", ",", "\t", " ; a comment\n", "  ", " #_ 1 ", " #_[:x] "])


def _join(items: list[str], seps: list[str]) -> str:
    return "".join(item + seps[i % len(seps)] for i, item in enumerate(items))


def collections(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    body = st.builds(_join, st.lists(inner, max_size=6), st.lists(spaces, min_size=1,
                                                                  max_size=3))
    return st.one_of(body.map(lambda b: f"[{b}]"), body.map(lambda b: f"({b})"),
                     body.map(lambda b: f"{{{b}}}"), body.map(lambda b: f"#{{{b}}}"))


forms = st.recursive(atoms, collections, max_leaves=25)
repeated = st.builds(lambda form, other, sep: f"[{form}{sep}{other}{sep}{form}{sep}{form}]",
                     forms, forms, spaces)
"""A form written three times (the reader gives the last two as one value), another after the
first."""
texts = st.builds(lambda lead, form, tail: lead + form + tail, spaces | st.just(""),
                  forms | repeated, spaces | st.just("") | forms.map(lambda f: " " + f))


@settings(max_examples=600, deadline=None)
@given(texts)
@example('{:task/id "root" :goal "g\\n\\"q\\"" :children [{:task/id "a"}] :n -3 :f 2.5}')
@example("{:a 1 :a 2}")
@example("[1 #_ #_ 2 3 4]")
@example('{"k" 1 "k" 2}')
@example("#{:a :b :a}")
@example("[[1] [1.0] [true] [1N] [1] {:a [1]} {:a [1.0]} #{[0.0] [-0.0]} (1) [1]]")
@example("{[1] :a [1.0] :b [1] :c}")
@example("[nil [nil] [nil] ; c\n [nil] #_ [nil] {nil nil}]")
def test_the_fast_reader_reads_as_edn_format_does(text: str) -> None:
    try:
        expected = ("value", typed(reference(text)))
    except PlanError as exc:
        expected = ("error", str(exc).split(":")[0])
    try:
        got = ("value", typed(loads_plain(text, MAX_NESTING)))
    except Unusual:
        return  # left to edn_format: read_edn reads it the reference way (checked below)
    assert got == expected, text


@settings(max_examples=300, deadline=None)
@given(texts)
def test_read_edn_gives_the_reference_value_or_error(text: str) -> None:
    ctx = Context(source="t.edn", locate=Locator(text))
    try:
        expected = ("value", typed(reference(text)))
    except PlanError:
        expected = ("error",)
    try:
        got = ("value", typed(read_edn(ctx, text)))
    except PlanError:
        got = ("error",)
    assert got == expected, text


@pytest.mark.parametrize("text", [
    '#inst "2024-01-02"', r"[\c]", "{:a 1 :b}", "[1 2", "1 2", "[1 #_]", "{:a 1 :a 2}",
    "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1), "0x1F", "1/2", "1.5M", "a/b/c",
    "\r1",
])
def test_what_the_fast_reader_leaves_to_edn_format(text: str) -> None:
    with pytest.raises(Unusual):
        loads_plain(text, MAX_NESTING)


def test_a_collection_written_again_is_one_value_and_atoms_stay_apart() -> None:
    # The first writing of a collection holds something new, so it is not kept; the second is,
    # and from the third on the reader gives that one.
    value = loads_plain("[[1 :a] [1 :a] [1 :a] [1.0 :a] (1 :a) {:k [1 :a]} {:k [1 :a]} "
                        "{:k [1 :a]}]", MAX_NESTING)
    assert value[1] is value[2] and value[6] is value[7] and value[7][Keyword("k")] is value[1]
    assert value[3] is not value[1] and type(value[3][0]) is float  # equal is not the same
    assert type(value[4]) is tuple and value[4] == (1, Keyword("a"))
    assert value == edn_format.loads("[[1 :a] [1 :a] [1 :a] [1.0 :a] (1 :a) {:k [1 :a]} "
                                     "{:k [1 :a]} {:k [1 :a]}]")


def test_a_syntax_error_keeps_its_line_through_the_fast_reader() -> None:
    text = '{:task/id "root"\n :goal "g"\n :children [{:task/id "a"]}'
    ctx = Context(source="plan.edn", locate=Locator(text))
    with pytest.raises(PlanError) as caught:
        read_edn(ctx, text)
    assert str(caught.value).startswith("plan.edn:3: EDN syntax error")


def test_a_duplicate_key_is_refused_naming_both_lines() -> None:
    text = '{:task/id "root"\n :goal "g"\n :goal "h"}'
    ctx = Context(source="plan.edn", locate=Locator(text))
    with pytest.raises(PlanError, match=r"plan\.edn:3: duplicate key in a map: :goal "
                                        r"\(first at line 2\)"):
        read_edn(ctx, text)
