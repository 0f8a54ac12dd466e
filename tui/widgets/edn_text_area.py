"""A TextArea that highlights EDN (the plan format), without a tree-sitter grammar.

Textual highlights through tree-sitter, and there is no Clojure/EDN grammar on PyPI; EDN's
lexical structure is simple enough for a line tokenizer: comments, strings, keywords (``:goal``),
numbers, ``true``/``false``/``nil``, and the symbol that opens a list (``(sh ...)``). Highlights
are byte ranges per line, as TextArea's renderer expects; a string that runs past the end of its
line is highlighted to the end of that line.
"""

from __future__ import annotations

import re

from textual.widgets import TextArea

_TOKEN = re.compile(r"""
    (?P<comment>;.*)
  | (?P<string>"(?:[^"\\]|\\.)*"?)
  | (?P<keyword>:[^\s()\[\]{}",;]+)
  | (?P<number>(?<![\w.*+!?<>=/-])[-+]?\d[\w.]*)
  | (?P<boolean>(?<![\w.*+!?<>=/:-])(?:true|false|nil)(?![\w.*+!?<>=/-]))
  | (?<=\()(?P<function>[^\s()\[\]{}",;:][^\s()\[\]{}",;]*)
""", re.VERBOSE)


def edn_highlights(line: str) -> list[tuple[int, int, str]]:
    """``(start byte, end byte, highlight name)`` for each token of one line of EDN."""
    out = []
    for match in _TOKEN.finditer(line):
        name = match.lastgroup
        assert name is not None
        start = len(line[: match.start()].encode())
        out.append((start, start + len(match.group().encode()), name))
    return out


class EdnTextArea(TextArea):
    """A TextArea whose text is highlighted as EDN, line by line."""

    def _build_highlight_map(self) -> None:
        # TextArea's own hook: it rebuilds the map after every edit, then renders from it.
        self._line_cache.clear()
        highlights = self._highlights
        highlights.clear()
        for index, line in enumerate(self.document.lines):
            highlights[index].extend(edn_highlights(line))
