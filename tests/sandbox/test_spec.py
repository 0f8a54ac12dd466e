"""Container specs: the issue's example parses; malformed specs get one located line each."""

from __future__ import annotations

from pathlib import Path

import edn_format
import pytest
from edn_format import ImmutableDict, Keyword
from hypothesis import given, settings
from hypothesis import strategies as st

from agenttree.sandbox.spec import (
    PINNED_ENV,
    SpecError,
    load_spec,
    parse_spec,
    resolve_mount,
)

EXAMPLE = Path(__file__).parents[2] / "plans" / "containers" / "redis-sut.edn"


def test_the_issue_example() -> None:
    spec = load_spec(EXAMPLE)
    assert spec.name == "redis-sut" and spec.sut == "sut"
    assert [c.name for c in spec.containers] == ["redis", "sut"]  # dependencies first
    sut, redis = spec.container("sut"), spec.container("redis")
    assert sut.cmd == ("python3", "-m", "pytest", "-q")
    assert redis.cmd == ("redis-server", "--protected-mode", "no")
    assert sut.mounts[0].host == "." and sut.mounts[0].container == "/work"
    assert sut.resources.cpus == 2 and sut.resources.memory == "2Gi"
    assert sut.network == "none" and redis.network == "none"  # off unless the spec says so
    assert redis.ports[0].container == 6379 and redis.ports[0].host == 6379
    assert redis.health is not None and redis.health.retries == 20
    assert sut.environment() == {**PINNED_ENV, "CI": "1", "REDIS_HOST": "redis"}
    assert spec.dependencies == (redis,)


def test_env_may_override_a_pinned_variable() -> None:
    spec = parse_spec('{:containers [{:name "a" :env {"TZ" "Europe/Paris"}}]}')
    assert spec.containers[0].environment()["TZ"] == "Europe/Paris"
    assert spec.containers[0].environment()["PYTHONHASHSEED"] == "0"


def test_dependency_order_is_stable_and_sut_selectable() -> None:
    spec = parse_spec('{:sut "app" :containers [{:name "app" :depends-on ["b" "a"]} '
                      '{:name "a"} {:name "b" :depends-on ["a"]} {:name "c"}]}')
    assert [c.name for c in spec.containers] == ["a", "b", "app", "c"]
    assert spec.sut == "app"


BAD = [
    ('{:containers [{:name "a"}]\n :nope 1}', "x.edn:2: :nope: unknown key in the spec"),
    ('{:containers [{:name "a"\n  :imgae "x"}]}', "x.edn:2: :imgae: unknown key in a container "
                                                 "(did you mean :image?)"),
    ("{:containers []}", ":containers: needs at least one container"),
    ("{}", "x.edn:1: a spec needs :containers"),
    ('{:containers [{:image "x"}]}', "container 1 needs :name"),
    ('{:containers [{:name "Bad_Name"}]}', "is not a valid container name"),
    ('{:containers [{:name "a"}\n {:name "a"}]}', 'x.edn:2: :name: duplicate container name "a"'),
    ('{:containers [{:name "a"\n :ports [{:container 0}]}]}', "x.edn:2: :container: port must "
                                                             "be 1-65535, got 0"),
    ('{:containers [{:name "a" :ports [{:container 80 :host 70000}]}]}', "port must be 1-65535"),
    ('{:containers [{:name "a" :ports [{:container "80"}]}]}', 'expected a port number, got '
                                                              'string "80"'),
    ('{:containers [{:name "a" :ports [80 80]}]}', "container port 80 listed twice"),
    ('{:containers [{:name "a" :ports [{:host 80}]}]}', "each port needs :container"),
    ('{:containers [{:name "a" :ports [{:container 1 :host 80}]}\n'
     ' {:name "b" :ports [{:container 2 :host 80}]}]}',
     'x.edn:2: :ports: host port 80 is published by both "a" and "b"'),
    ('{:containers [{:name "a" :depends-on ["b"]}\n {:name "b" :depends-on ["c"]}\n'
     ' {:name "c" :depends-on ["a"]}]}',
     "x.edn:1: :depends-on: dependency cycle: a -> b -> c -> a"),
    ('{:containers [{:name "a" :depends-on ["a"]}]}', '"a" depends on itself'),
    ('{:containers [{:name "a" :depends-on ["zz"]}]}', '"a" depends on "zz", which is not a '
                                                       "container"),
    ('{:containers [{:name "a" :mounts [{:host "../up" :container "/w"}]}]}',
     ':host: mount "../up" is outside the project'),
    ('{:containers [{:name "a" :mounts [{:host "/etc" :container "/w"}]}]}',
     'mount "/etc" is outside the project'),
    ('{:containers [{:name "a" :mounts [{:host "a/../../b" :container "/w"}]}]}',
     "is outside the project"),
    ('{:containers [{:name "a" :mounts [{:host "." :container "rel"}]}]}',
     ':container: must be an absolute path in the container, got "rel"'),
    ('{:containers [{:name "a" :health {:retries 3}}]}', ":health: a health check needs :cmd"),
    ('{:containers [{:name "a" :health {:cmd "ping"}}]}', ":cmd: expected a vector of strings"),
    ('{:containers [{:name "a" :health {:cmd ["x"] :interval-ms 0}}]}',
     ":interval-ms: must be positive, got 0"),
    ('{:containers [{:name "a" :health {:cmd ["x"] :retries -1}}]}', "must be positive"),
    ('{:containers [{:name "a" :health {:cmd ["x"] :every 1}}]}', "unknown key in :health"),
    ('{:containers [{:name "a" :network :host}]}', ":network: expected one of :none :internet"),
    ('{:containers [{:name "a" :resources {:cpus 0}}]}', ":cpus: must be positive"),
    ('{:containers [{:name "a" :resources {:memory "lots"}}]}', 'like "512Mi" or "2Gi", got '
                                                                '"lots"'),
    ('{:containers [{:name "a" :env {"1X" "y"}}]}', '"1X" is not a valid environment variable'),
    ('{:containers [{:name "a" :env {"X" 1}}]}', "expected a string value for X"),
    ('{:containers [{:name "a" :cmd []}]}', ":cmd: must not be empty"),
    ('{:containers [{:name "a" :cmd ["x" 1]}]}', ":cmd: expected strings only"),
    ('{:sut "b" :containers [{:name "a"}]}', ':sut: "b" is not a container of this spec'),
    ('{:timeout-s 0 :containers [{:name "a"}]}', ":timeout-s: must be positive"),
    ("[1 2]", "x.edn:1: a container spec must be a map, got a vector"),
    ('{:containers [{:name "a"}', "x.edn:1: EDN syntax error"),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[b[1][:40] for b in BAD])
def test_bad_specs_get_one_clear_located_line(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "x.edn")
    message = str(info.value)
    assert expected in message
    assert message.startswith("x.edn")
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.edn")


def test_mount_through_a_symlink_out_of_the_project(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "escape").symlink_to(tmp_path)
    spec = parse_spec('{:containers [{:name "a" :mounts [{:host "escape" :container "/w"}]}]}')
    with pytest.raises(SpecError, match="resolves outside the project"):
        resolve_mount(project, spec.containers[0].mounts[0])
    spec = parse_spec('{:containers [{:name "a" :mounts [{:host "sub/dir" :container "/w"}]}]}')
    assert resolve_mount(project, spec.containers[0].mounts[0]) == (project / "sub/dir").resolve()


# --- property: any mutation of a valid spec parses or fails with a SpecError -----------------

SCALARS = st.one_of(st.integers(-5, 70000), st.text(max_size=6), st.booleans(), st.none(),
                    st.sampled_from([Keyword("none"), Keyword("internet"), Keyword("x")]),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))
KEYS = st.sampled_from(["name", "image", "cmd", "env", "ports", "mounts", "health", "depends-on",
                        "network", "resources", "workdir", "container", "host", "retries",
                        "interval-ms", "cpus", "memory", "read-only", "bogus"]).map(Keyword)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(tuple),
    st.dictionaries(st.one_of(KEYS, st.text(max_size=4)), inner, max_size=4).map(ImmutableDict)),
    max_leaves=12)


def _valid() -> dict:
    return edn_format.loads(EXAMPLE.read_text())


@settings(max_examples=300, deadline=None)
@given(container=st.integers(0, 1), key=KEYS, value=VALUES)
def test_any_mutation_parses_or_is_a_spec_error(container: int, key: Keyword, value) -> None:
    data = _valid()
    containers = [dict(c) for c in data[Keyword("containers")]]
    containers[container][key] = value
    text = edn_format.dumps({Keyword("containers"): containers})
    try:
        spec = parse_spec(text, "m.edn")
    except SpecError as exc:
        assert str(exc).startswith("m.edn") and "\n" not in str(exc)
    else:
        assert {c.name for c in spec.containers} <= {"sut", "redis"} | {
            value if isinstance(value, str) else ""}


def test_edn_reader_errors_are_spec_errors() -> None:
    with pytest.raises(SpecError, match="not valid EDN: ZeroDivisionError"):
        parse_spec("{:containers 0/0}", "z.edn")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_never_crashes(text: str) -> None:
    try:
        parse_spec(text, "t.edn")
    except SpecError:
        pass
