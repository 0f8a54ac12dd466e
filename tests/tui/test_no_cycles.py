"""Textual's strips and caches, as the TUI runs them, leave no reference cycles behind
(:mod:`tui.no_cycles`): what they drop is freed at once, not at the next full collection."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator

import pytest
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.strip import Strip

import tui.app  # noqa: F401  (the app patches Textual when imported, as `agenttree tui` runs)


@pytest.fixture
def cycles() -> Iterator[Callable[[], int]]:
    """A function counting the objects only the cyclic collector could free since the test
    began (the collector is off meanwhile)."""
    gc.collect()
    gc.disable()
    try:
        yield gc.collect
    finally:
        gc.enable()


def _strip() -> Strip:
    return Strip([Segment("hello ", Style(bold=True)), Segment("world")], 11)


def test_a_strip_asked_for_its_whole_self_is_freed_with_its_last_reference(
        cycles: Callable[[], int]) -> None:
    strip = _strip()
    assert strip.divide([11]) == [strip]  # what the compositor asks of every line
    assert strip.divide([5, 11])[0].text == "hello"  # other cuts are still cut (and cached)
    assert strip.crop_extend(0, 11, None) is strip
    assert strip.crop_extend(0, 13, None).cell_length == 13
    del strip
    assert cycles() == 0


def test_a_cleared_lru_cache_frees_its_entries_at_once(cycles: Callable[[], int]) -> None:
    cache: LRUCache[int, Strip] = LRUCache(3)
    for i in range(5):
        cache[i] = _strip()
    cache.get(3)
    cache.clear()
    assert len(cache) == 0 and cache.get(3) is None
    cache[7] = _strip()  # still usable after a clear
    assert cache.get(7) is not None and len(cache) == 1
    cache.clear()
    del cache
    assert cycles() == 0


def test_a_textual_whose_cache_keeps_other_links_keeps_its_own_clear(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tui import no_cycles

    class OtherCache(LRUCache[int, int]):  # a later Textual's entries might be objects
        def __setitem__(self, key: int, value: int) -> None:
            self._cache = {key: (key, value)}

        def clear(self) -> None:
            self._cache = {}

    monkeypatch.setattr(no_cycles, "LRUCache", OtherCache)
    own_clear = OtherCache.clear
    no_cycles.free_at_once()
    assert OtherCache.clear is own_clear
