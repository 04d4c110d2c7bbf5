// Jobs: every job of every kind, newest first, kept live from the event feed.
import { post, errorNotice, listPage } from "../api.js";
import { h, clear, fill, pageHead, statusBadge, progressBar, ago, when } from "../dom.js";

const PAGE_SIZE = 50;
const VERB_STATUS = {
  requested: "requested", queued: "queued", started: "running", progressed: "running",
  retrying: "retrying", stale: "stale", completed: "completed", failed: "failed", cancelled: "cancelled",
};
const ENDED = new Set(["completed", "failed", "cancelled"]);
const KINDS = [
  ["", "All kinds"], ["transcription", "Transcription"], ["diarization", "Diarization"], ["speech", "Speech"],
  ["voice", "Voices"], ["chat", "Chat"], ["response", "Responses"], ["alignment", "Alignment"],
];

function recordPage(job) {
  if (job.category === "transcription" || job.category === "diarization") return `#/transcribe/${job.id}`;
  if (job.category === "speech" && job.record_url) return "#/speech";
  return null;
}

function jobRow(job, actions) {
  const bar = progressBar(`Progress of job ${job.id}`);
  const status = h("td", { class: "status" });
  const buttons = h("div", { class: "actions" });
  const row = h("tr", { "data-stream": job.stream_id, "data-status": job.status },
    h("td", {}, h("span", { class: "badge kind" }, job.category)),
    h("td", { class: "job-what" },
      h("span", { class: "label", title: job.label || "" }, job.label || job.model || "—"),
      h("span", { class: "id" }, `${job.id}${job.model && job.label ? ` · ${job.model}` : ""}`)),
    status,
    h("td", {}, bar),
    h("td", { class: "small muted", title: when(job.created_at) }, ago(job.created_at)),
    h("td", {}, buttons));
  row.update = (next) => {
    Object.assign(job, next);
    row.dataset.status = job.status;
    fill(status, statusBadge(job.status), job.error && job.status === "failed" ? h("div", { class: "small muted" }, job.error) : null);
    bar.set(job.progress, job.status === "completed" ? "done" : job.status === "failed" ? "failed" : "");
    const open = recordPage(job);
    fill(buttons, 
      open ? h("a", { class: "button small", href: open }, "Open") : null,
      h("a", { class: "button small", href: `#/audit/${encodeURIComponent(job.stream_id)}`, title: "Its events, in order" }, "Audit trail"),
      job.cancel_url && !ENDED.has(job.status) ? h("button", { class: "small danger", onclick: () => actions.cancel(job) }, "Cancel") : null,
      job.rerun_url && ENDED.has(job.status) ? h("button", { class: "small", onclick: () => actions.rerun(job) }, "Rerun") : null,
    );
  };
  row.update({});
  return row;
}

export default {
  id: "jobs",
  path: "/jobs",
  title: "Jobs",
  nav: true,
  icon: '<path d="M4 6h16M4 12h16M4 18h10"/>',
  async mount(root, { feed }) {
    const rows = new Map();
    let category = "";
    let cursor = null;
    let loaded = false;
    let buffered = [];
    let since = 0;
    const tbody = h("tbody");
    const messages = h("div", { class: "stack" });
    const more = h("button", { class: "small", onclick: () => load(true) }, "Load more");
    const count = h("span", { class: "small muted", "aria-live": "polite" });
    const empty = h("tr", {}, h("td", { colspan: "6", class: "empty" }, "No jobs yet. Start one from Transcribe or Speech."));
    const filter = h("select", { id: "jobs-kind", onchange: () => { category = filter.value; load(false); } },
      KINDS.map(([value, label]) => h("option", { value }, label)));

    const actions = {
      async cancel(job) {
        try { await post(job.cancel_url); } catch (error) { show(error); }
      },
      async rerun(job) {
        try { await post(job.rerun_url); } catch (error) { show(error); }
      },
    };
    const show = (error) => messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));

    function add(job, { top = false, into = tbody } = {}) {
      if (rows.has(job.stream_id)) { rows.get(job.stream_id).update(job); return; }
      const row = jobRow(job, actions);
      rows.set(job.stream_id, row);
      empty.remove();
      if (top) into.prepend(row); else into.append(row);
    }

    function apply(event) {
      const stream = event.stream_id;
      const verb = event.type.slice(event.type.indexOf(".") + 1);
      const row = rows.get(stream);
      const kind = stream.slice(0, stream.indexOf("-"));
      if (!row) {
        if (verb === "requested" && event.data && event.data.job_id && (!category || category === kind)) {
          add({
            id: event.data.job_id, stream_id: stream, category: kind, status: "requested", progress: 0,
            model: event.data.params && event.data.params.model, label: labelOf(event.data.params || {}),
            created_at: Date.parse(event.recorded_at) / 1000, ...linksOf(kind, event.data.job_id, stream, event.data.params || {}),
          }, { top: true });
          count.textContent = `${rows.size} shown`;
        }
        return;
      }
      const next = {};
      if (verb === "requested") Object.assign(next, { status: "requested", progress: 0, error: null });
      else if (VERB_STATUS[verb]) next.status = VERB_STATUS[verb];
      else if (verb === "cancel_requested" && !ENDED.has(row.dataset.status)) next.status = "cancelling";
      if (verb === "progressed" && typeof event.data.percent === "number") next.progress = event.data.percent;
      if (verb === "completed") next.progress = 100;
      if (verb === "failed") next.error = event.data.error;
      if (Object.keys(next).length) row.update(next);
    }

    // Events up to the list's position are in it; every later one is applied, in order.
    let off = null;
    const listener = (event) => {
      if (!loaded) { buffered.push(event); return; }
      if (event.position > since) apply(event);
    };

    async function load(append) {
      try {
        if (!append) { cursor = null; loaded = false; buffered = []; }
        const page = await listPage("/v1/jobs", { limit: PAGE_SIZE, cursor: append ? cursor : null, params: category ? { category } : {} });
        if (!append) {
          rows.clear();
          tbody.replaceChildren();
          since = page.last_position;
        }
        const fresh = document.createDocumentFragment(); // one insertion, one layout
        for (const job of page.records) add(job, { into: fresh });
        tbody.append(fresh);
        cursor = page.pagination.next_cursor;
        more.hidden = !page.pagination.has_more;
        if (!rows.size) tbody.append(empty);
        count.textContent = `${rows.size} shown${page.pagination.has_more ? ", more below" : ""}`;
        if (!append) {
          loaded = true;
          for (const event of buffered) if (event.position > since) apply(event);
          buffered = [];
        }
      } catch (error) { show(error); }
    }

    root.append(
      pageHead("Jobs", "Every job, newest first. Updates arrive live from the event log.",
        h("label", { for: "jobs-kind", class: "sr-only" }, "Kind"), filter),
      messages,
      h("div", { class: "card table-card" },
        h("table", {},
          h("caption", { class: "sr-only" }, "Jobs, newest first"),
          h("thead", {}, h("tr", {}, ["Kind", "What", "Status", "Progress", "Created", ""].map((t) => h("th", { scope: "col" }, t)))),
          tbody),
        h("div", { class: "foot row" }, count, h("span", { class: "spacer" }), more)));
    await load(false);
    performance.mark("sauti:jobs-interactive");
    root.dataset.ready = "jobs";
    let gone = false;
    feed.from(since, listener).then((unsubscribe) => { if (gone) unsubscribe(); else off = unsubscribe; });
    return () => { gone = true; if (off) off(); };
  },
};

function labelOf(params) {
  for (const key of ["title", "filename", "input", "prompt"]) {
    if (typeof params[key] === "string" && params[key].trim()) return params[key].trim().slice(0, 120);
  }
  return null;
}

function linksOf(category, id, stream, params) {
  const stt = (category === "transcription" || category === "diarization") && params.record !== false;
  const record = stt ? `/v1/speech-to-text/jobs/${id}` : null;
  return {
    events_url: `/v1/streams/${stream}/events`, record_url: record,
    cancel_url: stt ? `${record}/cancel` : null, rerun_url: stt ? `${record}/reruns` : null,
  };
}

