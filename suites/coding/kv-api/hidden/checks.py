"""Contract tests of the kv-api case: paths and status codes strict, bodies partial-match; keys,
values and operation sequences drawn from the run's seed (``sut.rng``) and compared with a
dictionary, the model of the spec. The server lives through all the tests, so each test uses
keys of its own."""

import json

import httpx
import trio

KEY_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
TEXT = "abcdefghijklmnopqrstuvwxyz ABC 0123456789 \"quoted\" back\\slash\nnewline é漢🙂 {}[],:"


def same(a, b):
    """JSON equality that tells ``false`` from ``0`` and ``null`` from everything."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def has(body, key, value):
    """The body is an object naming ``key`` with ``value`` (extra fields allowed)."""
    return isinstance(body, dict) and body.get("key") == key and "value" in body \
        and same(body["value"], value)


def value(rng, depth=0):
    """A random JSON value."""
    kinds = ["null", "bool", "int", "float", "str"] + (["list", "dict"] if depth < 3 else [])
    kind = rng.choice(kinds)
    if kind == "null":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "int":
        return rng.randint(-10**9, 10**9)
    if kind == "float":
        return round(rng.uniform(-1e6, 1e6), rng.randint(0, 6))
    if kind == "str":
        return "".join(rng.choice(TEXT) for _ in range(rng.randint(0, 30)))
    if kind == "list":
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {key(rng, 6): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def key(rng, length=16):
    return "".join(rng.choice(KEY_CHARS) for _ in range(rng.randint(1, length)))


def keys_of_this_test(rng, count):
    """``count`` distinct keys no other test uses (a random prefix of its own)."""
    prefix = "t" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10))
    found = set()
    while len(found) < count:
        found.add(f"{prefix}-{key(rng, 8)}")
    return sorted(found)


def client(sut):
    return httpx.AsyncClient(base_url=sut.url, timeout=10)


def is_json(r):
    return r.headers.get("content-type", "").startswith("application/json")


async def put(c, k, v):
    return await c.put(f"/kv/{k}", content=json.dumps({"value": v}),
                       headers={"Content-Type": "application/json"})


async def missing(c, method, k):
    r = await c.request(method, f"/kv/{k}")
    assert r.status_code == 404, (method, k, r.status_code)
    assert is_json(r) and isinstance(r.json().get("error"), str), r.text[:200]


async def test_put_creates_then_replaces(sut):
    (k,) = keys_of_this_test(sut.rng, 1)
    first, second = value(sut.rng), value(sut.rng)
    async with client(sut) as c:
        created = await put(c, k, first)
        replaced = await put(c, k, second)
        read = await c.get(f"/kv/{k}")
    assert created.status_code == 201 and is_json(created), created.status_code
    assert has(created.json(), k, first), created.text[:300]
    assert replaced.status_code == 200 and has(replaced.json(), k, second), replaced.text[:300]
    assert read.status_code == 200 and has(read.json(), k, second), read.text[:300]


async def test_get_returns_what_was_stored(sut):
    stored = {k: value(sut.rng) for k in keys_of_this_test(sut.rng, 10)}
    async with client(sut) as c:
        for k, v in stored.items():
            assert (await put(c, k, v)).status_code == 201, k
        for k, v in stored.items():
            r = await c.get(f"/kv/{k}")
            assert r.status_code == 200 and is_json(r), (k, r.status_code)
            assert has(r.json(), k, v), (k, v, r.text[:300])


async def test_missing_key_is_404_with_an_error(sut):
    async with client(sut) as c:
        for k in keys_of_this_test(sut.rng, 3):
            await missing(c, "GET", k)


async def test_delete_removes_the_key(sut):
    (k,) = keys_of_this_test(sut.rng, 1)
    async with client(sut) as c:
        await put(c, k, value(sut.rng))
        deleted = await c.delete(f"/kv/{k}")
        assert deleted.status_code == 204 and deleted.content == b"", deleted.status_code
        await missing(c, "DELETE", k)
        await missing(c, "GET", k)


async def test_list_is_every_key_sorted(sut):
    rng = sut.rng
    new = keys_of_this_test(rng, rng.randint(3, 12))
    gone = set(rng.sample(new, rng.randint(0, len(new) - 1)))
    async with client(sut) as c:
        before = (await c.get("/kv")).json()["keys"]
        for k in rng.sample(new, len(new)):
            await put(c, k, k)
        for k in gone:
            await c.delete(f"/kv/{k}")
        r = await c.get("/kv")
    assert r.status_code == 200 and is_json(r), r.status_code
    assert r.json()["keys"] == sorted((set(before) | set(new)) - gone), r.text[:500]


async def test_put_without_value_is_400(sut):
    rng = sut.rng
    bodies = [{}, {"Value": value(rng)}, {"values": value(rng)}, {key(rng): value(rng)},
              {"val": 1, "key": "x"}]
    async with client(sut) as c:
        for k, body in zip(keys_of_this_test(rng, 3), rng.sample(bodies, 3), strict=True):
            r = await c.put(f"/kv/{k}", content=json.dumps(body),
                            headers={"Content-Type": "application/json"})
            assert r.status_code == 400, (body, r.status_code)


async def test_random_operations_match_a_dictionary(sut):
    rng = sut.rng
    pool = keys_of_this_test(rng, 5)
    model = {}
    async with client(sut) as c:
        for step in range(rng.randint(30, 60)):
            k, op = rng.choice(pool), rng.choice(("put", "put", "get", "delete"))
            if op == "put":
                v = value(rng)
                r = await put(c, k, v)
                assert r.status_code == (200 if k in model else 201), (step, op, r.status_code)
                assert has(r.json(), k, v), (step, r.text[:300])
                model[k] = v
            elif op == "get":
                r = await c.get(f"/kv/{k}")
                if k in model:
                    assert r.status_code == 200 and has(r.json(), k, model[k]), (step, r.text)
                else:
                    assert r.status_code == 404, (step, op, k, r.status_code)
            elif k in model:
                r = await c.delete(f"/kv/{k}")
                assert r.status_code == 204 and r.content == b"", (step, op, r.status_code)
                del model[k]
            else:
                r = await c.delete(f"/kv/{k}")
                assert r.status_code == 404, (step, op, k, r.status_code)


async def test_values_keep_their_json_types(sut):
    tricky = [0, False, None, "0", "", 0.5, -1, [], {}, [None, False, 0], {"a": {"b": [1, "x"]}},
              "null", "false", 10**15]
    chosen = sut.rng.sample(tricky, len(tricky))
    async with client(sut) as c:
        for k, v in zip(keys_of_this_test(sut.rng, len(chosen)), chosen, strict=True):
            await put(c, k, v)
            r = await c.get(f"/kv/{k}")
            assert r.status_code == 200 and has(r.json(), k, v), (v, r.text[:200])


async def test_concurrent_writers_all_land(sut):
    stored = {k: value(sut.rng) for k in keys_of_this_test(sut.rng, sut.rng.randint(5, 15))}

    async def one(k, v):
        async with client(sut) as c:
            assert (await put(c, k, v)).status_code == 201, k

    async with trio.open_nursery() as nursery:
        for k, v in stored.items():
            nursery.start_soon(one, k, v)
    async with client(sut) as c:
        listed = set((await c.get("/kv")).json()["keys"])
    assert set(stored) <= listed, sorted(set(stored) - listed)
