// A virtualised tree: only the rows in view exist in the DOM (plus a few either side), and all
// changes are drawn at most once per animation frame, so 10,000 agents scroll and update smoothly.

const ROW = 26; // px, fixed row height (matches .tree-row in style.css)
const OVERSCAN = 8;

/** A function that asks for `draw` on the next animation frame; calls before then coalesce. */
export function perFrame(draw) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  };
}

/**
 * Rows of fixed height in a scrolling container, virtualised: only the rows in view (and
 * `overscan` either side) exist in the DOM, one element per agent id, kept while it stays in
 * view. Subclasses draw with `drawRows`; `schedule()` asks for a draw on the next frame.
 */
export class VirtualRows {
  /**
   * @param {HTMLElement} el the scrolling container (holds a .spacer child)
   * @param {number} rowHeight px (matches the row's CSS)
   * @param {number} overscan rows drawn either side of those in view
   */
  constructor(el, rowHeight, overscan) {
    this.el = el;
    this.spacer = el.querySelector(".spacer");
    this.rowHeight = rowHeight;
    this.overscan = overscan;
    this.rows = [];
    this.pool = new Map(); // agent id -> row element, for the rows in view
    this.schedule = perFrame(() => this.draw());
    el.addEventListener("scroll", () => this.schedule());
    new ResizeObserver(() => this.schedule()).observe(el);
  }

  /** New rows (tree order); drawn on the next frame. */
  setRows(rows) {
    this.rows = rows;
    this.spacer.style.height = `${rows.length * this.rowHeight}px`;
    this.schedule();
  }

  /**
   * Draws the rows in view: `make(id)` builds an element for a row new to the view (see
   * `rowElement`), `fill(element, row)` brings it up to date (its place, `data-index` and
   * `data-status` are set here); rows gone from view are removed.
   * @returns {Set<string>} the ids drawn
   */
  drawRows(make, fill) {
    const { scrollTop, clientHeight } = this.el;
    const first = Math.max(0, Math.floor(scrollTop / this.rowHeight) - this.overscan);
    const last = Math.min(this.rows.length,
      Math.ceil((scrollTop + clientHeight) / this.rowHeight) + this.overscan);
    const keep = new Set();
    for (let i = first; i < last; i++) {
      const a = this.rows[i];
      keep.add(a.id);
      let element = this.pool.get(a.id);
      if (!element) {
        element = make(a.id);
        this.pool.set(a.id, element);
        this.spacer.appendChild(element);
      }
      element.style.transform = `translateY(${i * this.rowHeight}px)`;
      element.dataset.index = String(i);
      element.dataset.status = a.status;
      fill(element, a);
    }
    for (const [id, element] of this.pool) {
      if (!keep.has(id)) {
        element.remove();
        this.pool.delete(id);
      }
    }
    return keep;
  }
}

/**
 * A row's element for agent `id`: a div of class `cls` and ARIA `role` holding one child per
 * `[tag, className, text]` of `parts` (a button is `type="button"`), in that order.
 */
export function rowElement(id, cls, role, parts) {
  const row = document.createElement("div");
  row.className = cls;
  row.setAttribute("role", role);
  row.dataset.agent = id;
  for (const [tag, className, text] of parts) {
    const child = document.createElement(tag);
    child.className = className;
    if (tag === "button") child.type = "button";
    if (text !== undefined) child.textContent = text;
    row.append(child);
  }
  return row;
}

export class VirtualTree extends VirtualRows {
  /**
   * @param {HTMLElement} el the scrolling container (holds a .spacer child)
   * @param {{onSelect: (id) => void, onCancel: (id) => void, onToggle: (id) => void,
   *          onDecide: (call, approve) => void, onWaiting: (any) => void,
   *          isCollapsed: (id) => boolean}} actions
   */
  constructor(el, actions) {
    super(el, ROW, OVERSCAN);
    this.actions = actions;
    this.selected = null;
    el.addEventListener("click", (ev) => this.onClick(ev));
  }

  select(id) {
    this.selected = id;
    this.schedule();
  }

  /** New rows; tells `onWaiting` whether any of them has a call waiting for a person. */
  setRows(rows) {
    super.setRows(rows);
    this.actions.onWaiting(rows.some((a) => a.waiting_call));
  }

  draw() {
    this.drawRows(makeRow, (li, a) =>
      fill(li, a, this.selected === a.id, this.actions.isCollapsed(a.id)));
  }

  onClick(ev) {
    const button = ev.target.closest("button");
    if (!button) return;
    const id = button.closest("[data-agent]").dataset.agent;
    if (button.classList.contains("cancel")) this.actions.onCancel(id);
    else if (button.classList.contains("approve")) this.actions.onDecide(button.dataset.call, true);
    else if (button.classList.contains("deny")) this.actions.onDecide(button.dataset.call, false);
    else if (button.classList.contains("fold")) this.actions.onToggle(id);
    else this.actions.onSelect(id);
  }
}

function makeRow(id) {
  const li = rowElement(id, "tree-row", "treeitem", [
    ["button", "fold"], ["button", "name"], ["span", "status"], ["span", "detail"],
    ["span", "usage"], ["button", "cancel", "Cancel"], ["button", "approve", "Approve"],
    ["button", "deny", "Deny"]]);
  li.querySelector(".cancel").setAttribute("aria-label", `Cancel ${id}`);
  return li;
}

function fill(li, a, selected, collapsed) {
  li.setAttribute("aria-level", String(a.depth + 1));
  li.setAttribute("aria-selected", selected ? "true" : "false");
  li.setAttribute("aria-label", `${a.id} ${a.status}`);
  li.dataset.toolCalls = String(a.tool_calls);
  li.dataset.tokens = String(a.tokens);
  const [fold, name, status, detail, usage, cancel, approve, deny] = li.children;
  fold.style.marginLeft = `${a.depth * 14}px`;
  fold.style.visibility = a.children.length ? "visible" : "hidden";
  fold.textContent = collapsed ? "▸" : "▾";
  fold.setAttribute("aria-label", `${collapsed ? "Open" : "Close"} ${a.id}`);
  if (a.children.length) li.setAttribute("aria-expanded", collapsed ? "false" : "true");
  else li.removeAttribute("aria-expanded");
  if (name.textContent !== a.id) name.textContent = a.id;
  if (status.textContent !== a.status) status.textContent = a.status;
  if (detail.textContent !== a.detail) detail.textContent = a.detail;
  const used = `${a.tool_calls} calls · ${a.tokens} tok`;
  if (usage.textContent !== used) usage.textContent = used;
  cancel.disabled = a.finished;
  // A call waiting for a person (:approve): decide it here (the page's one control endpoint).
  for (const [button, verb] of [[approve, "Approve"], [deny, "Deny"]]) {
    button.hidden = !a.waiting_call;
    button.dataset.call = a.waiting_call || "";
    button.setAttribute("aria-label", a.waiting_call ? `${verb} ${a.waiting_call}` : verb);
  }
}
