"""Reading EDN source files with errors that say where: shared by plans and container specs.

``edn_format`` reports no positions, so a :class:`Locator` finds lines in the source text by
searching for keys, and a :class:`Context` turns a message plus a key into an error naming file,
line and key (a :class:`~agenttree.errors.PlanError`, or the subclass the reader chooses)::

    ctx = Context(source="spec.edn", locate=Locator(text), error=SpecError)
    data = read_edn(ctx, text)                       # syntax errors located too
    check_keys(ctx, data, {"name", "containers"}, "the spec")
    name = expect(ctx, get(data, "name"), str, "a string", "name")

The helpers below validate one value each and raise the first problem found.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import edn_format
from edn_format import ImmutableDict, ImmutableList, Keyword, Symbol

from .edn_fast import Unusual, loads_plain
from .errors import PlanError

VECTOR = (ImmutableList, list, tuple)
"""EDN vectors and lists (a list is a tuple)."""
MAX_NESTING = 128
"""The deepest EDN source that is read: collections inside each other, at most this many."""


class Locator:
    """Finds lines in EDN source (comments ignored)."""

    def __init__(self, text: str) -> None:
        lines = text.splitlines()
        self.lines = [strip_comment(line) for line in lines] if ";" in text else lines

    def key_line(self, key: str, after: int | None) -> int | None:
        """The first line at or after ``after`` (default 1) with the keyword ``:key``; else
        ``after``."""
        pattern = re.compile(r"(?<![\w/.-]):" + re.escape(key) + r"(?![\w/.*+!?-])")
        return self.search(pattern, after or 1) or after

    def search(self, pattern: re.Pattern[str], start: int) -> int | None:
        """The first line at or after ``start`` matching ``pattern``."""
        for number in range(start, len(self.lines) + 1):
            if pattern.search(self.lines[number - 1]):
                return number
        return None

    def offset_line(self, offset: int) -> int:
        """The line holding character ``offset`` of the source."""
        seen = 0
        for number, line in enumerate(self.lines, 1):
            seen += len(line) + 1
            if seen > offset:
                return number
        return len(self.lines)


def strip_comment(line: str) -> str:
    """``line`` without its ``;`` comment (a ``;`` inside a string is kept)."""
    if ";" not in line:
        return line
    in_string = escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = in_string
        elif ch == '"':
            in_string = not in_string
        elif ch == ";" and not in_string:
            return line[:i]
    return line


@attrs.define
class Context:
    """What error messages need: the source name, the locator, the current anchor line (keys
    are searched for from there), and the error type raised."""

    source: str
    locate: Locator
    anchor: int | None = None
    error: type[PlanError] = PlanError

    def fail(self, message: str, key: str | None = None, line: int | None = None) -> PlanError:
        """The error for ``message`` about ``key`` (located from the anchor), or at ``line``."""
        if line is None:
            line = self.locate.key_line(key, self.anchor) if key else self.anchor
        return self.error(message, source=self.source, line=line,
                          key=f":{key}" if key else None)


def read_edn(ctx: Context, text: str) -> Any:
    """``text`` read as EDN: exactly one form, no key twice in a map (nor an element twice in a
    set), nested at most :data:`MAX_NESTING` deep.

    Raises:
        PlanError: (``ctx.error``) a syntax error, located when the reader says where; or any
            other failure of the reader (``0/0``...), which are input errors too.
    """
    try:
        return loads_plain(text, MAX_NESTING)  # the common EDN, fast
    except Unusual:
        pass  # the rest, and every error, as edn_format reads it
    check_structure(ctx, text)
    try:
        return edn_format.loads(text)
    except edn_format.EDNDecodeError as exc:
        raise syntax_error(ctx, str(exc)) from None
    except Exception as exc:  # the reader's own failures (0/0, deep nesting...) are input errors
        raise ctx.fail(f"not valid EDN: {type(exc).__name__}: {exc}", line=None) from None


_TOKEN = re.compile(r"""
    (?P<space>[\s,]+)
  | (?P<comment>;[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"?)
  | (?P<char>\\(?:newline|return|space|tab|u[0-9A-Fa-f]{4}|.))
  | (?P<discard>\#_)
  | (?P<symbolic>\#\#[A-Za-z-]+)
  | (?P<open>\#\{|[\[{(])
  | (?P<close>[\]})])
  | (?P<meta>\^)
  | (?P<tag>\#[^\s,\[\]{}()"]+)
  | (?P<atom>[^\s,\[\]{}()";]+)
""", re.VERBOSE | re.DOTALL)


@attrs.define
class _Form:
    """An open collection (or the top level) during :func:`check_structure`."""

    kind: str  # "top", "{", "#{", "[" or "("
    start: int
    count: int = 0
    discard: int = 0
    absorb: int = 0
    seen: dict[str, int] = attrs.Factory(dict)


def check_structure(ctx: Context, text: str) -> None:
    """What ``edn_format`` lets pass silently: a second top-level form, a key twice in a map
    (or an element twice in a set; compared as written), nesting beyond :data:`MAX_NESTING`.
    Malformed text is left to the reader, which says what is wrong.

    Raises:
        PlanError: (``ctx.error``) naming the line.
    """
    stack = [_Form("top", 0)]

    def line(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    def complete(written: str | None, offset: int) -> None:
        form = stack[-1]
        if form.discard:
            form.discard -= 1
            return
        if form.absorb:  # ^metadata: the next form is its value's metadata
            form.absorb -= 1
            return
        index = form.count
        form.count += 1
        if form.kind == "top" and index == 1:
            raise ctx.error("a second form after the first: a file holds one EDN value",
                            source=ctx.source, line=line(offset))
        if written is None or not (form.kind == "#{" or (form.kind == "{" and index % 2 == 0)):
            return
        first = form.seen.setdefault(written, offset)
        if first != offset:
            what = "key in a map" if form.kind == "{" else "element in a set"
            raise ctx.error(f"duplicate {what}: {written[:40]} (first at line {line(first)})",
                            source=ctx.source, line=line(offset))

    for match in _TOKEN.finditer(text):
        kind, offset = match.lastgroup, match.start()
        if kind in ("space", "comment", "tag"):  # a tag and its form are one form
            continue
        if kind == "open":
            if len(stack) > MAX_NESTING:
                raise ctx.error(f"nested deeper than {MAX_NESTING} levels",
                                source=ctx.source, line=line(offset))
            stack.append(_Form(match.group(), offset))
        elif kind == "close":
            if len(stack) > 1:
                opened = stack.pop()
                complete(None, opened.start)
        elif kind == "discard":
            stack[-1].discard += 1
        elif kind == "meta":
            stack[-1].absorb += 1
        else:
            complete(match.group(), offset)


def syntax_error(ctx: Context, message: str) -> PlanError:
    """The error for an ``edn_format`` syntax error message, with the line it points at."""
    line = None
    if m := re.search(r"lexpos (\d+)", message):
        line = ctx.locate.offset_line(int(m.group(1)))
    elif m := re.search(r"LexToken\([^,]+,'(.*?)',(\d+),(\d+)\)", message):
        line = ctx.locate.offset_line(int(m.group(3)))
        message = f"unexpected {m.group(1)!r}"
    elif "EOF" in message:
        line = len(ctx.locate.lines)
        message = "the file ends inside an unclosed ( [ { or string"
    return ctx.error(f"EDN syntax error: {message}", source=ctx.source, line=line)


def name_of(value: Any) -> str:
    """A keyword's name, anything else as a string."""
    return value.name if isinstance(value, Keyword) else str(value)


def kind_of(value: Any) -> str:
    """What ``value`` is, for an error message (``keyword :x``, ``string "..."``, ``a map``)."""
    if isinstance(value, bool) or value is None:
        return repr(value).lower().replace("none", "nil")
    if isinstance(value, Keyword):
        return f"keyword :{value.name}"
    if isinstance(value, str):
        return f'string "{value[:40]}"'
    if isinstance(value, int | float):
        return f"number {value}"
    if isinstance(value, Mapping):
        return "a map"
    if isinstance(value, frozenset):
        return "a set"
    if isinstance(value, tuple):
        return "a list"
    if isinstance(value, ImmutableList | list):
        return "a vector"
    return type(value).__name__


def named_maps(ctx: Context, raw: Any, key: str, example: str, *,
               entry_name: Callable[[Context, Any], str], entry_example: str, keys: set[str],
               what: str) -> Iterator[tuple[str, Mapping[Any, Any]]]:
    """The entries of ``raw``, the map at ``:key`` whose values are maps named by their keys
    (``{:calc {:command [...]}}``), each checked before it is yielded: its name is what
    ``entry_name(ctx, key)`` makes of the key (it raises for a bad one), its value a map of
    ``keys``. ``ctx.anchor`` is left at the entry's line, so the caller's errors about the
    entry point there.

    Raises:
        PlanError: (``ctx.error``) ``raw`` is not a map (expected ``example``), an entry is
            not a map (expected ``entry_example``) or has a key not in ``keys`` (named
            "``what`` :name").
    """
    expect(ctx, raw, Mapping, example, key)
    for raw_name, entry in raw.items():
        name = entry_name(ctx, raw_name)
        ctx.anchor = ctx.locate.key_line(name, ctx.anchor) or ctx.anchor
        expect(ctx, entry, Mapping, entry_example, name)
        check_keys(ctx, entry, keys, f"{what} :{name}")
        yield name, entry


def _sorted_list(items: list[Any]) -> list[Any]:
    return sorted(items, key=str)


_PLAIN_LEAVES = frozenset({str, int, float, bool, type(None)})
"""Types :func:`plain` returns as they are (and no subclass of theirs)."""


def plain(value: Any, on_set: Callable[[list[Any]], Any] = _sorted_list) -> Any:
    """EDN data as plain JSON-able data: keywords become their names, sets sorted lists (or
    whatever ``on_set`` makes of a set's plain members)."""
    if type(value) in _PLAIN_LEAVES:
        return value
    if type(value) is ImmutableDict:  # its own dict: no Keyword hashed again per item
        return {name_of(k): plain(v, on_set) for k, v in value.dict.items()}
    if isinstance(value, Keyword):
        return value.name
    if isinstance(value, Symbol):
        return str(value)
    if isinstance(value, Mapping):
        return {name_of(k): plain(v, on_set) for k, v in value.items()}
    if isinstance(value, frozenset):
        return on_set([plain(v, on_set) for v in value])
    if isinstance(value, VECTOR):
        return [plain(v, on_set) for v in value]
    return value


def read_source(path: str | Path, error: type[PlanError] = PlanError) -> str:
    """A source file's text; a missing or unreadable file is an ``error`` naming it."""
    path = Path(path)
    try:
        return path.read_text()
    except FileNotFoundError:
        raise error("no such file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read: {exc}", source=str(path)) from None


def check_keys(ctx: Context, mapping: Mapping[Any, Any], allowed: set[str], what: str) -> None:
    """Every key of ``mapping`` is a keyword in ``allowed`` (an unknown one gets a "did you
    mean" hint and the allowed list)."""
    for raw in mapping:
        key = name_of(raw)
        if not isinstance(raw, Keyword):
            raise ctx.fail(f"{what} keys must be keywords, got {kind_of(raw)}")
        if key not in allowed:
            near = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f" (did you mean :{near[0]}?)" if near else ""
            raise ctx.fail(f"unknown key in {what}{hint}; allowed: "
                           f"{' '.join(':' + k for k in sorted(allowed))}", key)


def by_name(mapping: Mapping[Any, Any]) -> dict[str, Any] | None:
    """A map's values by their keys' names, if every key is a keyword (``None`` if not)."""
    items = mapping.dict.items() if type(mapping) is ImmutableDict else mapping.items()
    out = {key.name: value for key, value in items if type(key) is Keyword}
    return out if len(out) == len(mapping) else None  # (keywords of one name are one key)


def keyed(ctx: Context, mapping: Mapping[Any, Any], allowed: set[str],
          what: str) -> dict[str, Any]:
    """:func:`check_keys`, and the map's values by key name: a validator that reads many keys
    looks each up by a string (a ``Keyword`` hashes in Python, slowly)."""
    out = by_name(mapping)
    if out is None or not out.keys() <= allowed:
        check_keys(ctx, mapping, allowed, what)  # the error check_keys always gave
    return out or {}  # (check_keys raised if it is None)


class _Probe(Keyword):
    """A keyword to look a key up with, its hash computed once: ``Keyword`` hashes by building
    a dict and a frozenset each time (a plan of 10,000 tasks made 250,000 lookups). It equals
    the ``Keyword`` of its name (the same ``__dict__``; the hash sits in a slot) and never
    leaves :func:`get`."""

    __slots__ = ("_hash",)

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._hash = Keyword.__hash__(self)

    def __eq__(self, other: object) -> bool:
        # Keyword's test, from this side too: Python asks a subclass first.
        return isinstance(other, Keyword) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return self._hash


@functools.cache
def _probe(key: str) -> _Probe:
    return _Probe(key)


def get(mapping: Mapping[Any, Any], key: str, default: Any = None) -> Any:
    """``mapping[:key]``, or ``default``."""
    if type(mapping) is ImmutableDict:
        return mapping.dict.get(_probe(key), default)  # what Mapping.get does, minus 3 calls
    return mapping.get(Keyword(key), default)


def expect(ctx: Context, value: Any, types: type | tuple[type, ...], expected: str,
           key: str) -> Any:
    """``value`` if it is one of ``types`` (a bool is not a number unless ``bool`` is named);
    else the error "expected <expected>, got <what it is>" at ``key``."""
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ctx.fail(f"expected {expected}, got {kind_of(value)}", key)
    if not isinstance(value, types):
        raise ctx.fail(f"expected {expected}, got {kind_of(value)}", key)
    return value
