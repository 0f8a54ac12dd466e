// Talking to `agenttree serve`: the token, JSON calls, and the page's live feed.

const KEY = "agenttree-token";

/** The token: from ?token= (then dropped from the address bar) or this tab's storage. */
export function takeToken() {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get("token");
  if (fromUrl) {
    sessionStorage.setItem(KEY, fromUrl);
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search);
    return fromUrl;
  }
  return sessionStorage.getItem(KEY);
}

export class Api {
  constructor(token) {
    this.token = token;
  }

  async get(path) {
    const r = await fetch(path, { headers: { "X-Agenttree-Token": this.token } });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error || `${path}: HTTP ${r.status}`);
    return body;
  }

  /** POST a control command; resolves to the server's answer (applied/rejected/pending). */
  async control(command) {
    const r = await fetch("/api/control", {
      method: "POST",
      headers: { "X-Agenttree-Token": this.token, "Content-Type": "application/json" },
      body: JSON.stringify(command),
    });
    const body = await r.json();
    if (r.status === 400 || r.status === 401 || r.status === 413) {
      return { status: "error", detail: body.error };
    }
    return body;
  }

  /**
   * Follow /ws/view: the tree's rows folded by the server (a snapshot, then deltas) and the
   * selected agent's detail, its subtree's budgets and the marks of the agents watched. `onMessage(m)` gets each message; `onState(text)` gets connection
   * news. Reconnects when dropped (starting again from a snapshot). Returns `select(id)`, which
   * asks for an agent's detail (null for none), and `stop()`.
   */
  view(onMessage, onState) {
    let socket = null;
    let stopped = false;
    let selected = null;
    let watched = [];
    const send = (m) => {
      if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(m));
    };
    const open = () => {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const q = new URLSearchParams({ token: this.token });
      socket = new WebSocket(`${scheme}://${location.host}/ws/view?${q}`);
      socket.onopen = () => {
        onState("live");
        if (selected) send({ select: selected });
        if (watched.length) send({ watch: watched });
      };
      socket.onmessage = (msg) => onMessage(JSON.parse(msg.data));
      socket.onclose = (ev) => {
        if (stopped) return;
        if (ev.code === 1008) {
          onState(`refused: ${ev.reason}`);
          return;
        }
        onState("disconnected; retrying…");
        setTimeout(open, 2000);
      };
    };
    open();
    return {
      select: (id) => {
        selected = id;
        send({ select: id });
      },
      /** Ask for the marks of these agents (the Activity panel's rows in view). */
      watch: (ids) => {
        watched = ids;
        send({ watch: ids });
      },
      stop: () => {
        stopped = true;
        if (socket) socket.close();
      },
    };
  }
}
