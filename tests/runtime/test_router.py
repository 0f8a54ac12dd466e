"""The router: tree relations from ids, the conversation graph, bridges, delivery."""

from __future__ import annotations

import pytest
import trio

from agenttree import events as ev
from agenttree.errors import ToolError
from agenttree.runtime.inbox import Inbox
from agenttree.runtime.router import (
    HUMAN,
    Router,
    is_ancestor,
    lowest_common_ancestor,
    parent_of,
)


def test_tree_relations_from_ids() -> None:
    assert parent_of("root") is None
    assert parent_of("root.a.b") == "root.a"
    assert lowest_common_ancestor("root.a.x", "root.a.y") == "root.a"
    assert lowest_common_ancestor("root.a.x", "root.b.y") == "root"
    assert lowest_common_ancestor("root.a", "root.a.y") == "root.a"
    assert lowest_common_ancestor("root.ab", "root.a") == "root"  # not a string prefix
    assert is_ancestor("root.a", "root.a.b") and not is_ancestor("root.a", "root.ab")


class Net:
    """A router with inboxes for a few agents and a list of emitted events."""

    def __init__(self, talk: frozenset[str] = frozenset({"parent", "children"})) -> None:
        self.events: list[ev.Event] = []
        self.router = Router(lambda e: self.events.append(e) or len(self.events), talk)
        self.inboxes: dict[str, Inbox] = {}
        for agent in ("root", "root.a", "root.b", "root.a.x", "root.b.y"):
            self.inboxes[agent] = Inbox(4)
            self.router.register(agent, self.inboxes[agent])


async def test_parent_and_child_talk_both_ways() -> None:
    net = Net()
    await net.router.send("root.a", "root", "chat", "up")
    await net.router.send("root", "root.a", "state", "down", data={"k": 1})
    assert net.inboxes["root"].receive_nowait().text == "up"
    mail = net.inboxes["root.a"].receive_nowait()
    assert (mail.sender, mail.kind, mail.data) == ("root", "state", {"k": 1})
    assert [e.to for e in net.events] == ["root", "root.a"]


@pytest.mark.parametrize("sender,to,fragment", [
    ("root.a", "root.b", "siblings too when the plan's :talk has :siblings"),
    ("root.a.x", "root.b.y", "ask root, their lowest common ancestor, to open a bridge"),
    ("root", "root.a.x", "only parent and children talk directly"),
    ("root.a", "root.a", "cannot message itself"),
])
async def test_refusals_are_clear_and_not_delivered(sender: str, to: str, fragment: str) -> None:
    net = Net()
    with pytest.raises(ToolError) as info:
        await net.router.send(sender, to, "chat", "hi")
    assert fragment in str(info.value)
    assert net.events == []
    with pytest.raises(trio.WouldBlock):
        net.inboxes[to].receive_nowait()


async def test_an_empty_recipient_is_no_one_s_parent() -> None:
    net = Net()
    with pytest.raises(ToolError, match="root may not message : only parent and children"):
        await net.router.send("root", "", "chat", "hi")
    assert net.events == []


async def test_the_mail_a_reader_takes_is_the_event_that_was_logged() -> None:
    net = Net()
    await net.router.send("root", "root.a", "state", "down", data={"k": 1})
    assert net.router.deliver("engine", "root.a", "conflict", "decide", {"lock": "x"})
    first, second = net.inboxes["root.a"].receive_nowait(), net.inboxes["root.a"].receive_nowait()
    assert first is net.events[1] and second is net.events[0]  # (notices are taken first)
    assert (second.sender, second.to, second.kind, second.text, second.data, second.bridge) == (
        "root", "root.a", "state", "down", {"k": 1}, None)


async def test_siblings_talk_when_the_plan_allows() -> None:
    net = Net(frozenset({"parent", "children", "siblings"}))
    await net.router.send("root.a", "root.b", "chat", "hi sibling")
    assert net.inboxes["root.b"].receive_nowait().text == "hi sibling"


async def test_bridge_opened_by_the_lca_only_and_closable() -> None:
    net = Net()
    with pytest.raises(ToolError, match="only root, the lowest common ancestor"):
        net.router.open_bridge("root.a", "root.a.x", "root.b.y")
    bridge = net.router.open_bridge("root", "root.a.x", "root.b.y")
    assert net.router.open_bridge("root", "root.b.y", "root.a.x") == bridge  # idempotent
    await net.router.send("root.b.y", "root.a.x", "chat", "over the bridge")
    assert net.inboxes["root.a.x"].receive_nowait().bridge == bridge
    with pytest.raises(ToolError, match="not above both its ends"):
        net.router.close_bridge("root.a", bridge)
    net.router.close_bridge("root", bridge)
    with pytest.raises(ToolError, match="open a bridge"):
        await net.router.send("root.b.y", "root.a.x", "chat", "again")
    assert [type(e) for e in net.events] == [ev.BridgeOpened, ev.AgentMessage, ev.BridgeClosed]


async def test_human_may_message_anyone() -> None:
    net = Net()
    await net.router.send(HUMAN, "root.b.y", "chat", "a note")
    assert net.inboxes["root.b.y"].receive_nowait().sender == HUMAN


async def test_message_to_finished_agent_is_refused() -> None:
    net = Net()
    net.router.unregister("root.a")
    with pytest.raises(ToolError, match=r"root\.a is not running"):
        await net.router.send("root", "root.a", "chat", "hello?")


async def test_full_inbox_waits_then_tells_the_sender(autojump_clock) -> None:
    net = Net()
    for i in range(4):
        await net.router.send("root.a", "root", "chat", str(i))
    with pytest.raises(ToolError, match="inbox stayed full for 30s"):
        await net.router.send("root.a", "root", "chat", "one too many")


async def test_full_inbox_delivers_once_drained(autojump_clock) -> None:
    net = Net()
    for i in range(4):
        await net.router.send("root.a", "root", "chat", str(i))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(net.router.send, "root.a", "root", "chat", "late")
        await trio.testing.wait_all_tasks_blocked()
        assert net.inboxes["root"].receive_nowait().text == "0"
    texts = [net.inboxes["root"].receive_nowait().text for _ in range(4)]
    assert texts == ["1", "2", "3", "late"]
