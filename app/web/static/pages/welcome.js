// The first-run screen: what the server can do offline, whether its bundled models are in place,
// the analytics choice (nothing is sent anywhere either way), and "get started".
import { get, post, put, errorNotice } from "../api.js";
import { h, clear, fill, pageHead, statusBadge, bytes, when } from "../dom.js";

const FEATURES = [
  ["Transcribe", "Recordings to text with word timings, in many languages."],
  ["Who spoke when", "Diarization: one lane per speaker on a timeline."],
  ["Speech", "Text to natural speech with local voices."],
  ["Chat", "A small local language model, for summaries and chat."],
];

export default {
  id: "welcome",
  path: "/welcome",
  title: "Welcome",
  nav: true,
  icon: '<circle cx="12" cy="12" r="9"/><path d="M12 8h.01M11 12h1v5h1"/>',
  async mount(root, { navigate, setOnboarding }) {
    const messages = h("div", { class: "stack" });
    const fail = (error) => messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));
    const checks = h("ul", { class: "check-list", id: "bundled-models" }, h("li", { class: "muted" }, "Checking…"));
    const optIn = h("input", { type: "checkbox", id: "analytics-opt-in" });
    const done = h("span", { class: "small muted", id: "onboarding-state" });
    const start = h("button", { class: "primary", type: "button", id: "onboarding-complete" }, "Get started");
    let state = null;

    root.append(h("div", { class: "welcome" },
      pageHead("Welcome to Sauti", null),
      h("p", { class: "lead" }, "A voice-AI server that runs entirely on this machine. It works offline: no account, no cloud, no downloads needed to start."),
      messages,
      h("section", { class: "card" }, h("h2", {}, "What it can do offline"),
        h("div", { class: "features" }, FEATURES.map(([title, text]) => h("div", { class: "feature" }, h("strong", {}, title), h("div", { class: "small muted" }, text))))),
      h("section", { class: "card" }, h("h2", {}, "Bundled models"), h("p", { class: "small muted" }, "These come with the install and need no network."), checks),
      h("section", { class: "card" }, h("h2", {}, "Privacy"),
        h("p", {}, h("strong", {}, "Nothing is ever sent anywhere. "), "Your recordings, transcripts and speech stay in this server's data directory. Every change is recorded as an event you can inspect on the Audit page."),
        h("label", { class: "check", for: "analytics-opt-in" }, optIn, "Record that I am fine with anonymous usage statistics"),
        h("p", { class: "small muted" }, "Sauti has no analytics: this choice is only stored, so that nothing is ever added later without asking you first.")),
      h("div", { class: "row", style: { marginTop: "16px" } }, start, done)));

    optIn.addEventListener("change", async () => {
      try { await put("/v1/preferences/analytics", { opt_in: optIn.checked }); } catch (error) { fail(error); optIn.checked = !optIn.checked; }
    });
    start.addEventListener("click", async () => {
      try {
        state = await post("/v1/onboarding/complete");
        setOnboarding(state);
        navigate("/jobs");
      } catch (error) { fail(error); }
    });

    try {
      state = await get("/v1/onboarding");
      optIn.checked = state.analytics_opt_in;
      done.textContent = state.completed ? `Completed on ${when(state.completed_at)}` : "";
      if (state.completed) start.textContent = "Go to Jobs";
    } catch (error) { fail(error); }
    try {
      const bundled = (await get("/v1/admin/models")).data.filter((m) => m.source === "bundled");
      fill(checks, bundled.map((m) => h("li", { "data-variant": m.variant },
        statusBadge(m.status === "not_downloaded" ? "missing" : "ready"), h("strong", {}, m.variant),
        h("span", { class: "small muted" }, `${(m.modalities || []).join(", ").replaceAll("_", " ")} · ${bytes(m.size_bytes)}`))));
    } catch (error) { fill(checks, errorNotice(error)); }
    root.dataset.ready = "welcome";
  },
};
