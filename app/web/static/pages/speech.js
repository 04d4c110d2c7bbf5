// Speech: text to speech (model, voice, speed, format), play and download; the speech history
// of the three families; saved voices.
import { get, post, del, errorNotice, listPage } from "../api.js";
import { h, append, clear, fill, pageHead, statusBadge, ago } from "../dom.js";

const FAMILIES = [
  ["/v1/text-to-speech", "Text to speech"],
  ["/v1/voice-designs", "Voice designs"],
  ["/v1/voice-clones", "Voice clones"],
];
const FORMATS = ["wav", "pcm", "raw_f32"];

export default {
  id: "speech",
  path: "/speech",
  title: "Speech",
  nav: true,
  icon: '<path d="M11 5L6 9H3v6h3l5 4z"/><path d="M15.5 8.5a5 5 0 0 1 0 7M18.5 5.5a9 9 0 0 1 0 13"/>',
  async mount(root) {
    const messages = h("div", { class: "stack" });
    const fail = (error) => messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));
    const model = h("select", { id: "tts-model" });
    const voice = h("input", { type: "text", id: "tts-voice", list: "tts-voices", placeholder: "default" });
    const voices = h("datalist", { id: "tts-voices" }, h("option", { value: "default" }));
    const speed = h("input", { type: "number", id: "tts-speed", min: "0.5", max: "2", step: "0.1", value: "1" });
    const format = h("select", { id: "tts-format" }, FORMATS.map((f) => h("option", { value: f }, f)));
    const text = h("textarea", { id: "tts-text", required: true, placeholder: "Type what to say…" });
    const submit = h("button", { class: "primary", type: "submit", id: "tts-submit" }, "Speak");
    const result = h("div", { id: "tts-result" });
    const historyTabs = h("div", { class: "choices", role: "tablist" });
    const history = h("div", { class: "history", id: "speech-history" });
    const saved = h("div", { class: "history", id: "saved-voices" });
    let family = FAMILIES[0][0];

    async function speak(event) {
      event.preventDefault();
      submit.disabled = true;
      submit.textContent = "Speaking…";
      try {
        const body = { input: text.value, response_format: format.value, speed: Number(speed.value) || 1 };
        if (model.value) body.model = model.value;
        if (voice.value.trim()) body.voice = voice.value.trim();
        const record = await post("/v1/text-to-speech", body);
        const player = h("audio", { controls: true, src: record.audio_url, id: "tts-audio", autoplay: true });
        fill(result, h("div", { class: "history-item" },
          h("div", { class: "row" }, h("strong", {}, "Ready"), h("span", { class: "small muted" },
            `${record.duration_secs ? record.duration_secs.toFixed(1) : "?"} s · ${record.model} · voice ${record.voice || "default"}`),
          h("span", { class: "spacer" }), h("a", { class: "button small", href: `${record.audio_url}?download=true`, download: `speech-${record.id}.${record.audio_format || "wav"}` }, "Download")),
          player));
        loadHistory();
      } catch (error) { fail(error); }
      submit.disabled = false;
      submit.textContent = "Speak";
    }

    async function loadHistory() {
      try {
        const page = await listPage(family, { limit: 20 });
        fill(history, page.records.length ? page.records.map((r) => h("div", { class: "history-item", "data-record": r.id },
          h("div", { class: "row" }, h("span", {}, (r.input || "").slice(0, 140)), h("span", { class: "spacer" }), statusBadge(r.status)),
          h("div", { class: "small muted" }, `${r.model} · ${r.voice || r.saved_voice_id || ""} · ${ago(r.created_at)}`),
          r.status === "ready" ? h("audio", { controls: true, preload: "none", src: r.audio_url }) : null,
          h("div", { class: "row" }, h("button", { class: "small danger", type: "button", onclick: async () => {
            try { await del(`${family}/${r.id}`); loadHistory(); } catch (error) { fail(error); }
          } }, "Delete"))))
          : h("p", { class: "muted" }, "Nothing here yet."));
      } catch (error) { fill(history, errorNotice(error)); }
    }

    FAMILIES.forEach(([path, label], i) => historyTabs.append(h("label", { class: "choice" },
      h("input", { type: "radio", name: "speech-family", value: path, checked: i === 0, onchange: () => { family = path; loadHistory(); } }), label)));

    root.append(
      pageHead("Speech", "Turn text into speech with a local voice."),
      messages,
      h("div", { class: "grid-2" },
        h("form", { class: "card", onsubmit: speak, "aria-label": "Text to speech" },
          h("div", { class: "field" }, h("label", { for: "tts-text" }, "Text"), text),
          h("div", { class: "row" },
            h("div", { class: "field spacer" }, h("label", { for: "tts-model" }, "Model"), model),
            h("div", { class: "field spacer" }, h("label", { for: "tts-voice" }, "Voice"), voice, voices)),
          h("div", { class: "row" },
            h("div", { class: "field spacer" }, h("label", { for: "tts-speed" }, "Speed"), speed),
            h("div", { class: "field spacer" }, h("label", { for: "tts-format" }, "Format"), format)),
          h("div", { class: "row" }, submit),
          result),
        h("div", { class: "stack" },
          h("section", { class: "card", "aria-label": "History" }, h("h2", {}, "History"), historyTabs, h("div", { style: { height: "10px" } }), history),
          h("section", { class: "card", "aria-label": "Saved voices" }, h("h2", {}, "Saved voices"), saved))));

    try {
      const models = (await get("/v1/admin/models")).data.filter((m) => m.route_capabilities && m.route_capabilities.text_to_speech_records);
      append(model, [h("option", { value: "" }, "Default voice model"), models.map((m) =>
        h("option", { value: m.variant, disabled: m.status === "not_downloaded" }, `${m.variant}${m.status === "not_downloaded" ? " (not downloaded)" : ""}`))]);
    } catch (error) { fail(error); }
    loadHistory();
    try {
      const page = await listPage("/v1/voices", { limit: 50 });
      for (const v of page.records) voices.append(h("option", { value: v.id }, v.name));
      fill(saved, page.records.length ? page.records.map((v) => h("div", { class: "history-item" },
        h("div", { class: "row" }, h("strong", {}, v.name || v.id), h("span", { class: "spacer" }), h("span", { class: "small muted" }, ago(v.created_at))),
        h("audio", { controls: true, preload: "none", src: `/v1/voices/${v.id}/audio` })))
        : h("p", { class: "muted" }, "No saved voices. Create one from a voice clone with the API (POST /v1/voices)."));
    } catch (error) { fill(saved, errorNotice(error)); }
    root.dataset.ready = "speech";
  },
};
