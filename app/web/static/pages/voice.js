// Voice: the profile (name, system prompt, observational memory), what is remembered about the user
// (each forgettable), and voice sessions: speak (microphone or a file) or type a turn, hear the
// answer sentence by sentence, replay the stored turns, export a session.
import { get, post, patch, del, errorNotice, listPage } from "../api.js";
import { h, fill, pageHead, ago, statusBadge } from "../dom.js";
import { postEvents } from "../live.js";
import { microphoneButton } from "../microphone.js";

export default {
  id: "voice",
  path: "/voice/:id?",
  title: "Voice",
  nav: true,
  icon: '<rect x="9" y="3" width="6" height="11" rx="3"/><path d="M5 11a7 7 0 0 0 14 0M12 18v3"/>',
  async mount(root, ctx) {
    const messages = h("div", { class: "stack" });
    const fail = (error) => messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));
    const sessions = h("div", { class: "history", id: "voice-sessions" });
    const pane = h("section", { class: "card stack", id: "voice-session" });
    const memory = h("ul", { class: "memory", id: "voice-memory" });

    // --- profile and memory ---
    const profile = await get("/v1/voice/profile");
    const name = h("input", { type: "text", id: "voice-name", value: profile.name, "aria-label": "Assistant name" });
    const prompt = h("textarea", { id: "voice-prompt", rows: 3, "aria-label": "System prompt" }, profile.system_prompt);
    const remember = h("input", { type: "checkbox", id: "voice-memory-on", checked: profile.observational_memory });
    const save = h("button", { type: "button", id: "voice-profile-save" }, "Save profile");
    save.addEventListener("click", async () => {
      try {
        await patch("/v1/voice/profile", { name: name.value.trim(), system_prompt: prompt.value, observational_memory: remember.checked });
        save.textContent = "Saved";
        setTimeout(() => { save.textContent = "Save profile"; }, 1500);
      } catch (error) { fail(error); }
    });

    async function loadMemory() {
      const remembered = (await get("/v1/voice/observations?limit=100")).data;
      fill(memory, remembered.length ? remembered.map((o) => h("li", { "data-observation": o.id }, h("span", {}, o.text),
        h("button", { class: "small", type: "button", onclick: async () => {
          try { await del(`/v1/voice/observations/${o.id}`); await loadMemory(); } catch (error) { fail(error); }
        } }, "Forget"))) : h("li", { class: "muted" }, "Nothing remembered yet."));
    }
    const forgetAll = h("button", { class: "small", type: "button", id: "voice-forget-all", onclick: async () => {
      if (!confirm("Forget everything remembered about you?")) return;
      try { await del("/v1/voice/observations"); await loadMemory(); } catch (error) { fail(error); }
    } }, "Forget all");

    async function loadSessions() {
      const page = await listPage("/v1/voice/sessions", { limit: 50 });
      fill(sessions, page.records.length ? page.records.map((s) => h("a", {
        class: `history-item${s.id === ctx.params.id ? " current" : ""}`, href: `#/voice/${s.id}`, "data-session": s.id },
      h("div", { class: "row" }, h("strong", {}, s.title || "Voice session"), h("span", { class: "spacer" }),
        h("span", { class: "small muted" }, `${s.turn_count} turns · ${s.ended ? "ended" : ago(s.updated_at)}`))))
        : h("div", { class: "empty" }, "No sessions yet."));
    }
    const start = h("button", { class: "primary", type: "button", id: "voice-new" }, "New session");
    start.addEventListener("click", async () => {
      try { ctx.navigate(`/voice/${(await post("/v1/voice/sessions", {})).id}`); } catch (error) { fail(error); }
    });

    root.append(pageHead("Voice", "Spoken conversations: speech to text, a local chat model and speech, sentence by sentence."),
      messages,
      h("div", { class: "chat-layout" },
        h("aside", { class: "stack" },
          h("div", { class: "card stack" }, h("h2", {}, "Profile"), name, prompt,
            h("label", { class: "row small" }, remember, "Remember facts about me from what I say"), save),
          h("div", { class: "card stack" }, h("div", { class: "row" }, h("h2", {}, "Memory"), h("span", { class: "spacer" }), forgetAll), memory),
          h("div", { class: "card stack" }, start, sessions)),
        pane));
    await Promise.all([loadMemory(), loadSessions()]).catch(fail);
    let stopMicrophone = () => {};
    if (ctx.params.id) {
      stopMicrophone = await mountSession(pane, ctx.params.id, fail, async () => { await loadMemory(); await loadSessions(); });
    } else pane.append(h("div", { class: "empty" }, "Choose a session, or start a new one."));
    root.dataset.ready = "voice";
    return () => stopMicrophone();
  },
};

function turnView(turn) {
  return h("div", { class: "voice-turn", "data-turn": turn.turn, "data-status": turn.status },
    h("div", { class: "message", "data-role": "user" }, h("div", { class: "small muted" }, "You"), turn.user_text || h("em", {}, turn.status === "no_input" ? "(nothing was heard)" : "…")),
    h("div", { class: "message", "data-role": "assistant" }, h("div", { class: "row small muted" }, "Sauti", h("span", { class: "spacer" }), statusBadge(turn.status)),
      h("div", { class: "bubble-text" }, turn.assistant_text || turn.error || ""),
      turn.audio.length ? h("div", { class: "chunks" }, turn.audio.map((c) => h("audio", { controls: true, preload: "none", src: c.url, title: c.text }))) : null,
      turn.observations_added.length ? h("div", { class: "small muted" }, `Remembered: ${turn.observations_added.join("; ")}`) : null));
}

async function mountSession(pane, sessionId, fail, refresh) {
  let session = await get(`/v1/voice/sessions/${sessionId}`);
  const turns = h("div", { class: "chat-log", id: "voice-turns" });
  const live = h("div", { class: "voice-live", id: "voice-live", "aria-live": "polite" });
  const text = h("input", { type: "text", id: "voice-text", placeholder: "Or type what to say…", "aria-label": "Typed turn" });
  const file = h("input", { type: "file", id: "voice-file", accept: "audio/*", "aria-label": "Speech file" });
  const send = h("button", { class: "primary", type: "button", id: "voice-send" }, "Send");
  const player = h("audio", { id: "voice-player" });
  const queue = [];

  function play(url) {
    queue.push(url);
    if (player.paused && queue.length === 1) { player.src = url; player.play().catch(() => {}); }
  }
  player.addEventListener("ended", () => { queue.shift(); if (queue.length) { player.src = queue[0]; player.play().catch(() => {}); } });

  function render() {
    fill(turns, session.turns.length ? session.turns.map(turnView) : h("div", { class: "empty" }, "Speak or type to start."));
  }

  async function turn(body) {
    send.disabled = true;
    fill(live, h("div", { class: "small muted" }, "Listening…"));
    let said = "";
    try {
      await postEvents(`/v1/voice/sessions/${sessionId}/turns`, body, (type, data) => {
        if (type === "user_transcript") fill(live, h("div", {}, h("strong", {}, "You: "), data.text || "(nothing heard)"), h("div", { class: "bubble-text" }));
        else if (type === "assistant_text") { said += data.delta; const target = live.querySelector(".bubble-text"); if (target) target.textContent = said; }
        else if (type === "assistant_audio") play(data.url);
        else if (type === "error") throw new Error(data.error);
      });
    } catch (error) { fail(error); }
    session = await get(`/v1/voice/sessions/${sessionId}`);
    render();
    live.replaceChildren();
    send.disabled = false;
    pane.dataset.turns = String(session.turns.length);
    refresh().catch(fail);
  }

  function speech(recorded) {
    const form = new FormData();
    form.append("file", recorded, recorded.name);
    form.append("stream", "true");
    return turn({ body: form });
  }

  const microphone = microphoneButton((recorded) => speech(recorded), fail, { label: "● Speak", id: "voice-record" });
  send.addEventListener("click", () => {
    if (file.files[0]) { const chosen = file.files[0]; file.value = ""; speech(chosen); }
    else if (text.value.trim()) { const typed = text.value.trim(); text.value = ""; turn({ json: { text: typed, stream: true } }); }
  });
  text.addEventListener("keydown", (e) => { if (e.key === "Enter") send.click(); });
  const end = h("button", { type: "button", id: "voice-end", disabled: session.ended }, session.ended ? "Ended" : "End session");
  end.addEventListener("click", async () => {
    try { session = await post(`/v1/voice/sessions/${sessionId}/end`, {}); end.disabled = true; end.textContent = "Ended"; refresh().catch(fail); } catch (error) { fail(error); }
  });
  pane.append(
    h("div", { class: "row" }, h("h2", {}, session.title || "Voice session"), h("span", { class: "spacer" }),
      h("a", { class: "button small", id: "voice-export-text", href: `/v1/voice/sessions/${sessionId}/export?format=text`, download: `voice-${sessionId}.txt` }, "Export text"),
      h("a", { class: "button small", href: `/v1/voice/sessions/${sessionId}/export?format=json`, download: `voice-${sessionId}.json` }, "Export JSON"), end),
    turns, live,
    session.ended ? h("div", { class: "small muted" }, "This session has ended.")
      : h("div", { class: "row" }, microphone.button, file, text, send),
    player);
  render();
  pane.dataset.ready = "session";
  return () => microphone.stop();
}
