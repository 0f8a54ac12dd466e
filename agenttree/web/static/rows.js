// The tree's rows as the server folded them (agenttree/state.py, via /ws/view): a snapshot,
// then deltas holding only the rows that changed. Nothing here reads an event: the page shows
// exactly what Python folded.

export class Rows {
  constructor() {
    this.run = { name: "", status: "pending", reason: "" };
    this.seq = 0;
    this.root = null;
    this.agents = new Map();
    this.collapsed = new Set(); // agents whose subtrees are folded away (the page's own choice)
    this.structureChanged = true;
  }

  /** Fold ``id``'s subtree away, or open it again. */
  toggle(id) {
    if (this.collapsed.has(id)) this.collapsed.delete(id);
    else this.collapsed.add(id);
    this.structureChanged = true;
  }

  /** Apply a "snapshot" (replaces everything) or a "delta" message from the server. */
  apply(message) {
    if (message.kind === "snapshot") {
      this.agents = new Map();
      this.structureChanged = true;
    }
    this.seq = message.seq;
    if (message.run !== undefined) this.run = message.run;
    if (message.root !== undefined) {
      this.root = message.root;
      this.structureChanged = true;
    }
    for (const r of message.rows) this.put(r);
  }

  put(r) {
    const old = this.agents.get(r.id);
    let children = old ? old.children : [];
    if (r.children !== undefined) children = r.children;
    else if (r.added !== undefined) children = [...children, ...r.added];
    if (!old || children !== old.children) this.structureChanged = true;
    const { added, ...fields } = r;
    // In place: the drawn tree order holds these objects.
    if (old) Object.assign(old, fields, { children });
    else this.agents.set(r.id, { ...fields, children });
  }

  /** Agents in tree order (pre-order from the root, as the fold's children lists say), without
   * the subtrees of collapsed agents. */
  flatten() {
    const out = [];
    const stack = this.root ? [this.root] : [];
    while (stack.length) {
      const a = this.agents.get(stack.pop());
      if (!a) continue;
      out.push(a);
      if (this.collapsed.has(a.id)) continue;
      for (let i = a.children.length - 1; i >= 0; i--) stack.push(a.children[i]);
    }
    this.structureChanged = false;
    return out;
  }

  counts() {
    const c = {};
    for (const a of this.agents.values()) c[a.status] = (c[a.status] || 0) + 1;
    return c;
  }
}
