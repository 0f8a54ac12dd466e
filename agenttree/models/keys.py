"""API keys: read from the environment, only for the endpoint they belong to, remembered for
redaction (:mod:`agenttree.redact`). This is the only place keys are read."""

from __future__ import annotations

import os

from ..redact import add_secret
from .base import ModelError
from .spec import ANTHROPIC_URL, OPENAI_URL, ModelSpec

OWN_KEYS = {("openai", OPENAI_URL): "OPENAI_API_KEY",
            ("anthropic", ANTHROPIC_URL): "ANTHROPIC_API_KEY"}
"""The variable each provider's own API takes its key from, when the plan names none."""


def api_key_for(spec: ModelSpec, key_env: str | None = None) -> str | None:
    """The key for a provider, from the environment variable the plan names (``key_env``),
    else ``$OPENAI_API_KEY`` for OpenAI's own API and ``$ANTHROPIC_API_KEY`` for Anthropic's;
    none for other servers: a key is never sent to a URL it was not configured for.

    Raises:
        ModelError: the variable that should hold the key is not set.
    """
    if key_env is None:
        key_env = OWN_KEYS.get((spec.provider, spec.base_url or ""))
    if key_env is None:
        return None
    key = os.environ.get(key_env)
    if not key:
        raise ModelError(f"{spec.text}: set the environment variable {key_env} to its API key")
    add_secret(key)
    return key
