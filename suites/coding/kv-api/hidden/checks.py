"""Contract tests of the kv-api case: paths and status codes strict, bodies partial-match."""

import httpx


def _has(body, expected):
    """Partial match: every expected key present with an equal value (extra keys allowed)."""
    return isinstance(body, dict) and all(body.get(k) == v for k, v in expected.items())


async def test_put_creates_then_replaces(sut):
    async with httpx.AsyncClient(base_url=sut.url, timeout=5) as c:
        first = await c.put("/kv/colour", json={"value": "blue"})
        second = await c.put("/kv/colour", json={"value": {"shade": "navy"}})
    assert first.status_code == 201 and _has(first.json(), {"key": "colour", "value": "blue"})
    assert second.status_code == 200, second.status_code
    assert _has(second.json(), {"key": "colour", "value": {"shade": "navy"}})
    assert first.headers["content-type"].startswith("application/json")


async def test_get_and_missing_key(sut):
    async with httpx.AsyncClient(base_url=sut.url, timeout=5) as c:
        await c.put("/kv/n", json={"value": 42})
        found = await c.get("/kv/n")
        missing = await c.get("/kv/absent")
    assert found.status_code == 200 and _has(found.json(), {"key": "n", "value": 42})
    assert missing.status_code == 404 and isinstance(missing.json().get("error"), str)


async def test_delete(sut):
    async with httpx.AsyncClient(base_url=sut.url, timeout=5) as c:
        await c.put("/kv/gone", json={"value": None})
        deleted = await c.delete("/kv/gone")
        again = await c.delete("/kv/gone")
        after = await c.get("/kv/gone")
    assert deleted.status_code == 204 and deleted.content == b""
    assert again.status_code == 404 and after.status_code == 404


async def test_list_keys_sorted(sut):
    async with httpx.AsyncClient(base_url=sut.url, timeout=5) as c:
        for key in ("zeta", "alpha", "mid"):
            await c.put(f"/kv/{key}", json={"value": key})
        listed = await c.get("/kv")
    keys = listed.json()["keys"]
    assert listed.status_code == 200 and keys == sorted(keys)
    assert {"zeta", "alpha", "mid"} <= set(keys)


async def test_put_without_value_is_400(sut):
    async with httpx.AsyncClient(base_url=sut.url, timeout=5) as c:
        r = await c.put("/kv/x", json={"nope": 1})
    assert r.status_code == 400, r.status_code
