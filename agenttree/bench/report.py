"""The report directory: ``events.jsonl`` written as the run goes, ``summary.json`` and
``timing.json`` at the end.

Report events are one JSON object a line: ``seq``, ``t`` (Unix ms), ``type`` and the event's
fields. Types: ``run/start``, ``case/start``, ``tool/call``, ``tool/result``, ``case/end``,
``run/end`` or ``run/stopped``. A torn last line (the process was killed mid-write) is ignored
by the reader.

``summary.json`` holds only what a deterministic model reproduces exactly (statuses, scores,
failures, tokens, intervals from :mod:`.stats` with their fixed seed...), so two runs with the
scripted model and one seed, or a run resumed after a crash and one that never stopped, give
byte-identical summaries. Wall times go to ``timing.json``.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from ..log import LineReader
from ..redact import redact_data
from .stats import bootstrap, pass_at_k, pass_hat_k, wilson

EVENTS = "events.jsonl"
SUMMARY = "summary.json"
TIMING = "timing.json"
SCORED = ("pass", "fail")
"""Statuses that count in pass rates (``infra-error`` and ``skipped`` do not)."""
SUMMED = ("tool_calls", "tokens", "prompt_tokens", "completion_tokens", "estimated_tokens",
          "retries", "cost")
"""Metrics summed per model; other numeric metrics are averaged."""


class ReportLog:
    """Appends report events to ``events.jsonl``; each line is flushed as it is written.

    Writing is a plain call (a few microseconds): the bench's tasks all run on one Trio thread,
    so lines never interleave.
    """

    def __init__(self, path: Path, next_seq: int = 1) -> None:
        self.path = path
        self._seq = next_seq
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - closed by close()

    def write(self, type_: str, **fields: Any) -> dict[str, Any]:
        """Append one event; returns it as written."""
        record = redact_data({"seq": self._seq, "t": int(time.time() * 1000), "type": type_,
                              **fields})
        self._file.write(orjson.dumps(record) + b"\n")
        self._file.flush()
        self._seq += 1
        return record

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def report_reader(path: Path) -> LineReader[dict[str, Any]]:
    """A reader of a report log, with the event log's rule (:class:`~agenttree.log.LineReader`):
    a torn last line is skipped (and, after reading, cut by its ``cut_torn_tail``, so appending
    can go on after the last good line); a corrupt line in the middle is
    :class:`~agenttree.errors.LogCorrupt` (that is not a crash, it is damage)."""
    return LineReader(path, orjson.loads, "report line")


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """The events of a report log (see :func:`report_reader`)."""
    return iter(report_reader(path))


def _mean_spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "stdev": 0.0}
    spread = statistics.pstdev(values) if len(values) > 1 else 0.0
    return {"mean": round(statistics.fmean(values), 6), "stdev": round(spread, 6)}


def _rate(passed: int, scored: int) -> float:
    return round(passed / scored, 6) if scored else 0.0


def summarize(start: dict[str, Any], ends: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The summary of a run from its ``run/start`` and the last ``case/end`` of each case run."""
    epochs = int(start["epochs"])
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    cases: dict[str, dict[str, Any]] = defaultdict(dict)
    for end in sorted(ends, key=lambda e: (e["case"], e["model"], e["epoch"])):
        by_model[end["model"]].append(end)
        per = cases[end["case"]].setdefault(end["model"], {
            "runs": [], "spec": end["fingerprint"]["spec"], "category": "all"})
        per["category"] = end["metrics"].get("category", per["category"])
        per["runs"].append({"epoch": end["epoch"], "status": end["status"],
                            "score": end["score"], "failures": end["failures"]})
    for per_model in cases.values():
        for per in per_model.values():
            scored = [r for r in per["runs"] if r["status"] in SCORED]
            per["passed"] = sum(r["status"] == "pass" for r in scored)
            per["scored"] = len(scored)
            per["mean_score"] = _mean_spread([r["score"] for r in scored])["mean"]
    models = {m: _model_summary(by_model.get(m, []), epochs) for m in start["models"]}
    totals = Counter(e["status"] for runs in by_model.values() for e in runs)
    return {
        "suite": start["suite"], "version": start["version"], "seed": start["seed"],
        "epochs": epochs, "sealed": start.get("sealed", True), "models": models,
        "cases": dict(sorted(cases.items())),
        "totals": {"runs": sum(totals.values()), "passed": totals["pass"],
                   "failed": totals["fail"], "infra_errors": totals["infra-error"],
                   "skipped": totals["skipped"]},
    }


def _model_summary(runs: list[dict[str, Any]], epochs: int) -> dict[str, Any]:
    scored = [r for r in runs if r["status"] in SCORED]
    passed = passed_of(scored)
    rates, scores = [], []
    for epoch in range(1, epochs + 1):
        those = [r for r in scored if r["epoch"] == epoch]
        if those:
            rates.append(passed_of(those) / len(those))
            scores.append(statistics.fmean(r["score"] for r in those))
    per_case: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in scored:
        per_case[r["case"]].append(r)
    categories: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in scored:
        categories[r["metrics"].get("category", "all")].append(r)
    numeric: dict[str, list[float]] = defaultdict(list)
    for r in scored:
        for k, v in r["metrics"].items():
            if isinstance(v, int | float) and not isinstance(v, bool):
                numeric[k].append(v)
    case_scores = [statistics.fmean(r["score"] for r in rs) for rs in per_case.values()]
    return {
        "runs": len(runs), "scored": len(scored), "passed": passed,
        "failed": len(scored) - passed,
        "infra_errors": sum(r["status"] == "infra-error" for r in runs),
        "skipped": sum(r["status"] == "skipped" for r in runs),
        "pass_rate": _rate(passed, len(scored)),
        "pass_rate_ci95": wilson(passed, len(scored)),
        "mean_score": _mean_spread([r["score"] for r in scored])["mean"],
        "mean_score_ci95": bootstrap(case_scores),
        "pass_rate_over_epochs": _mean_spread(rates),
        "score_over_epochs": _mean_spread(scores),
        **{f"pass@{k}": _over_cases(per_case, k, pass_at_k) for k in sorted({1, epochs})},
        **({f"pass^{epochs}": _over_cases(per_case, epochs, pass_hat_k)} if epochs > 1 else {}),
        "by_category": {c: {"scored": len(rs), "passed": passed_of(rs),
                            "accuracy": _rate(passed_of(rs), len(rs)),
                            "accuracy_ci95": wilson(passed_of(rs), len(rs)),
                            "mean_score": _mean_spread([r["score"] for r in rs])["mean"]}
                        for c, rs in sorted(categories.items())},
        "failures": dict(sorted(Counter(f for r in scored for f in r["failures"]).items())),
        "totals": {k: round(sum(v), 6) for k, v in sorted(numeric.items()) if k in SUMMED},
        "means": {k: round(statistics.fmean(v), 6) for k, v in sorted(numeric.items())
                  if k not in SUMMED},
    }


def _over_cases(per_case: dict[str, list[dict[str, Any]]], k: int,
                estimator: Callable[[int, int, int], float]) -> dict[str, Any]:
    """pass@k or pass^k: the mean of the per-case estimates over the cases scored at least
    ``k`` times (``cases``; ``left_out`` were scored fewer times, so it is not defined for
    them; ``runs`` is the samples used), with a bootstrap interval over those cases."""
    values, runs = [], 0
    for rs in per_case.values():
        if len(rs) >= k:
            values.append(estimator(len(rs), passed_of(rs), k))
            runs += len(rs)
    return {"value": round(statistics.fmean(values), 6) if values else None,
            "ci95": bootstrap(values), "cases": len(values), "runs": runs,
            "left_out": len(per_case) - len(values)}


def passed_of(runs: list[dict[str, Any]]) -> int:
    """How many of ``runs`` passed."""
    return sum(r["status"] == "pass" for r in runs)


def timing(ends: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Wall times per model (total and mean case) and per case run."""
    per_model: dict[str, list[float]] = defaultdict(list)
    cases = {}
    for end in ends:
        wall = end["timing"].get("wall_s", 0.0)
        per_model[end["model"]].append(wall)
        cases[end["key"]] = end["timing"]
    return {"models": {m: {"wall_s": round(sum(v), 3), "mean_case_s": round(statistics.fmean(v), 3)}
                       for m, v in sorted(per_model.items())},
            "cases": dict(sorted(cases.items()))}


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` as indented JSON with sorted keys (so equal values are equal bytes)."""
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
                     + b"\n")
