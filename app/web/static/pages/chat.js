// Chat: durable threads (the list, one thread's messages, the reply streamed in as it is written),
// audio attachments (stored under /v1/media first, read as their transcripts), and agent sessions,
// whose turns show their plan, their tool calls and the recordings they cite.
import { get, post, errorNotice, listPage } from "../api.js";
import { h, fill, pageHead, ago } from "../dom.js";
import { postEvents } from "../live.js";

export default {
  id: "chat",
  path: "/chat/:id?",
  title: "Chat",
  nav: true,
  icon: '<path d="M4 5h16v11H9l-5 4z"/>',
  async mount(root, ctx) {
    const messages = h("div", { class: "stack" });
    const fail = (error) => messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));
    const list = h("div", { class: "history", id: "chat-threads" });
    const agent = h("select", { id: "chat-agent", "aria-label": "Agent" },
      h("option", { value: "" }, "Plain chat"), h("option", { value: "sauti" }, "Agent: ask my recordings"));
    const create = h("button", { class: "primary", type: "button", id: "chat-new" }, "New chat");
    const pane = h("section", { class: "card stack chat-pane", id: "chat-thread" });

    async function loadThreads() {
      const page = await listPage("/v1/chat/threads", { limit: 50 });
      fill(list, page.records.length ? page.records.map((t) => h("a", {
        class: `history-item${t.id === ctx.params.id ? " current" : ""}`, href: `#/chat/${t.id}`, "data-thread": t.id },
      h("div", { class: "row" }, h("strong", {}, t.title), h("span", { class: "spacer" }),
        h("span", { class: "small muted" }, `${t.message_count} messages · ${ago(t.updated_at)}`)),
      t.last_message ? h("div", { class: "small muted" }, t.last_message.slice(0, 120)) : null))
        : h("div", { class: "empty" }, "No chats yet."));
    }

    create.addEventListener("click", async () => {
      try {
        const made = agent.value
          ? await post("/v1/agent/sessions", { agent_id: agent.value })
          : await post("/v1/chat/threads", {});
        ctx.navigate(`/chat/${agent.value ? made.thread_id : made.id}`);
      } catch (error) { fail(error); }
    });

    root.append(pageHead("Chat", "Conversations that last: every thread is kept, and replies are made on this machine."),
      messages,
      h("div", { class: "chat-layout" },
        h("aside", { class: "card stack" }, h("div", { class: "row" }, agent, create), list),
        pane));
    await loadThreads().catch(fail);
    if (ctx.params.id) await mountThread(pane, ctx.params.id, fail, loadThreads);
    else pane.append(h("div", { class: "empty" }, "Choose a chat, or start a new one."));
    root.dataset.ready = "chat";
  },
};

function attachmentView(attachment) {
  return h("div", { class: "attachment" }, h("audio", { controls: true, preload: "none", src: attachment.url }),
    attachment.transcript ? h("div", { class: "small muted" }, `Heard: ${attachment.transcript}`) : null);
}

function bubble(role, text, extra = []) {
  const body = h("div", { class: "bubble-text" }, text || "");
  return { el: h("div", { class: "message", "data-role": role }, h("div", { class: "small muted" }, role === "user" ? "You" : "Sauti"), body, ...extra), body };
}

function agentDetails(turn) {
  const parts = [];
  if (turn.plan && turn.plan.length) {
    parts.push(h("details", { class: "plan", open: true }, h("summary", {}, "Plan"), h("ol", {}, turn.plan.map((step) => h("li", {}, step)))));
  }
  for (const call of turn.tool_calls || []) {
    parts.push(h("details", { class: "tool-call", "data-tool": call.name },
      h("summary", {}, `${call.runs_on === "client" ? "Asked the client to call" : "Called"} ${call.name}(${JSON.stringify(call.arguments)})`),
      h("pre", { class: "small" }, JSON.stringify(call.error ? { error: call.error } : call.result, null, 2))));
  }
  if (turn.citations && turn.citations.length) {
    parts.push(h("div", { class: "citations small" }, "From ",
      turn.citations.slice(0, 3).map((c, i) => [i ? ", " : "", h("a", { href: `#/transcribe/${c.record_id}`, "data-record": c.record_id },
        `${c.title}${c.start !== undefined && c.start !== null ? ` at ${Math.round(c.start)} s` : ""}`)])));
  }
  return parts;
}

async function readAsDataUrl(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function mountThread(pane, threadId, fail, refreshList) {
  let thread = await get(`/v1/chat/threads/${threadId}`);
  const sessionId = thread.agent_session_id;
  const title = h("h2", { id: "chat-title" }, thread.title);
  const log = h("div", { class: "chat-log", id: "chat-messages" });
  const input = h("textarea", { id: "chat-input", placeholder: sessionId ? "Ask about your recordings…" : "Write a message…", rows: 3 });
  const attach = h("input", { type: "file", id: "chat-attach", accept: "audio/*", "aria-label": "Attach audio" });
  const send = h("button", { class: "primary", type: "submit", id: "chat-send" }, "Send");

  async function render() {
    const shown = [];
    const turns = sessionId ? new Map((await get(`/v1/agent/sessions/${sessionId}`)).turns.map((t) => [t.turn, t])) : new Map();
    for (const message of thread.messages) {
      if (message.role === "user") {
        const failed = message.reply && ["failed", "error", "cancelled"].includes(message.reply.status);
        shown.push(bubble("user", message.content, [
          ...message.attachments.map(attachmentView),
          failed ? h("div", { class: "small bad" }, `No reply: ${message.reply.error || message.reply.status}`) : null]).el);
      } else {
        const turn = turns.get(message.turn);
        shown.push(bubble("assistant", message.content, turn ? agentDetails(turn) : []).el);
      }
    }
    fill(log, shown.length ? shown : h("div", { class: "empty" }, "Say something to start."));
    log.scrollTop = log.scrollHeight;
  }

  async function submit(event) {
    event.preventDefault();
    const text = input.value.trim();
    const file = attach.files[0];
    if (!text && !file) return;
    send.disabled = true;
    const mine = bubble("user", text);
    const answer = bubble("assistant", "…");
    answer.el.dataset.streaming = "true";
    if (log.querySelector(".empty")) log.replaceChildren();
    log.append(mine.el, answer.el);
    input.value = "";
    try {
      if (sessionId) {
        let written = "";
        await postEvents(`/v1/agent/sessions/${sessionId}/turns`, { json: { input: text, stream: true } }, (type, data) => {
          if (type === "plan_created") answer.body.textContent = `Planning: ${data.steps.join("; ")}`;
          else if (type === "tool_call_started") answer.body.textContent = `Calling ${data.name}…`;
          else if (type === "assistant_message") { written = data.text; answer.body.textContent = written; }
          else if (type === "error") throw new Error(data.error);
        });
      } else {
        const body = { content: text, stream: true };
        if (file) {
          const stored = await post("/v1/media", { data_base64: await readAsDataUrl(file), filename: file.name, namespace: `chat/${threadId}` });
          body.content_parts = [...(text ? [{ type: "text", text }] : []), { type: "audio_url", audio_url: { url: stored.url } }];
          delete body.content;
        }
        let written = "";
        await postEvents(`/v1/chat/threads/${threadId}/messages`, { json: body }, (type, data) => {
          if (type === "delta") { written += data.delta; answer.body.textContent = written; }
          else if (type === "error") throw new Error(data.error);
        });
      }
    } catch (error) { fail(error); }
    attach.value = "";
    send.disabled = false;
    thread = await get(`/v1/chat/threads/${threadId}`);
    title.textContent = thread.title;
    await render();
    pane.dataset.replies = String(Number(pane.dataset.replies || 0) + 1);
    refreshList().catch(fail);
  }

  const form = h("form", { class: "stack", id: "chat-form", onsubmit: submit }, input,
    h("div", { class: "row" }, sessionId ? h("span", { class: "small muted" }, "Agent session: it can search your recordings, read transcripts, speak and tell the time.")
      : h("label", { class: "small" }, "Attach audio ", attach), h("span", { class: "spacer" }), send));
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); } });
  pane.append(title, log, form);
  await render();
  pane.dataset.ready = "thread";
}
