// Transcribe: send a recording (file, drop or microphone) as a speech-to-text job, watch it run,
// then read, play, edit and export the result.
import { get, post, patch, request, errorNotice, listPage } from "../api.js";
import { h, clear, fill, icon, pageHead, statusBadge, progressBar, clock, ago, download } from "../dom.js";
import { LiveStream, rerunner } from "../live.js";
import { microphoneButton } from "../microphone.js";
import { EXPORTS, EXPORT_TYPES, speakerName, speakerColour } from "../transcript.js";

const KINDS = [
  ["transcription", "Transcription", "Text with word timings."],
  ["diarization", "Diarization", "Who spoke when."],
  ["speaker_attributed_asr", "Speaker-attributed", "Text, by speaker."],
];
const LANGUAGES = ["", "en", "de", "es", "fr", "it", "nl", "pt", "sw", "ja", "zh"];

export default {
  id: "transcribe",
  path: "/transcribe/:id?",
  title: "Transcribe",
  nav: true,
  icon: '<path d="M12 3a3 3 0 0 0-3 3v6a3 3 0 0 0 6 0V6a3 3 0 0 0-3-3z"/><path d="M19 11a7 7 0 0 1-14 0M12 18v3"/>',
  mount(root, ctx) {
    return ctx.params.id ? recordView(root, ctx.params.id, ctx) : formView(root, ctx);
  },
};

// --- the form ------------------------------------------------------------------------------

async function formView(root, { navigate }) {
  let file = null;
  const messages = h("div");
  const fileName = h("span", { class: "file" });
  const input = h("input", { type: "file", id: "audio-file", accept: "audio/*,video/*", class: "sr-only", onchange: () => choose(input.files[0]) });
  const drop = h("label", { class: "dropzone", for: "audio-file" },
    icon('<path d="M12 16V4M7 9l5-5 5 5"/><path d="M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3"/>'),
    h("div", {}, "Drop a recording here, or ", h("u", {}, "choose a file")),
    h("div", { class: "small muted" }, "Any audio or video file, up to 64 MiB"), fileName);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) choose(e.dataTransfer.files[0]); });
  const microphone = microphoneButton((recorded) => choose(recorded), (error) => messages.replaceChildren(errorNotice(error)));

  const modelSelect = h("select", { id: "stt-model", name: "model" });
  const language = h("select", { id: "stt-language", name: "language" }, LANGUAGES.map((l) => h("option", { value: l }, l ? l : "Detect automatically")));
  const title = h("input", { type: "text", id: "stt-title", name: "title", placeholder: "e.g. Team meeting", maxLength: 200 });
  const summary = h("input", { type: "checkbox", id: "stt-summary", name: "generate_summary" });
  const kinds = h("div", { class: "choices", role: "radiogroup" }, KINDS.map(([value, label, hint], i) =>
    h("label", { class: "choice", title: hint }, h("input", { type: "radio", name: "job_kind", value, checked: i === 0, onchange: () => fillModels() }), label)));
  const submit = h("button", { type: "submit", class: "primary", id: "stt-submit" }, "Start");
  let models = [];

  function choose(chosen) {
    file = chosen || null;
    fileName.textContent = file ? `${file.name} · ${(file.size / 1e6).toFixed(1)} MB` : "";
  }

  const kind = () => root.querySelector('input[name="job_kind"]:checked').value;
  function fillModels() {
    const wanted = kind() === "diarization" ? "diarization_records" : "speech_to_text_jobs";
    const usable = models.filter((m) => m.route_capabilities && m.route_capabilities[wanted]);
    fill(modelSelect, h("option", { value: "" }, "Default model"),
      usable.map((m) => h("option", { value: m.variant, disabled: m.status === "not_downloaded" },
        `${m.variant}${m.status === "not_downloaded" ? " (not downloaded)" : ""}`)));
  }

  async function send(event) {
    event.preventDefault();
    if (!file) { messages.replaceChildren(errorNotice(new Error("Choose a recording first: drop a file, pick one, or record."))); return; }
    const form = new FormData();
    form.append("file", file, file.name);
    form.append("job_kind", kind());
    if (modelSelect.value) form.append("model", modelSelect.value);
    if (language.value) form.append("language", language.value);
    if (title.value.trim()) form.append("title", title.value.trim());
    if (summary.checked) form.append("generate_summary", "true");
    submit.disabled = true;
    submit.textContent = "Uploading…";
    try {
      const record = await request("/v1/speech-to-text/jobs", { method: "POST", body: form });
      navigate(`/transcribe/${record.id}`);
    } catch (error) {
      messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));
      submit.disabled = false;
      submit.textContent = "Start";
    }
  }

  const recent = h("div", { class: "history" }, h("p", { class: "muted" }, "Loading…"));
  root.append(
    pageHead("Transcribe", "Turn a recording into text, find who spoke when, or both."),
    h("div", { class: "grid-2" },
      h("form", { class: "card", onsubmit: send, "aria-label": "New transcription" },
        messages,
        h("div", { class: "field" }, input, drop),
        h("div", { class: "row field" }, microphone.button, h("span", { class: "small muted" }, "Recorded audio stays on this machine.")),
        h("fieldset", {}, h("legend", {}, "What to do"), kinds),
        h("div", { class: "row" },
          h("div", { class: "field spacer" }, h("label", { for: "stt-model" }, "Model"), modelSelect),
          h("div", { class: "field spacer" }, h("label", { for: "stt-language" }, "Language"), language)),
        h("div", { class: "field" }, h("label", { for: "stt-title" }, "Title ", h("span", { class: "muted" }, "(optional)")), title),
        h("div", { class: "field" }, h("label", { class: "check", for: "stt-summary" }, summary, "Write a summary when it is done"),
          h("div", { class: "hint" }, "Uses the local chat model. Can also be done later.")),
        h("div", { class: "row" }, submit)),
      h("section", { class: "card", "aria-label": "Recent" }, h("h2", {}, "Recent"), recent)));

  try {
    models = (await get("/v1/admin/models")).data;
  } catch (error) { messages.replaceChildren(errorNotice(error)); }
  fillModels();
  try {
    const page = await listPage("/v1/speech-to-text/jobs", { limit: 12 });
    fill(recent, page.records.length ? page.records.map((r) => h("a", { class: "history-item", href: `#/transcribe/${r.id}` },
      h("div", { class: "row" }, h("strong", {}, r.title || r.filename || r.id), h("span", { class: "spacer" }), statusBadge(r.processing_status)),
      h("div", { class: "small muted" }, `${r.job_kind.replaceAll("_", " ")} · ${r.model || ""} · ${ago(r.created_at)}`)))
      : h("p", { class: "muted" }, "Nothing yet: your transcripts will be listed here."));
  } catch (error) { fill(recent, errorNotice(error)); }
  root.dataset.ready = "transcribe";
  return () => microphone.stop();
}

// --- one record ------------------------------------------------------------------------------

async function recordView(root, id) {
  const base = `/v1/speech-to-text/jobs/${encodeURIComponent(id)}`;
  let record = await get(base);
  const messages = h("div", { class: "stack" });
  const fail = (error) => messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));
  const bar = progressBar("Job progress");
  bar.id = "job-progress";
  const status = h("span");
  const stage = h("span", { class: "small muted" });
  const titleInput = h("input", { type: "text", class: "title-input", id: "record-title", "aria-label": "Title", maxLength: 200 });
  const audio = h("audio", { controls: true, preload: "metadata", src: record.audio_url, id: "record-audio" });
  const body = h("div", { class: "stack" });
  let percent = record.progress || 0;
  let duration = record.duration || null;

  titleInput.value = record.title || record.filename || "";
  titleInput.addEventListener("change", async () => {
    try { record = await patch(base, { title: titleInput.value.trim() || null }); } catch (error) { fail(error); }
  });

  function showProgress() {
    const s = record.processing_status;
    fill(status, statusBadge(s));
    bar.set(s === "ready" ? 100 : percent, s === "ready" ? "done" : s === "failed" ? "failed" : "");
    stage.textContent = s === "ready" ? `${record.model || ""}${record.processing_time_ms ? ` · took ${(record.processing_time_ms / 1000).toFixed(1)} s` : ""}`
      : record.stage ? `Stage: ${record.stage}` : "";
  }

  const refetch = rerunner(async () => {
    try { record = await get(base); } catch (error) { fail(error); }
    showProgress();
    renderBody();
  });

  // Progress from the record's own events, live; the record is re-read when something it shows changed.
  const live = new LiveStream(record.events_url, ({ data: event }) => {
    if (!event || !event.type) return;
    const verb = event.type.slice(event.type.indexOf(".") + 1);
    const d = event.data || {};
    if (verb === "requested") { percent = 0; record.processing_status = "queued"; }
    else if (verb === "started") record.processing_status = "processing";
    else if (verb === "progressed" && typeof d.percent === "number") percent = Math.max(percent, d.percent);
    else if (verb === "language_detected" || verb === "speech_detected") duration = d.duration || duration;
    else if (verb === "segment_transcribed" && duration) percent = Math.max(percent, Math.min(99, (100 * d.end) / duration));
    else if (verb === "completed") { percent = 100; record.processing_status = "ready"; }
    else if (verb === "failed") { record.processing_status = "failed"; record.error = d.error; }
    else if (verb === "cancelled") record.processing_status = "cancelled";
    showProgress();
    if (["completed", "failed", "cancelled", "record_updated", "segment_transcribed", "speakers_found", "speakers_attributed"].includes(verb)
        || verb.startsWith("summary_")) refetch();
  });

  function renderBody() {
    clear(body);
    if (record.processing_status === "failed") body.append(errorNotice(new Error(record.error || "No reason was recorded."), null, "The job failed"));
    const ready = record.processing_status === "ready";
    if (ready && record.speaker_turns && record.speaker_turns.length) body.append(timelineCard(record, audio));
    if (record.segments && record.segments.length) body.append(transcriptCard(record, audio));
    else if (!ready && record.processing_status !== "failed") body.append(h("div", { class: "card empty" }, "The transcript appears here as it is made…"));
    if (ready) body.append(sideCards(record, base, fail, (next) => { record = next; showProgress(); renderBody(); }));
  }

  root.append(
    h("p", { class: "small" }, h("a", { href: "#/transcribe" }, "← Transcribe")),
    h("div", { class: "record-head" }, titleInput, status, h("span", { class: "spacer" }),
      h("a", { class: "button small", href: `#/audit/${encodeURIComponent(`${record.job_kind === "diarization" ? "diarization" : "transcription"}-${id}`)}` }, "Audit trail")),
    messages,
    h("div", { class: "card stack" },
      h("div", { class: "row" }, h("div", { class: "spacer" }, bar), stage),
      audio),
    body);
  showProgress();
  renderBody();
  root.dataset.ready = "record";
  return () => live.close();
}

function transcriptCard(record, audio) {
  const words = [];
  const box = h("div", { class: "transcript", id: "transcript" });
  for (const seg of record.segments) {
    const colour = seg.speaker ? speakerColour(record, who(seg)) : null;
    const text = h("div", { class: "seg-text" });
    if (seg.words && seg.words.length) {
      seg.words.forEach((w, i) => {
        const span = h("span", { class: "word", "data-start": w.start, "data-end": w.end }, w.word.trim());
        words.push({ start: w.start, end: w.end, el: span });
        text.append(i ? " " : "", span);
      });
    } else text.append(seg.text);
    box.append(h("div", { class: "seg", style: colour ? { "--spk": colour } : {} },
      h("div", { class: "seg-meta" },
        h("button", { class: "seg-time", type: "button", "aria-label": `Play from ${clock(seg.start)}`, onclick: () => seek(seg.start) }, clock(seg.start)),
        seg.speaker ? h("span", { class: "speaker-tag", "data-speaker": who(seg) }, speakerName(record, who(seg))) : null),
      text));
  }
  function seek(t) {
    audio.currentTime = t + 0.001;
    audio.play().catch(() => {});
  }
  box.addEventListener("click", (e) => {
    const w = e.target.closest(".word");
    if (w) seek(Number(w.dataset.start));
  });
  let current = null;
  let frame = null;
  const highlight = () => {
    const t = audio.currentTime;
    let lo = 0; let hi = words.length - 1; let found = null;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (words[mid].start <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    const word = found !== null && t < words[found].end + 0.15 ? words[found].el : null;
    if (word !== current) {
      if (current) current.classList.remove("now");
      if (word) word.classList.add("now");
      current = word;
    }
    if (!audio.paused) frame = requestAnimationFrame(highlight);
  };
  audio.addEventListener("play", () => { cancelAnimationFrame(frame); frame = requestAnimationFrame(highlight); });
  audio.addEventListener("seeked", highlight);
  audio.addEventListener("timeupdate", () => { if (audio.paused) highlight(); });
  return h("section", { class: "card", "aria-label": "Transcript" },
    h("div", { class: "row" }, h("h2", {}, "Transcript"), h("span", { class: "spacer" }),
      h("span", { class: "small muted" }, "Click a word to play from there")),
    box);
}

/** The speaker id of a turn or segment (`speaker` may carry its display name). */
const who = (item) => item.speaker_id || item.speaker;

function timelineCard(record, audio) {
  const total = record.duration || Math.max(...record.speaker_turns.map((t) => t.end), 1);
  const canvas = h("canvas", { width: 1200, height: 64, "aria-hidden": "true" });
  const head = h("div", { class: "playhead" });
  const lanes = h("div", { class: "lanes" }, record.speakers.map((speaker) =>
    h("div", { class: "lane", "data-speaker": speaker, style: { "--spk": speakerColour(record, speaker) } },
      h("span", { class: "lane-name" }, speakerName(record, speaker)),
      h("div", { class: "lane-track", role: "img", "aria-label": `${speakerName(record, speaker)} speaks ${record.speaker_turns.filter((t) => who(t) === speaker).length} times` },
        record.speaker_turns.filter((t) => who(t) === speaker).map((t) =>
          h("span", { class: "turn", title: `${clock(t.start)}–${clock(t.end)}`, style: { left: `${(100 * t.start) / total}%`, width: `${Math.max(0.4, (100 * (t.end - t.start)) / total)}%` } }))))));
  const box = h("div", { class: "timeline", id: "timeline" }, canvas, lanes, head);
  box.addEventListener("click", (e) => {
    const track = box.querySelector(".lane-track").getBoundingClientRect();
    const x = (e.clientX - track.left) / track.width;
    if (x >= 0 && x <= 1) { audio.currentTime = x * total; audio.play().catch(() => {}); }
  });
  audio.addEventListener("timeupdate", () => {
    const track = box.querySelector(".lane-track");
    head.style.left = `${track.offsetLeft + (track.offsetWidth * audio.currentTime) / total}px`;
  });
  drawWaveform(canvas, record.audio_url);
  return h("section", { class: "card", "aria-label": "Speaker timeline" },
    h("div", { class: "row" }, h("h2", {}, "Who spoke when"), h("span", { class: "spacer" }),
      h("span", { class: "small muted" }, `${record.speakers.length} speakers · ${clock(total)}`)),
    box);
}

async function drawWaveform(canvas, url) {
  try {
    const data = await (await fetch(url)).arrayBuffer();
    const decoded = await new OfflineAudioContext(1, 1, 16000).decodeAudioData(data);
    const samples = decoded.getChannelData(0);
    const ctx = canvas.getContext("2d");
    const { width, height } = canvas;
    const step = Math.max(1, Math.floor(samples.length / width));
    ctx.fillStyle = getComputedStyle(canvas).getPropertyValue("color") || "#888";
    ctx.globalAlpha = 0.35;
    for (let x = 0; x < width; x += 1) {
      let peak = 0;
      for (let i = x * step; i < (x + 1) * step && i < samples.length; i += 1) peak = Math.max(peak, Math.abs(samples[i]));
      const bar = Math.max(1, peak * height * 0.95);
      ctx.fillRect(x, (height - bar) / 2, 1, bar);
    }
  } catch { /* the lanes alone still say who spoke when */ }
}

function sideCards(record, base, fail, update) {
  const speakers = (record.speakers || []).length ? h("section", { class: "card", "aria-label": "Speakers" },
    h("h2", {}, "Speakers"),
    h("div", { class: "speakers" }, record.speakers.map((speaker) => {
      const input = h("input", { type: "text", value: speakerName(record, speaker), id: `name-${speaker}`, "data-speaker": speaker });
      const save = async () => {
        try { update(await patch(base, { speaker_labels: { [speaker]: input.value.trim() || null } })); } catch (error) { fail(error); }
      };
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") save(); });
      return h("div", { class: "speaker-row", style: { "--spk": speakerColour(record, speaker) } },
        h("span", { class: "swatch", "aria-hidden": "true" }), h("label", { for: `name-${speaker}`, class: "mono small" }, speaker), input,
        h("button", { class: "small", type: "button", onclick: save }, "Rename"));
    }))) : null;

  const summaryText = h("div", { class: "summary", id: "summary" },
    record.summary ? record.summary : h("span", { class: "muted" },
      record.summary_status === "pending" || record.summary_status === "generating" ? "Writing the summary…" : "No summary yet."));
  const regenerate = h("button", { class: "small", type: "button", id: "summary-regenerate", onclick: async () => {
    regenerate.disabled = true;
    try { update(await post(`${base}/summary/regenerate`, {})); } catch (error) { fail(error); }
    regenerate.disabled = false;
  } }, record.summary ? "Regenerate summary" : "Write a summary");
  const writing = record.summary_status === "pending" || record.summary_status === "generating";
  if (writing) {
    regenerate.disabled = true;
    if (record.summary) summaryText.append(h("div", { class: "small muted" }, "Still writing…"));
  }
  if (record.summary_error) summaryText.append(h("div", { class: "small muted" }, `Last attempt failed: ${record.summary_error}`));

  const name = (record.title || record.filename || record.id).replace(/\.[a-z0-9]+$/i, "").replace(/[^\w.-]+/g, "_");
  return h("div", { class: "grid-2" },
    h("div", { class: "stack" },
      h("section", { class: "card", "aria-label": "Summary" },
        h("div", { class: "row" }, h("h2", {}, "Summary"), h("span", { class: "spacer" }), regenerate), summaryText),
      speakers),
    h("section", { class: "card", "aria-label": "Export and details" },
      h("h2", {}, "Export"),
      h("div", { class: "row" }, Object.keys(EXPORTS).map((format) =>
        h("button", { class: "small", type: "button", "data-export": format,
          onclick: () => download(`${name}.${format}`, EXPORTS[format](record), EXPORT_TYPES[format]) }, format.toUpperCase()))),
      h("h3", { style: { marginTop: "16px" } }, "Details"),
      h("dl", { class: "kv" },
        h("dt", {}, "Kind"), h("dd", {}, record.job_kind.replaceAll("_", " ")),
        h("dt", {}, "Model"), h("dd", {}, record.model || "—"),
        h("dt", {}, "Language"), h("dd", {}, record.language || "—"),
        h("dt", {}, "Duration"), h("dd", {}, clock(record.duration)),
        h("dt", {}, "Speed"), h("dd", {}, record.rtf ? `${(1 / record.rtf).toFixed(1)}× real time` : "—"),
        h("dt", {}, "File"), h("dd", {}, record.filename || "—"))));
}
