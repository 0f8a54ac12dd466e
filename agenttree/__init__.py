"""agenttree: trees of LLM agents on Trio's structured concurrency.

The Python API (docs/python.md) is imported on first use, so the command line, which imports
this package, loads none of it::

    plan = agenttree.load_plan("plans/tools.edn")
    state = await agenttree.run(plan, run_dir="runs/x", tools=[lookup])
    async for entry in agenttree.iter_events("runs/x"): ...

The engine (this package) never imports the terminal UI (``tui``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "iter_events", "load_plan", "run"]

_API = frozenset({"iter_events", "load_plan", "run"})


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(importlib.import_module(".api", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_API})
