"""The statistics a bench report gives (docs/bench.md, "Statistics").

- :func:`wilson`: the Wilson score interval of a rate (passed of scored), which stays inside
  [0, 1] and is sound for small samples and rates near 0 or 1, where the normal approximation is
  not.
- :func:`bootstrap`: a percentile bootstrap interval of a mean over cases (pass@k, mean score),
  resampling cases with a fixed seed, so a summary stays byte-identical run to run.
- :func:`pass_at_k` and :func:`pass_hat_k`: the unbiased estimators over ``n`` samples of a case,
  defined only for ``k <= n``.
- :func:`sign_test`: the exact two-sided sign test of paired differences (McNemar's exact test
  when each side is pass or fail), for ``bench compare``.

Plain standard library: these are a few lines each, and the bench should not pull in SciPy.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence

CONFIDENCE = 0.95
_Z = statistics.NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def wilson(passed: int, n: int) -> list[float] | None:
    """The 95 % Wilson score interval of ``passed / n`` (``None`` when ``n`` is 0)."""
    if n == 0:
        return None
    p = passed / n
    z2 = _Z * _Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return [round(max(0.0, centre - half), 6), round(min(1.0, centre + half), 6)]


def bootstrap(values: Sequence[float]) -> list[float] | None:
    """The 95 % percentile bootstrap interval of the mean of ``values`` (one per case), from
    :data:`BOOTSTRAP_RESAMPLES` resamples drawn with a fixed seed (``None`` when empty)."""
    if not values:
        return None
    rng = random.Random(BOOTSTRAP_SEED)
    n = len(values)
    means = sorted(math.fsum(rng.choices(values, k=n)) / n for _ in range(BOOTSTRAP_RESAMPLES))
    tail = (1 - CONFIDENCE) / 2
    low = means[int(tail * BOOTSTRAP_RESAMPLES)]
    high = means[min(BOOTSTRAP_RESAMPLES - 1, int((1 - tail) * BOOTSTRAP_RESAMPLES))]
    return [round(low, 6), round(high, 6)]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of ``k`` samples (of ``n``, ``c`` passing) passes."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: chance that all of ``k`` samples (of ``n``, ``c`` passing) pass."""
    if k > n:
        raise ValueError(f"pass^{k} needs at least {k} samples, got {n}")
    return math.comb(c, k) / math.comb(n, k)


def sign_test(better: int, worse: int) -> float:
    """Two-sided exact sign test p-value: ``better`` pairs favour one side and ``worse`` the
    other (ties left out). 1.0 when there is no difference to test."""
    n = better + worse
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(better, worse) + 1)) / 2 ** n
    return round(min(1.0, 2 * tail), 6)
