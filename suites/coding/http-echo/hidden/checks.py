"""Hidden tests of the http-echo case: black-box, over HTTP."""

import httpx


async def test_echo_text(sut):
    async with httpx.AsyncClient(base_url=sut.url, timeout=5) as client:
        r = await client.post("/echo", content=b"hello, echo",
                              headers={"Content-Type": "text/plain"})
    assert r.status_code == 200, r.status_code
    assert r.content == b"hello, echo", r.content
    assert r.headers["content-type"].startswith("text/plain"), r.headers.get("content-type")


async def test_echo_json_keeps_content_type(sut):
    body = b'{"a": [1, 2, 3]}'
    async with httpx.AsyncClient(base_url=sut.url, timeout=5) as client:
        r = await client.post("/echo", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.content == body
    assert r.headers["content-type"].startswith("application/json")


async def test_health(sut):
    async with httpx.AsyncClient(base_url=sut.url, timeout=5) as client:
        r = await client.get("/health")
    assert r.status_code == 200 and r.json() == {"ok": True}, r.text


async def test_unknown_path_is_404(sut):
    async with httpx.AsyncClient(base_url=sut.url, timeout=5) as client:
        r = await client.get("/nope")
    assert r.status_code == 404, r.status_code
