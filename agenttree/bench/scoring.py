"""Scoring: structural matching of tool calls, and pass@k / pass^k over epochs.

Matching rules (docs/bench.md, "How calls are matched"):

- the tool name must be equal;
- every expected argument must be present (``missing-arg``) and nothing else (``unexpected-arg``);
- values compare by value: an int matches a float of the same value (``6`` ≡ ``6.0``); a bool is
  never a number; strings match ignoring case and surrounding white space; lists element by
  element; maps key by key; a :class:`AnyOf` matches if any alternative does. A value of the
  wrong JSON type is ``wrong-type`` (a numeric string for a number is not coerced), a value of
  the right type but different is ``wrong-value``;
- the calls of one turn (parallel calls) match in any order; turns match in order;
- arguments that are not a JSON object (a call the model garbled) are ``unparseable-call``, and
  such a call never counts as a correct refusal.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import attrs

FAILURE_KINDS = (
    "wrong-function", "missing-arg", "unexpected-arg", "wrong-type", "wrong-value",
    "parallel-unmatched", "no-call", "extra-call", "called-when-should-not", "unparseable-call",
)
"""Every failure a tool-calling case can report."""
_BRUTE_FORCE_MAX = 7
"""Parallel turns up to this many calls get the optimal pairing; larger ones a greedy one."""


@attrs.frozen
class AnyOf:
    """Acceptable alternatives for one expected value (an EDN set in a case file)."""

    options: tuple[Any, ...]


@attrs.frozen(kw_only=True)
class Call:
    """One tool call: ``args`` is a dict, or the raw text when the model's JSON did not parse."""

    tool: str
    args: Any


@attrs.frozen(kw_only=True)
class CallScore:
    """A case's result: exact (every call right, nothing extra), a soft score in [0, 1], and the
    failures found (sorted, each kind once)."""

    exact: bool
    soft: float
    failures: tuple[str, ...]


def value_failure(expected: Any, actual: Any) -> str | None:
    """``None`` when ``actual`` matches ``expected``, else ``wrong-type`` or ``wrong-value``."""
    if isinstance(expected, AnyOf):
        found = [value_failure(option, actual) for option in expected.options]
        if None in found:
            return None
        return "wrong-type" if all(f == "wrong-type" for f in found) else "wrong-value"
    if isinstance(expected, bool) or expected is None:
        if type(actual) is not type(expected):
            return "wrong-type"
        return None if actual == expected else "wrong-value"
    if isinstance(expected, int | float):
        if isinstance(actual, bool) or not isinstance(actual, int | float):
            return "wrong-type"
        return None if math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9) \
            else "wrong-value"
    if isinstance(expected, str):
        if not isinstance(actual, str):
            return "wrong-type"
        return None if expected.strip().casefold() == actual.strip().casefold() else "wrong-value"
    if isinstance(expected, list | tuple):
        if not isinstance(actual, list | tuple):
            return "wrong-type"
        if len(expected) != len(actual):
            return "wrong-value"
        return _first(value_failure(e, a) for e, a in zip(expected, actual, strict=True))
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return "wrong-type"
        if set(expected) != set(actual):
            return "wrong-value"
        return _first(value_failure(v, actual[k]) for k, v in expected.items())
    raise TypeError(f"cannot match expected value {expected!r}")


def _first(failures: Any) -> str | None:
    return next((f for f in failures if f is not None), None)


def call_failures(expected: Call, actual: Call) -> list[str]:
    """What is wrong with ``actual`` as the call ``expected`` (empty: an exact match)."""
    if not isinstance(actual.args, dict):
        return ["unparseable-call"]
    if actual.tool != expected.tool:
        return ["wrong-function"]
    failures = []
    for key, value in expected.args.items():
        if key not in actual.args:
            failures.append("missing-arg")
        else:
            found = value_failure(value, actual.args[key])
            if found:
                failures.append(found)
    failures += ["unexpected-arg" for key in actual.args if key not in expected.args]
    return failures


def call_credit(expected: Call, actual: Call) -> float:
    """Partial credit: 0 for the wrong (or a garbled) call; else half for the name and half
    shared by the arguments (an unexpected argument counts against the share)."""
    if not isinstance(actual.args, dict) or actual.tool != expected.tool:
        return 0.0
    right = sum(1 for k, v in expected.args.items()
                if k in actual.args and value_failure(v, actual.args[k]) is None)
    extra = sum(1 for k in actual.args if k not in expected.args)
    slots = len(expected.args) + extra
    return 0.5 + 0.5 * (right / slots if slots else 1.0)


def _pairing(expected: Sequence[Call], actual: Sequence[Call]) -> list[tuple[int, int]]:
    """Pairs (expected index, actual index) that maximise exact matches, then credit."""
    def value(pairs: Sequence[tuple[int, int]]) -> tuple[int, float]:
        exact = sum(1 for e, a in pairs if not call_failures(expected[e], actual[a]))
        return exact, sum(call_credit(expected[e], actual[a]) for e, a in pairs)

    n = min(len(expected), len(actual))
    if max(len(expected), len(actual)) <= _BRUTE_FORCE_MAX:
        best: list[tuple[int, int]] = []
        best_value = (-1, -1.0)
        for chosen in itertools.permutations(range(len(actual)), n):
            for rows in itertools.combinations(range(len(expected)), n):
                pairs = list(zip(rows, chosen, strict=True))
                v = value(pairs)
                if v > best_value:
                    best, best_value = pairs, v
        return best
    pairs, free = [], list(range(len(actual)))
    for e in range(len(expected)):
        if not free:
            break
        a = max(free, key=lambda i: (not call_failures(expected[e], actual[i]),
                                     call_credit(expected[e], actual[i])))
        free.remove(a)
        pairs.append((e, a))
    return pairs


def score_turn(expected: Sequence[Call], actual: Sequence[Call]) -> tuple[list[str], float]:
    """Failures and summed credit of one turn (parallel calls match in any order)."""
    if expected and not actual:
        return ["no-call"], 0.0
    if actual and not expected:
        return ["extra-call"], 0.0
    pairs = _pairing(expected, actual)
    failures = [f for e, a in pairs for f in call_failures(expected[e], actual[a])]
    if len(expected) != len(actual):
        failures.append("parallel-unmatched")
    return failures, sum(call_credit(expected[e], actual[a]) for e, a in pairs)


def score_calls(expected: Sequence[Sequence[Call]],
                actual: Sequence[Sequence[Call]]) -> CallScore:
    """Score a case: ``expected`` and ``actual`` are turns (each a list of calls); turns with no
    calls are left out of ``actual``. No expected turns means no tool should be called."""
    if not expected:
        calls = [c for turn in actual for c in turn]
        if not calls:
            return CallScore(exact=True, soft=1.0, failures=())
        garbled = any(not isinstance(c.args, dict) for c in calls)
        kind = "unparseable-call" if garbled else "called-when-should-not"
        return CallScore(exact=False, soft=0.0, failures=(kind,))
    failures: set[str] = set()
    credit = 0.0
    for i in range(max(len(expected), len(actual))):
        found, got = score_turn(expected[i] if i < len(expected) else (),
                                actual[i] if i < len(actual) else ())
        failures.update(found)
        credit += got
    wanted = sum(len(t) for t in expected)
    made = sum(len(t) for t in actual)
    soft = round(credit / max(wanted, made), 6)
    return CallScore(exact=not failures, soft=soft, failures=tuple(sorted(failures)))


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of ``k`` samples (of ``n``, ``c`` passing) passes."""
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k: chance that all of ``k`` samples (of ``n``, ``c`` passing) pass."""
    return math.comb(c, k) / math.comb(n, k) if k <= n else 0.0
