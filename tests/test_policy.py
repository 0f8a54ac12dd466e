"""Policy derivation only ever narrows: a child never gets a model or tool its parent lacks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from agenttree.plan import Plan, Task, Tier
from agenttree.policy import OWN_TOOLS, Policy, derive, offered_tools, root_policy
from agenttree.tool_names import TOOL_NAMES

MODELS = ["m1", "m2", "m3", "m4", "scripted"]
tool_sets = st.none() | st.lists(st.sampled_from(sorted(TOOL_NAMES)), unique=True).map(tuple)
model_sets = st.lists(st.sampled_from(MODELS), min_size=1, unique=True).map(tuple)


@st.composite
def plans(draw) -> Plan:
    tiers = [Tier(depth=d, models=draw(model_sets), tools=draw(tool_sets))
             for d in range(draw(st.integers(1, 4)))]
    return Plan(name="p", tiers=tuple(tiers), root=Task(id="root"))


@given(plans(), st.lists(st.tuples(tool_sets, st.none() | st.sampled_from(MODELS)),
                         min_size=1, max_size=6))
def test_every_step_down_narrows(plan: Plan, chain) -> None:
    policy = root_policy(plan)
    for depth, (task_tools, task_model) in enumerate(chain, start=1):
        task = Task(id=f"t{depth}", tools=task_tools, model=task_model)
        child = derive(policy, plan, task, depth)
        assert set(child.models) <= set(policy.models)
        assert child.tools <= policy.tools
        assert child.models, "a child always has a model to use"
        assert child.choose_model(task) in child.models
        if task_tools is not None:
            assert child.tools <= set(task_tools) | OWN_TOOLS
        policy = child


def test_a_task_cannot_pick_a_model_its_policy_lacks() -> None:
    policy = Policy(models=("small",), tools=frozenset(), talk=frozenset())
    assert policy.choose_model(Task(id="t", model="huge")) == "small"


def test_model_override_applies_everywhere_and_still_narrows() -> None:
    plan = Plan(name="p", tiers=(Tier(depth=0, models=("a",)), Tier(depth=1, models=("b",))),
                root=Task(id="root"))
    root = root_policy(plan, model_override="scripted")
    assert root.models == ("scripted",)
    assert derive(root, plan, Task(id="c"), 1, model_override="scripted").models == ("scripted",)


def test_the_root_tasks_tools_narrow_tier_zeros() -> None:
    plan = Plan(name="p", tiers=(Tier(depth=0, models=("a",), tools=("sh", "finish")),),
                root=Task(id="root", tools=("finish", "message")))
    assert root_policy(plan).tools == frozenset({"finish"}) | OWN_TOOLS
    assert root_policy(Plan(name="p", tiers=plan.tiers, root=Task(id="root"))).tools == \
        frozenset({"sh", "finish"}) | OWN_TOOLS


def test_an_agent_is_offered_only_the_tools_that_work_where_it_stands() -> None:
    every = frozenset(TOOL_NAMES)
    root = offered_tools(every, has_parent=False, may_have_children=True,
                         locks_required=False, has_saved_outputs=False)
    assert every - root == {"report-state", "request-upgrade", "read-output"}
    leaf = offered_tools(every - {"spawn"}, has_parent=True, may_have_children=False,
                         locks_required=False, has_saved_outputs=True)
    assert every - leaf == {"spawn", "grant", "bridge", "bridge-close", "resolve-conflict"}
    alone = offered_tools(every - {"spawn"}, has_parent=False, may_have_children=False,
                          locks_required=True, has_saved_outputs=False)
    assert alone == {"read-file", "write-file", "list-dir", "sh", "finish", "lock", "unlock"}
    # never more than the policy allows
    assert offered_tools(frozenset({"sh"}), has_parent=True, may_have_children=True,
                         locks_required=True, has_saved_outputs=True) == {"sh"}
