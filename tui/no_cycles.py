"""Textual's render caches without the reference cycles they leave behind.

Two of Textual's caches make garbage that only the collector's full collection frees, with
everything it holds: a drawn line's ``Strip`` keeps seven small caches of its own.

- A ``Strip`` asked for itself (divided at its own width, as the compositor does with every
  line of every frame, or cropped and extended to the width it has) returns itself and keeps that
  answer in its own cache: the strip refers to itself.
- ``LRUCache.clear`` forgets its dict and head but leaves the ring of linked entries
  (``[prev, next, key, value]``) linked to itself: the agent tree clears its line cache at
  every node added and every resize, the tables theirs at every refill.

The TUI runs full collections rarely (for the keys' sake: see ``tui.app.GC_THRESHOLDS``), so
a live run of thousands of agents piled up tens of thousands of such strips between two of
them. :func:`free_at_once` makes these answers uncached (they cost nothing to compute) and
``clear`` unlink its entries, so reference counting frees them as soon as they are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.style import Style
from textual.cache import LRUCache
from textual.strip import Strip

_lru_clear = LRUCache.clear
_divide = Strip.divide
_crop_extend = Strip.crop_extend


def _clear_unlinked(self: LRUCache[Any, Any]) -> None:
    """Clear the cache, unlinking each entry so that no cycle is left."""
    for link in self._cache.values():
        link.clear()
    _lru_clear(self)


def _divide_uncached_whole(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    """``Strip.divide``, not caching the strip itself (cut only at its own end)."""
    length = self.cell_length
    cuts = [cut for cut in cuts if cut <= length]
    if cuts == [length]:
        return [self]
    return _divide(self, cuts)


def _crop_extend_uncached_whole(self: Strip, start: int, end: int,
                                style: Style | None) -> Strip:
    """``Strip.crop_extend``, not caching the strip itself (cropped to its whole width)."""
    if start == 0 and end == self.cell_length:
        return self
    return _crop_extend(self, start, end, style)


def _links_are_lists() -> bool:
    """Whether this Textual's ``LRUCache`` keeps its entries as linked lists, as
    :func:`_clear_unlinked` expects (a later Textual may not: then its ``clear`` is kept)."""
    probe: LRUCache[int, int] = LRUCache(2)
    probe[0] = 0
    links = getattr(probe, "_cache", None)
    return isinstance(links, dict) and all(type(link) is list for link in links.values())


def free_at_once() -> None:
    """Patch Textual's ``Strip`` and ``LRUCache`` (see the module's docstring); idempotent."""
    if _links_are_lists():
        LRUCache.clear = _clear_unlinked  # type: ignore[method-assign]
    Strip.divide = _divide_uncached_whole  # type: ignore[method-assign]
    Strip.crop_extend = _crop_extend_uncached_whole  # type: ignore[method-assign]
