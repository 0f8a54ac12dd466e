// What the tree shows of each agent, kept live from the event stream.
// The full state (conversations, locks, budgets) comes from /api/state, folded by the server;
// this keeps only the fields a tree row needs, so 10,000 agents cost little per event.

export const FINISHED = new Set(["done", "failed", "cancelled", "budget-exhausted"]);

export class Model {
  constructor(state) {
    this.run = { name: state.plan_name, status: state.status, reason: state.reason };
    this.seq = state.seq;
    this.root = state.root;
    this.agents = new Map();
    for (const a of Object.values(state.agents)) this.agents.set(a.id, row(a));
    this.structureChanged = true;
  }

  /** Fold one event; returns the id of the agent whose row changed (or null). */
  apply(e) {
    this.seq = e.seq;
    const a = e.agent !== undefined ? this.agents.get(e.agent) : undefined;
    switch (e.type) {
      case "run/started":
        this.run.status = "running";
        return null;
      case "run/finished":
        this.run.status = e.status;
        this.run.reason = e.reason;
        return null;
      case "plan/loaded":
        this.run.name = e.name;
        return null;
      case "agent/spawned": {
        const existing = this.agents.get(e.agent);
        this.agents.set(e.agent, row({ ...e, id: e.agent, status: "running", children: existing ? existing.children : [] }));
        if (e.parent === null) this.root = e.agent;
        else {
          const parent = this.agents.get(e.parent);
          if (parent && !parent.children.includes(e.agent)) parent.children.push(e.agent);
        }
        this.structureChanged = true;
        return e.agent;
      }
      case "agent/state":
        if (!a) return null;
        a.status = e.status;
        a.detail = e.detail || "";
        return a.id;
      case "agent/finished":
        if (!a) return null;
        a.status = e.status;
        a.detail = e.reason || "";
        return a.id;
      case "model/requested":
        if (!a) return null;
        a.status = "thinking";
        a.detail = `turn ${e.turn}`;
        return a.id;
      case "model/responded":
        if (!a) return null;
        a.status = "running";
        a.detail = "";
        a.tokens += (e.usage?.prompt || 0) + (e.usage?.completion || 0);
        return a.id;
      case "tool/requested":
        if (!a) return null;
        a.status = "tool";
        a.detail = e.tool;
        a.toolCalls += 1;
        return a.id;
      case "tool/result":
        if (!a || a.status !== "tool") return null;
        a.status = "running";
        a.detail = "";
        return a.id;
      case "policy/granted":
        if (!a) return null;
        a.model = e.model;
        return a.id;
      default:
        return null;
    }
  }

  /** Agents in tree order (pre-order from the root) with their depth. */
  flatten() {
    const out = [];
    const stack = this.root ? [this.root] : [];
    while (stack.length) {
      const a = this.agents.get(stack.pop());
      if (!a) continue;
      out.push(a);
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

function row(a) {
  return {
    id: a.id, parent: a.parent, depth: a.depth, model: a.model, status: a.status,
    detail: a.detail || "", children: [...(a.children || [])],
    tokens: a.tokens || 0, toolCalls: a.tool_calls || 0,
  };
}
