"""Control commands: typed records, one wire format, and the lines clients write today."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agenttree.control import (
    Approve,
    Cancel,
    CommandError,
    Deny,
    Grant,
    Message,
    Reassign,
    Reconcile,
    decode_command,
    encode_command,
)
from agenttree.control.commands import MAX_COMMAND

DIGEST = "ab" * 32


@pytest.mark.parametrize(("command", "line"), [
    (Cancel(agent="root.lib"), b'{"cmd":"cancel","agent":"root.lib"}'),
    (Message(agent="root", text="use tabs"), b'{"cmd":"message","agent":"root","text":"use tabs"}'),
    (Reassign(task="lib"), b'{"cmd":"reassign","task":"lib"}'),
    (Reassign(task="lib", model="scripted", parent="root"),
     b'{"cmd":"reassign","task":"lib","model":"scripted","parent":"root"}'),
    (Reconcile(), b'{"cmd":"reconcile"}'),
    (Reconcile(plan=DIGEST), b'{"cmd":"reconcile","plan":"' + DIGEST.encode() + b'"}'),
    (Grant(agent="root.a", budget={"tool-calls": 5, "cost": 0.5}),
     b'{"cmd":"grant","agent":"root.a","budget":{"tool-calls":5,"cost":0.5}}'),
    (Approve(call="root.lib#3.0"), b'{"cmd":"approve","call":"root.lib#3.0"}'),
    (Deny(call="call_8f3"), b'{"cmd":"deny","call":"call_8f3"}'),
    (Deny(call="root#1.0@2", reason="not here"),
     b'{"cmd":"deny","call":"root#1.0@2","reason":"not here"}'),
])
def test_every_command_round_trips_as_readable_json(command, line: bytes) -> None:
    assert encode_command(command) == line
    assert decode_command(line) == command


texts = st.text(min_size=1, max_size=20)


@given(st.one_of(
    st.builds(Cancel, agent=texts),
    st.builds(Message, agent=texts, text=texts),
    st.builds(Reassign, task=texts, model=st.none() | texts, parent=st.none() | texts),
    st.builds(Reconcile, plan=st.none() | st.text("0123456789abcdef", min_size=64,
                                                   max_size=64)),
    st.builds(Grant, agent=texts, budget=st.dictionaries(
        st.sampled_from(["tool-calls", "tokens", "retries"]), st.integers(0, 10**9),
        min_size=1)),
    st.builds(Approve, call=texts),
    st.builds(Deny, call=texts, reason=st.none() | texts),
))
def test_any_command_round_trips(command) -> None:
    assert decode_command(encode_command(command)) == command


@pytest.mark.parametrize(("line", "command"), [
    # as `agenttree` wrote them before the records (control_cli, the TUI, the web page)
    ('{"cmd": "cancel", "agent": "root.a"}', Cancel(agent="root.a")),
    ('{"cmd":"reassign","task":"lib","model":"scripted:alt"}',
     Reassign(task="lib", model="scripted:alt")),
    ('{"cmd":"reassign","task":"b","parent":"a"}', Reassign(task="b", parent="a")),
    ('{"cmd":"grant","agent":"root.b","budget":{"tool-calls":2}}',
     Grant(agent="root.b", budget={"tool-calls": 2})),
    ('{"cmd":"grant","agent":"root.b","budget":{"tool_calls":2.0}}',
     Grant(agent="root.b", budget={"tool_calls": 2})),
    ('{"cmd":"reconcile","plan":"' + DIGEST + '"}', Reconcile(plan=DIGEST)),
    # by hand: `echo >>`, with a null for an optional field and a key nobody reads
    ('{"cmd":"reassign","task":"lib","model":null,"why":"it is slow"}', Reassign(task="lib")),
    ('{"cmd":"reconcile","plan":null}', Reconcile()),
    ('{"cmd":"deny","call":"root#2.0","reason":null}', Deny(call="root#2.0")),
])
def test_lines_written_today_still_parse(line: str, command) -> None:
    assert decode_command(line) == command
    assert decode_command(line.encode()) == command


@pytest.mark.parametrize(("line", "cmd", "message"), [
    ("this is not json", "", "not JSON"),
    ("[1, 2]", "", "a command is a JSON object, got list"),
    ('{"agent": "root"}', "", 'a command needs "cmd"'),
    ('{"cmd": 7}', "", 'a command needs "cmd"'),
    ('{"cmd": "fly"}', "fly", "unknown command 'fly'; this engine knows: cancel, message, "
                              "reassign, reconcile, grant, approve, deny"),
    ('{"cmd": "cancel"}', "cancel", "'cancel' needs 'agent' (a non-empty string)"),
    ('{"cmd": "cancel", "agent": 5}', "cancel", "'cancel' needs 'agent' (a non-empty string)"),
    ('{"cmd": "message", "agent": "a", "text": ""}', "message", "'message' needs 'text'"),
    ('{"cmd": "reassign", "task": "a", "model": ""}', "reassign", "'reassign' needs 'model'"),
    ('{"cmd": "reassign", "task": "a", "parent": ["x"]}', "reassign",
     "'reassign' needs 'parent'"),
    ('{"cmd": "reconcile", "plan": "../../etc/passwd"}', "reconcile", "by its sha256"),
    ('{"cmd": "grant", "agent": "a"}', "grant", "'grant' needs 'budget'"),
    ('{"cmd": "grant", "agent": "a", "budget": "lots"}', "grant", "'grant' needs 'budget'"),
    ('{"cmd": "grant", "agent": "a", "budget": {}}', "grant", "'grant' needs 'budget'"),
    ('{"cmd": "grant", "agent": "a", "budget": {"wall-s": 5}}', "grant",
     "wall-s cannot be granted"),
    ('{"cmd": "grant", "agent": "a", "budget": {"tool-calls": -1}}', "grant",
     "budget: tool-calls: must not be negative"),
    ('{"cmd": "grant", "agent": "a", "budget": {"tool-calls": true}}', "grant",
     "budget: tool-calls:"),
    ('{"cmd": "grant", "agent": "a", "budget": {"gold": 1}}', "grant",
     "budget: unknown budget kind 'gold'"),
    ('{"cmd": "approve"}', "approve", "'approve' needs 'call' (a non-empty string)"),
    ('{"cmd": "approve", "call": ""}', "approve", "'approve' needs 'call'"),
    ('{"cmd": "approve", "call": ["root#1.0"]}', "approve", "'approve' needs 'call'"),
    ('{"cmd": "deny", "agent": "root"}', "deny", "'deny' needs 'call'"),
    ('{"cmd": "deny", "call": "root#1.0", "reason": ""}', "deny", "'deny' needs 'reason'"),
    ('{"cmd": "deny", "call": "root#1.0", "reason": 7}', "deny", "'deny' needs 'reason'"),
])
def test_malformed_lines_are_refused_with_one_clear_line(line: str, cmd: str,
                                                         message: str) -> None:
    with pytest.raises(CommandError) as caught:
        decode_command(line)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.cmd == cmd


def test_an_over_long_line_is_refused_before_it_is_parsed() -> None:
    line = orjson.dumps({"cmd": "message", "agent": "a", "text": "x" * MAX_COMMAND})
    with pytest.raises(CommandError, match=f"at most {MAX_COMMAND} bytes"):
        decode_command(line)


@pytest.mark.parametrize("make", [
    lambda: Cancel(agent=""),
    lambda: Message(agent="a", text=""),
    lambda: Reassign(task="t", model=""),
    lambda: Reconcile(plan="nope"),
    lambda: Grant(agent="a", budget={"wall-s": 3}),
    lambda: Grant(agent="a", budget={"tool-calls": 1e23}),
    lambda: Approve(call=""),
    lambda: Deny(call="c", reason=""),
])
def test_a_client_cannot_build_what_the_engine_would_refuse(make) -> None:
    with pytest.raises(CommandError):
        make()
