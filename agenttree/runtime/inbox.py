"""An agent's inbox: two lanes, one reader.

**Mail** — chat and state messages from other agents and from people — waits in a bounded lane:
when it is full a sender waits (:meth:`Inbox.send`) or is told (:meth:`Inbox.send_nowait`
raises ``trio.WouldBlock``), so a chatty agent is slowed down, never dropped. The bound is a
fixed size plus one item for each of the inbox's *senders* (an agent's running children): a
sender that waits holds its item anyway, so that room costs no memory a waiting sender would
not, and a fan-in — a thousand children that each report once, at the same moment — never
makes them wait; a chatty sender still waits once the lane is full. :attr:`Inbox.waits`
counts the sends that had to wait.

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
from collections.abc import Sized
from typing import Any

import trio


class Inbox:
    """A bounded mail lane and an unbounded notice lane, read by one task.

    Args:
        size: how many mail items may wait before senders wait, beyond ``senders``.
        senders: one more item may wait for each of these (live: an agent passes its meter,
            whose length is its running children, so the room follows them as they start and
            end).
    """

    __slots__ = ("_closed", "_mail", "_notices", "_reader", "_room", "_senders", "peak_notices",
                 "size", "waits")

    def __init__(self, size: int, senders: Sized = ()) -> None:
        self.size = size
        self._senders = senders
        self.peak_notices = 0
        self.waits = 0
        """How many sends found the mail lane full and waited for room."""
        # Lanes and parking lots are made when first needed: most agents in a wide tree never
        # receive anything, and ten thousand empty ones would cost ~2 KB each.
        self._mail: deque[Any] | None = None
        self._notices: deque[Any] | None = None
        self._reader: trio.lowlevel.Task | None = None
        """The reader while it waits for an item (one task: no parking lot needed)."""
        self._room: trio.lowlevel.ParkingLot | None = None
        """Senders waiting for room in the mail lane."""
        self._closed = False

    @property
    def notices(self) -> int:
        """Notices waiting to be read."""
        return len(self._notices) if self._notices else 0

    def __len__(self) -> int:
        return (len(self._mail) if self._mail else 0) + self.notices

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
        mail = self._mail
        if mail is None:
            mail = self._mail = deque()
        elif len(mail) >= self.size + len(self._senders):
            raise trio.WouldBlock
        mail.append(item)
        if self._reader is not None:
            self._wake_reader()
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
                if self._room is None:
                    self._room = trio.lowlevel.ParkingLot()
                if not parked:
                    self.waits += 1
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
        notices = self._notices
        if notices is None:
            notices = self._notices = deque()
        notices.append(item)
        self.peak_notices = max(self.peak_notices, len(notices))
        if self._reader is not None:
            self._wake_reader()
        return True

    # --- the reader -------------------------------------------------------------------------

    def receive_nowait(self) -> Any:
        """The next notice, else the next mail. Raises ``trio.WouldBlock`` when both lanes are
        empty, ``trio.EndOfChannel`` when they are and the inbox is closed."""
        if self._notices:
            return self._notices.popleft()
        if self._mail:
            item = self._mail.popleft()
            if self._room:
                self._room.unpark()
            return item
        if self._closed:
            raise trio.EndOfChannel
        raise trio.WouldBlock

    async def receive(self) -> Any:
        """The next item, waiting for one. Raises ``trio.EndOfChannel`` when closed and
        empty."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._notices or self._mail or self._closed:
            item = self.receive_nowait()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return item
        while not (self._notices or self._mail or self._closed):  # (waiting is the checkpoint)
            self._reader = trio.lowlevel.current_task()
            await trio.lowlevel.wait_task_rescheduled(self._abort_wait)
        return self.receive_nowait()

    def _abort_wait(self, _: Any) -> trio.lowlevel.Abort:
        self._reader = None  # (cancelled while waiting: nothing was taken)
        return trio.lowlevel.Abort.SUCCEEDED

    def _wake_reader(self) -> None:
        reader, self._reader = self._reader, None
        trio.lowlevel.reschedule(reader)  # type: ignore[arg-type]

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
        if self._room is not None:
            self._room.unpark_all()
        if self._reader is not None:
            self._wake_reader()
