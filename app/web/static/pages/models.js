// Models: every variant's status, size and capabilities; download (live progress), cancel, load,
// unload, delete.
import { get, post, del, errorNotice } from "../api.js";
import { h, clear, fill, pageHead, statusBadge, progressBar, bytes } from "../dom.js";
import { LiveStream } from "../live.js";

const base = (variant) => `/v1/admin/models/${encodeURIComponent(variant)}`;

export default {
  id: "models",
  path: "/models",
  title: "Models",
  nav: true,
  icon: '<path d="M12 3l8 4.5v9L12 21l-8-4.5v-9z"/><path d="M12 12l8-4.5M12 12v9M12 12L4 7.5"/>',
  async mount(root, { feed }) {
    const messages = h("div", { class: "stack" });
    const grid = h("div", { class: "models", id: "models" });
    const cards = new Map();
    const follows = new Map();
    const fail = (error) => messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));

    function follow(variant) {
      if (follows.has(variant)) return;
      const stream = new LiveStream(`${base(variant)}/download/progress`, ({ data }) => {
        const card = cards.get(variant);
        if (card && data && typeof data.percent === "number") card.progress(data);
        if (data && data.status && data.status !== "downloading") { follows.delete(variant); stream.close(); refresh(variant); }
      }, { once: true });
      follows.set(variant, stream);
    }

    async function act(variant, action) {
      try {
        if (action === "download") { await post(`${base(variant)}/download`); follow(variant); }
        else if (action === "delete") {
          if (!confirm(`Delete the files of ${variant}? It can be downloaded again.`)) return;
          await del(base(variant));
        } else await post(`${base(variant)}/${action}`);
        await refresh(variant);
      } catch (error) { fail(error); }
    }

    async function refresh(variant) {
      try { render(await get(base(variant))); } catch (error) { fail(error); }
    }

    function render(model) {
      let card = cards.get(model.variant);
      if (!card) {
        card = h("article", { class: "card model", "data-variant": model.variant });
        cards.set(model.variant, card);
        grid.append(card);
      }
      const bar = progressBar(`Download of ${model.variant}`);
      const progressText = h("div", { class: "small muted" });
      card.progress = (p) => {
        bar.set(p.percent, p.status === "completed" ? "done" : "");
        progressText.textContent = p.total_bytes ? `${bytes(p.downloaded_bytes)} of ${bytes(p.total_bytes)}${p.current_file ? ` · ${p.current_file}` : ""}` : "Starting…";
      };
      const caps = Object.entries(model.route_capabilities || {}).filter(([, on]) => on).map(([name]) => name);
      const loaded = (model.loaded_workers || []).length > 0;
      const s = model.status;
      const button = (action, label, cls = "small") => h("button", { class: cls, type: "button", "data-action": action, onclick: () => act(model.variant, action) }, label);
      fill(card, 
        h("div", { class: "row" }, h("h2", { style: { margin: 0 } }, model.variant), h("span", { class: "spacer" }), statusBadge(loaded ? "ready" : s)),
        model.description ? h("p", { class: "desc" }, model.description) : null,
        h("div", { class: "small muted" }, [model.family, model.source, bytes(model.size_bytes)].filter(Boolean).join(" · ")),
        h("div", { class: "caps" }, (model.modalities || []).map((m) => h("span", { class: "badge kind" }, m.replaceAll("_", " ")))),
        caps.length ? h("div", { class: "small muted", title: caps.join(", ") }, "Used for: ", caps.map((c) => c.replaceAll("_", " ")).join(", ")) : null,
        s === "downloading" ? h("div", {}, bar, progressText) : null,
        model.error ? errorNotice(new Error(model.error)) : null,
        h("div", { class: "row" },
          s === "not_downloaded" || s === "error" ? button("download", "Download", "small primary") : null,
          s === "downloading" ? button("download/cancel", "Cancel download", "small danger") : null,
          s === "downloaded" || s === "ready" ? (loaded ? button("unload", "Unload") : button("load", "Load")) : null,
          (s === "downloaded" || s === "ready") && model.source !== "bundled" ? button("delete", "Delete", "small danger") : null));
      if (s === "downloading") { card.progress(model.download || { percent: 0 }); follow(model.variant); }
    }

    root.append(pageHead("Models", "What this server can run. Bundled models work offline from the first start."), messages, grid);
    try {
      const list = (await get("/v1/admin/models")).data;
      list.forEach(render);
    } catch (error) { fail(error); }
    const off = feed.on((event) => {
      if (event.stream_id.startsWith("model-") && !/download_progressed$/.test(event.type)) {
        const variant = event.stream_id.slice("model-".length);
        if (cards.has(variant)) refresh(variant);
      }
    });
    root.dataset.ready = "models";
    return () => { off(); for (const s of follows.values()) s.close(); };
  },
};
