// Budgets as pictures (SVG): the selected agent's subtree and each child's, a bar per figure
// (tokens, tool calls, cost, agent time) scaled to the largest child, and the subtree's tokens
// over the run. The figures are agenttree/spending.py's, sent by the server ("budgets").

const NS = "http://www.w3.org/2000/svg";
const FIGURES = [["tokens", "tokens"], ["tool_calls", "tool calls"], ["cost", "cost"], ["wall_s", "agent time"]];

function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function figure(kind, v) {
  if (kind === "cost") return `$${v.toFixed(2)}`;
  if (kind === "wall_s") return `${v < 10 ? v.toFixed(1) : v.toFixed(0)}s`;
  return v >= 1000 ? `${(v / 1000).toFixed(1)}k` : String(Math.round(v * 100) / 100);
}

/** Fill `box` with the pictures for one "budgets" message. */
export function drawBudgets(box, m) {
  box.replaceChildren();
  if (!m.rows.length) return;
  const [top, ...children] = m.rows;
  const W = 420;
  const LABEL = 110;
  const BAR = W - LABEL - 60;
  for (const [kind, title] of FIGURES) {
    const most = Math.max(0, ...children.map((r) => r[kind]));
    const h = 18 * (children.length + 1) + 4;
    const chart = svg("svg", { width: W, height: h, viewBox: `0 0 ${W} ${h}`, role: "img",
      "aria-label": `${title} by subtree`, class: `spend ${kind}` });
    chart.append(svg("text", { x: 0, y: 13, class: "spend-title" }, `${title}: ${figure(kind, top[kind])} in ${top.agent}'s subtree`));
    children.forEach((r, i) => {
      const y = 18 * (i + 1) + 2;
      const w = most > 0 ? (r[kind] / most) * BAR : 0;
      chart.append(svg("text", { x: 8, y: y + 11 }, r.agent.split(".").pop() + (r.agents > 1 ? ` (${r.agents})` : "")));
      const bar = svg("rect", { x: LABEL, y: y + 2, width: Math.max(0, w), height: 11, class: "spend-bar", "data-agent": r.agent });
      bar.append(svg("title", {}, `${r.agent}: ${figure(kind, r[kind])}`));
      chart.append(bar, svg("text", { x: LABEL + w + 4, y: y + 11 }, figure(kind, r[kind])));
    });
    box.append(chart);
  }
  const points = m.tokens;
  if (!points.length) return;
  const H = 60;
  const most = Math.max(1, points[points.length - 1][1]);
  const step = W / points.length;
  const line = points.map(([, total], i) => `${(i + 1) * step},${H - (total / most) * (H - 4)}`).join(" ");
  const chart = svg("svg", { width: W, height: H + 16, viewBox: `0 0 ${W} ${H + 16}`, role: "img",
    "aria-label": "tokens over time", class: "spend tokens-over-time" });
  chart.append(svg("polygon", { points: `0,${H} ${line} ${W},${H}`, class: "spend-area" }),
    svg("text", { x: 0, y: H + 13 }, `tokens over time: ${figure("tokens", points[points.length - 1][1])}`));
  box.append(chart);
}
