"""The agent tree: one line per agent, drawn with Textual's ``Tree`` (line API, no widget per
agent), filled lazily: a collapsed subtree has no nodes until it is opened, only a label with
its counts per status. Nodes are found by agent id through a dict, so a new event touches only
the lines of the agents it concerns, and the cursor stays on the same agent as lines come and go.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.binding import Binding, BindingType
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from agenttree.state import AgentView, RunState

from ..look import amount, counts_text, display_status, gauge, glyph, main_budget, status_counts

AUTO_EXPAND = 200
"""Runs with at most this many agents open every subtree as it appears."""


def agent_label(state: RunState, agent: AgentView, collapsed: bool, lca_of: set[str],
                with_model: bool = True) -> Text:
    """``✓ lib  scripted ▰▰▱▱▱ 5/12`` (+ counts per status when collapsed, ⚖ when the agent
    decides an open lock conflict)."""
    name = agent.id.rsplit(".", 1)[-1]
    label = Text.assemble(glyph(display_status(state, agent)), " ", (name, "bold"))
    if agent.attempt > 1:
        label.append(f" #{agent.attempt}", style="bright_black")
    if with_model:
        label.append(f"  {agent.model[:14]}", style="bright_black")
    budget = main_budget(agent)
    if budget is not None:
        kind, used, limit = budget
        label.append(" ")
        label.append_text(gauge(used, limit))
        label.append(f" {amount(kind, used)}/{amount(kind, limit)}", style="bright_black")
    if agent.id in lca_of:
        label.append(" ⚖", style="magenta")
    if collapsed and agent.children:
        label.append("  ")
        label.append_text(counts_text(status_counts(state, state.subtree(agent.id)[1:])))
    return label


class AgentTree(Tree[str]):
    """The agents of one state; :meth:`sync` brings it up to date with a (new) state."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "cursor_parent", "Parent", id="parent", show=False),
        Binding("n", "cursor_next_sibling", "Next sibling", id="next-sibling", show=False),
        Binding("N", "cursor_previous_sibling", "Previous sibling", id="previous-sibling",
                show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("waiting for the first events…", id=id)
        self.guide_depth = 2
        self.nodes: dict[str, TreeNode[str]] = {}
        """Agent id -> its node (only agents whose parent's subtree is filled)."""
        self._filled: set[str] = set()
        self._state = RunState()
        self._lca_of: set[str] = set()

    @property
    def selected_agent(self) -> str | None:
        """The agent under the cursor."""
        node = self.cursor_node
        return None if node is None else node.data

    def select_agent(self, agent_id: str) -> bool:
        """Move the cursor to an agent, opening its ancestors; False if it is not in the state."""
        state = self._state
        if agent_id not in state.agents:
            return False
        chain = []
        current: str | None = agent_id
        while current is not None:
            chain.append(current)
            current = state.agents[current].parent
        for ancestor in reversed(chain[1:]):
            self._fill(ancestor)
            self.nodes[ancestor].expand()
        # Textual numbers the lines lazily: a node added or revealed just now has no line (or
        # an old one) until they are rebuilt, and the cursor would land on another agent.
        self._tree_lines  # noqa: B018 (the property rebuilds stale lines)
        self.move_cursor(self.nodes[agent_id])
        return True

    def sync(self, state: RunState, touched: set[str] | None = None) -> None:
        """Show ``state``: only the agents in ``touched`` (and their ancestors' counts) changed,
        or anything may have changed when ``touched`` is None (a jump in time)."""
        self._state = state
        if state.root is None:
            if self.nodes:
                self.clear()
                self.nodes.clear()
                self._filled.clear()
            return
        if not self.nodes:
            self.root.data = state.root
            self.nodes[state.root] = self.root
            self._fill(state.root)
            self.root.expand()
            touched = None
        self._lca_of = {c["lca"] for c in state.conflicts.values() if c["status"] == "open"}
        if touched is None:
            self._sync_all(state)
            return
        relabel: set[str] = set()
        for agent_id in touched:
            agent = state.agents.get(agent_id)
            if agent is None:
                continue
            if agent_id not in self.nodes and agent.parent in self._filled:
                self._add(state, agent)
            parent = agent.parent
            relabel.add(agent_id)
            while parent is not None:  # collapsed ancestors show counts of their subtree
                node = self.nodes.get(parent)
                if node is not None and not node.is_expanded:
                    relabel.add(parent)
                parent = state.agents[parent].parent
        for agent_id in relabel:
            self._relabel(state, agent_id)

    def _sync_all(self, state: RunState) -> None:
        for agent_id in [a for a in self.nodes if a not in state.agents]:
            node = self.nodes.pop(agent_id, None)
            self._filled.discard(agent_id)
            if node is not None and node is not self.root:
                node.remove()
        for agent_id in list(self._filled):
            for child in state.agents[agent_id].children:
                if child not in self.nodes:
                    self._add(state, state.agents[child])
        for agent_id in list(self.nodes):
            self._relabel(state, agent_id)

    def _relabel(self, state: RunState, agent_id: str) -> None:
        node = self.nodes.get(agent_id)
        agent = state.agents.get(agent_id)
        if node is None or agent is None:
            return
        node.allow_expand = bool(agent.children)
        if agent.children and agent_id not in self._filled and len(state.agents) <= AUTO_EXPAND:
            self._fill(agent_id)
            node.expand()
        label = agent_label(state, agent, not node.is_expanded, self._lca_of,
                            with_model=self.size.width >= 40)
        if label != node.label:  # each new label is a refresh the tree queues before keys
            node.set_label(label)

    def _add(self, state: RunState, agent: AgentView) -> None:
        parent = self.nodes[agent.parent]  # type: ignore[index]
        self.nodes[agent.id] = parent.add(agent.id, data=agent.id,
                                          allow_expand=bool(agent.children))

    def _fill(self, agent_id: str) -> None:
        """Give ``agent_id``'s node its children (those the state has that it lacks)."""
        self._filled.add(agent_id)
        state = self._state
        for child in state.agents[agent_id].children:
            if child not in self.nodes:
                self._add(state, state.agents[child])
        for child in state.agents[agent_id].children:
            self._relabel(state, child)

    def on_resize(self) -> None:
        """Labels drop the model name on a narrow tree: redraw them for the new width."""
        for agent_id in list(self.nodes):
            self._relabel(self._state, agent_id)

    @on(Tree.NodeExpanded)
    def _opened(self, message: Tree.NodeExpanded[str]) -> None:
        if message.node.data is not None:
            self._fill(message.node.data)
            self._relabel(self._state, message.node.data)

    @on(Tree.NodeCollapsed)
    def _closed(self, message: Tree.NodeCollapsed[str]) -> None:
        if message.node.data is not None:
            self._relabel(self._state, message.node.data)
