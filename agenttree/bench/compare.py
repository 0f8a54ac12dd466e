"""``agenttree bench compare RUN RUN…``: models side by side, then paired case by case.

The first table has one row per run and model: pass rate with its 95 % Wilson interval, mean
score, scored and infra-error counts, prompt and completion tokens (``~``: estimated, because the
model did not report usage; scripted models never do), cost and wall time. Cost is priced from a
settings file's ``:prices`` (``--settings``, read by :func:`~agenttree.plan.load_settings`) when
one is given, else it is what the run recorded.

The paired table compares every other row with the first (the baseline) on the cases both
scored, whose case files were the same (an edited case is left out and counted): per category
and overall, how many cases got better and worse, the change in pass rate with a paired
bootstrap interval, and the exact sign-test p-value (McNemar's test when each case ran once).
Then the cases whose result differs.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import orjson
from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..errors import UserError
from ..models.spec import by_model
from ..plan import Price
from .report import SUMMARY, TIMING
from .stats import bootstrap, sign_test, wilson

COLUMNS = ("run", "suite", "model", "pass rate", "95% CI", "mean score", "scored", "infra",
           "prompt tok", "completion tok", "cost $", "wall s")
PAIRED = ("vs baseline", "category", "cases", "better", "worse", "Δ pass rate", "95% CI",
          "p (sign test)")


@attrs.frozen(kw_only=True)
class Entry:
    """One model of one run: its summary and its per-case results."""

    run: str
    suite: str
    model: str
    summary: dict[str, Any]
    cases: dict[str, dict[str, Any]]
    wall_s: float
    sealed: bool = True
    """Whether the run was sealed (a coding run's agents could not reach the hidden tests)."""

    @property
    def label(self) -> str:
        """How the paired table names it."""
        return f"{self.run} {self.model}"


def _load(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror}); has the run finished?") from None
    except orjson.JSONDecodeError:
        raise UserError(f"{path}: not valid JSON") from None


def entries(runs: list[str]) -> list[Entry]:
    """One entry per (run, model), in the order given."""
    out = []
    for run in runs:
        report = Path(run)
        summary = _load(report / SUMMARY)
        wall = _load(report / TIMING)["models"] if (report / TIMING).exists() else {}
        for model, m in summary["models"].items():
            cases = {case: per[model] for case, per in summary["cases"].items() if model in per}
            out.append(Entry(run=report.name, suite=summary["suite"], model=model, summary=m,
                             cases=cases, wall_s=wall.get(model, {}).get("wall_s", 0.0),
                             sealed=summary.get("sealed", True)))
    return out


def _percent_range(ci: list[float] | None) -> str:
    return "—" if ci is None else f"{ci[0]:.1%} to {ci[1]:.1%}"


def _tokens(e: Entry, key: str) -> str:
    return f"{'~' if _estimated(e) else ''}{int(e.summary.get('totals', {}).get(key, 0)):,}"


def _cost(e: Entry, prices: Mapping[str, Price] | None) -> str:
    totals = e.summary.get("totals", {})
    if prices is None:
        return f"{totals.get('cost', 0):.4f}"
    price = by_model(prices, e.model)
    if price is None:
        return "no price"
    dollars = price.dollars(totals.get("prompt_tokens", 0), totals.get("completion_tokens", 0))
    return f"{dollars:.4f}"


def rows(found: list[Entry], prices: Mapping[str, Price] | None = None) -> list[tuple[str, ...]]:
    """The first table's rows."""
    out = []
    for e in found:
        m = e.summary
        out.append((e.run, e.suite + ("" if e.sealed else " (unsealed)"), e.model,
                    f"{m['pass_rate']:.1%} ({m['passed']}/{m['scored']})",
                    _percent_range(wilson(m["passed"], m["scored"])),
                    f"{m['mean_score']:.3f}", str(m["scored"]), str(m["infra_errors"]),
                    _tokens(e, "prompt_tokens"), _tokens(e, "completion_tokens"),
                    _cost(e, prices), f"{e.wall_s:.1f}"))
    return out


def _pass_fraction(per: dict[str, Any]) -> float | None:
    return per["passed"] / per["scored"] if per.get("scored") else None


@attrs.frozen(kw_only=True)
class Pairing:
    """Another entry against the baseline: per category rows and the cases that differ."""

    baseline: Entry
    other: Entry
    rows: list[tuple[str, ...]]
    differ: list[tuple[str, str, str]]
    """(case, baseline result, other result) for each paired case whose result differs."""
    unpaired: int
    """Cases one side did not score, or whose case file changed between the runs."""


def _result(per: dict[str, Any]) -> str:
    passed, scored = per["passed"], per["scored"]
    if scored == 1:
        return "pass" if passed else "fail"
    return f"{passed}/{scored} passed"


def pair(baseline: Entry, other: Entry) -> Pairing:
    """Pair ``other`` with ``baseline`` case by case (see the module docstring)."""
    diffs: dict[str, list[float]] = {"all": []}
    differ = []
    unpaired = 0
    for case in sorted(set(baseline.cases) | set(other.cases)):
        a, b = baseline.cases.get(case), other.cases.get(case)
        if a is None or b is None or a.get("spec") != b.get("spec"):
            unpaired += 1
            continue
        fa, fb = _pass_fraction(a), _pass_fraction(b)
        if fa is None or fb is None:
            unpaired += 1
            continue
        diffs["all"].append(fb - fa)
        diffs.setdefault(b.get("category", "all"), []).append(fb - fa)
        if fa != fb:
            differ.append((case, _result(a), _result(b)))
    table = []
    for category in ["all", *sorted(c for c in diffs if c != "all")]:
        values = diffs[category]
        better = sum(d > 0 for d in values)
        worse = sum(d < 0 for d in values)
        change = f"{statistics.fmean(values):+.1%}" if values else "—"
        table.append((other.label, category, str(len(values)), str(better), str(worse), change,
                      _percent_range(bootstrap(values)) if values else "—",
                      f"{sign_test(better, worse):.4f}"))
    return Pairing(baseline=baseline, other=other, rows=table, differ=differ,
                   unpaired=unpaired)


def pairings(found: list[Entry]) -> list[Pairing]:
    """Every entry after the first paired with the first, where both ran the same suite."""
    if len(found) < 2:
        return []
    base = found[0]
    return [pair(base, e) for e in found[1:] if e.suite == base.suite]


def table(runs: list[str], prices: Mapping[str, Price] | None = None) -> Group:
    """The comparison for the terminal: the side-by-side table, then the paired ones."""
    found = entries(runs)
    main = Table(*COLUMNS, title="agenttree bench compare")
    body = rows(found, prices)
    for row in body:
        main.add_row(*row)
    parts: list[Any] = [main]
    if any(_estimated(e) for e in found):
        parts.append(Text(ESTIMATED_NOTE))
    for p in pairings(found):
        paired = Table(*PAIRED, title=f"paired with {p.baseline.label}")
        for row in p.rows:
            paired.add_row(*row)
        parts += [paired, Text("\n".join(_differ_lines(p, "  ")))]
    return Group(*parts)


ESTIMATED_NOTE = "~ estimated token counts: the model did not report usage"


def _estimated(e: Entry) -> bool:
    return e.summary.get("totals", {}).get("estimated_tokens", 0) > 0


def _differ_lines(p: Pairing, bullet: str) -> list[str]:
    head = f"{p.other.label}: {len(p.differ)} cases differ from the baseline"
    if p.unpaired:
        head += f" ({p.unpaired} not paired: not scored by both, or the case changed)"
    return [head, *(f"{bullet}{case}: {a} -> {b}" for case, a, b in p.differ)]


def _md_table(columns: tuple[str, ...], body: list[tuple[str, ...]]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(r) + " |" for r in body)]


def markdown(runs: list[str], prices: Mapping[str, Price] | None = None) -> str:
    """The comparison as Markdown: the same tables and case lists."""
    found = entries(runs)
    lines = _md_table(COLUMNS, rows(found, prices))
    if any(_estimated(e) for e in found):
        lines += ["", ESTIMATED_NOTE]
    for p in pairings(found):
        lines += ["", f"Paired with {p.baseline.label}:", "", *_md_table(PAIRED, p.rows), "",
                  *_differ_lines(p, "- ")]
    return "\n".join(lines) + "\n"
