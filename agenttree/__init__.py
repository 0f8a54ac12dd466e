"""agenttree: trees of LLM agents on Trio's structured concurrency.

The engine (this package) never imports the terminal UI (``tui``).
"""

__version__ = "0.1.0"
