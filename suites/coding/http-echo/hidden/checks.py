"""Hidden tests of the http-echo case: black-box over HTTP, with bodies, content types, paths
and client counts drawn from the run's seed (``sut.rng``)."""

import httpx
import trio

WORD = "abcdefghijklmnopqrstuvwxyz"
TEXT = WORD + WORD.upper() + "0123456789 .,;:!?'\"-_/\\{}[]<>\néèß漢字🙂\t"


def word(rng, length=8):
    return "".join(rng.choice(WORD) for _ in range(rng.randint(3, length)))


def content_type(rng):
    return rng.choice((
        "text/plain", "text/plain; charset=utf-8", "application/json", "text/csv",
        "application/octet-stream", "image/png", "application/xml",
        f"application/x-{word(rng)}", f"application/vnd.{word(rng)}+json",
        f"text/{word(rng)}; charset=utf-8"))


def client(sut):
    return httpx.AsyncClient(base_url=sut.url, timeout=10)


async def echoes(c, body, kind):
    r = await c.post("/echo", content=body, headers={"Content-Type": kind})
    assert r.status_code == 200, (r.status_code, kind)
    assert r.content == body, (len(r.content), len(body), r.content[:80])
    assert r.headers.get("content-type") == kind, (r.headers.get("content-type"), kind)


async def test_echo_returns_random_bytes(sut):
    async with client(sut) as c:
        await echoes(c, sut.rng.randbytes(sut.rng.randint(1, 4096)), "application/octet-stream")


async def test_echo_keeps_each_content_type(sut):
    async with client(sut) as c:
        for _ in range(4):
            await echoes(c, word(sut.rng, 30).encode(), content_type(sut.rng))


async def test_echo_utf8_text(sut):
    text = "".join(sut.rng.choice(TEXT) for _ in range(sut.rng.randint(1, 2000)))
    async with client(sut) as c:
        await echoes(c, text.encode(), "text/plain; charset=utf-8")


async def test_echo_of_an_empty_body(sut):
    async with client(sut) as c:
        await echoes(c, b"", content_type(sut.rng))


async def test_echo_of_a_large_body(sut):
    size = sut.rng.randint(1 << 20, 2 << 20)
    async with client(sut) as c:
        await echoes(c, sut.rng.randbytes(size), "application/octet-stream")


async def test_every_byte_value_survives(sut):
    body = bytes(range(256)) * sut.rng.randint(1, 8)
    body = bytes(sut.rng.sample(body, len(body)))
    async with client(sut) as c:
        await echoes(c, body, "application/octet-stream")


async def test_health(sut):
    async with client(sut) as c:
        r = await c.get("/health")
    assert r.status_code == 200 and r.json() == {"ok": True}, (r.status_code, r.text[:200])
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers


async def test_other_paths_are_404(sut):
    rng = sut.rng
    paths = [f"/{word(rng)}", f"/echo/{word(rng)}", f"/{word(rng)}/echo", f"/health/{word(rng)}",
             f"/{word(rng)}/{word(rng)}"]
    async with client(sut) as c:
        for path in rng.sample(paths, 4):
            for method in ("GET", "POST"):
                r = await c.request(method, path, content=b"x" if method == "POST" else None)
                assert r.status_code == 404, (method, path, r.status_code)


async def test_concurrent_clients_get_their_own_bodies(sut):
    rng = sut.rng
    bodies = [f"{i}:{word(rng, 40)}".encode() for i in range(rng.randint(4, 12))]
    kinds = [content_type(rng) for _ in bodies]

    async def one(body, kind):
        async with client(sut) as c:
            await echoes(c, body, kind)

    async with trio.open_nursery() as nursery:
        for body, kind in zip(bodies, kinds, strict=True):
            nursery.start_soon(one, body, kind)
