"""An agent's inbox: mail waits for room, the engine's notices never do and are never lost."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from agenttree.runtime.inbox import Inbox


async def test_mail_waits_for_room_and_notices_never_wait() -> None:
    inbox = Inbox(2)
    inbox.send_nowait("m1")
    inbox.send_nowait("m2")
    with pytest.raises(trio.WouldBlock):
        inbox.send_nowait("m3")
    for i in range(1000):
        inbox.notify(f"n{i}")
    assert (len(inbox), inbox.notices, inbox.peak_notices) == (1002, 1000, 1000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(inbox.send, "m3")  # waits for room
        await trio.testing.wait_all_tasks_blocked()
        got = [inbox.receive_nowait() for _ in range(1001)]  # notices first, then mail
    assert got[:1000] == [f"n{i}" for i in range(1000)] and got[1000] == "m1"
    assert [await inbox.receive(), await inbox.receive()] == ["m2", "m3"]


async def test_a_closed_inbox_refuses_senders_and_ends_its_reader() -> None:
    inbox = Inbox(1)
    assert inbox.send_nowait("last")
    async with trio.open_nursery() as nursery:
        answers = []

        async def blocked_sender() -> None:
            answers.append(await inbox.send("late"))

        nursery.start_soon(blocked_sender)
        await trio.testing.wait_all_tasks_blocked()
        assert answers == []  # waiting for room
        inbox.close()
    assert answers == [False] and inbox.closed
    assert inbox.send_nowait("x") is False and inbox.notify("x") is False
    assert [item async for item in inbox] == ["last"]
    with pytest.raises(trio.EndOfChannel):
        inbox.receive_nowait()


async def test_a_cancelled_reader_loses_nothing() -> None:
    inbox = Inbox(4)
    with trio.move_on_after(1) as scope:
        scope.cancel()
        await inbox.receive()
    inbox.notify("kept")
    assert await inbox.receive() == "kept"


async def test_a_waiting_reader_is_woken_by_mail_notices_and_close() -> None:
    inbox = Inbox(4)
    got: list[str] = []

    async def reader() -> None:
        try:
            while True:
                got.append(await inbox.receive())
        except trio.EndOfChannel:
            got.append("end")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        inbox.send_nowait("m1")
        inbox.send_nowait("m2")  # before the woken reader runs: no second wake-up needed
        await trio.testing.wait_all_tasks_blocked()
        inbox.notify("n1")
        await trio.testing.wait_all_tasks_blocked()
        assert got == ["m1", "m2", "n1"]
        inbox.close()
    assert got == ["m1", "m2", "n1", "end"]


async def test_a_reader_cancelled_while_waiting_loses_nothing() -> None:
    inbox = Inbox(4)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(inbox.receive)
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    assert inbox.send_nowait("kept") and inbox.notify("noted")  # wake no one: no one waits
    assert [await inbox.receive(), await inbox.receive()] == ["noted", "kept"]


async def test_each_sender_adds_one_item_of_room_and_waits_are_counted() -> None:
    children: dict[str, object] = {"a": 1, "b": 1, "c": 1}
    inbox = Inbox(2, senders=children)
    for i in range(5):  # the size, plus one for each running child
        inbox.send_nowait(f"m{i}")
    with pytest.raises(trio.WouldBlock):
        inbox.send_nowait("m5")
    assert inbox.waits == 0
    del children["a"], children["b"]  # two children ended: the room follows them
    inbox.receive_nowait()
    with pytest.raises(trio.WouldBlock):  # 4 wait, the bound is now 3
        inbox.send_nowait("m5")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(inbox.send, "m5")  # waits for room, counted once
        await trio.testing.wait_all_tasks_blocked()
        assert inbox.waits == 1
        inbox.receive_nowait()  # 3 wait: still full, the sender goes on waiting
        await trio.testing.wait_all_tasks_blocked()
        assert len(inbox) == 3 and inbox.waits == 1
        inbox.receive_nowait()
    assert [inbox.receive_nowait() for _ in range(3)] == ["m3", "m4", "m5"]
    assert inbox.waits == 1
