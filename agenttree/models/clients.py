"""Opening the client for a model spec: which provider's client, with which settings."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import trio

from ..plan import Provider
from .anthropic import AnthropicClient
from .base import ModelClient, Retry
from .keys import api_key_for
from .openai import OpenAIClient, output_limit_param
from .ratelimit import RateLimiter
from .spec import ModelSpec


def open_client(spec: ModelSpec, provider: Provider, http: httpx.AsyncClient, *,
                limiter: trio.CapacityLimiter, rate: RateLimiter, rng: random.Random,
                retries_left: Callable[[], float | None], on_retry: Callable[[Retry], None],
                on_delta: Callable[[str], None]) -> ModelClient:
    """The client for ``spec`` (any provider but ``scripted``), with its provider's settings:
    its key (:func:`~agenttree.models.keys.api_key_for`), streaming (``on_delta`` is used only
    when the provider streams) and, for OpenAI-compatible servers, the output limit's name.

    Raises:
        ModelError: the key's variable is not set.
    """
    common = {"api_key": api_key_for(spec, provider.api_key_env), "limiter": limiter,
              "rate": rate, "rng": rng, "retries_left": retries_left, "on_retry": on_retry,
              "on_delta": on_delta if provider.stream else None}
    if spec.provider == "anthropic":
        return AnthropicClient(spec, http, **common)
    return OpenAIClient(spec, http, limit_param=output_limit_param(spec, provider), **common)
