"""``agenttree bench compare RUN RUN…``: models side by side (pass rate, mean score, tokens,
cost, wall time), as a terminal table or Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from rich.table import Table

from ..errors import UserError
from .report import SUMMARY, TIMING

COLUMNS = ("run", "suite", "model", "pass rate", "mean score", "scored", "infra", "tokens",
           "cost $", "wall s")


def _load(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror}); has the run finished?") from None
    except orjson.JSONDecodeError:
        raise UserError(f"{path}: not valid JSON") from None


def rows(runs: list[str]) -> list[tuple[str, ...]]:
    """One row per (run, model), in the order given."""
    out = []
    for run in runs:
        report = Path(run)
        summary = _load(report / SUMMARY)
        wall = _load(report / TIMING)["models"] if (report / TIMING).exists() else {}
        for model, m in summary["models"].items():
            totals = m.get("totals", {})
            suite = summary["suite"] + ("" if summary.get("sealed", True) else " (unsealed)")
            out.append((report.name, suite, model,
                        f"{m['pass_rate']:.1%} ({m['passed']}/{m['scored']})",
                        f"{m['mean_score']:.3f}", str(m["scored"]), str(m["infra_errors"]),
                        f"{int(totals.get('tokens', 0)):,}", f"{totals.get('cost', 0):.4f}",
                        f"{wall.get(model, {}).get('wall_s', 0.0):.1f}"))
    return out


def table(runs: list[str]) -> Table:
    """The comparison as a rich table."""
    t = Table(*COLUMNS, title="agenttree bench compare")
    for row in rows(runs):
        t.add_row(*row)
    return t


def markdown(runs: list[str]) -> str:
    """The comparison as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(runs)]
    return "\n".join(lines) + "\n"
