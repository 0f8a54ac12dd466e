"""The budget meter: checks, charges, carving children's envelopes out of the parent's."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agenttree.budget import BudgetExhausted, Meter


def test_check_refuses_what_is_not_left() -> None:
    meter = Meter({"tool_calls": 2})
    meter.check("tool_calls")
    meter.charge("tool_calls", 2)
    with pytest.raises(BudgetExhausted, match="tool_calls budget exhausted \\(2 of 2\\)"):
        meter.check("tool_calls")


def test_unlimited_kinds_never_run_out() -> None:
    meter = Meter({})
    meter.charge("tokens", 10**9)
    meter.check("tokens", 10**9)
    assert meter.remaining("tokens") is None


def test_carve_caps_requests_and_shares_the_rest() -> None:
    meter = Meter({"tool_calls": 100, "tokens": 1000})
    child = meter.carve({"tool_calls": 500}, share=4)
    assert child == {"tool_calls": 100, "tokens": 250}
    assert meter.remaining("tool_calls") == 0
    assert meter.remaining("tokens") == 750


def test_settle_returns_unspent_and_counts_usage() -> None:
    meter = Meter({"tool_calls": 10})
    lent = meter.carve({"tool_calls": 6})
    meter.settle(lent, {"tool_calls": 2})
    assert meter.remaining("tool_calls") == 8
    assert meter.used["tool_calls"] == 2


def test_equal_shares_for_plan_children() -> None:
    meter = Meter({"tool_calls": 60})
    shares = [meter.carve({}, share=3 - i + 1)["tool_calls"] for i in range(3)]
    assert shares == [15, 15, 15]
    assert meter.remaining("tool_calls") == 15


@given(st.integers(0, 10_000), st.lists(st.tuples(st.integers(0, 5_000), st.integers(0, 5_000),
                                                  st.integers(1, 5)), max_size=30))
def test_a_tree_never_spends_more_than_the_root_has(limit: int, children) -> None:
    root = Meter({"tool_calls": limit})
    total_spent = 0
    for asked, spend, share in children:
        lent = root.carve({"tool_calls": asked}, share=share)
        child = Meter(lent)
        spent = min(spend, child.remaining("tool_calls"))
        child.charge("tool_calls", spent)
        total_spent += spent
        root.settle(lent, child.used)
        assert root.remaining("tool_calls") >= 0
    assert total_spent <= limit


def test_retries_are_each_agents_own_never_lent_nor_rolled_up() -> None:
    meter = Meter({"tool_calls": 30, "retries": 3})
    kids = [meter.carve({}, share=4 - i) for i in range(3)]
    assert [k["retries"] for k in kids] == [3, 3, 3]  # not 3 split four ways (0 each)
    assert meter.remaining("retries") == 3
    assert meter.carve({"retries": 7})["retries"] == 7  # asked for: given, not capped by ours
    meter.settle(kids[0], {"tool_calls": 4, "retries": 2})
    assert meter.used["tool_calls"] == 4 and meter.used["retries"] == 0
    assert meter.remaining("retries") == 3


def test_a_meter_that_never_lends_keeps_no_lent_amounts() -> None:
    """Most agents (the leaves) never lend: their meter holds no lent amounts until the first
    envelope is carved, and then one for every limited pooled kind, lent or not."""
    meter = Meter({"tokens": 100, "tool_calls": 10, "retries": 2, "wall_s": 5})
    assert meter.lent == {}
    assert meter.remaining("tokens") == 100
    envelope = meter.lend_to("a.b", {"tokens": 30})
    assert envelope == {"retries": 2, "tokens": 30, "tool_calls": 5}
    assert meter.lent == {"tokens": 30, "tool_calls": 5}
    meter.lend_more("a.b", {"tokens": 10, "retries": 1})
    assert meter.lent == {"tokens": 40, "tool_calls": 5}
    meter.take_back("a.b", {}, {"tokens": 7, "tool_calls": 1})
    assert meter.lent == {"tokens": 0, "tool_calls": 0}
    assert (meter.remaining("tokens"), meter.remaining("tool_calls")) == (93, 9)
    unlent = Meter({"tokens": 100})
    unlent.adopt("a.c", {"tokens": 20, "retries": 1})  # a resume: a child the log shows running
    assert unlent.lent == {"tokens": 20}
