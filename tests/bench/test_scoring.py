"""Each call-matching rule of the tool-calling scorer, and pass@k / pass^k."""

import pytest

from agenttree.bench.scoring import (
    AnyOf,
    Call,
    call_credit,
    call_failures,
    pass_at_k,
    pass_hat_k,
    score_calls,
    value_failure,
)


def c(tool, **args):
    return Call(tool=tool, args=args)


@pytest.mark.parametrize(("expected", "actual", "found"), [
    (6, 6, None), (6, 6.0, None), (0.1 + 0.2, 0.3, None), (6, 7, "wrong-value"),
    (6, "6", "wrong-type"), (6, True, "wrong-type"), (True, 1, "wrong-type"),
    (True, False, "wrong-value"), ("Paris", " paris ", None), ("Paris", "Lyon", "wrong-value"),
    ("Paris", 3, "wrong-type"), ([3, 11, 7], [3, 11, 7], None), ([3, 11, 7], [3, 7, 11],
                                                                 "wrong-value"),
    ([1, 2], [1], "wrong-value"), ([1], 1, "wrong-type"), ({"a": 1}, {"a": 1.0}, None),
    ({"a": 1}, {"a": 1, "b": 2}, "wrong-value"), ({"a": 1}, [1], "wrong-type"),
    (None, None, None), (None, 0, "wrong-type"),
    (AnyOf(("rate limits", "rate limit")), "Rate Limit", None),
    (AnyOf(("a", "b")), "c", "wrong-value"), (AnyOf((1, 2)), "1", "wrong-type"),
])
def test_value_rules(expected, actual, found):
    assert value_failure(expected, actual) == found


def test_call_failures_name_each_problem():
    want = c("mul", a=6, b=7)
    assert call_failures(want, c("mul", a=6, b=7)) == []
    assert call_failures(want, c("add", a=6, b=7)) == ["wrong-function"]
    assert call_failures(want, c("mul", a=6)) == ["missing-arg"]
    assert call_failures(want, c("mul", a=6, b=7, c=1)) == ["unexpected-arg"]
    assert call_failures(want, c("mul", a="6", b=8)) == ["wrong-type", "wrong-value"]
    assert call_failures(want, Call(tool="mul", args='{"a": 6, "b":')) == ["unparseable-call"]


def test_credit_is_half_for_the_name_and_half_shared_by_arguments():
    want = c("mul", a=6, b=7)
    assert call_credit(want, c("mul", a=6, b=7)) == 1.0
    assert call_credit(want, c("mul", a=6, b=0)) == 0.75
    assert call_credit(want, c("mul")) == 0.5
    assert call_credit(want, c("mul", a=6, b=7, z=1)) == pytest.approx(0.5 + 0.5 * 2 / 3)
    assert call_credit(want, c("add", a=6, b=7)) == 0.0
    assert call_credit(c("now"), c("now")) == 1.0


def test_parallel_calls_match_in_any_order():
    want = [[c("weather", city="Oslo"), c("weather", city="Cairo")]]
    got = score_calls(want, [[c("weather", city="cairo"), c("weather", city="Oslo")]])
    assert got.exact and got.soft == 1.0 and got.failures == ()


def test_parallel_calls_unmatched_when_counts_differ():
    want = [[c("weather", city="Oslo"), c("weather", city="Cairo")]]
    got = score_calls(want, [[c("weather", city="Oslo")]])
    assert not got.exact and got.failures == ("parallel-unmatched",)
    assert got.soft == 0.5
    extra = score_calls(want, [[c("weather", city="Oslo"), c("weather", city="Cairo"),
                                c("weather", city="Lima")]])
    assert extra.failures == ("parallel-unmatched",) and extra.soft == pytest.approx(2 / 3)


def test_turns_match_in_order():
    want = [[c("add", a=2, b=3)], [c("mul", a=5, b=4)]]
    assert score_calls(want, [[c("add", a=2, b=3)], [c("mul", a=5, b=4)]]).exact
    swapped = score_calls(want, [[c("mul", a=5, b=4)], [c("add", a=2, b=3)]])
    assert swapped.failures == ("wrong-function",) and swapped.soft == 0.0
    short = score_calls(want, [[c("add", a=2, b=3)]])
    assert short.failures == ("no-call",) and short.soft == 0.5
    more = score_calls(want, [[c("add", a=2, b=3)], [c("mul", a=5, b=4)], [c("add", a=1, b=1)]])
    assert more.failures == ("extra-call",) and more.soft == pytest.approx(2 / 3)


def test_no_call_at_all():
    got = score_calls([[c("mul", a=1, b=2)]], [])
    assert got.failures == ("no-call",) and got.soft == 0.0


def test_irrelevance_refusal_and_calls():
    assert score_calls([], []).exact
    called = score_calls([], [[c("mul", a=1, b=2)]])
    assert not called.exact and called.failures == ("called-when-should-not",)


def test_an_unparseable_call_is_never_a_correct_refusal():
    got = score_calls([], [[Call(tool="mul", args="{not json")]])
    assert not got.exact and got.soft == 0.0 and got.failures == ("unparseable-call",)


def test_large_parallel_turns_use_the_greedy_pairing():
    want = [[c("population", country=f"c{i}") for i in range(9)]]
    got = [[c("population", country=f"c{i}") for i in reversed(range(9))]]
    assert score_calls(want, got).exact


def test_pass_at_k_and_pass_hat_k():
    assert pass_at_k(3, 0, 3) == 0.0 and pass_at_k(3, 1, 3) == 1.0
    assert pass_at_k(4, 2, 1) == 0.5 and pass_at_k(4, 1, 2) == 0.5
    assert pass_hat_k(3, 3, 3) == 1.0 and pass_hat_k(3, 2, 3) == 0.0
    assert pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)
