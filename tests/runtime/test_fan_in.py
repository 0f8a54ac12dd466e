"""A fan-in: many children report to their parent at the same moment. None of them waits for
room in the parent's inbox (it has room for one item from each running child), and the parent
takes the news in batches, not one scheduler pass per item."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import trio

from agenttree.plan import parse_plan
from agenttree.runtime.agent import INBOX_SIZE
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
