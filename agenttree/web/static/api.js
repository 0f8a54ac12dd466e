// Talking to `agenttree serve`: the token, JSON calls, and the resumable event stream.

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
   * Follow /ws/events from seq `from`. `onEvents(list)` gets parsed events in order;
   * `onState(text)` gets connection news. Reconnects from the next seq when dropped, so
   * nothing is missed or doubled. Returns a function that stops it.
   */
  stream(from, onEvents, onState) {
    let next = from;
    let socket = null;
    let stopped = false;
    const open = () => {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const q = new URLSearchParams({ token: this.token, from: String(next) });
      socket = new WebSocket(`${scheme}://${location.host}/ws/events?${q}`);
      socket.onopen = () => onState("live");
      socket.onmessage = (msg) => {
        const events = [];
        for (const line of msg.data.split("\n")) {
          if (!line) continue;
          const e = JSON.parse(line);
          if (e.seq !== next) continue; // never double (cannot happen; cheap to check)
          next = e.seq + 1;
          events.push(e);
        }
        if (events.length) onEvents(events);
      };
      socket.onclose = (ev) => {
        if (stopped) return;
        if (ev.code === 1008) {
          onState(`refused: ${ev.reason}`);
          return;
        }
        onState(ev.code === 1013 ? "catching up…" : "disconnected; retrying…");
        setTimeout(open, ev.code === 1013 ? 0 : 2000);
      };
    };
    open();
    return () => {
      stopped = true;
      if (socket) socket.close();
    };
  }
}
