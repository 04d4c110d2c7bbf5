// Live updates from the event streams, over SSE. The server names each SSE event by its type and
// gives its global position as the `id:`; EventSource can only listen to named events one name
// at a time, so this reads the stream with fetch and parses it. After a dropped connection it
// reconnects with `Last-Event-ID: <last position seen>`: the server resumes right after it, so
// nothing is missed, and positions only grow, so nothing is seen twice.
import { get, request } from "./api.js";

const RETRY_MS = [250, 500, 1000, 2000, 4000];

/** `work` wrapped so that calls made while it runs fold into one more run after it: the last run
 * always starts after the last call, so a page refreshed on an event never ends showing data read
 * before that event (an earlier read still in flight would otherwise be taken for the new one). */
export function rerunner(work) {
  let running = null;
  let again = false;
  const loop = async () => {
    try {
      do { again = false; await work(); } while (again);
    } finally {
      running = null;
    }
  };
  return () => {
    if (running) { again = true; return running; }
    running = loop();
    return running;
  };
}

/** Read an SSE body, calling `onFrame({type, id, data: [lines]})` for each frame. */
async function readFrames(body, onFrame) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let frame = { type: "message", id: null, data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r?\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer[newline] === "\r" ? 2 : 1));
      if (line === "") {
        if (frame.data.length) onFrame(frame);
        frame = { type: "message", id: null, data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // a heartbeat comment
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "data") frame.data.push(text);
      else if (field === "event") frame.type = text;
      else if (field === "id") frame.id = text;
    }
  }
}

/** POST `json` (or a FormData `body`) to a route that answers with SSE (a chat thread message, an
 * agent or voice turn with `stream: true`): `onEvent(type, data)` for each event, in order; resolves
 * at the end of the stream. An error answer (JSON) rejects with the server's message. */
export async function postEvents(path, { json, body }, onEvent) {
  const response = await request(path, { method: "POST", json, body, raw: true });
  await readFrames(response.body, (frame) => {
    let data = frame.data.join("\n");
    try { data = JSON.parse(data); } catch { /* plain text */ }
    onEvent(frame.type, data);
  });
}

/** An SSE connection that stays open: `onEvent({type, id, data})` for each event. */
export class LiveStream {
  constructor(url, onEvent, { lastId = null, once = false } = {}) {
    this.url = url;
    this.once = once;
    this.onEvent = onEvent;
    this.last = lastId;
    this.state = "connecting";
    this.stateListeners = new Set();
    this.controller = null;
    this.stopped = false;
    this.failures = 0;
    this.received = 0;
    this.pausedUntil = 0;
    this.run();
  }

  async run() {
    while (!this.stopped) {
      this.controller = new AbortController();
      try {
        const headers = { Accept: "text/event-stream" };
        if (this.last !== null) headers["Last-Event-ID"] = String(this.last);
        const response = await fetch(this.url, { headers, signal: this.controller.signal, cache: "no-store" });
        if (!response.ok || !response.body) throw new Error(`SSE ${response.status}`);
        this.failures = 0;
        this.setState("live");
        await this.read(response.body);
        if (this.once) { this.setState("ended"); return; }
      } catch (error) {
        if (this.stopped) return;
      }
      if (this.stopped) return;
      this.setState("reconnecting");
      const wait = Math.max(RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)], this.pausedUntil - Date.now());
      await new Promise((resolve) => { this.wake = resolve; setTimeout(resolve, wait); });
      this.failures += 1;
    }
  }

  async read(body) {
    await readFrames(body, (frame) => this.dispatch(frame));
  }

  dispatch(frame) {
    const id = frame.id === null ? null : Number(frame.id);
    if (id !== null && this.last !== null && id <= this.last) return; // never twice
    if (id !== null) this.last = id;
    let data = frame.data.join("\n");
    try { data = JSON.parse(data); } catch { /* plain text */ }
    this.received += 1;
    try { this.onEvent({ type: frame.type, id, data }); } catch (error) { console.error(error); }
  }

  setState(state) {
    this.state = state;
    for (const listener of this.stateListeners) listener(state);
  }

  onState(listener) {
    this.stateListeners.add(listener);
    listener(this.state);
    return () => this.stateListeners.delete(listener);
  }

  /** Cut the connection, as a network drop would, and stay off for `pauseMs`; then it
   * reconnects by itself with Last-Event-ID. */
  drop(pauseMs = 0) {
    this.pausedUntil = Date.now() + pauseMs;
    if (this.controller) this.controller.abort();
  }

  /** End a drop's pause now. */
  resume() {
    this.pausedUntil = 0;
    if (this.wake) this.wake();
  }

  close() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
    this.setState("closed");
  }
}

/** The whole event log live (`/v1/events`), shared by every page through `on(listener)`. */
export class EventFeed {
  constructor() {
    this.listeners = new Set();
    this.stream = null;
    this.origin = null;
  }

  /** Open the feed after `after` (the first call decides; later ones are no-ops). */
  start(after) {
    if (this.stream) return this;
    this.origin = after;
    this.stream = new LiveStream("/v1/events", (message) => {
      for (const listener of this.listeners) {
        try { listener(message.data); } catch (error) { console.error(error); }
      }
    }, { lastId: after });
    return this;
  }

  get last() { return this.stream ? this.stream.last : null; }

  /** Every event after `position`, each once and in order, then the live ones: for a page that
   * read a list as of `position`. Events before the feed's own start are read as JSON pages. */
  async from(position, listener) {
    const buffer = [];
    let caughtUp = false;
    const off = this.on((event) => { if (caughtUp) listener(event); else buffer.push(event); });
    this.start(position);
    let after = position;
    while (after < this.origin) {
      const page = await get(`/v1/events?after=${after}&limit=500`);
      for (const event of page.records) {
        if (event.position > this.origin) break;
        listener(event);
        after = event.position;
      }
      if (!page.pagination.has_more || !page.records.length) break;
    }
    caughtUp = true;
    for (const event of buffer) if (event.position > position) listener(event);
    return off;
  }

  /** Listen to every event ({stream_id, type, data, position, ...}); returns the unsubscribe. */
  on(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onState(listener) { return this.stream.onState(listener); }

  drop(pauseMs = 0) { this.stream.drop(pauseMs); }

  resume() { this.stream.resume(); }
}
