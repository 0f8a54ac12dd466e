"""The Budgets tab: used/limit per budget kind for the selected agent and each of its children,
with each child's whole subtree rolled up (a finished child's use is already counted in its
parent's figures, so only the subtrees still running are added)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from agenttree.state import RunState

from ..look import amount, display_status, gauge, glyph

KINDS = ("tool_calls", "tokens", "cost", "retries")


def rolled_up(state: RunState, agent_id: str) -> dict[str, float]:
    """What ``agent_id``'s subtree has used, per kind."""
    agent = state.agents[agent_id]
    total = {k: float(v) for k, v in agent.used.items()}
    for child in agent.children:
        if not state.agents[child].finished:
            for kind, value in rolled_up(state, child).items():
                total[kind] = total.get(kind, 0.0) + value
    return total


def _cell(kind: str, used: float, limit: float | None) -> Text:
    if not limit:
        return Text(amount(kind, used) if used else "—")
    cell = gauge(used, float(limit), width=4)
    cell.append(f" {amount(kind, used)}/{amount(kind, float(limit))}")
    return cell


class BudgetsView(DataTable[str | Text]):
    """Rows: the selected agent, then its children (subtree totals)."""

    _rows: list[tuple[str | Text, ...]] | None = None

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns("agent", "subtree", *(k.replace("_", " ") for k in KINDS))

    def show(self, state: RunState, agent_id: str | None) -> None:
        """Fill the table for ``agent_id`` (the root when None); left as it is when no row
        changed (refilling a table lays the screen out again)."""
        agent_id = agent_id if agent_id in state.agents else state.root
        rows = []
        if agent_id is not None:
            for i, row_id in enumerate([agent_id, *state.agents[agent_id].children]):
                row = state.agents[row_id]
                totals = rolled_up(state, row_id)
                name = Text.assemble("" if i == 0 else "  ", glyph(display_status(state, row)),
                                     " ", row_id if i == 0 else row_id.rsplit(".", 1)[-1])
                size = len(state.subtree(row_id))
                rows.append((name, str(size), *(_cell(k, totals.get(k, 0.0), row.limits.get(k))
                                                for k in KINDS)))
        if rows != self._rows:
            self._rows = rows
            self.clear()
            self.add_rows(rows)
