"""The report's statistics: Wilson intervals, the bootstrap, pass@k / pass^k, the sign test."""

import math

import pytest

from agenttree.bench.stats import bootstrap, pass_at_k, pass_hat_k, sign_test, wilson


@pytest.mark.parametrize(("passed", "n", "low", "high"), [
    # The roots of (passed/n - p)^2 = z^2 p (1 - p) / n, found by bisection (z = 1.959964).
    (5, 10, 0.236593, 0.763407),
    (0, 10, 0.0, 0.277533),
    (10, 10, 0.722467, 1.0),
    (81, 263, 0.255289, 0.36621),
    (1, 1, 0.206549, 1.0),
])
def test_wilson_interval_matches_the_reference_values(passed, n, low, high):
    assert wilson(passed, n) == pytest.approx([low, high], abs=1e-6)


def test_wilson_interval_narrows_with_more_samples_and_has_no_interval_for_none():
    small, large = wilson(8, 10), wilson(80, 100)
    assert small[0] < large[0] < 0.8 < large[1] < small[1]
    assert wilson(0, 0) is None


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = [1.0] * 30 + [0.0] * 10
    first, second = bootstrap(values), bootstrap(values)
    assert first == second
    assert first[0] < 0.75 < first[1]
    assert bootstrap([1.0, 1.0, 1.0]) == [1.0, 1.0]
    assert bootstrap([]) is None


def test_pass_at_k_and_pass_hat_k():
    assert pass_at_k(3, 0, 3) == 0.0 and pass_at_k(3, 1, 3) == 1.0
    assert pass_at_k(4, 2, 1) == 0.5 and pass_at_k(4, 1, 2) == 0.5
    assert pass_hat_k(3, 3, 3) == 1.0 and pass_hat_k(3, 2, 3) == 0.0
    assert pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)


def test_pass_at_k_is_not_defined_with_fewer_samples_than_k():
    with pytest.raises(ValueError, match="pass@3 needs at least 3 samples, got 2"):
        pass_at_k(2, 1, 3)
    with pytest.raises(ValueError, match=r"pass\^3 needs at least 3 samples"):
        pass_hat_k(2, 2, 3)


def test_sign_test_is_the_exact_binomial_two_sided_p_value():
    assert sign_test(0, 0) == 1.0
    assert sign_test(5, 5) == 1.0
    assert sign_test(10, 0) == pytest.approx(2 / 1024, abs=1e-6)
    # 9 of 12 discordant pairs one way: 2 * P(X <= 3) for X ~ Bin(12, 1/2) = 598 / 4096.
    assert sign_test(9, 3) == pytest.approx(0.145996, abs=1e-6)
    assert sign_test(3, 9) == sign_test(9, 3)
    assert math.isclose(sign_test(1, 0), 1.0)
