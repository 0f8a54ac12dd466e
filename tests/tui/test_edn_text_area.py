"""The plan editor highlights EDN: keywords, strings, numbers, comments, (sh ...) forms."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult

from tui.widgets.edn_text_area import EdnTextArea, edn_highlights

PLAN = '{:task/id "root" ; the root\n :goal "é ok" :acceptance [(sh "true")] :n 3 :ok nil}\n'


def tokens(line: str) -> list[tuple[str, str]]:
    raw = line.encode()
    return [(name, raw[start:end].decode()) for start, end, name in edn_highlights(line)]


def test_tokens_of_a_line_in_byte_offsets() -> None:
    assert tokens(PLAN.splitlines()[0]) == [
        ("keyword", ":task/id"), ("string", '"root"'), ("comment", "; the root")]
    assert tokens(PLAN.splitlines()[1]) == [
        ("keyword", ":goal"), ("string", '"é ok"'), ("keyword", ":acceptance"),
        ("function", "sh"), ("string", '"true"'), ("keyword", ":n"), ("number", "3"),
        ("keyword", ":ok"), ("boolean", "nil")]


def test_no_false_matches_inside_words_and_strings() -> None:
    assert tokens('"a :b ; c 12"') == [("string", '"a :b ; c 12"')]
    assert tokens("root-2 nil? :x2") == [("keyword", ":x2")]
    assert tokens('"never closed') == [("string", '"never closed')]


def test_the_editor_draws_with_highlights() -> None:
    class Editor(App[None]):
        def compose(self) -> ComposeResult:
            yield EdnTextArea(PLAN, id="ed")

    async def main() -> dict[int, list[tuple[int, int, str]]]:
        app = Editor()
        async with app.run_test(size=(80, 10)) as pilot:
            area = app.query_one(EdnTextArea)
            area.insert(":added 1 ", (1, 1))
            await pilot.pause()
            return {i: list(h) for i, h in area._highlights.items() if h}

    highlights = asyncio.run(main())
    names = [name for _, _, name in highlights[1]]
    assert names[:2] == ["keyword", "number"]  # the edit is highlighted too
    assert "string" in names and "function" in names
