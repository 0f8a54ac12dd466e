"""A fast reader for the EDN that plans are written in, giving what ``edn_format`` gives.

``edn_format`` parses with PLY at about 0.5 MB/s, so a 1.2 MB machine-written plan took seconds
to read before any reconcile could start. :func:`loads_plain` reads the common EDN of plans
(keywords, symbols, strings with escapes, integers incl. big and ``N`` ones, floats, ``nil``
``true`` ``false``, vectors, lists, maps, sets, comments, ``#_`` discards) about ten times as
fast, into the very values ``edn_format.loads`` builds (``ImmutableDict``, ``ImmutableList``,
tuples, frozensets, ``Keyword``, ``Symbol``). Each distinct token is read once, and a
collection written again with the very same items is given as the one value read before
(they are immutable; machine-written plans repeat a script or a budget in every task).

Anything else raises :class:`Unusual` and the caller reads the text with ``edn_format`` (so its
values and its error messages stay the reference): tagged literals (``#inst``, ``#uuid``...),
characters, metadata, namespaced maps, ``##Inf``, ratios, hex and ``M`` numbers, spellings that
PLY would split into several tokens, and every malformed text. So are what
:func:`~agenttree.edn_source.check_structure` refuses (a second top-level form, a key twice in
a map or an element twice in a set as written, nesting deeper than its bound), and equal keys
or elements written differently (``1`` and ``1N``): the caller's check says what is wrong, or
edn_format reads it. ``tests/test_edn_fast.py`` compares both readers on generated text.
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
    [ \t\n,]*+                   # (what is ignored: skipped here, not a match of its own)
    (   [\[\]{}()] | \#\{ | \#_   # a bracket, a set's opening, a discard
      | [^ \t\n,\[\]{}()";]+      # an atom: all up to the next delimiter
      | "[^"\\]*(?:\\.[^"\\]*)*"  # a string (its \. takes no newline, as in edn_format's lexer)
      | ;[^\n]*                   # a comment
      | [^ \t\n,]                 # anything else: malformed, or not handled here
    )
""", re.VERBOSE)
"""The tokens, as ``edn_format``'s lexer delimits them (its ignored characters are exactly
space, tab, newline and comma), the commonest kinds tried first. ``findall`` gives them as one
list of strings (its one group), no match object per token. An atom is accepted only when PLY
would read it whole as one token."""

# PLY's rules, as edn_format writes them: a keyword or symbol atom is accepted when the rule
# matches it whole (PLY takes the rule's first match, so a shorter one means several tokens).
_KEYWORD = re.compile(KEYWORD)
_SYMBOL = re.compile(SYMBOL)
_INTEGER = re.compile(r"[+-]?(?:0|[1-9]\d*)N?")
_FLOAT = re.compile(r"[+-]?\d+(?:\.\d+(?:[eE][+-]?\d+)?|[eE][+-]?\d+)")
_SYMBOL_START = re.compile(r"[A-Za-z]")
"""Symbols starting otherwise (``+x``, ``.5``, ``-``...) meet PLY's number rules first."""

_CONSTANTS: dict[str, Any] = {"nil": None, "true": True, "false": False}


class _Mark:
    """What a token that is not a value does: opens or closes a collection (``kind`` is its
    bracket), discards the next form (``#_``), or nothing (a comment)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind


_NIL = _Mark("nil")
"""``nil``, whose value ``None`` the token cache cannot hold (it means "not seen yet")."""
_MARKS: dict[str, _Mark] = {kind: _Mark(kind) for kind in ("[", "(", "{", "#{", "]", ")", "}",
                                                            "#_")}
_CLOSER = {"[": "]", "(": ")", "{": "}", "#{": "}"}
"""Each opening bracket's closing one."""
_COMMENT = _Mark(";")


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


def _value(token: str) -> Any:
    """What a token is: its value (:data:`_NIL` for ``nil``) or its :class:`_Mark`."""
    first = token[0]
    if first == '"' and len(token) > 1:  # (a lone " is an unclosed string)
        return _string(token)
    if first == ";":
        return _COMMENT
    if token in _MARKS:
        return _MARKS[token]
    value = _atom(token)
    return _NIL if value is None else value


def _build(bracket: str, items: list[Any], alone: dict[int, dict[Keyword, None]]) -> Any:
    """The collection opened by ``bracket`` holding ``items``, as edn_format builds it."""
    if bracket == "[":
        return ImmutableList(items, copy=False)
    if bracket == "(":
        return tuple(items)
    if bracket == "#{":
        value = frozenset(items)
        if len(value) != len(items):
            raise Unusual("an element twice in a set")  # the structure check says where
        return value
    if len(items) % 2:
        raise Unusual("a map with an odd number of forms")
    # ``Keyword`` hashes in Python (a dict and a frozenset per call); a dict copied from a
    # dict keeps the hashes it stored, so each keyword is hashed once per text, in ``alone``.
    pairs: dict[Any, Any] = {}
    for k, v in zip(items[::2], items[1::2], strict=True):
        if type(k) is Keyword:
            pairs.update(dict.fromkeys(alone[id(k)], v))
        else:
            pairs[k] = v
    if 2 * len(pairs) != len(items):
        raise Unusual("a key twice in a map")  # the structure check says where
    return ImmutableDict(pairs)


@collector_paused()
def loads_plain(text: str, max_nesting: int) -> Any:
    """``text`` read as EDN, as ``edn_format.loads`` reads it (``None`` for no form at all).
    Equal collections may be one object: values are immutable.

    Raises:
        Unusual: ``text`` holds something this reader does not handle, is malformed, or holds
            what ``check_structure`` refuses: read it with ``edn_format`` (after the check).
    """
    seen: dict[str, Any] = {}  # what each token is, by its text (plans repeat their keywords)
    known = seen.get
    alone: dict[int, dict[Keyword, None]] = {}  # each keyword of ``seen`` in a dict of its own
    # Each collection by its bracket and its items' identities: plans repeat themselves (a
    # script, a budget, a call's arguments in every task), and an immutable value read again
    # is the one built before (which keeps its items, so their identities stay theirs). Items
    # are told apart by identity, never by equality (``1`` and ``1.0`` stay apart): each atom
    # is read once per text. A validator may trust a value it checked once (plan's options).
    # A collection holding a token read for the first time, or a collection just built, is
    # new: it is neither looked up nor kept (a task's map with its own id, its children).
    built: dict[tuple[Any, ...], Any] = {}
    # The collection being read (first: the top level), and whether it is new.
    bracket, items, discard, new = "", [], 0, False
    outer: list[tuple[str, list[Any], int, bool]] = []  # the collections around it
    tokens = _TOKENS.findall(text)
    for token, value in zip(tokens, map(known, tokens), strict=True):  # (looked up in turn)
        if value is None:
            value = seen[token] = _value(token)
            new = True
            if type(value) is Keyword:
                alone[id(value)] = {value: None}
        if type(value) is _Mark:
            kind = value.kind
            if kind in _CLOSER:  # an opening bracket
                if len(outer) >= max_nesting:
                    raise Unusual("nested too deep")
                outer.append((bracket, items, discard, new))
                bracket, items, discard, new = kind, [], 0, False
                continue
            if kind == "#_":
                discard += 1
                continue
            if kind == ";":
                continue
            if kind == "nil":
                value = None
            else:  # a closing bracket
                if not outer or _CLOSER[bracket] != kind or discard:
                    raise Unusual(kind)
                if new:
                    value = _build(bracket, items, alone)
                else:
                    key = (bracket, *map(id, items))
                    value = built.get(key)
                    if value is None:
                        value = built[key] = _build(bracket, items, alone)
                        new = True
                bracket, items, discard, outer_new = outer.pop()
                new = new or outer_new
        if discard:
            discard -= 1
        else:
            items.append(value)
    if outer or discard or len(items) > 1:
        raise Unusual("unclosed, a dangling #_ or a second form")
    return items[0] if items else None
