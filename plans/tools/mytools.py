"""Python tools for plans/tools.edn: plain functions whose schema agenttree reads from their
signatures, type hints and docstrings. They run in the engine process (trusted code)."""

from __future__ import annotations

from collections import Counter

import trio


def word_stats(text: str, top: int = 3) -> dict:
    """Count the words of a text and name the most common ones.

    Args:
        text: the text to count.
        top: how many of the most common words to name.
    """
    words = text.lower().split()
    return {"words": len(words), "distinct": len(set(words)),
            "top": [w for w, _ in Counter(words).most_common(top)]}


async def pause(seconds: float, note: str = "") -> str:
    """Wait a moment, then say so (an async tool: it runs on Trio and is cancelled with its
    agent).

    Args:
        seconds: how long to wait.
        note: what to say when done.
    """
    await trio.sleep(seconds)
    return note or f"waited {seconds:g} s"
