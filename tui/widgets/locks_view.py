"""The Locks tab: who holds what (mode, TTL left, fencing token, waiters), and conflict threads
with the lowest common ancestor that decides them (open ones highlighted)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from agenttree.state import RunState


def ttl_left(since: int, ttl_ms: int | None, now_t: int) -> str:
    """Lease left, e.g. ``4.2s``, ``12m`` (``∞`` without a TTL, ``expired`` past it)."""
    if not ttl_ms:
        return "∞"
    left = (since + ttl_ms - now_t) / 1000
    if left <= 0:
        return "expired"
    return f"{left:.1f}s" if left < 120 else f"{left / 60:.0f}m" if left < 7200 \
        else f"{left / 3600:.0f}h"


class LocksView(Vertical):
    """Two tables: locks and conflicts."""

    def compose(self) -> ComposeResult:
        yield Static("Locks", classes="section")
        locks: DataTable[str | Text] = DataTable(id="locks-table", cursor_type="row",
                                                 zebra_stripes=True)
        locks.add_columns("path", "mode", "owner", "TTL left", "token", "waiters")
        yield locks
        yield Static("Conflicts", classes="section")
        conflicts: DataTable[str | Text] = DataTable(id="conflicts-table", cursor_type="row")
        conflicts.add_columns("id", "path", "requester", "owners", "decides (LCA)", "status")
        yield conflicts

    def show(self, state: RunState, now_t: int) -> None:
        """Fill both tables from ``state`` (TTLs counted to ``now_t``)."""
        locks = self.query_one("#locks-table", DataTable)
        locks.clear()
        for path, entry in sorted(state.locks.items()):
            waiters = ", ".join(entry["waiters"]) or "—"
            if not entry["holders"]:
                locks.add_row(path, "—", "—", "—", "—", waiters)
            for owner, hold in entry["holders"].items():
                locks.add_row(path, hold["mode"], owner,
                              ttl_left(hold["since"], hold.get("ttl_ms"), now_t),
                              str(hold["token"]), waiters)
        if not state.locks:
            locks.add_row(Text("no locks held", style="bright_black"), "", "", "", "", "")
        conflicts = self.query_one("#conflicts-table", DataTable)
        conflicts.clear()
        for cid, c in state.conflicts.items():
            style = "bold red" if c["status"] == "open" else ""
            conflicts.add_row(Text(cid, style=style), c["path"], c["requester"],
                              ", ".join(c["owners"]), Text(str(c["lca"]), style="magenta"),
                              Text(c["status"], style=style))
        if not state.conflicts:
            conflicts.add_row(Text("no conflicts", style="bright_black"), "", "", "", "", "")
