"""Model spec strings: which provider, which model, where.

    scripted | scripted:NAME                     the offline model (plays task scripts)
    openai:MODEL                                 OpenAI's API (key from $OPENAI_API_KEY)
    openai:MODEL@http://127.0.0.1:8000/v1        any OpenAI-compatible server (vLLM, llama.cpp)
    ollama:MODEL                                 Ollama's OpenAI-compatible endpoint
    anthropic:MODEL                              Anthropic's Messages API ($ANTHROPIC_API_KEY)
    anthropic:MODEL@https://gateway.example/v1   a server speaking the Messages API

Model names may contain ``:`` (``qwen3:32b``); the base URL follows the last ``@``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import attrs

from ..errors import UserError

OPENAI_URL = "https://api.openai.com/v1"
OLLAMA_URL = "http://127.0.0.1:11434/v1"
ANTHROPIC_URL = "https://api.anthropic.com/v1"
PROVIDERS = ("scripted", "openai", "ollama", "anthropic")
DEFAULT_URLS = {"openai": OPENAI_URL, "ollama": OLLAMA_URL, "anthropic": ANTHROPIC_URL}
T = TypeVar("T")


@attrs.frozen(kw_only=True)
class ModelSpec:
    """A parsed model spec."""

    provider: str
    model: str
    base_url: str | None = None

    @property
    def text(self) -> str:
        """The spec as written."""
        if self.provider == "scripted":
            return "scripted" + (f":{self.model}" if self.model else "")
        at = f"@{self.base_url}" if self.base_url and self._custom_url else ""
        return f"{self.provider}:{self.model}{at}"

    @property
    def _custom_url(self) -> bool:
        return self.base_url != DEFAULT_URLS.get(self.provider)


def parse_model_spec(text: str) -> ModelSpec:
    """Parse a spec string; raises :class:`UserError` saying what is wrong."""
    if text == "scripted" or text.startswith("scripted:"):
        return ModelSpec(provider="scripted", model=text[len("scripted:"):])
    provider, colon, rest = text.partition(":")
    if not colon or provider not in PROVIDERS:
        raise UserError(f"model {text!r}: write provider:model, with provider one of "
                        f"{', '.join(PROVIDERS)} (e.g. openai:gpt-5.2, ollama:qwen3:14b, "
                        "anthropic:claude-sonnet-4-5, openai:qwen3:32b@http://127.0.0.1:8000/v1)")
    model, at, url = rest.rpartition("@") if "@" in rest else (rest, "", "")
    if not model:
        raise UserError(f"model {text!r}: no model name after {provider}:")
    if at and not url.startswith(("http://", "https://")):
        raise UserError(f"model {text!r}: the part after @ must be an http(s) URL")
    return ModelSpec(provider=provider, model=model,
                     base_url=(url or DEFAULT_URLS[provider]).rstrip("/"))


def by_model(table: Mapping[str, T], model: str) -> T | None:
    """The entry of a table keyed by model (``:prices``, ``:model-settings``) for ``model``: by
    its full spec, else by its bare model name (``"gpt-5.2"`` for ``openai:gpt-5.2``); ``None``
    when neither is there."""
    if not table:
        return None
    found = table.get(model)
    if found is None and ":" in model:
        found = table.get(parse_model_spec(model).model)
    return found
