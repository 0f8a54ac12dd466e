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

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._rows: dict[str, list[tuple[str | Text, ...]]] = {}
        """Table id -> the rows it shows."""

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
        """Fill both tables from ``state`` (TTLs counted to ``now_t``); a table whose rows
        did not change is left as it is (refilling one lays the screen out again)."""
        locks: list[tuple[str | Text, ...]] = []
        for path, entry in sorted(state.locks.items()):
            waiters = ", ".join(entry["waiters"]) or "—"
            if not entry["holders"]:
                locks.append((path, "—", "—", "—", "—", waiters))
            for owner, hold in entry["holders"].items():
                locks.append((path, hold["mode"], owner,
                              ttl_left(hold["since"], hold.get("ttl_ms"), now_t),
                              str(hold["token"]), waiters))
        if not state.locks:
            locks.append((Text("no locks held", style="bright_black"), "", "", "", "", ""))
        conflicts: list[tuple[str | Text, ...]] = []
        for cid, c in state.conflicts.items():
            style = "bold red" if c["status"] == "open" else ""
            conflicts.append((Text(cid, style=style), c["path"], c["requester"],
                              ", ".join(c["owners"]), Text(str(c["lca"]), style="magenta"),
                              Text(c["status"], style=style)))
        if not state.conflicts:
            conflicts.append((Text("no conflicts", style="bright_black"), "", "", "", "", ""))
        for table_id, rows in (("#locks-table", locks), ("#conflicts-table", conflicts)):
            if self._rows.get(table_id) != rows:
                self._rows[table_id] = rows
                table = self.query_one(table_id, DataTable)
                table.clear()
                table.add_rows(rows)
