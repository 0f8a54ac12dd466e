"""Every event type round-trips through the wire format unchanged."""

from __future__ import annotations

import inspect
import typing
import zlib

import attrs
import orjson
import pytest

from agenttree import events as ev
from agenttree.log import decode, encode

SAMPLES = {
    str: "x", int: 3, float: 1.5, bool: True,
    typing.Any: {"k": [1, "two", None]},
}


def sample(cls: type[ev.Event]) -> ev.Event:
    """An instance with a value in every field (the type's own default where it has one)."""
    hints = typing.get_type_hints(cls)
    values = {}
    for field in attrs.fields(cls):
        hint = hints[field.name]
        origin = typing.get_origin(hint)
        if origin is list:
            values[field.name] = [{"a": 1}, "b"]
        elif origin is dict:
            values[field.name] = {"a": 1, "nested": {"b": [True, None]}}
        elif hint in SAMPLES:
            values[field.name] = SAMPLES[hint]
        else:  # unions: take the first non-None member
            member = next(a for a in typing.get_args(hint) if a is not type(None))
            values[field.name] = (["a"] if typing.get_origin(member) is list else
                                  {"a": 1} if typing.get_origin(member) is dict else
                                  SAMPLES[member])
    return cls(**values)


@pytest.mark.parametrize("cls", sorted(ev.REGISTRY.values(), key=lambda c: c.TYPE),
                         ids=lambda c: c.TYPE)
def test_round_trip(cls: type[ev.Event]) -> None:
    event = sample(cls)
    line = encode(7, 1234, "run-1", event)
    assert line.endswith(b"\n")
    entry = decode(line[:-1])
    assert entry == ev.Entry(7, 1234, "run-1", event)


def test_wire_has_envelope_first() -> None:
    line = encode(1, 99, "r", ev.RunFinished(status="done"))
    assert line.startswith(b'{"seq":1,"t":99,"run":"r","type":"run/finished",')


def test_unknown_type_is_kept_not_fatal() -> None:
    line = encode(1, 5, "r", ev.UnknownEvent(type="future/thing", fields={"x": 1}))
    entry = decode(line[:-1])
    assert entry.event == ev.UnknownEvent(type="future/thing", fields={"x": 1})


def test_every_type_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "events.md").read_text()
    missing = [t for t in ev.REGISTRY if f"`{t}`" not in doc]
    assert not missing, f"docs/events.md lacks {missing}"


@pytest.mark.parametrize("cls", sorted(ev.REGISTRY.values(), key=lambda c: c.TYPE),
                         ids=lambda c: c.TYPE)
def test_wire_form_is_the_converters_unstructuring_plus_envelope(cls) -> None:
    event = sample(cls)
    expected = {"seq": 1, "t": 2, "run": "r", "type": cls.TYPE, **ev.converter.unstructure(event)}
    assert ev.to_wire(1, 2, "r", event) == expected
    assert list(ev.to_wire(1, 2, "r", event)) == list(expected)  # key order too


@pytest.mark.parametrize("cls", sorted(ev.REGISTRY.values(), key=lambda c: c.TYPE),
                         ids=lambda c: c.TYPE)
def test_a_decoded_record_is_the_record_its_class_builds(cls) -> None:
    """A record read back is the record ``cls(**fields)`` builds: equal, printed alike,
    evolvable and still frozen."""
    event = sample(cls)
    decoded = ev.from_wire(ev.to_wire(1, 2, "r", event)).event
    assert type(decoded) is cls and decoded == event
    assert repr(decoded) == repr(event)
    assert attrs.asdict(decoded) == attrs.asdict(event)
    assert attrs.evolve(decoded) == event
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        decoded.TYPE = "x"  # type: ignore[misc]


def test_a_record_from_an_older_log_gets_its_defaults() -> None:
    wire = {"seq": 1, "t": 2, "run": "r", "type": "agent/state", "agent": "a",
            "status": "running"}
    assert ev.from_wire(wire).event == ev.AgentState(agent="a", status="running")


@pytest.mark.parametrize("wire", [
    {"agent": "a"},  # a required field missing
    {"agent": "a", "status": "s", "detail": "", "facts": None, "mood": "odd"},  # unknown field
    {"agent": "a", "status": "s", "detail": "", "mood": "odd"},  # as many, one unknown
], ids=["missing", "unknown", "swapped"])
def test_a_record_with_missing_or_unknown_fields_is_not_an_event(wire) -> None:
    line = orjson.dumps({"seq": 1, "t": 2, "run": "r", "type": "agent/state", **wire})
    body = line[:-1]
    framed = b'%b,"crc":%d}' % (body, zlib.crc32(line))
    with pytest.raises(ValueError, match="not an event"):
        decode(framed)


@pytest.mark.parametrize("cls", sorted(ev.REGISTRY.values(), key=lambda c: c.TYPE),
                         ids=lambda c: c.TYPE)
def test_an_event_is_built_as_attrs_would_build_it(cls: type[ev.Event]) -> None:
    """Events are built by ``events._slot_init``'s ``__init__``, not the one attrs wrote: the
    same keyword-only parameters and defaults, a fresh object from each factory, the same
    errors, and a record that stays frozen."""
    fields = attrs.fields(cls)
    params = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in params] == [f.name for f in fields]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    full = sample(cls)
    required = {f.name: getattr(full, f.name) for f in fields
                if f.default is attrs.NOTHING}
    one, two = cls(**required), cls(**required)
    for f in fields:
        if isinstance(f.default, attrs.Factory):
            assert getattr(one, f.name) == f.default.factory()
            assert getattr(one, f.name) is not getattr(two, f.name)  # not one shared list
        elif f.default is not attrs.NOTHING:
            assert getattr(one, f.name) == f.default
        else:
            assert getattr(one, f.name) is required[f.name]
    assert one == two
    assert attrs.asdict(full, recurse=False) == {f.name: getattr(full, f.name) for f in fields}
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(full, fields[0].name, None)
    with pytest.raises(TypeError, match="unexpected keyword argument 'mood'"):
        cls(**required, mood="odd")
    if required:
        missing = next(iter(required))
        with pytest.raises(TypeError, match=f"missing 1 required keyword-only argument: "
                                            f"'{missing}'"):
            cls(**{k: v for k, v in required.items() if k != missing})
        with pytest.raises(TypeError):
            cls(*required.values())  # keyword-only, as attrs made it
