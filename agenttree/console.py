"""Terminal output for headless runs: a live tree of agents, and the end-of-run summary.

Everything here reads a :class:`~agenttree.state.RunState` (the folded log), never the engine's
objects, so ``run`` and ``replay`` print the same thing.
"""

from __future__ import annotations

import orjson
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from . import events as ev
from .state import AgentView, RunState
from .verdict import shortfalls

STATUS_LOOK: dict[str, tuple[str, str]] = {
    "pending": ("·", "bright_black"),
    "running": ("▶", "cyan"),
    "thinking": ("…", "cyan"),
    "tool": ("⚙", "cyan"),
    "acceptance": ("✔?", "magenta"),
    "waiting": ("◷", "yellow"),
    "blocked": ("⧗", "magenta"),
    "needs-you": ("!", "bold red"),
    "done": ("✓", "green"),
    "failed": ("✗", "red"),
    "cancelled": ("⊘", "bright_black"),
    "budget-exhausted": ("$", "red"),
}
"""Status -> (glyph, style), for the console and the terminal UI alike. Colours are ANSI names,
so they come from the terminal's own palette and stay readable on light and dark backgrounds;
every status has a glyph as well as a colour, so nothing depends on telling colours apart.
(``blocked`` and ``needs-you`` are the UI's display statuses: a lock wait, a person wanted.)"""


def glyph(status: str) -> Text:
    """The glyph of a status, coloured."""
    mark, style = STATUS_LOOK.get(status, ("?", ""))
    return Text(mark, style=style)


def status_text(status: str) -> Text:
    """A status as glyph and word, coloured."""
    return glyph(status).append(f" {status}")


def _agent_line(agent: AgentView, now_t: int) -> Text:
    line = Text.assemble(status_text(agent.status), " ", (agent.id, "bold"),
                         (f"  {agent.model}", "dim"))
    if agent.detail:
        line.append(f"  {agent.detail}", style="italic")
    line.append(f"  tools {agent.tool_calls}  tok {agent.tokens}  {agent.wall_s(now_t):.1f}s",
                style="dim")
    if agent.reason and agent.finished and agent.status != "done":
        line.append(f"  — {agent.reason.splitlines()[0][:80]}", style=STATUS_LOOK[agent.status][1])
    return line


MAX_TREE_ROWS = 60
"""Rows the live tree shows before it folds the rest into a count."""


def render_tree(state: RunState, now_t: int | None = None) -> Tree | Text:
    """The agent tree as it stands (large trees are cut to :data:`MAX_TREE_ROWS` rows).

    Running agents' elapsed time runs to ``now_t`` (epoch ms; default: the last event's time).
    """
    if state.root is None:
        return Text("starting…", style="dim")
    now_t = state.t if now_t is None else now_t
    root = Tree(_agent_line(state.agents[state.root], now_t))
    shown, hidden = 1, 0
    stack = [(root, cid) for cid in reversed(state.agents[state.root].children)]
    while stack:
        node, agent_id = stack.pop()
        if shown >= MAX_TREE_ROWS:
            hidden += 1
            continue
        agent = state.agents[agent_id]
        branch = node.add(_agent_line(agent, now_t))
        shown += 1
        stack.extend((branch, cid) for cid in reversed(agent.children))
    if hidden:
        root.add(Text(f"… {hidden} more agents", style="dim"))
    return root


def render_counts(state: RunState) -> Text:
    """One line: agents per status."""
    counts = state.counts()
    parts = [Text(f"run {state.run}  ", style="bold")]
    for status, n in sorted(counts.items()):
        parts.append(status_text(status))
        parts.append(Text(f" {n}  "))
    return Text.assemble(*parts)


def render_live(state: RunState, now_t: int | None = None) -> Group:
    """The live view: counts, then the tree."""
    return Group(render_counts(state), render_tree(state, now_t))


def _acceptance_cell(agent: AgentView) -> Text:
    if not agent.acceptance:
        return Text("—", style="dim")
    last_attempt = agent.acceptance[-1]["attempt"]
    last = [a for a in agent.acceptance if a["attempt"] == last_attempt]
    passed = sum(1 for a in last if a["ok"])
    style = "green" if passed == len(last) else "red"
    tries = f" (try {last_attempt})" if last_attempt > 1 else ""
    return Text(f"{passed}/{len(last)} passed{tries}", style=style)


def summary_table(state: RunState) -> Table:
    """Each agent: task, status, acceptance, tool calls, tokens, wall time."""
    table = Table(title=f"{state.plan_name}: {state.status}", title_justify="left")
    for column in ("agent", "task", "status", "acceptance", "tools", "tokens", "wall"):
        # ids are never cut short: they fold onto a second line if they must
        table.add_column(column, overflow="fold",
                         justify="right" if column in ("tools", "tokens", "wall") else "left")
    order = state.subtree(state.root) if state.root else []
    for agent_id in order:
        agent = state.agents[agent_id]
        table.add_row(agent.id, agent.task, status_text(agent.status), _acceptance_cell(agent),
                      str(agent.tool_calls), str(agent.tokens), f"{agent.wall_s():.2f}s")
    return table


def print_summary(console: Console, state: RunState, run_dir: str) -> None:
    """The end-of-run report: the table, why things failed, where the run lives, and -- last
    -- the verdict: each task that did not end done and why (see :mod:`agenttree.verdict`)."""
    console.print(summary_table(state))
    for agent_id in state.subtree(state.root) if state.root else []:
        agent = state.agents[agent_id]
        if agent.status not in ("done", "running") and agent.reason:
            console.print(Text.assemble(status_text(agent.status), f" {agent.id}: ",
                                        agent.reason.strip().splitlines()[0][:200]))
    total_tools = sum(a.tool_calls for a in state.agents.values())
    total_tokens = sum(a.tokens for a in state.agents.values())
    console.print(f"{len(state.agents)} agents, {total_tools} tool calls, {total_tokens} tokens, "
                  f"{state.seq} events")
    console.print(Text.assemble("run directory: ", (run_dir, "bold")))
    for line in verdict_lines(state):
        console.print(line)


def verdict_lines(state: RunState) -> list[Text]:
    """Whether every task ended done; if not, one line per task that did not, and why."""
    missing = shortfalls(state)
    if not missing:
        cancelled = sum(1 for t in state.tasks.values()
                        if t.status == "cancelled" and not t.removed)
        on_purpose = f" ({cancelled} cancelled on purpose)" if cancelled else ""
        return [Text.assemble(status_text("done"), f": every task ended done{on_purpose}")]
    lines = [Text(f"{len(missing)} task{'s' if len(missing) > 1 else ''} did not end done:",
                  style="bold red")]
    for gap in missing:
        why = f": {gap.reason[:200]}" if gap.reason else ""
        lines.append(Text.assemble("  ", status_text(gap.status),
                                   f" task {gap.task} ({gap.agent or 'no agent'}){why}"))
    return lines


PROGRESS_TYPES = (ev.AgentSpawned, ev.AgentFinished, ev.AcceptanceResult, ev.BudgetExhausted,
                  ev.ApprovalRequested, ev.ToolApproved, ev.ToolDenied, ev.RunFinished)


def progress_line(entry: ev.Entry) -> Text | None:
    """A one-line account of a notable event (for logs without a live terminal)."""
    e = entry.event
    if isinstance(e, ev.AgentSpawned):
        again = f", attempt {e.attempt}" if e.attempt > 1 else ""
        return Text.assemble(glyph("running"), f" {e.agent} started ({e.model}{again})")
    if isinstance(e, ev.AgentFinished):
        why = f": {e.reason.splitlines()[0][:120]}" if e.reason else ""
        return Text.assemble(glyph(e.status), f" {e.agent} ", (e.status, STATUS_LOOK[e.status][1]),
                             why)
    if isinstance(e, ev.AcceptanceResult):
        mark = ("passed", "green") if e.ok else (f"failed (exit {e.exit_code})", "red")
        return Text.assemble(f"  {e.agent} acceptance `{e.cmd}` ", mark)
    if isinstance(e, ev.ApprovalRequested):
        args = orjson.dumps(e.args).decode()
        return Text.assemble(glyph("needs-you"), f" {e.agent} needs you: {e.tool} {args[:100]} "
                             f"— agenttree approve|deny RUN_DIR {e.call}")
    if isinstance(e, ev.ToolApproved):
        return Text(f"  {e.agent}: {e.tool} call {e.call} approved", style="green")
    if isinstance(e, ev.ToolDenied):
        return Text(f"  {e.agent}: {e.tool} call {e.call} denied: {e.reason[:120]}", style="red")
    if isinstance(e, ev.BudgetExhausted):
        return Text(f"  {e.agent} ran out of {e.kind} ({e.used:g} of {e.limit:g})", style="red")
    if isinstance(e, ev.RunFinished):
        return Text.assemble("run finished: ", status_text(e.status))
    return None


def make_console() -> Console:
    """A console for run output; logs (no terminal) get 120 columns rather than 80."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=120)
    return console


def lock_table(state: RunState) -> Table | Text:
    """Locks as of the state: path, mode, holder, token, since, TTL, waiters."""
    if not state.locks:
        return Text(f"no locks held or awaited (as of event {state.seq})", style="dim")
    table = Table(title=f"locks as of event {state.seq}", title_justify="left")
    for column in ("path", "mode", "holder", "token", "held for", "ttl", "waiting"):
        table.add_column(column, overflow="fold")
    for path, entry in sorted(state.locks.items()):
        waiting = ", ".join(entry["waiters"]) or "—"
        holders = entry["holders"] or {"—": {}}
        for agent, hold in holders.items():
            since = hold.get("since")
            held = f"{(state.t - since) / 1000:.1f}s" if since is not None else "—"
            table.add_row(path, hold.get("mode", "—"), agent, str(hold.get("token", "—")),
                          held, f"{hold['ttl_ms'] / 1000:g}s" if hold else "—", waiting)
    return table


def conflict_table(state: RunState) -> Table:
    """Conflict threads: who wanted what, who decided, and how."""
    table = Table(title="conflicts", title_justify="left")
    for column in ("id", "path", "requester", "owners", "decides", "outcome"):
        table.add_column(column, overflow="fold")
    for cid, c in state.conflicts.items():
        outcome = c["status"] + (f" by {c['by']}" if c.get("by") else "")
        table.add_row(cid, c["path"], c["requester"], ", ".join(c["owners"]), c["lca"],
                      outcome)
    return table
