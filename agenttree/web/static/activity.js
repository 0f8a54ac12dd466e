// The Activity panel: one row per agent in the tree's order (its collapsed subtrees left out), a
// bar from spawn to finish coloured by status, and marks for model calls, tool calls,
// acceptance runs, lock waits and messages (agenttree/activity.py, sent by the server for the
// rows in view only). Virtualised like the tree: only the rows in view exist in the DOM.

import { rowElement, VirtualRows } from "./tree.js";

const ROW = 22; // px (matches .act-row in style.css)
const OVERSCAN = 6;
const LOOK = { model: "●", tool: "▲", acceptance: "✔", lock: "◔", message: "✉" };

export class ActivityChart extends VirtualRows {
  /**
   * @param {HTMLElement} el the scrolling container (holds a .spacer child)
   * @param {{now: () => number, span: () => [number, number], marks: Map, onWatch: (ids) => void,
   *          onOpen: (seq) => void, isCollapsed: (id) => boolean}} source
   */
  constructor(el, source) {
    super(el, ROW, OVERSCAN);
    this.source = source;
    this.window = null; // {start, end} while zoomed or panned; null: the whole run, live
    this.watched = "";
    el.addEventListener("click", (ev) => {
      const mark = ev.target.closest(".mark");
      if (mark) this.source.onOpen(Number(mark.dataset.seq));
    });
  }

  /** The time shown, [start, end] in epoch ms. */
  span() {
    return this.window ? [this.window.start, this.window.end] : this.source.span();
  }

  zoom(factor) {
    const [start, end] = this.span();
    const mid = (start + end) / 2;
    const half = Math.max(5, ((end - start) * factor) / 2);
    this.window = { start: mid - half, end: mid + half };
    this.schedule();
  }

  pan(fraction) {
    const [start, end] = this.span();
    const shift = (end - start) * fraction;
    this.window = { start: start + shift, end: end + shift };
    this.schedule();
  }

  whole() {
    this.window = null;
    this.schedule();
  }

  draw() {
    const [start, end] = this.span();
    const now = this.source.now();
    const width = end - start || 1;
    const pct = (t) => `${((t - start) / width) * 100}%`;
    const keep = this.drawRows(makeRow, (row, a) => {
      const [label, lane] = row.children;
      label.style.paddingLeft = `${a.depth * 10 + 4}px`;
      label.textContent = `${a.children.length ? (this.source.isCollapsed(a.id) ? "▸ " : "▾ ") : ""}${a.id.split(".").pop()}`;
      const bar = lane.firstChild;
      const stop = a.end_t != null ? a.end_t : now;
      bar.style.left = pct(a.start_t);
      bar.style.width = `${Math.max(0.2, ((stop - a.start_t) / width) * 100)}%`;
      const marks = this.source.marks.get(a.id) || [];
      const drawn = lane.querySelectorAll(".mark");
      for (let k = drawn.length; k > marks.length; k--) drawn[k - 1].remove();
      marks.forEach(([kind, seq, t, endT, ok, text], k) => {
        let m = drawn[k];
        if (!m) {
          m = document.createElement("button");
          m.type = "button";
          lane.appendChild(m);
        }
        m.className = `mark ${kind}${ok ? "" : " bad"}`;
        m.dataset.seq = String(seq);
        m.dataset.kind = kind;
        m.style.left = pct(t);
        m.style.width = endT !== t ? `${Math.max(0, (((endT ?? now) - t) / width) * 100)}%` : "";
        m.textContent = kind === "acceptance" && !ok ? "✘" : LOOK[kind];
        m.title = `${kind} ${text} (event ${seq})`;
        m.setAttribute("aria-label", `${kind} ${text}, event ${seq}`);
      });
    });
    const ids = [...keep].sort();
    const key = ids.join("\n");
    if (key !== this.watched) {
      this.watched = key;
      this.source.onWatch(ids);
    }
  }
}

function makeRow(id) {
  const row = rowElement(id, "act-row", "listitem", [["span", "act-label"], ["div", "act-lane"]]);
  const bar = document.createElement("div");
  bar.className = "act-bar";
  row.lastChild.append(bar);
  return row;
}
