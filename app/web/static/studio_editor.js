// One Studio project (#/studio/<id>): its segments edited inline (split, merge and reorder by
// keyboard or drag), per-segment play and render, a render of the whole project with live
// per-segment progress, pronunciations, snapshots with restore, the export, and its schedules.
import { get, post, patch, del, errorNotice, listPage } from "./api.js";
import { h, fill, statusBadge, progressBar, ago, when, toast } from "./dom.js";
import { LiveStream, rerunner } from "./live.js";

const EXPORT_FORMATS = ["wav", "mp3", "opus", "flac", "raw_i16", "raw_f32"];
const KEYS_HELP = "Keys in a segment: Alt+↑/↓ moves it, Alt+Enter splits it at the cursor, Alt+J joins it with the next.";

export async function mountEditor(root, projectId, { navigate }) {
  const base = `/v1/studio/projects/${encodeURIComponent(projectId)}`;
  const messages = h("div", { class: "stack" });
  const fail = (error) => messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));
  const title = h("h1", {}, "…");
  const summary = h("p", { class: "muted small", id: "studio-summary" });
  const segments = h("ol", { class: "studio-segments", id: "studio-segments", "aria-label": "Segments" });
  const progress = progressBar("Render progress");
  progress.hidden = true;
  const renderButton = h("button", { class: "primary", type: "button", id: "studio-render", onclick: () => render() }, "Render");
  const lastRender = new Map(); // segment id → "synthesized" | "reused" | "rendering", from the last render's events
  const streams = new Set();
  let project = null;
  let dragged = null;

  const reload = rerunner(async () => {
    project = await get(base);
    title.textContent = project.name;
    document.title = `${project.name} · Studio · Sauti`;
    summary.textContent = `${project.segment_count} segments, ${project.rendered_segment_count} rendered · ${project.model}${project.voice ? ` · voice ${project.voice}` : ""}`;
    fill(segments, project.segments.map(segmentRow));
  });

  const act = (work) => async (...args) => {
    try { await work(...args); await reload(); } catch (error) { fail(error); }
  };

  const move = act(async (id, by) => {
    const order = project.segments.map((s) => s.id);
    const from = order.indexOf(id);
    const to = from + by;
    if (to < 0 || to >= order.length) return;
    order.splice(to, 0, order.splice(from, 1)[0]);
    await patch(`${base}/segments/reorder`, { segment_ids: order });
    requestAnimationFrame(() => segments.querySelector(`[data-segment="${id}"] textarea`)?.focus());
  });
  const dropOn = act(async (targetId) => {
    if (!dragged || dragged === targetId) return;
    const order = project.segments.map((s) => s.id).filter((id) => id !== dragged);
    order.splice(order.indexOf(targetId), 0, dragged);
    await patch(`${base}/segments/reorder`, { segment_ids: order });
  });
  const saveText = act(async (id, text) => { await patch(`${base}/segments/${id}`, { text }); });
  const split = act(async (id, offset) => { await post(`${base}/segments/${id}/split`, { offset }); });
  const merge = act(async (id) => { await post(`${base}/segments/${id}/merge-next`); });
  const remove = act(async (id) => { await del(`${base}/segments/${id}`); });

  function segmentRow(segment, index) {
    const state = lastRender.get(segment.id) || "";
    const text = h("textarea", {
      class: "seg-edit", rows: 2, value: segment.text, "aria-label": `Segment ${index + 1}`,
      onchange: () => { if (text.value.trim() && text.value !== segment.text) saveText(segment.id, text.value); },
      onkeydown: (event) => {
        if (!event.altKey) return;
        if (event.key === "ArrowUp" || event.key === "ArrowDown") { event.preventDefault(); move(segment.id, event.key === "ArrowUp" ? -1 : 1); }
        else if (event.key === "Enter") { event.preventDefault(); split(segment.id, text.selectionStart); }
        else if (event.key.toLowerCase() === "j") { event.preventDefault(); merge(segment.id); }
      },
    });
    const player = segment.rendered ? h("audio", { controls: true, preload: "none", src: segment.audio_url, class: "seg-audio" }) : null;
    return h("li", {
      class: "studio-seg", draggable: true, "data-segment": segment.id, "data-rendered": String(segment.rendered), "data-last-render": state,
      ondragstart: () => { dragged = segment.id; }, ondragover: (event) => event.preventDefault(),
      ondrop: (event) => { event.preventDefault(); dropOn(segment.id); },
    },
      h("span", { class: "seg-number", "aria-hidden": "true", title: "Drag to move" }, String(index + 1)),
      h("div", { class: "stack" }, text, player),
      h("div", { class: "actions" },
        statusBadge(state === "rendering" ? "rendering" : segment.rendered ? (state === "synthesized" ? "synthesized" : state === "reused" ? "reused" : "rendered") : "not rendered"),
        h("button", { type: "button", class: "small", "data-action": "render", onclick: () => renderSegment(segment.id) }, "Render"),
        h("button", { type: "button", class: "small ghost", "data-action": "split", onclick: () => split(segment.id, text.selectionStart || Math.floor(text.value.length / 2)) }, "Split"),
        h("button", { type: "button", class: "small ghost", "data-action": "merge", disabled: index === project.segments.length - 1, onclick: () => merge(segment.id) }, "Join next"),
        h("button", { type: "button", class: "small danger", "data-action": "delete", onclick: () => remove(segment.id) }, "Delete")));
  }

  function follow(job) {
    progress.hidden = false;
    progress.set(0, "run");
    const stream = new LiveStream(job.events_url, ({ data: event }) => {
      if (!event || !event.type) return;
      const verb = event.type.slice(event.type.indexOf(".") + 1);
      const d = event.data || {};
      if (verb === "progressed" && d.detail && d.detail.segment_id) {
        lastRender.set(d.detail.segment_id, d.detail.synthesized ? "synthesized" : "reused");
        progress.set(d.percent, "run");
        const row = segments.querySelector(`[data-segment="${d.detail.segment_id}"]`);
        if (row) row.dataset.lastRender = lastRender.get(d.detail.segment_id);
      } else if (["completed", "failed", "cancelled"].includes(verb)) {
        stream.close();
        streams.delete(stream);
        progress.set(100, verb === "completed" ? "ok" : "bad");
        if (verb === "failed") fail(new Error(d.error || "The render failed."));
        root.dataset.rendered = String(Number(root.dataset.rendered || 0) + 1);
        reload().catch(fail);
      }
    }, { once: false });
    streams.add(stream);
  }

  async function render(segmentIds = null) {
    try {
      const ids = segmentIds || project.segments.map((s) => s.id);
      for (const id of ids) lastRender.set(id, "rendering");
      for (const id of ids) { const row = segments.querySelector(`[data-segment="${id}"]`); if (row) row.dataset.lastRender = "rendering"; }
      follow(await post(`${base}/render-jobs`, segmentIds ? { segment_ids: segmentIds } : {}));
    } catch (error) { fail(error); }
  }
  const renderSegment = (id) => render([id]);

  // --- pronunciations, snapshots, export, schedules --------------------------------------------
  const words = h("ul", { class: "plain-list", id: "studio-pronunciations" });
  const term = h("input", { type: "text", id: "studio-term", placeholder: "Sauti", "aria-label": "Word" });
  const said = h("input", { type: "text", id: "studio-said", placeholder: "sah-oo-tee", "aria-label": "Say instead" });
  async function loadWords() {
    const list = (await get(`${base}/pronunciations`)).data;
    fill(words, list.length ? list.map((p) => h("li", { class: "row" }, h("span", {}, h("strong", {}, p.term), " → ", p.replacement),
      h("span", { class: "spacer" }), h("button", { type: "button", class: "small ghost", onclick: act(async () => { await del(`${base}/pronunciations/${p.id}`); await loadWords(); }) }, "Remove")))
      : h("li", { class: "muted small" }, "None yet."));
  }
  const addWord = act(async (event) => {
    event.preventDefault();
    await post(`${base}/pronunciations`, { term: term.value, replacement: said.value });
    term.value = ""; said.value = "";
    await loadWords();
  });

  const snaps = h("ul", { class: "plain-list", id: "studio-snapshots" });
  const snapName = h("input", { type: "text", id: "studio-snapshot-name", placeholder: "Before the edit", "aria-label": "Snapshot name" });
  async function loadSnaps() {
    const list = (await get(`${base}/snapshots`)).data;
    fill(snaps, list.length ? list.slice().reverse().map((s) => h("li", { class: "row", "data-snapshot": s.id }, h("span", {}, s.name || "Snapshot"),
      h("span", { class: "small muted" }, when(s.created_at)), h("span", { class: "spacer" }),
      h("button", { type: "button", class: "small", "data-action": "restore", onclick: act(async () => { await post(`${base}/snapshots/${s.id}/restore`); toast(`Restored “${s.name || "snapshot"}”.`, "ok"); }) }, "Restore")))
      : h("li", { class: "muted small" }, "None yet."));
  }
  const takeSnap = act(async (event) => {
    event.preventDefault();
    await post(`${base}/snapshots`, snapName.value.trim() ? { name: snapName.value.trim() } : {});
    snapName.value = "";
    await loadSnaps();
  });

  const format = h("select", { id: "studio-export-format", "aria-label": "Export format" }, EXPORT_FORMATS.map((f) => h("option", { value: f }, f)));
  const exportPlayer = h("audio", { controls: true, id: "studio-export-audio", preload: "metadata" });
  const exportLink = h("a", { class: "button small", id: "studio-download" }, "Download");
  const exportBox = h("div", { class: "stack", id: "studio-export", hidden: true }, exportPlayer, exportLink);
  const exportNow = async () => {
    try {
      const timeline = await get(`${base}/audio/timeline`); // a 409 names what is not rendered yet
      const playable = ["wav", "mp3", "opus", "flac"].includes(format.value) ? format.value : "wav";
      exportPlayer.src = `${base}/audio?format=${playable}&v=${project.version}`;
      exportLink.href = `${base}/audio?format=${format.value}&download=true`;
      exportLink.textContent = `Download ${format.value} (${timeline.duration_secs.toFixed(1)} s)`;
      exportBox.hidden = false;
    } catch (error) { fail(error); }
  };

  const schedules = h("div", { class: "history", id: "studio-schedules" });
  const every = h("input", { type: "number", id: "studio-schedule-interval", min: "1", placeholder: "3600", "aria-label": "Every (seconds)" });
  const cron = h("input", { type: "text", id: "studio-schedule-cron", placeholder: "0 6 * * *", "aria-label": "Or a cron expression" });
  const exportPath = h("input", { type: "text", id: "studio-schedule-path", placeholder: "studio/chapter.mp3", "aria-label": "Export to media path" });
  async function loadSchedules() {
    const mine = (await listPage("/v1/studio/schedules", { limit: 100, params: { project_id: projectId } })).records;
    const items = await Promise.all(mine.map(async (s) => {
      const runs = (await listPage(s.runs_url, { limit: 5 })).records;
      return h("div", { class: "history-item", "data-schedule": s.id },
        h("div", { class: "row" }, h("strong", {}, s.name), h("span", { class: "small muted" }, s.cron ? `cron ${s.cron} (${s.timezone})` : `every ${s.interval_seconds} s`),
          h("span", { class: "spacer" }), statusBadge(s.enabled ? "enabled" : "disabled"),
          h("button", { type: "button", class: "small ghost", onclick: act(async () => { await patch(`/v1/studio/schedules/${s.id}`, { enabled: !s.enabled }); await loadSchedules(); }) }, s.enabled ? "Disable" : "Enable"),
          h("button", { type: "button", class: "small danger", onclick: act(async () => { await del(`/v1/studio/schedules/${s.id}`); await loadSchedules(); }) }, "Delete")),
        h("div", { class: "small muted" }, s.next_run_at ? `Next run ${when(s.next_run_at)}` : "Not scheduled", s.export ? ` · exports to ${s.export.path}` : ""),
        runs.length ? h("ul", { class: "plain-list small" }, runs.map((r) => h("li", { class: "row" }, statusBadge(r.status), h("span", {}, ago(r.fired_at)),
          r.missed_ticks ? h("span", { class: "muted" }, `${r.missed_ticks} missed ticks coalesced`) : null,
          r.render_jobs.length ? h("span", { class: "muted" }, `${r.render_jobs.length} render job`) : h("span", { class: "muted" }, "nothing changed")))) : null);
    }));
    fill(schedules, items.length ? items : h("p", { class: "muted small" }, "No schedules for this project."));
  }
  const addSchedule = act(async (event) => {
    event.preventDefault();
    const body = { name: `Render ${project.name}`, project_id: projectId };
    if (cron.value.trim()) body.cron = cron.value.trim(); else body.interval_seconds = Number(every.value) || 3600;
    if (exportPath.value.trim()) {
      body.export_path = exportPath.value.trim();
      const ext = body.export_path.split(".").pop();
      if (EXPORT_FORMATS.includes(ext)) body.export_format = ext;
    }
    await post("/v1/studio/schedules", body);
    every.value = ""; cron.value = ""; exportPath.value = "";
    await loadSchedules();
  });

  root.append(
    h("p", { class: "small" }, h("a", { href: "#/studio" }, "← Studio")),
    h("div", { class: "page-head" }, h("div", {}, title, summary), h("div", { class: "row" }, progress, renderButton)),
    messages,
    h("div", { class: "grid-2 studio-grid" },
      h("section", { class: "card", "aria-label": "Segments" }, h("h2", {}, "Segments"), h("p", { class: "small muted" }, KEYS_HELP), segments),
      h("div", { class: "stack" },
        h("section", { class: "card", "aria-label": "Export" }, h("h2", {}, "Export"),
          h("div", { class: "row" }, format, h("button", { type: "button", id: "studio-export-button", onclick: exportNow }, "Export")), exportBox),
        h("section", { class: "card", "aria-label": "Pronunciations" }, h("h2", {}, "Pronunciations"), words,
          h("form", { class: "row", onsubmit: addWord }, term, said, h("button", { type: "submit", class: "small" }, "Add"))),
        h("section", { class: "card", "aria-label": "Snapshots" }, h("h2", {}, "Snapshots"), snaps,
          h("form", { class: "row", onsubmit: takeSnap }, snapName, h("button", { type: "submit", class: "small", id: "studio-snapshot" }, "Take snapshot"))),
        h("section", { class: "card", "aria-label": "Schedules" }, h("h2", {}, "Schedules"), schedules,
          h("form", { class: "row", onsubmit: addSchedule }, every, cron, exportPath, h("button", { type: "submit", class: "small", id: "studio-schedule-add" }, "Add schedule"))))));

  try {
    await reload();
    await Promise.all([loadWords(), loadSnaps(), loadSchedules()]);
  } catch (error) {
    fail(error);
    if (error.status === 404) navigate("/studio");
  }
  root.dataset.ready = "studio-project";
  return () => { for (const stream of streams) stream.close(); };
}
