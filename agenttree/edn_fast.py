"""A fast reader for the EDN that plans are written in, giving what ``edn_format`` gives.

``edn_format`` parses with PLY at about 0.5 MB/s, so a 1.2 MB machine-written plan took seconds
to read before any reconcile could start. :func:`loads_plain` reads the common EDN of plans
(keywords, symbols, strings with escapes, integers incl. big and ``N`` ones, floats, ``nil``
``true`` ``false``, vectors, lists, maps, sets, comments, ``#_`` discards) about ten times as
fast, into the very values ``edn_format.loads`` builds (``ImmutableDict``, ``ImmutableList``,
tuples, frozensets, ``Keyword``, ``Symbol``).

Anything else raises :class:`Unusual` and the caller reads the text with ``edn_format`` (so its
values and its error messages stay the reference): tagged literals (``#inst``, ``#uuid``...),
characters, metadata, namespaced maps, ``##Inf``, ratios, hex and ``M`` numbers, spellings that
PLY would split into several tokens, and every malformed text. So are what
:func:`~agenttree.edn_source.check_structure` refuses (a second top-level form, a key twice in
a map or an element twice in a set as written, nesting deeper than its bound): the caller's
check says what is wrong. ``tests/test_edn_fast.py`` compares both readers on generated text.
"""

from __future__ import annotations

import re
from typing import Any

from edn_format import ImmutableDict, ImmutableList, Keyword, Symbol
from edn_format.edn_lex import KEYWORD, SYMBOL, decode_escapes

from .collector import collector_paused


class Unusual(Exception):
    """The text holds something this reader leaves to ``edn_format``."""


_TOKENS = re.compile(r"""
    [ \t\n,]*(?:;[^\n]*[ \t\n,]*)*
    (?:
        (?P<string>"[^"\\]*(?:\\.[^"\\]*)*")
      | (?P<open>\#\{|[\[{(])
      | (?P<close>[\]})])
      | (?P<discard>\#_)
      | (?P<atom>[^ \t\n,\[\]{}()";]+)
      | (?P<other>[\s\S])
      | (?P<end>\Z)
    )
""", re.VERBOSE)
"""The tokens, as ``edn_format``'s lexer delimits them (its ignored characters are exactly
space, tab, newline and comma; a string's ``\\.`` does not take a newline), each with the
spaces and comments before it (skipped in the same match: half the matches otherwise). An atom
is all up to the next delimiter, accepted only when PLY would read it whole as one token."""

# PLY's rules, as edn_format writes them: a keyword or symbol atom is accepted when the rule
# matches it whole (PLY takes the rule's first match, so a shorter one means several tokens).
_KEYWORD = re.compile(KEYWORD)
_SYMBOL = re.compile(SYMBOL)
_INTEGER = re.compile(r"[+-]?(?:0|[1-9]\d*)N?")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+)")
_SYMBOL_START = re.compile(r"[A-Za-z]")
"""Symbols starting otherwise (``+x``, ``.5``, ``-``...) meet PLY's number rules first."""

_CONSTANTS: dict[str, Any] = {"nil": None, "true": True, "false": False}
_CLOSER = {"[": "]", "(": ")", "{": "}", "#{": "}"}


def _atom(text: str) -> Any:
    """The value of an atom token, as edn_format reads it; :class:`Unusual` if it would not
    read it as one token of a kind handled here."""
    first = text[0]
    if first == ":":
        match = _KEYWORD.match(text)
        if match is not None and match.end() == len(text):
            return Keyword(text[1:])
    elif first.isdigit() or first in "+-":
        if _INTEGER.fullmatch(text) and len(text) < 4000:  # int()'s bound on digits
            return int(text.rstrip("N"))
        if _FLOAT.fullmatch(text):
            return float(text)
    elif _SYMBOL_START.match(first):
        match = _SYMBOL.match(text)
        if match is not None and match.end() == len(text):
            return _CONSTANTS[text] if text in _CONSTANTS else Symbol(text)
    raise Unusual(text)


def _string(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body
    try:
        return decode_escapes(body)  # edn_format's own unescaping (Python's escapes)
    except Exception:  # e.g. a cut-short \u escape: edn_format's error, from edn_format
        raise Unusual(token) from None


class _Open:
    """A collection being read: its bracket, its values so far, pending ``#_`` discards, and
    the texts of its keys (a map) or elements (a set) as written."""

    __slots__ = ("bracket", "discard", "items", "written")

    def __init__(self, bracket: str) -> None:
        self.bracket = bracket
        self.items: list[Any] = []
        self.discard = 0
        self.written: set[str] | None = set() if bracket in ("{", "#{") else None


def _build(form: _Open, alone: dict[int, dict[Keyword, None]]) -> Any:
    items = form.items
    if form.bracket == "[":
        return ImmutableList(items, copy=False)
    if form.bracket == "(":
        return tuple(items)
    if form.bracket == "#{":
        return frozenset(items)
    if len(items) % 2:
        raise Unusual("a map with an odd number of forms")
    # ``Keyword`` hashes in Python (a dict and a frozenset per call); a dict copied from a
    # dict keeps the hashes it stored, so each keyword is hashed once per text, in ``alone``.
    built: dict[Any, Any] = {}
    for key, value in zip(items[::2], items[1::2], strict=True):
        if type(key) is Keyword:
            built.update(dict.fromkeys(alone[id(key)], value))
        else:
            built[key] = value
    return ImmutableDict(built)


@collector_paused()
def loads_plain(text: str, max_nesting: int) -> Any:
    """``text`` read as EDN, as ``edn_format.loads`` reads it (``None`` for no form at all).

    Raises:
        Unusual: ``text`` holds something this reader does not handle, is malformed, or holds
            what ``check_structure`` refuses: read it with ``edn_format`` (after the check).
    """
    top = _Open("top")
    stack = [top]
    atoms: dict[str, Any] = {}  # an atom's value by its text (plans repeat their keywords)
    alone: dict[int, dict[Keyword, None]] = {}  # each keyword of ``atoms`` in a dict of its own
    atom = _atom
    # All tokens in one call (a tuple of the groups each, the matched one non-empty): no
    # match object and no method call per token.
    for string, opening, closing, discard, token, other, _ in _TOKENS.findall(text):
        if token:  # an atom
            try:
                value = atoms[token]
            except KeyError:
                value = atoms[token] = atom(token)
                if type(value) is Keyword:
                    alone[id(value)] = {value: None}
        elif string:
            value = _string(string)
            token = string
        elif opening:
            if len(stack) > max_nesting:
                raise Unusual("nested too deep")
            stack.append(_Open(opening))
            continue
        elif closing:
            form = stack.pop()
            if len(stack) == 0 or _CLOSER[form.bracket] != closing or form.discard:
                raise Unusual(closing)
            value = _build(form, alone)  # (a collection is not compared as written)
        elif discard:
            stack[-1].discard += 1
            continue
        elif other:
            raise Unusual(other)
        else:  # the end
            break
        form = stack[-1]
        if form.discard:
            form.discard -= 1
            continue
        if form.written is not None and token and (form.bracket == "#{"
                                                   or not len(form.items) % 2):
            if token in form.written:
                raise Unusual("written twice")
            form.written.add(token)
        form.items.append(value)
    if len(stack) > 1 or top.discard or len(top.items) > 1:
        raise Unusual("unclosed, a dangling #_ or a second form")
    return top.items[0] if top.items else None
