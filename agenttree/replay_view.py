"""What ``agenttree replay RUN_DIR [--until SEQ]`` prints: a run as of any event.

The tree, the summary table, every agent's budget (used of its limit, per kind), the lock table
and conflicts, and, on request, conversations (one agent's with ``--agent``, all with
``--conversations``). Everything comes from the folded log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .budget import KINDS
from .console import conflict_table, lock_table, print_summary, render_tree
from .errors import UserError
from .state import RunState

SHOWN_CHARS = 300
"""Longest text shown for one conversation entry (the JSON view has it all)."""


def budget_table(state: RunState) -> Table | Text:
    """Each agent's spending: ``used / limit`` per budget kind (``used`` alone if unlimited)."""
    order = state.subtree(state.root) if state.root else []
    kinds = [k for k in KINDS if any(k in state.agents[a].limits or k in state.agents[a].used
                                     for a in order)]
    if not kinds:
        return Text("no budgets", style="dim")
    table = Table(title=f"budgets as of event {state.seq}", title_justify="left")
    table.add_column("agent", overflow="fold")
    for kind in kinds:
        table.add_column(kind, justify="right")
    for agent_id in order:
        agent = state.agents[agent_id]
        cells = []
        for kind in kinds:
            used, limit = agent.used.get(kind, 0), agent.limits.get(kind)
            cell = f"{used:g}" if limit is None else f"{used:g} / {limit:g}"
            style = "bold red" if agent.exhausted == kind else ""
            cells.append(Text(cell, style=style))
        table.add_row(agent.id, *cells)
    return table


def _short(text: Any) -> str:
    text = str(text)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "…"


def _entry_line(item: dict[str, Any]) -> Text:
    seq = Text(f"{item.get('seq', '?'):>6} ", style="dim")
    kind = item.get("kind")
    if kind == "model":
        calls = ", ".join(f"{c.get('tool')}({_short(c.get('args'))})"
                          for c in item.get("calls") or ())
        said = item.get("text") or ""
        return Text.assemble(seq, (f"model turn {item.get('turn')}: ", "bold"),
                             _short(said), f" → {calls}" if calls else "")
    if kind == "tool":
        if "ok" not in item:
            outcome: tuple[str, str] = ("(no result yet)", "yellow")
        else:
            outcome = ("ok" if item["ok"] else "error", "green" if item["ok"] else "red")
        return Text.assemble(seq, (f"tool {item.get('tool')}", "bold"),
                             f" {_short(item.get('args'))} ", outcome,
                             f" {_short(item.get('output', ''))}")
    return Text.assemble(seq, (f"{kind} {item.get('from')} → {item.get('to')}: ", "bold"),
                         _short(item.get("text", "")))


def print_conversations(console: Console, state: RunState, agents: Iterable[str]) -> None:
    """One block per agent: its model turns, tool calls and messages, in log order."""
    for agent_id in agents:
        agent = state.agents[agent_id]
        console.print(Text(f"conversation of {agent_id} ({agent.status})", style="bold underline"))
        if not agent.conversation:
            console.print(Text("  nothing yet", style="dim"))
        for item in agent.conversation:
            console.print(_entry_line(item), soft_wrap=True)


def print_replay(console: Console, state: RunState, run_dir: str, *,
                 agents: list[str] | None = None, conversations: bool = False) -> None:
    """The whole view: tree, summary, budgets, locks and conflicts, conversations asked for.

    Raises:
        UserError: an agent asked for does not exist as of this event (nothing is printed).
    """
    for agent_id in agents or ():
        if agent_id not in state.agents:
            known = ", ".join(sorted(state.agents)) or "none yet"
            raise UserError(f"no agent {agent_id!r} as of event {state.seq}; agents: {known}")
    console.print(render_tree(state))
    print_summary(console, state, run_dir)
    console.print(budget_table(state))
    console.print(lock_table(state))
    if state.conflicts:
        console.print(conflict_table(state))
    shown = list(agents or ())
    if conversations:
        shown = state.subtree(state.root) if state.root else []
    print_conversations(console, state, shown)
