"""Hidden tests of the ws-chat case: two real websocket clients."""

import json
from contextlib import asynccontextmanager

import trio
from trio_websocket import wrap_client_stream


@asynccontextmanager
async def _connect(sut):
    # Our own TCP stream, closed whatever happens: a failed handshake inside
    # open_websocket_url can leave its socket open.
    stream = await trio.open_tcp_stream("127.0.0.1", sut.port)
    async with stream, trio.open_nursery() as nursery:
        with trio.fail_after(2):
            ws = await wrap_client_stream(nursery, stream, "127.0.0.1", "/chat")
        try:
            yield ws
        finally:
            await ws.aclose()


async def _receive(ws):
    with trio.fail_after(5):
        return json.loads(await ws.get_message())


async def _join(ws, user):
    # The sender gets its own message back, so once it has, the server counts it in.
    await ws.send_message(json.dumps({"user": user, "text": "joined"}))
    got = await _receive(ws)
    assert got["user"] == user and got["text"] == "joined", got


async def test_message_is_broadcast_to_both_clients(sut):
    async with _connect(sut) as alice:
        await _join(alice, "alice")
        async with _connect(sut) as bob:
            await _join(bob, "bob")
            seen = await _receive(alice)
            assert seen["user"] == "bob" and seen["text"] == "joined", seen
            await alice.send_message(json.dumps({"user": "alice", "text": "hi bob"}))
            got_bob = await _receive(bob)
            got_alice = await _receive(alice)
    for got in (got_bob, got_alice):
        assert got["user"] == "alice" and got["text"] == "hi bob", got
        assert isinstance(got["seq"], int), got


async def test_seq_counts_and_bad_messages_are_ignored(sut):
    async with _connect(sut) as ws:
        await ws.send_message(json.dumps({"user": "c", "text": "one"}))
        first = await _receive(ws)
        await ws.send_message("this is not json")
        await ws.send_message(json.dumps({"user": "c", "text": "two"}))
        second = await _receive(ws)
    assert second["text"] == "two", second
    assert second["seq"] == first["seq"] + 1, (first, second)
