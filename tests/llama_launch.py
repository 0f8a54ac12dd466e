"""Run llama-cpp-python's OpenAI-compatible server with its output capped.

Run by ``tests/realmodel.py`` with the ``.venv-llama`` interpreter (llama_cpp is not installed
in the project's own environment); the arguments are the server's own.

Why: with ``--chat_format chatml-function-calling`` and automatic tool choice,
llama-cpp-python 0.3.36 generates tool arguments and answers with ``max_tokens=None``, ignoring
the request's limit, so a small model's runaway JSON fills the whole context (minutes of
generation, then a prompt too long for the next turn). This caps every completion that asks
for no limit at ``AGENTTREE_LLAMA_MAX_TOKENS`` (default 128); requests that give a limit keep
it. Nothing else changes.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import llama_cpp.llama
from llama_cpp.server.__main__ import main

CAP = int(os.environ.get("AGENTTREE_LLAMA_MAX_TOKENS", "128"))
_create_completion = llama_cpp.llama.Llama.create_completion


def _capped(self: Any, *args: Any, **kwargs: Any) -> Any:
    if kwargs.get("max_tokens", 16) is None:
        kwargs["max_tokens"] = CAP
    return _create_completion(self, *args, **kwargs)


llama_cpp.llama.Llama.create_completion = _capped  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.exit(main())
