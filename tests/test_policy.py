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


patterns = st.lists(st.sampled_from(["sh", "write-file", "calc/*", "*-file", "docs/search"]),
                    max_size=3, unique=True).map(tuple)


@given(st.lists(patterns, min_size=1, max_size=4), st.lists(patterns, min_size=1, max_size=4))
def test_approvals_only_add_up_down_the_tree(tier_patterns, task_patterns) -> None:
    """Whatever a task or tier says (``:approve []`` included), a child needs approval for
    everything its parent does, and for its own tier's and task's patterns too."""
    tiers = tuple(Tier(depth=d, models=("scripted",), approve=p)
                  for d, p in enumerate(tier_patterns))
    plan = Plan(name="p", tiers=tiers, root=Task(id="root", approve=task_patterns[0]))
    policy = root_policy(plan)
    assert policy.approve == frozenset(tier_patterns[0]) | frozenset(task_patterns[0])
    for depth, own in enumerate(task_patterns[1:], start=1):
        child = derive(policy, plan, Task(id=f"t{depth}", approve=own), depth)
        assert child.approve == policy.approve | frozenset(own) | frozenset(
            plan.tier_for(depth).approve)
        policy = child


def test_approval_patterns_are_globs_on_the_tool_name() -> None:
    policy = Policy(models=("scripted",), tools=frozenset(), talk=frozenset(),
                    approve=frozenset({"sh", "calc/*", "*-file", "docs/search"}))
    needs = {t for t in ("sh", "shx", "calc/add", "calc/sub", "calcx/add", "read-file",
                         "write-file", "docs/search", "docs/fetch", "list-dir")
             if policy.needs_approval(t)}
    assert needs == {"sh", "calc/add", "calc/sub", "read-file", "write-file", "docs/search"}
