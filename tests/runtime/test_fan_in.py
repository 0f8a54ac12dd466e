"""A fan-in: many children report to their parent at the same moment. None of them waits for
room in the parent's inbox (it has room for one item from each running child), and the parent
takes the news in batches, not one scheduler pass per item."""

from __future__ import annotations

import types
from collections import Counter
from pathlib import Path

import trio
import trio.testing

from agenttree import events as ev
from agenttree.models.scripted import ScriptedModel
from agenttree.plan import parse_plan
from agenttree.runtime.agent import INBOX_SIZE, Agent
from agenttree.runtime.engine import Engine

CHILDREN = INBOX_SIZE + 44


def fan_in_plan(children: int) -> str:
    kids = " ".join(
        f'{{:task/id "c{i}" :script [{{:call :message :args {{:to "parent" :text "c{i} here"}} '
        f':delay-ms 10}} {{:call :finish :args {{:result "ok"}}}}]}}' for i in range(children))
    return f"""
{{:tiers [{{:depth 0 :models ["scripted"]
            :budget {{:tool-calls 100000 :tokens 100000000 :retries 2}}}}
          {{:depth 1 :models ["scripted"] :tools [:message :finish]}}]
 :task {{:task/id "root" :script [{{:say "go"}}] :children [{kids}]}}}}
"""


class Steps(trio.abc.Instrument):
    """How many times each task was scheduled, by name."""

    def __init__(self) -> None:
        self.steps: Counter[str] = Counter()

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps[task.name] += 1


async def test_children_reporting_at_once_never_wait_and_the_parent_takes_them_in_batches(
        tmp_path: Path, autojump_clock) -> None:
    engine = Engine(parse_plan(fan_in_plan(CHILDREN), source="t.edn"), tmp_path / "run",
                    durability="none")
    requested: list[ev.ToolRequested] = []
    engine.on_event = lambda entry: requested.append(entry.event) if isinstance(
        entry.event, ev.ToolRequested) else None
    steps = Steps()
    trio.lowlevel.add_instrument(steps)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run, name="engine")  # the root agent runs in this task
        await engine.root_up.wait()
        inbox = engine.router.inbox("root")
    trio.lowlevel.remove_instrument(steps)
    assert inbox is not None and engine.state.agents["root"].status == "done"
    assert sum(a.status == "done" for a in engine.state.agents.values()) == CHILDREN + 1
    assert inbox.waits == 0  # (a lane of INBOX_SIZE alone made 44 of them wait)
    # Woken for news, the parent takes all that waits: a handful of steps, not one a child.
    assert steps.steps["engine"] < CHILDREN // 10, steps.steps["engine"]
    # Every call's charge is the same record (nothing changes it), each folded once.
    assert len(requested) == 2 * CHILDREN
    assert all(e.charged is requested[0].charged == {"tool_calls": 1} for e in requested)
    assert engine.state.agents["root"].used["tool_calls"] == 2 * CHILDREN
    assert engine.state.agents["root.c0"].used["tool_calls"] == 2


async def test_sibling_leaves_share_what_does_not_differ_between_them(tmp_path: Path) -> None:
    """Ten thousand leaves hold one copy of what they have in common: the tools they are
    offered and their task's script (each was copied per agent)."""
    plan = parse_plan(fan_in_plan(3).replace(":delay-ms 10", ":delay-ms 3600000"),
                      source="t.edn")
    engine = Engine(plan, tmp_path / "run", durability="none")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await engine.root_up.wait()
        await trio.testing.wait_all_tasks_blocked()  # every leaf waits in its model call
        leaves = [engine.agents[f"root.c{i}"] for i in range(3)]
        assert {leaf.call_ids for leaf in leaves} == {None}  # no calls yet: no set
        first, *others = leaves
        assert all(leaf._offered() is first._offered() for leaf in others)
        for leaf in leaves:
            assert leaf.model._turns is leaf.task.script
        engine.cancel("root", "done looking")
    assert engine.state.agents["root.c0"].status == "cancelled"


async def test_sibling_leaves_log_and_hold_one_copy_of_their_policy_and_settings(
        tmp_path: Path) -> None:
    """What siblings have in common is made once, not per agent: the lists of models and tools
    their ``agent/spawned`` events carry (and the folded state keeps), the tool names of their
    ``model/requested``, their model settings and the system-prompt rules they inherit."""
    text = fan_in_plan(3).replace(":delay-ms 10", ":delay-ms 3600000")
    text = text.replace(':depth 0 :models ["scripted"]',
                        ':depth 0 :models ["scripted"] :system-prompt "Be brief."')
    plan = parse_plan(text, source="t.edn")
    engine = Engine(plan, tmp_path / "run", durability="none")
    logged: list[ev.Event] = []
    engine.on_event = lambda entry: logged.append(entry.event)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(engine.run)
        await engine.root_up.wait()
        await trio.testing.wait_all_tasks_blocked()  # every leaf waits in its model call
        leaves = [engine.agents[f"root.c{i}"] for i in range(3)]
        first, *others = leaves
        assert all(leaf.model_settings() is first.model_settings() for leaf in others)
        assert all(leaf.spec.prompts is engine.agents["root"].spec.prompts for leaf in leaves)
        assert "Be brief." in first.transcript[0]["content"]
        engine.cancel("root", "done looking")
    spawned = [e for e in logged if isinstance(e, ev.AgentSpawned) and e.parent == "root"]
    asked = [e for e in logged if isinstance(e, ev.ModelRequested) and e.agent != "root"]
    assert len(spawned) == len(asked) == 3
    for event in spawned[1:]:
        assert event.models is spawned[0].models and event.tools is spawned[0].tools
    assert {"finish", "message"} <= set(spawned[0].tools)
    assert all(event.tools is asked[0].tools for event in asked[1:])
    views = [engine.state.agents[f"root.c{i}"] for i in range(3)]
    assert all(view.tools is views[0].tools for view in views[1:])


def _slots(code: types.CodeType) -> int:
    """What a suspended coroutine of ``code`` holds besides its header: a slot for each local
    and each value its stack may hold."""
    return code.co_nlocals + code.co_stacksize


def test_an_agent_waiting_on_its_model_holds_small_frames() -> None:
    """Thousands of leaves wait in their model call at once: the coroutines they wait in keep
    only what the call needs across the wait (the request's making and the answer's taking
    are plain methods, whose locals are gone by then). Each held 21 locals before."""
    assert _slots(Agent._ask_model.__code__) <= 16
    assert _slots(ScriptedModel.complete.__code__) <= 8
