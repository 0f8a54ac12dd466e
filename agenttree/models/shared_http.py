"""The one HTTP client a run's network models share, built when the first of them needs it.

Building an :class:`httpx.AsyncClient` imports httpx and httpcore and loads the CA bundle
(0.1-0.5 s); a run whose agents all play scripted models never pays that, nor does it import
httpx at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


class SharedHttp:
    """A lazily built :class:`httpx.AsyncClient`, closed with the run.

    Args:
        timeout_s: a request's read/write/pool timeout.
        connect_s: a connection's timeout.
        max_connections: connections open at once, across every provider.
    """

    def __init__(self, *, timeout_s: float, connect_s: float, max_connections: int) -> None:
        self.timeout_s = timeout_s
        self.connect_s = connect_s
        self.max_connections = max_connections
        self._client: httpx.AsyncClient | None = None

    @property
    def built(self) -> bool:
        """Whether a network model has asked for the client yet."""
        return self._client is not None

    def client(self) -> httpx.AsyncClient:
        """The client, built on the first call (never blocks)."""
        if self._client is None:
            import httpx  # here, not at the top: see the module's docstring

            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s, connect=self.connect_s),
                limits=httpx.Limits(max_connections=self.max_connections))
        return self._client

    async def aclose(self) -> None:
        """Close the client if it was built; a later :meth:`client` builds a new one."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
