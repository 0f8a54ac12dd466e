"""Hidden tests of the ws-chat case: real websocket clients; client counts, users, texts and
invalid messages drawn from the run's seed (``sut.rng``). The server lives through all the
tests, in the order they are written here (the first message it ever gets must be seq 1)."""

import json
from contextlib import AsyncExitStack, asynccontextmanager

import trio
from trio_websocket import wrap_client_stream

LETTERS = "abcdefghijklmnopqrstuvwxyz"
TEXT = LETTERS + LETTERS.upper() + "0123456789 .,;:!?'\"-_/\\{}[]<>\n\téèß漢字🙂"


def user(rng):
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 10)))


def text(rng, most=80):
    return "".join(rng.choice(TEXT) for _ in range(rng.randint(1, most)))


class Client:
    """One websocket client of the chat."""

    def __init__(self, ws, name):
        self.ws, self.name = ws, name

    async def send(self, message):
        await self.ws.send_message(message if isinstance(message, str) else json.dumps(message))

    async def say(self, words):
        await self.send({"user": self.name, "text": words})

    async def receive(self):
        with trio.fail_after(5):
            got = json.loads(await self.ws.get_message())
        assert isinstance(got, dict) and isinstance(got.get("seq"), int), got
        return got

    async def until(self, name, words):
        """Receive until the message of ``name`` saying ``words``; every message received."""
        seen = []
        while True:
            seen.append(await self.receive())
            if seen[-1].get("user") == name and seen[-1].get("text") == words:
                return seen


@asynccontextmanager
async def connect(sut, name):
    # Our own TCP stream, closed whatever happens: a failed handshake inside
    # open_websocket_url can leave its socket open. A server that closes the connection
    # instead of answering leaves the handshake waiting: hence its own, shorter, limit.
    stream = await trio.open_tcp_stream("127.0.0.1", sut.port)
    async with stream, trio.open_nursery() as nursery:
        with trio.fail_after(2):
            ws = await wrap_client_stream(nursery, stream, "127.0.0.1", "/chat")
        try:
            yield Client(ws, name)
        finally:
            await ws.aclose()


@asynccontextmanager
async def room(sut, count):
    """``count`` clients, each in the room (its own join came back) and all caught up."""
    rng = sut.rng
    async with AsyncExitStack() as stack:
        clients = []
        for _ in range(count):
            client = await stack.enter_async_context(connect(sut, user(rng)))
            await client.say("joined")
            await client.until(client.name, "joined")
            clients.append(client)
        marker = f"ready {rng.random()}"
        await clients[-1].say(marker)
        for client in clients:
            await client.until(clients[-1].name, marker)
        yield clients


async def test_the_first_message_gets_seq_one(sut):
    async with connect(sut, user(sut.rng)) as client:
        words = text(sut.rng)
        await client.say(words)
        got = await client.receive()
    assert (got.get("user"), got.get("text"), got.get("seq")) == (client.name, words, 1), got


async def test_a_message_reaches_every_client(sut):
    async with room(sut, sut.rng.randint(3, 6)) as clients:
        sender, words = sut.rng.choice(clients), text(sut.rng)
        await sender.say(words)
        got = [(await c.until(sender.name, words))[-1] for c in clients]
    assert len({g["seq"] for g in got}) == 1, got


async def test_seq_goes_up_by_one(sut):
    async with connect(sut, user(sut.rng)) as client:
        seqs = []
        for _ in range(sut.rng.randint(5, 15)):
            words = text(sut.rng)
            await client.say(words)
            seqs.append((await client.until(client.name, words))[-1]["seq"])
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs


async def test_invalid_messages_are_ignored(sut):
    rng = sut.rng
    name, words = user(rng), text(rng)
    invalid = ["not json", "{", "[1, 2]", '"text"', "42", "null", "{}",
               json.dumps({"user": name}), json.dumps({"text": words}),
               json.dumps({"user": 5, "text": words}), json.dumps({"user": name, "text": None}),
               json.dumps({"user": name, "text": ["a"]}), json.dumps([{"user": name}])]
    async with room(sut, 2) as (sender, watcher):
        first, second = text(rng), text(rng)
        await sender.say(first)
        for message in rng.sample(invalid, rng.randint(3, 6)):
            await sender.send(message)
        await sender.say(second)
        for client in (sender, watcher):
            got = await client.until(sender.name, second)
            assert [g["text"] for g in got] == [first, second], got
            assert got[1]["seq"] == got[0]["seq"] + 1, got


async def test_every_client_sees_every_message_once(sut):
    rng = sut.rng
    async with room(sut, rng.randint(3, 5)) as clients:
        sent = {c.name: [f"{c.name} {i} {text(rng, 20)}" for i in range(rng.randint(2, 5))]
                for c in clients}
        total = sum(len(v) for v in sent.values())
        seen = {}

        async def send_all(client):
            for words in sent[client.name]:
                await client.say(words)

        async def collect(client):
            got = []
            while len(got) < total:
                got.append(await client.receive())
            seen[client.name] = got

        async with trio.open_nursery() as nursery:
            for client in clients:
                nursery.start_soon(send_all, client)
                nursery.start_soon(collect, client)
    expected = sorted((n, w) for n, words in sent.items() for w in words)
    views = [{g["seq"]: (g["user"], g["text"]) for g in got} for got in seen.values()]
    for got, view in zip(seen.values(), views, strict=True):
        assert sorted((g["user"], g["text"]) for g in got) == expected, got
        assert view == views[0], (view, views[0])
    seqs = sorted(views[0])
    assert seqs == list(range(seqs[0], seqs[0] + total)), seqs
    for name, words in sent.items():
        order = sorted(s for s, (n, _) in views[0].items() if n == name)
        assert [views[0][s][1] for s in order] == words, (name, words)


async def test_unicode_and_long_texts(sut):
    rng = sut.rng
    texts = [text(rng, 200), text(rng, 200), "".join(rng.choice(TEXT)
                                                     for _ in range(rng.randint(20_000, 60_000)))]
    async with room(sut, 2) as (sender, watcher):
        for words in texts:
            await sender.say(words)
            for client in (sender, watcher):
                assert (await client.receive())["text"] == words


async def test_texts_and_users_are_kept_exactly(sut):
    rng = sut.rng
    tricky = ["", " ", '{"user": "x", "text": "y"}', "\\n", "line\nbreak", '"', "\\", "null",
              "🙂" * 5, "\u0000 nul"]
    async with room(sut, 2) as (sender, watcher):
        for words in rng.sample(tricky, 6):
            name = rng.choice([sender.name, "", "  ", '"quoted"', "é漢"])
            await sender.send({"user": name, "text": words})
            got = await watcher.receive()
            assert (got.get("user"), got.get("text")) == (name, words), got


async def test_a_client_leaving_does_not_stop_the_others(sut):
    rng = sut.rng
    async with room(sut, rng.randint(3, 5)) as clients:
        leaver = clients.pop(rng.randrange(len(clients)))
        await leaver.ws.aclose()
        words = text(rng)
        await clients[0].say(words)
        for client in clients:
            await client.until(clients[0].name, words)


async def test_a_crowd(sut):
    async with room(sut, sut.rng.randint(8, 12)) as clients:
        words = text(sut.rng)
        await clients[-1].say(words)
        seqs = {(await c.until(clients[-1].name, words))[-1]["seq"] for c in clients}
    assert len(seqs) == 1, seqs
