"""A token-bucket limiter for requests and tokens per minute, shared by a whole tree."""

from __future__ import annotations

import math

import trio


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets (``None``: no limit).

    Buckets start full and refill continuously on Trio's clock. :meth:`acquire` waits until a
    request and the estimated prompt tokens fit; :meth:`spend` charges tokens learned later
    (the completion), which may push the bucket below zero and delay later callers.
    """

    def __init__(self, requests_per_minute: int | None, tokens_per_minute: int | None) -> None:
        self.rpm = requests_per_minute
        self.tpm = tokens_per_minute
        self._requests = float(requests_per_minute or 0)
        self._tokens = float(tokens_per_minute or 0)
        self._last = -math.inf

    def _refill(self) -> None:
        now = trio.current_time()
        elapsed = 0.0 if self._last == -math.inf else now - self._last
        self._last = now
        if self.rpm:
            self._requests = min(self.rpm, self._requests + elapsed * self.rpm / 60)
        if self.tpm:
            self._tokens = min(self.tpm, self._tokens + elapsed * self.tpm / 60)

    async def acquire(self, tokens: int = 0) -> None:
        """Wait for room for one request of about ``tokens`` prompt tokens, then take it."""
        if not self.rpm and not self.tpm:
            await trio.lowlevel.checkpoint()
            return
        while True:
            self._refill()
            need_tokens = min(tokens, self.tpm) if self.tpm else 0
            wait = 0.0
            if self.rpm and self._requests < 1:
                wait = (1 - self._requests) * 60 / self.rpm
            if self.tpm and self._tokens < need_tokens:
                wait = max(wait, (need_tokens - self._tokens) * 60 / self.tpm)
            if wait <= 0:
                if self.rpm:
                    self._requests -= 1
                if self.tpm:
                    self._tokens -= need_tokens
                await trio.lowlevel.checkpoint()
                return
            await trio.sleep(wait)

    def spend(self, tokens: int) -> None:
        """Charge tokens learned after the fact (e.g. the completion)."""
        if self.tpm:
            self._refill()
            self._tokens -= tokens
