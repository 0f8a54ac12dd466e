"""Scoring a tool-calling case: the calls the model made against the expected ones, and its
final reply against the expected answer (docs/bench.md, "How calls are matched").

- Each parameter of an expected call has a list of acceptable answers (:class:`Arg`); "left
  out" (:data:`ABSENT`) is one of them where leaving it out is right: an optional parameter the
  case does not name, or one whose declared default is an acceptable answer. A ``null`` sent for
  a parameter counts as leaving it out. Values compare as :mod:`.matching` says.
- The tool name must be equal (``wrong-function``); an argument the case needs is there
  (``missing-arg``); an argument the tool does not have, or an optional one the case did not ask
  for sent with a value other than its default, is ``unexpected-arg``.
- Turns match in order and the calls of one turn in any order (parallel calls). Multi-turn
  cases are judged by dependency order instead: a call may come in any turn after the turns of
  every call it needs the result of (``wrong-order`` otherwise), so fetching two inputs in two
  turns is as right as fetching them together; and the final reply must state the answer
  (``wrong-answer``).
- Arguments that are not a JSON object (a garbled call) are ``unparseable-call``, and such a call
  never counts as a correct refusal.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from .matching import mentions, value_failure

FAILURE_KINDS = (
    "wrong-function", "missing-arg", "unexpected-arg", "wrong-type", "wrong-value",
    "parallel-unmatched", "no-call", "extra-call", "wrong-order", "wrong-answer",
    "called-when-should-not", "did-not-ask", "unparseable-call",
)
"""Every failure a tool-calling case can report."""
_BRUTE_FORCE_MAX = 7
"""Turns up to this many calls get the optimal pairing; larger ones a greedy one."""


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""The answer "this argument is left out (or sent as null)"."""


@attrs.frozen
class AnyOf:
    """Acceptable alternatives for one expected value (an EDN set in a case file)."""

    options: tuple[Any, ...]


@attrs.frozen(kw_only=True)
class Arg:
    """How one parameter of an expected call is judged."""

    answers: tuple[Any, ...]
    """Acceptable values; :data:`ABSENT` among them when leaving it out is right."""
    match: str = "text"
    """How values compare (:data:`~agenttree.bench.matching.MATCH_KINDS`)."""
    asked: bool = True
    """The case names this argument. Another value for one it does not name is not a wrong
    value but an ``unexpected-arg``."""

    @property
    def concrete(self) -> tuple[Any, ...]:
        """The answers that are values (not "left out")."""
        return tuple(a for a in self.answers if a is not ABSENT)


@attrs.frozen(kw_only=True)
class Expected:
    """An expected call: the tool and a rule for each of its parameters."""

    tool: str
    args: dict[str, Arg]


@attrs.frozen(kw_only=True)
class Call:
    """A call the model made: ``args`` is a dict, or the raw text when its JSON did not parse."""

    tool: str
    args: Any


@attrs.frozen(kw_only=True)
class CallScore:
    """A case's result: exact (nothing wrong), a soft score in [0, 1], and the failures found
    (sorted, each kind once)."""

    exact: bool
    soft: float
    failures: tuple[str, ...]


def arg_failure(arg: Arg, value: Any) -> str | None:
    """What is wrong with ``value`` (``None``: left out) for ``arg``, or ``None``."""
    if value is None:
        return None if ABSENT in arg.answers else "missing-arg"
    if not arg.concrete:
        return "unexpected-arg"
    found = [value_failure(answer, value, arg.match) for answer in arg.concrete]
    if None in found:
        return None
    if not arg.asked:
        return "unexpected-arg"
    return "wrong-type" if all(f == "wrong-type" for f in found) else "wrong-value"


def call_failures(expected: Expected, actual: Call) -> list[str]:
    """What is wrong with ``actual`` as the call ``expected`` (empty: an exact match)."""
    if not isinstance(actual.args, dict):
        return ["unparseable-call"]
    if actual.tool != expected.tool:
        return ["wrong-function"]
    failures = [f for name, arg in expected.args.items()
                if (f := arg_failure(arg, actual.args.get(name))) is not None]
    return failures + ["unexpected-arg" for key in actual.args if key not in expected.args]


def call_credit(expected: Expected, actual: Call) -> float:
    """Partial credit: 0 for the wrong (or a garbled) call; else half for the name and half
    shared by the arguments the case names (an unexpected argument takes a share)."""
    if not isinstance(actual.args, dict) or actual.tool != expected.tool:
        return 0.0
    slots = right = 0
    for name, arg in expected.args.items():
        wrong = arg_failure(arg, actual.args.get(name)) is not None
        if arg.asked or wrong:
            slots += 1
            right += not wrong
    slots += sum(1 for key in actual.args if key not in expected.args)
    return 0.5 + 0.5 * (right / slots if slots else 1.0)


Pairs = list[tuple[int, int]]


def _best_pairing(expected: Sequence[Expected], actual: Sequence[Call],
                  value: Callable[[Pairs], tuple[float, ...]]) -> Pairs:
    """Pairs (expected index, actual index) that maximise ``value``; greedy for big turns."""
    n = min(len(expected), len(actual))
    if max(len(expected), len(actual)) <= _BRUTE_FORCE_MAX:
        best: Pairs = []
        best_value: tuple[float, ...] | None = None
        for chosen in itertools.permutations(range(len(actual)), n):
            for rows in itertools.combinations(range(len(expected)), n):
                pairs = list(zip(rows, chosen, strict=True))
                v = value(pairs)
                if best_value is None or v > best_value:
                    best, best_value = pairs, v
        return best
    pairs, free = [], list(range(len(actual)))
    for e in range(len(expected)):
        if not free:
            break
        a = max(free, key=lambda i: value([(e, i)]))
        free.remove(a)
        pairs.append((e, a))
    return pairs


def _match_value(expected: Sequence[Expected], actual: Sequence[Call],
                 pairs: Pairs) -> tuple[int, float]:
    exact = sum(1 for e, a in pairs if not call_failures(expected[e], actual[a]))
    return exact, sum(call_credit(expected[e], actual[a]) for e, a in pairs)


def score_turn(expected: Sequence[Expected], actual: Sequence[Call]) -> tuple[list[str], float]:
    """Failures and summed credit of one turn (parallel calls match in any order)."""
    if expected and not actual:
        return ["no-call"], 0.0
    if actual and not expected:
        return ["extra-call"], 0.0
    pairs = _best_pairing(expected, actual, lambda p: _match_value(expected, actual, p))
    failures = [f for e, a in pairs for f in call_failures(expected[e], actual[a])]
    if len(expected) != len(actual):
        failures.append("parallel-unmatched")
    return failures, sum(call_credit(expected[e], actual[a]) for e, a in pairs)


def _out_of_order(stages: Sequence[int], turns: Sequence[int], pairs: Pairs) -> int:
    """Pairs of pairs whose actual turns contradict the expected dependency order: a call of a
    later stage must come in a strictly later turn (it needs the earlier results)."""
    return sum(1 for (e1, a1), (e2, a2) in itertools.combinations(pairs, 2)
               if stages[e1] != stages[e2]
               and (stages[e1] < stages[e2]) != (turns[a1] < turns[a2]))


def score_dependent(expected: Sequence[Sequence[Expected]],
                    actual: Sequence[Sequence[Call]]) -> tuple[list[str], float, int]:
    """Failures, summed credit and calls made, judging calls by dependency order: every call of
    expected turn *i* must come in a later model turn than the calls of turns before *i*."""
    want = [c for turn in expected for c in turn]
    stages = [i for i, turn in enumerate(expected) for _ in turn]
    made = [c for turn in actual for c in turn]
    turns = [i for i, turn in enumerate(actual) for _ in turn]

    def value(pairs: Pairs) -> tuple[float, ...]:
        exact, credit = _match_value(want, made, pairs)
        return exact, -_out_of_order(stages, turns, pairs), credit

    pairs = _best_pairing(want, made, value)
    failures = [f for e, a in pairs for f in call_failures(want[e], made[a])]
    if _out_of_order(stages, turns, pairs):
        failures.append("wrong-order")
    if len(pairs) < len(want):
        failures.append("no-call")
    if len(pairs) < len(made):
        failures.append("extra-call")
    return failures, sum(call_credit(want[e], made[a]) for e, a in pairs), len(made)


def score_calls(expected: Sequence[Sequence[Expected]], actual: Sequence[Sequence[Call]], *,
                by_dependency: bool = False) -> tuple[set[str], float, int]:
    """Failures, summed credit and the larger of the expected and made call counts; turns
    with no calls are left out of ``actual``."""
    wanted = sum(len(t) for t in expected)
    if by_dependency:
        found, credit, made = score_dependent(expected, actual)
        return set(found), credit, max(wanted, made)
    failures: set[str] = set()
    credit = 0.0
    for i in range(max(len(expected), len(actual))):
        found, got = score_turn(expected[i] if i < len(expected) else (),
                                actual[i] if i < len(actual) else ())
        failures.update(found)
        credit += got
    return failures, credit, max(wanted, sum(len(t) for t in actual))


@attrs.frozen(kw_only=True)
class Judged:
    """What a case expects: its calls (turns), how they are ordered, and what the final reply
    must say."""

    expect: tuple[tuple[Expected, ...], ...]
    by_dependency: bool = False
    """Multi-turn: calls judged by dependency order, not by an exact partition into turns."""
    answer: tuple[Any, ...] = ()
    """The final reply must state one of these (a number or a text)."""
    ask: tuple[str, ...] = ()
    """Missing information: no call, and the reply must ask for one of these."""


def score_case(case: Judged, actual: Sequence[Sequence[Call]], reply: str) -> CallScore:
    """Score a case from the calls made (one list per turn that made any) and the final reply.

    No expected calls means no tool should be called. When the case has an answer it counts as
    one more slot in the soft score; asking for missing information is half of one.
    """
    if not case.expect:
        calls = [c for turn in actual for c in turn]
        if calls:
            garbled = any(not isinstance(c.args, dict) for c in calls)
            kind = "unparseable-call" if garbled else "called-when-should-not"
            return CallScore(exact=False, soft=0.0, failures=(kind,))
        if case.ask and not any(mentions(reply, word) for word in case.ask):
            return CallScore(exact=False, soft=0.5, failures=("did-not-ask",))
        return CallScore(exact=True, soft=1.0, failures=())
    failures, credit, slots = score_calls(case.expect, actual, by_dependency=case.by_dependency)
    if case.answer:
        slots += 1
        if any(mentions(reply, a) for a in case.answer):
            credit += 1
        else:
            failures.add("wrong-answer")
    return CallScore(exact=not failures, soft=round(credit / slots, 6),
                     failures=tuple(sorted(failures)))
