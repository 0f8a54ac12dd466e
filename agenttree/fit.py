"""Making any event fit one log line: the log writer's last line of defence.

An event whose line would be longer than the log's bound (a model's 2 MB answer, a 1 MB goal)
keeps its type and every field, so the fold always works; only its longest strings are cut,
each keeping its head and a marker with its full size (:data:`MARK`). If strings alone cannot
make room (a list of a million items), the largest lists and objects keep a prefix and a marker
item. A value JSON cannot hold (a whole number beyond 64 bits, data nested too deep) is
replaced by a marker string; every input surface refuses such values first
(:mod:`agenttree.numbers`), so this only guards against a path that was missed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import orjson

from .events import Event
from .numbers import LIMIT

MARK = "…[cut to fit the log: {size:,} bytes in all]"
"""Appended to a string that was cut; ``size`` is the length of the whole string's JSON."""
MAX_DEPTH = 64
"""Data nested deeper than this is replaced by a marker (the JSON writer stops at 255)."""
_ROUNDS = 8


def fit_event(ev: Event, length: Callable[[Event], int], limit: int) -> Event:
    """``ev``, or a copy whose ``length`` (its encoded line's, which may raise for values JSON
    cannot hold) is at most ``limit``: over-long strings cut, then over-long containers; values
    JSON cannot hold replaced first. Every field is kept."""
    try:
        size = length(ev)
    except (TypeError, orjson.JSONEncodeError):
        ev = _replace(ev, _sanitize)
        size = length(ev)
    excess = size - limit
    for _ in range(_ROUNDS):
        if excess <= 0:
            return ev
        fields = attrs.asdict(ev, recurse=False)
        cut = _cut_strings(fields, excess) or _cut_containers(fields, excess)
        ev = attrs.evolve(ev, **cut)
        excess = length(ev) - limit
    if excess > 0:
        raise ValueError(f"{ev.TYPE} cannot be made to fit {limit} bytes")
    return ev


def _replace(ev: Event, fix: Callable[[Any, int], Any]) -> Event:
    return attrs.evolve(ev, **{k: fix(v, 0) for k, v in attrs.asdict(ev, recurse=False).items()})


def _sanitize(value: Any, depth: int) -> Any:
    """``value`` with what JSON cannot hold made into markers (numbers clamped)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return max(-LIMIT, min(LIMIT, value))
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list | tuple):
        if depth >= MAX_DEPTH:
            return f"…[nested deeper than {MAX_DEPTH} levels: cut]"
        if isinstance(value, dict):
            return {str(k): _sanitize(v, depth + 1) for k, v in value.items()}
        return [_sanitize(v, depth + 1) for v in value]
    return repr(value)


def _size(value: Any) -> int:
    return len(orjson.dumps(value))


def _strings(value: Any, out: list[int]) -> None:
    if isinstance(value, str):
        out.append(_size(value))
    elif isinstance(value, dict):
        for k, v in value.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _strings(v, out)


def _cut_strings(fields: dict[str, Any], excess: int) -> dict[str, Any] | None:
    """``fields`` with every string longer than a common cap cut so that about ``excess`` bytes
    go; ``None`` if cutting strings cannot save that much."""
    sizes: list[int] = []
    _strings(fields, sizes)
    room = len(MARK) + 16

    def saved(cap: int) -> int:
        return sum(s - cap - room for s in sizes if s > cap + room)

    if not sizes or saved(0) < excess:
        return None
    low, high = 0, max(sizes)  # the largest cap that still saves enough
    while low < high:
        mid = (low + high + 1) // 2
        if saved(mid) >= excess:
            low = mid
        else:
            high = mid - 1
    return {k: _cap(v, low, room) for k, v in fields.items()}


def _cap(value: Any, cap: int, room: int) -> Any:
    if isinstance(value, str):
        size = _size(value)
        if size <= cap + room:
            return value
        keep = len(value) * cap // size  # characters, in proportion to their encoded bytes
        return value[:keep] + MARK.format(size=size)
    if isinstance(value, dict):
        return {_cap(k, cap, room): _cap(v, cap, room) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_cap(v, cap, room) for v in value]
    return value


def _cut_containers(fields: dict[str, Any], excess: int) -> dict[str, Any]:
    """``fields`` with the largest list or object (by encoded size) halved, plus a marker."""
    best: tuple[int, list[Any]] | None = None
    stack: list[tuple[Any, list[Any]]] = [(v, [k]) for k, v in fields.items()]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict | list | tuple) and len(value) > 1:
            size = _size(value)
            if best is None or size > best[0]:
                best = (size, path)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            stack.extend((v, [*path, k]) for k, v in items)
    if best is None:
        raise ValueError(f"nothing left to cut ({excess} bytes too long)")
    return _halve(fields, best[1], best[0])


def _halve(value: Any, path: list[Any], size: int) -> Any:
    if not path:
        keep = len(value) // 2
        note = f"…[{len(value) - keep} more items cut to fit the log: {size:,} bytes in all]"
        if isinstance(value, dict):
            return {**dict(list(value.items())[:keep]), "…": note}
        return [*list(value)[:keep], note]
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {k: _halve(v, rest, size) if k == head else v for k, v in value.items()}
    return [_halve(v, rest, size) if i == head else v for i, v in enumerate(value)]
