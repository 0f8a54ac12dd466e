"""The header: run name, LIVE or the time being viewed, counts per status, spend against the
root's budget, locks and conflicts, and whether the plan file is valid."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from agenttree.state import RunState

from ..look import STATUS_LOOK, amount, clock, main_budget

WIDE = 110
"""From this width on, the header spells the statuses out."""
SHOWN = ("running", "waiting", "blocked", "needs-you", "failed")


def header_text(state: RunState, counts: dict[str, int], *, viewing: int | None,
                last_seq: int, plan: str, readonly: bool, wide: bool = True) -> Text:
    """Two lines: what run and when; then counts, spend, locks and the plan (``wide``: with
    the status names spelled out)."""
    name = state.plan_name or state.run or "agenttree"
    top = Text.assemble(("agenttree ", "bold"), (name, "bold cyan"), "  ")
    if viewing is None:
        top.append(" LIVE ", style="reverse green" if state.status == "running" else "reverse")
        top.append(f" seq {last_seq}")
    else:
        top.append(" VIEWING ", style="reverse yellow")
        top.append(f" seq {viewing}/{last_seq} at {clock(state.t)}" if state.t else
                   f" seq {viewing}/{last_seq}")
        top.append("  (] forward · L live)", style="bright_black")
    run_status = state.status if state.status != "pending" else "starting"
    top.append(f"  run {run_status}", style="bold")
    if readonly:
        top.append("  read-only", style="yellow")
    line = Text()
    for status in SHOWN:
        glyph, style = STATUS_LOOK[status]
        n = counts.get(status, 0)
        word = f" {status} " if wide else ""
        line.append(f"{glyph}{word}{n}", style=style if n else "bright_black")
        line.append("  " if wide else " ")
    done = counts.get("done", 0)
    line.append(f"✓ {done}/{len(state.agents)}", style="green" if done else "bright_black")
    root = state.agents.get(state.root) if state.root else None
    budget = main_budget(root) if root else None
    if budget is not None:
        kind, used, limit = budget
        unit = kind.replace("_", " ") if wide else {"tool_calls": "calls"}.get(kind, kind)
        line.append(f"  {'spend ' if wide else ''}{amount(kind, used)}/{amount(kind, limit)} "
                    f"{unit}")
    open_conflicts = sum(1 for c in state.conflicts.values() if c["status"] == "open")
    line.append(f"  locks {len(state.locks)}")
    line.append(f" conflicts {open_conflicts}" if wide else f" ⚖{open_conflicts}",
                style="bold red" if open_conflicts else "")
    line.append("  plan ")
    line.append(plan, style="green" if plan == "✓" else "red")
    return Text("\n").join([top, line])


class RunHeader(Static):
    """Two lines at the top of the screen."""

    _shown: tuple[Any, ...] | None = None
    _text: Text | None = None

    def show(self, state: RunState, counts: dict[str, int], *, viewing: int | None,
             last_seq: int, plan: str, readonly: bool) -> None:
        """Redraw from ``state`` (``counts``: agents per display status)."""
        self._shown = (state, dict(counts), viewing, last_seq, plan, readonly)
        self._draw()

    def _draw(self) -> None:
        state, counts, viewing, last_seq, plan, readonly = self._shown
        text = header_text(state, counts, viewing=viewing, last_seq=last_seq, plan=plan,
                           readonly=readonly, wide=self.size.width >= WIDE)
        if text != self._text:  # its height is fixed: no layout of the screen needed
            self._text = text
            self.update(text, layout=False)

    def on_resize(self) -> None:
        """Spell the statuses out, or not, for the new width."""
        if self._shown is not None:
            self._draw()
