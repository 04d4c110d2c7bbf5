// The status bar: /v1/health (workers alive, queue depth) and the models loaded, refreshed when
// the event feed shows something changed (at most once a second) and on a slow timer for the
// workers' heartbeats, which are not events.
import { get } from "./api.js";
import { h, fill } from "./dom.js";

const HEARTBEAT_REFRESH_MS = 15000;

export class StatusBar {
  constructor(el, feed, health) {
    this.el = el;
    this.feed = feed;
    this.health = health;
    this.models = null;
    this.live = "connecting";
    this.pending = null;
    this.modelsChanged = false;
    feed.onState((state) => { this.live = state; this.render(); });
    feed.on((event) => this.changed(event));
    setInterval(() => this.refresh(), HEARTBEAT_REFRESH_MS);
    this.refreshModels();
    this.render();
  }

  changed(event) {
    // One refresh a second at most; a model's event in that second refreshes the models too.
    if (event.stream_id && event.stream_id.startsWith("model-")) this.modelsChanged = true;
    if (this.pending) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      if (this.modelsChanged) { this.modelsChanged = false; this.refreshModels(); }
      this.refresh();
    }, 1000);
  }

  async refresh() {
    try { this.health = await get("/v1/health"); } catch { this.health = null; }
    this.render();
  }

  async refreshModels() {
    try { this.models = (await get("/v1/admin/models")).data; } catch { /* shown as unknown */ }
    this.render();
  }

  render() {
    const health = this.health;
    const workers = health && health.workers ? health.workers.alive : null;
    let depth = null;
    let running = 0;
    if (health && health.broker && health.broker.queues) {
      depth = Object.values(health.broker.queues).reduce((sum, q) => sum + (q.ready || 0), 0);
      running = Object.values(health.broker.queues).reduce((sum, q) => sum + (q.leased || 0), 0);
    }
    const loaded = this.models ? this.models.filter((m) => (m.loaded_workers || []).length > 0) : null;
    const liveTone = { live: "ok", reconnecting: "warn", connecting: "warn" }[this.live] || "bad";
    fill(this.el, 
      h("span", { class: "item", "data-status": "server" },
        h("span", { class: `dot ${health ? (health.status === "ok" ? "ok" : "warn") : "bad"}` }),
        health ? `Server ${health.status}` : "Server unreachable"),
      h("span", { class: "item", "data-status": "workers" },
        h("span", { class: `dot ${workers ? "ok" : "bad"}` }),
        workers === null ? "Workers ?" : `${workers} worker${workers === 1 ? "" : "s"} alive`),
      h("span", { class: "item", "data-status": "queue" }, depth === null ? "Queue ?" : `Queue: ${depth} waiting${running ? `, ${running} running` : ""}`),
      h("span", { class: "item", "data-status": "models", title: loaded ? loaded.map((m) => m.variant).join(", ") : "" },
        loaded === null ? "Models ?" : `${loaded.length} model${loaded.length === 1 ? "" : "s"} loaded`),
      h("span", { class: "spacer" }),
      h("span", { class: "item", "data-status": "live" }, h("span", { class: `dot ${liveTone}` }), `Live updates: ${this.live}`),
      health ? h("span", { class: "item" }, `Sauti ${health.version}`) : null,
    );
  }
}
