"""An agent's inbox: two lanes, one reader.

**Mail** — chat and state messages from other agents and from people — waits in a bounded lane:
when it is full a sender waits (:meth:`Inbox.send`) or is told (:meth:`Inbox.send_nowait`
raises ``trio.WouldBlock``), so a chatty agent is slowed down, never dropped.

**Notices** from the engine itself — a child's end, a grant, a lock conflict to decide — go in
a second lane that has no bound and never blocks (:meth:`Inbox.notify`): the engine never waits
for an agent, and never loses what it sends, however many notices arrive at once (a thousand
workers asking for one lock give their common ancestor a thousand conflicts in a millisecond).
The lane is accounted: :attr:`Inbox.notices` is its length and :attr:`Inbox.peak_notices` the
most it ever held. The reader takes notices first.

The inbox's one reader, its agent, closes it as it ends: from then on a send is refused (it
returns ``False``: being refused is an answer a sender acts on, not an error), and the reader may
still take what was queued, then gets ``trio.EndOfChannel``. Senders never close it and need no
clone of their own: they reach an inbox only through the router, which forgets it as its agent
ends.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import trio


class Inbox:
    """A bounded mail lane and an unbounded notice lane, read by one task.

    Args:
        size: how many mail items may wait before senders wait.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.peak_notices = 0
        self._mail: deque[Any] = deque()
        self._notices: deque[Any] = deque()
        self._arrived = trio.lowlevel.ParkingLot()
        self._room = trio.lowlevel.ParkingLot()
        self._closed = False

    @property
    def notices(self) -> int:
        """Notices waiting to be read."""
        return len(self._notices)

    def __len__(self) -> int:
        return len(self._mail) + len(self._notices)

    # --- senders ----------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether the reader has ended (sends are refused)."""
        return self._closed

    def send_nowait(self, item: Any) -> bool:
        """Queue mail; ``False`` once the inbox is closed. Raises ``trio.WouldBlock`` when the
        mail lane is full."""
        if self._closed:
            return False
        if len(self._mail) >= self.size:
            raise trio.WouldBlock
        self._mail.append(item)
        self._arrived.unpark()
        return True

    async def send(self, item: Any) -> bool:
        """Queue mail, waiting while the mail lane is full; ``False`` once the inbox is
        closed (also while waiting)."""
        await trio.lowlevel.checkpoint_if_cancelled()
        parked = False
        while True:
            try:
                sent = self.send_nowait(item)
            except trio.WouldBlock:
                await self._room.park()
                parked = True
                continue
            if not parked:  # (parking was the checkpoint)
                await trio.lowlevel.cancel_shielded_checkpoint()
            return sent

    def notify(self, item: Any) -> bool:
        """Queue a notice from the engine: never blocks, never refused for being many;
        ``False`` once the inbox is closed."""
        if self._closed:
            return False
        self._notices.append(item)
        self.peak_notices = max(self.peak_notices, len(self._notices))
        self._arrived.unpark()
        return True

    # --- the reader -------------------------------------------------------------------------

    def receive_nowait(self) -> Any:
        """The next notice, else the next mail. Raises ``trio.WouldBlock`` when both lanes are
        empty, ``trio.EndOfChannel`` when they are and the inbox is closed."""
        if self._notices:
            return self._notices.popleft()
        if self._mail:
            item = self._mail.popleft()
            self._room.unpark()
            return item
        if self._closed:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> Any:
        """The next item, waiting for one. Raises ``trio.EndOfChannel`` when closed and
        empty."""
        await trio.lowlevel.checkpoint_if_cancelled()
        parked = False
        while True:
            try:
                item = self.receive_nowait()
            except trio.WouldBlock:
                await self._arrived.park()
                parked = True
                continue
            if not parked:  # (parking was the checkpoint)
                await trio.lowlevel.cancel_shielded_checkpoint()
            return item

    def __aiter__(self) -> Inbox:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def close(self) -> None:
        """The reader ends: no more sends (waiting senders are refused), and a waiting reader
        gets ``trio.EndOfChannel`` once the lanes are empty."""
        self._closed = True
        self._room.unpark_all()
        self._arrived.unpark_all()
