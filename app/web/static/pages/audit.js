// Audit: the event log. Browse /v1/events by stream, category or type; open one stream to see its
// events in order, with their payloads and times (live while it grows).
import { errorNotice, listPage } from "../api.js";
import { h, clear, pageHead, when } from "../dom.js";
import { LiveStream } from "../live.js";

function eventItem(event, { showStream = true } = {}) {
  return h("details", { class: "event", "data-position": event.position },
    h("summary", {},
      h("span", { class: "mono small muted" }, `#${event.position}`),
      h("span", {}, h("span", { class: "type" }, event.type),
        showStream ? h("span", { class: "small muted" }, " · ", h("a", { href: `#/audit/${encodeURIComponent(event.stream_id)}` }, event.stream_id)) : h("span", { class: "small muted" }, ` · v${event.version}`)),
      h("time", { class: "small muted", datetime: event.recorded_at }, when(Date.parse(event.recorded_at) / 1000))),
    h("pre", {}, JSON.stringify({ data: event.data, metadata: event.metadata, event_id: event.event_id, schema_version: event.schema_version }, null, 2)));
}

export default {
  id: "audit",
  path: "/audit/:stream?",
  title: "Audit",
  nav: true,
  icon: '<path d="M9 4h6l1 2h3v14H5V6h3z"/><path d="M9 12h6M9 16h4"/>',
  async mount(root, { params }) {
    const messages = h("div", { class: "stack" });
    const list = h("div", { class: "events", id: "events" });
    const more = h("button", { class: "small", type: "button", hidden: true }, "Load more");
    const fail = (error) => messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));
    let cursor = null;
    let query = {};
    let live = null;
    const path = params.stream ? `/v1/streams/${encodeURIComponent(params.stream)}/events` : "/v1/events";

    async function load(append) {
      try {
        const page = await listPage(path, { limit: 100, cursor: append ? cursor : null, params: query });
        if (!append) clear(list);
        list.append(...page.records.map((e) => eventItem(e, { showStream: !params.stream })));
        if (!list.children.length) list.append(h("div", { class: "card empty" }, "No events match."));
        cursor = page.pagination.next_cursor;
        more.hidden = !page.pagination.has_more;
        return page.records.length ? page.records[page.records.length - 1].position : null;
      } catch (error) { fail(error); return null; }
    }
    more.addEventListener("click", () => load(true));

    if (params.stream) {
      root.append(
        h("p", { class: "small" }, h("a", { href: "#/audit" }, "← All events")),
        pageHead(params.stream, "This stream's events in order: what was asked, what happened, when."),
        messages, list, h("div", { class: "row", style: { marginTop: "12px" } }, more));
      let last = await load(false);
      while (!more.hidden) last = await load(true); // a stream is short: show it all, then follow
      live = new LiveStream(path, ({ data }) => {
        if (data && data.position && !list.querySelector(`[data-position="${data.position}"]`)) {
          list.querySelector(".empty")?.remove();
          list.append(eventItem(data, { showStream: false }));
        }
      }, { lastId: last || 0 });
    } else {
      const stream = h("input", { type: "text", id: "audit-stream", placeholder: "transcription-…" });
      const category = h("input", { type: "text", id: "audit-category", placeholder: "transcription" });
      const type = h("input", { type: "text", id: "audit-type", placeholder: "transcription.completed" });
      const form = h("form", { class: "card filters", onsubmit: (e) => {
        e.preventDefault();
        query = {};
        if (stream.value.trim()) query.stream = stream.value.trim();
        if (category.value.trim()) query.category = category.value.trim();
        if (type.value.trim()) query.type = type.value.trim();
        load(false);
      } },
      h("div", {}, h("label", { for: "audit-stream" }, "Stream"), stream),
      h("div", {}, h("label", { for: "audit-category" }, "Category"), category),
      h("div", {}, h("label", { for: "audit-type" }, "Event types ", h("span", { class: "muted" }, "(comma-separated)")), type),
      h("button", { class: "primary", type: "submit" }, "Show"));
      root.append(pageHead("Audit", "Every event the server recorded, oldest first. Nothing is ever deleted from this log."),
        form, h("div", { style: { height: "16px" } }), messages, list, h("div", { class: "row", style: { marginTop: "12px" } }, more));
      await load(false);
    }
    root.dataset.ready = "audit";
    return () => live && live.close();
  },
};
