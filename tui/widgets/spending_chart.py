"""Budgets as pictures, under the Budget tab's table: for the selected agent and each of its
children, a bar per figure (tokens, tool calls, cost, agent time) of the whole subtree, scaled
to the largest child; and the subtree's tokens over the run, as a line of block characters.
Figures from :mod:`agenttree.spending`, the module the web page's Budget panel draws too."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from agenttree.activity import Activity
from agenttree.spending import FIGURES, Spend, spending, tokens_over_time
from agenttree.state import RunState

from ..look import amount

BAR_WIDTH = 20
EIGHTHS = " ▏▎▍▌▋▊▉█"
LEVELS = " ▁▂▃▄▅▆▇█"
TITLES = {"tokens": "tokens", "tool_calls": "tool calls", "cost": "cost",
          "wall_s": "agent time"}
STYLES = {"tokens": "blue", "tool_calls": "yellow", "cost": "green", "wall_s": "magenta"}


def bar(value: float, most: float, width: int = BAR_WIDTH) -> str:
    """``value`` as a bar of eighth blocks, ``most`` filling ``width`` cells."""
    if most <= 0 or value <= 0:
        return ""
    eighths = max(1, round(value / most * width * 8))
    return "█" * (eighths // 8) + (EIGHTHS[eighths % 8] if eighths % 8 else "")


def sparkline(values: list[int]) -> str:
    """One block character per value, the tallest the largest."""
    most = max(values, default=0)
    if most <= 0:
        return LEVELS[0] * len(values)
    return "".join(LEVELS[round(v / most * (len(LEVELS) - 1))] for v in values)


def figure_text(kind: str, value: float) -> str:
    """A figure, short (``12.3k``, ``$0.42``, ``84s``)."""
    if kind == "wall_s":
        return f"{value:.0f}s" if value >= 10 else f"{value:.1f}s"
    return amount(kind, value)


def spending_text(state: RunState, activity: Activity, agent_id: str, now_t: int,
                  width: int = 80) -> Text:
    """The pictures for ``agent_id``'s subtree (see the module docstring)."""
    rows = spending(state, activity, agent_id, now_t)
    out = Text()
    name_width = max(len(_name(r, agent_id)) for r in rows)
    bar_width = max(4, min(BAR_WIDTH, width - name_width - 12))
    for kind in FIGURES:
        out.append(f"{TITLES[kind]}\n", style="bold")
        most = max((getattr(r, kind) for r in rows[1:]), default=0.0)
        for i, row in enumerate(rows):
            value = getattr(row, kind)
            out.append(f" {_name(row, agent_id):<{name_width}} ", style="bold" if i == 0 else "")
            if i == 0:
                out.append(f"{figure_text(kind, value)} in all\n", style="bright_black")
                continue
            drawn = bar(value, most, bar_width)
            out.append(f"{drawn:<{bar_width}}", style=STYLES[kind])
            out.append(f" {figure_text(kind, value)}\n")
    series = tokens_over_time(state, activity, agent_id, now_t,
                              buckets=max(10, min(60, width - 4)))
    per_slice = [b - a for (_, a), (_, b) in zip([(0, 0), *series[:-1]], series, strict=True)]
    out.append("tokens over time\n", style="bold")
    out.append(f" {sparkline(per_slice)}\n", style=STYLES["tokens"])
    out.append(f" {sparkline([total for _, total in series])}", style="bright_black")
    out.append(f"  {figure_text('tokens', series[-1][1] if series else 0)} in all")
    return out


def _name(row: Spend, top: str) -> str:
    label = row.agent if row.agent == top else "  " + row.agent.rsplit(".", 1)[-1]
    return f"{label} ({row.agents})" if row.agents > 1 else label


class SpendingChart(Static):
    """The pictures for one agent's subtree."""

    _text: Text | str | None = None

    def show(self, state: RunState, activity: Activity, agent_id: str | None,
             now_t: int) -> None:
        """Draw ``agent_id``'s subtree (the root when None)."""
        agent_id = agent_id if agent_id in state.agents else state.root
        text = "" if agent_id is None else \
            spending_text(state, activity, agent_id, now_t, self.size.width or 80)
        if text != self._text:  # an update lays the screen out again: only when it changed
            self._text = text
            self.update(text)
