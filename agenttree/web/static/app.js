// The page: wires the stream, the tree and the panels together.

import { Api, takeToken } from "./api.js";
import { ActivityChart } from "./activity.js";
import { drawBudgets } from "./budgets.js";
import { Rows } from "./rows.js";
import { perFrame, VirtualTree } from "./tree.js";

const EVENTS_SHOWN = 200;
const REPORTS_EVERY_MS = 3000;

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function fillTable(table, head, rows) {
  table.replaceChildren();
  if (!rows.length) {
    table.append(el("caption", "none", "hint"));
    return;
  }
  const tr = el("tr");
  for (const h of head) tr.append(el("th", h));
  table.append(tr);
  for (const r of rows) {
    const row = el("tr");
    for (const cell of r) row.append(el("td", cell));
    table.append(row);
  }
}

const short = (v) => (typeof v === "string" ? v : JSON.stringify(v));

class Page {
  constructor(api) {
    this.api = api;
    this.model = new Rows();
    this.rows = [];
    this.events = [];
    this.panels = { locks: {}, containers: {} };
    this.selected = null;
    this.schedule = perFrame(() => this.redraw());
    this.tree = new VirtualTree($("tree"), {
      onSelect: (id) => this.select(id),
      onCancel: (id) => this.cancel(id),
      onDecide: (call, approve) => this.decide(call, approve),
      // The denial's reason is asked for only while a Deny button is there to use it.
      onWaiting: (any) => { $("deny-reason").closest("label").hidden = !any; },
      onToggle: (id) => this.toggle(id),
      isCollapsed: (id) => this.model.collapsed.has(id),
    });
    this.marks = new Map();
    this.clock = { t: 0, at: Date.now() };
    this.activity = new ActivityChart($("activity"), {
      now: () => this.now(),
      span: () => this.span(),
      marks: this.marks,
      onWatch: (ids) => this.feed && this.feed.watch(ids),
      onOpen: (seq) => this.openEvent(seq),
      isCollapsed: (id) => this.model.collapsed.has(id),
    });
    for (const [id, act] of [["act-zoom-in", () => this.activity.zoom(0.5)],
      ["act-zoom-out", () => this.activity.zoom(2)], ["act-left", () => this.activity.pan(-0.25)],
      ["act-right", () => this.activity.pan(0.25)], ["act-whole", () => this.activity.whole()]]) {
      $(id).addEventListener("click", () => {
        act();
        this.schedule(); // the span's caption
      });
    }
    setInterval(() => {
      if (this.model.run.status === "running") this.activity.schedule(); // follows live
    }, 500);
    this.showDetail(null);
  }

  start() {
    this.feed = this.api.view((m) => this.onMessage(m), (text) => {
      this.connection = text;
      this.schedule();
    });
    this.refreshReports();
    setInterval(() => this.refreshReports(), REPORTS_EVERY_MS);
  }

  onMessage(m) {
    if (m.kind === "detail") {
      if (m.id === this.selected) this.showDetail(m.agent);
      return;
    }
    if (m.kind === "marks") {
      for (const [id, list] of Object.entries(m.marks)) this.marks.set(id, list);
      this.activity.schedule();
      return;
    }
    if (m.kind === "budgets") {
      drawBudgets($("spending"), m);
      return;
    }
    if (m.kind === "error") {
      $("control-result").textContent = m.error;
      return;
    }
    this.model.apply(m);
    this.clock = { t: m.t, at: Date.now() };
    if (m.kind === "snapshot") this.events = [];
    this.events.push(...m.events);
    if (this.events.length > EVENTS_SHOWN) this.events.splice(0, this.events.length - EVENTS_SHOWN);
    for (const key of ["locks", "containers"]) {
      if (m[key] === undefined) continue;
      this.panels[key] = m[key];
      this.panelsDue = true;
    }
    this.schedule();
  }

  redraw() {
    const m = this.model;
    if (m.structureChanged) this.rows = m.flatten();
    this.tree.setRows(this.rows);
    this.activity.setRows(this.rows);
    const [start, end] = this.activity.span();
    const [s0] = this.span();
    $("activity-span").textContent = `${((start - s0) / 1000).toFixed(1)}s … ${((end - s0) / 1000).toFixed(1)}s${this.activity.window ? "" : " (whole run)"}`;
    $("run-name").textContent = m.run.name || "";
    const conn = this.connection ? ` · ${this.connection}` : "";
    $("run-status").textContent = `run ${m.run.status}${m.run.reason ? ` (${m.run.reason})` : ""}${conn}`;
    $("run-status").dataset.status = m.run.status;
    $("agent-total").textContent = `(${m.agents.size})`;
    $("counts").textContent = Object.entries(m.counts()).map(([k, v]) => `${k} ${v}`).join(" · ");
    $("seq").textContent = `(seq ${m.seq})`;
    if (this.panelsDue) this.showPanels();
    const list = $("events");
    list.replaceChildren(...this.events.slice().reverse().map(([seq, type, who]) => {
      const li = el("li");
      li.append(el("span", String(seq), "seq"), el("span", type, "type"), el("span", who, "who"));
      return li;
    }));
  }

  /** Now, in the run's time: its end, or the last event's time plus what passed since. */
  now() {
    const run = this.model.run;
    if (run.finished_t != null) return run.finished_t;
    return this.clock.t + (Date.now() - this.clock.at);
  }

  /** The whole run so far, [start, end] in epoch ms. */
  span() {
    const start = this.model.run.started_t || this.clock.t;
    return [start, Math.max(start + 1, this.now())];
  }

  toggle(id) {
    this.model.toggle(id);
    this.schedule();
  }

  async openEvent(seq) {
    const box = $("event-detail");
    box.hidden = false;
    try {
      const { event } = await this.api.get(`/api/event?seq=${seq}`);
      box.textContent = JSON.stringify(event, null, 2);
    } catch (err) {
      box.textContent = String(err.message);
    }
  }

  select(id) {
    this.selected = id;
    this.tree.select(id);
    this.feed.select(id);
  }

  async cancel(id) {
    $("control-result").textContent = `cancelling ${id}…`;
    const answer = await this.api.control({ cmd: "cancel", agent: id });
    $("control-result").textContent = `cancel ${id}: ${answer.status} — ${answer.detail}`;
  }

  async decide(call, approve) {
    const verb = approve ? "approve" : "deny";
    const reason = $("deny-reason").value.trim();
    const command = approve ? { cmd: "approve", call } : { cmd: "deny", call, reason: reason || null };
    $("control-result").textContent = `${verb} ${call}…`;
    const answer = await this.api.control(command);
    $("control-result").textContent = `${verb} ${call}: ${answer.status} — ${answer.detail}`;
    if (!approve && answer.status === "applied") $("deny-reason").value = "";
  }

  showPanels() {
    this.panelsDue = false;
    const locks = [];
    for (const [path, entry] of Object.entries(this.panels.locks)) {
      for (const [agent, h] of Object.entries(entry.holders)) locks.push([path, h.mode, agent, String(h.token), entry.waiters.join(", ")]);
      if (!Object.keys(entry.holders).length) locks.push([path, "", "", "", entry.waiters.join(", ")]);
    }
    fillTable($("locks"), ["path", "mode", "holder", "token", "waiting"], locks);
    const containers = Object.entries(this.panels.containers).map(([name, c]) => [
      name, c.status ?? "", c.image ?? "", c.backend ?? ""]);
    fillTable($("containers"), ["name", "status", "image", "backend"], containers);
  }

  /** The selected agent's panels, from the server's "detail" message (null: none). */
  showDetail(a) {
    const detail = $("agent-detail");
    if (!a) {
      detail.replaceChildren(el("p", "Select an agent in the tree.", "hint"));
      fillTable($("budget"), [], []);
      $("conversation").replaceChildren();
      return;
    }
    $("agent-title").textContent = `Agent ${a.id}`;
    const dl = el("dl");
    for (const [k, v] of [["status", `${a.status}${a.reason ? ` — ${a.reason}` : ""}`], ["goal", a.goal],
      ["model", a.model], ["task", `${a.task} (attempt ${a.attempt})`], ["cwd", a.cwd],
      ["result", a.result]]) {
      if (!v) continue;
      dl.append(el("dt", k), el("dd", v));
    }
    detail.replaceChildren(dl);
    const kinds = new Set([...Object.keys(a.limits || {}), ...Object.keys(a.used || {})]);
    fillTable($("budget"), ["budget", "used", "limit"], [...kinds].map((k) => [
      k, String(a.used?.[k] ?? 0), a.limits?.[k] == null ? "∞" : String(a.limits[k])]));
    $("conversation").replaceChildren(...a.conversation.slice(-100).map((item) => {
      const li = el("li", undefined, `msg ${item.kind}`);
      let head = item.kind;
      let body = item.text || "";
      if (item.kind === "tool") {
        head = `tool ${item.tool}${item.ok === false ? " (failed)" : ""}`;
        body = `${JSON.stringify(item.args)}${item.output !== undefined ? `\n→ ${short(item.output)}` : ""}`;
      } else if (item.kind === "model") {
        head = `model, turn ${item.turn}`;
        if (item.calls?.length) body += `${body ? "\n" : ""}calls ${item.calls.map((c) => c.tool || c.name).join(", ")}`;
      } else if (item.from) {
        head = `${item.kind} ${item.from} → ${item.to}`;
      }
      li.append(el("strong", head), el("pre", body.slice(0, 4000)));
      return li;
    }));
  }

  async refreshReports() {
    let reports;
    try {
      ({ reports } = await this.api.get("/api/reports"));
    } catch {
      return;
    }
    const box = $("reports");
    if (!reports.length) {
      box.replaceChildren(el("p", "No reports.", "hint"));
      return;
    }
    box.replaceChildren(...reports.map((r) => {
      const card = el("article", undefined, "report");
      card.setAttribute("aria-label", `${r.suite} ${r.run}`);
      card.append(el("h3", `${r.suite} / ${r.run}`));
      const total = r.total ?? r.started;
      const bar = el("progress");
      bar.max = Math.max(total, 1);
      bar.value = r.ended;
      bar.setAttribute("aria-label", `${r.suite} ${r.run} progress`);
      const how = r.finished ? " · finished" : r.stopped ? ` · stopped: ${r.stopped}` : " · running";
      card.append(bar, el("p", `${r.ended} of ${total} cases done, ${r.passed} passed${how}`));
      if (r.summary_error) card.append(el("p", r.summary_error, "error"));
      if (r.summary) {
        const dl = el("dl");
        for (const [k, v] of Object.entries(r.summary)) {
          if (v !== null && typeof v === "object") continue;
          dl.append(el("dt", k), el("dd", short(v)));
        }
        card.append(dl);
      }
      return card;
    }));
  }
}

async function main() {
  const token = takeToken();
  if (!token) {
    $("run-status").textContent = "No token: open the URL that `agenttree serve` printed.";
    return;
  }
  const page = new Page(new Api(token));
  window.agenttreePage = page; // for debugging from the console
  page.start();
}

main();
