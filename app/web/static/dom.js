// Small DOM helpers shared by every page: element building, formatting, toasts.

/** h("button", {class: "primary", onclick}, "Save") — attributes, properties (on*, value) and children. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "html") el.innerHTML = value;
    else if (key === "style" && typeof value === "object") {
      for (const [name, v] of Object.entries(value)) {
        if (name.startsWith("--")) el.style.setProperty(name, v);
        else el.style[name] = v;
      }
    }
    else if (key in el && !key.startsWith("aria") && !key.startsWith("data") && key !== "list" && key !== "for")
      el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

export function icon(svgPaths) {
  const span = document.createElement("span");
  span.innerHTML = `<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">${svgPaths}</svg>`;
  return span.firstChild;
}

export function pageHead(title, subtitle, ...actions) {
  return h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, title), subtitle ? h("p", {}, subtitle) : null),
    h("div", { class: "row" }, ...actions));
}

export function bytes(n) {
  if (!n) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${n.toFixed(n < 10 && i > 0 ? 1 : 0)} ${units[i]}`;
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "–:––";
  const s = Math.max(0, seconds);
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.floor(s % 60)).padStart(2, "0")}`;
}

// One formatter each: toLocaleString() builds a new one per call, which a list of rows feels.
const DAY = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });
const MOMENT = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function ago(unixSeconds) {
  if (!unixSeconds) return "";
  const diff = Date.now() / 1000 - unixSeconds;
  if (diff < 45) return "just now";
  if (diff < 3600) return `${Math.round(diff / 60)} min ago`;
  if (diff < 86400) return `${Math.round(diff / 3600)} h ago`;
  return DAY.format(unixSeconds * 1000);
}

export function when(unixSeconds) {
  return unixSeconds ? MOMENT.format(unixSeconds * 1000) : "";
}

const STATUS_TONES = {
  completed: "ok", ready: "ok", downloaded: "ok",
  failed: "bad", error: "bad", stale: "bad",
  cancelled: "warn", retrying: "warn", cancelling: "warn",
  running: "run", processing: "run", downloading: "run", loading: "run", started: "run",
  rendered: "ok", synthesized: "ok", enabled: "ok", unchanged: "ok", rendering: "run", exporting: "run",
  "not rendered": "warn", disabled: "warn",
};

/** A status as a badge: its word is always shown, colour only adds to it. */
export function statusBadge(status) {
  return h("span", { class: `badge ${STATUS_TONES[status] || ""}`, "data-status": status }, status.replaceAll("_", " "));
}

/** A progress bar with its percentage in words (an <output>), for screen readers too. */
export function progressBar(label) {
  const fill = h("span");
  const bar = h("div", { class: "bar", role: "progressbar", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, fill);
  const text = h("output", {}, "0 %");
  const el = h("div", { class: "progress" }, bar, text);
  el.set = (percent, state = "") => {
    const value = Math.max(0, Math.min(100, Math.round(percent || 0)));
    fill.style.width = `${value}%`;
    bar.setAttribute("aria-valuenow", String(value));
    bar.className = `bar ${state}`;
    text.textContent = `${value} %`;
  };
  return el;
}

export function download(filename, content, type) {
  const url = URL.createObjectURL(content instanceof Blob ? content : new Blob([content], { type }));
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 5000);
}

export function toast(message, tone = "info", timeout = 6000) {
  const box = document.getElementById("toasts");
  const close = h("button", { class: "ghost small close", "aria-label": "Dismiss", onclick: () => item.remove() }, "✕");
  const item = h("div", { class: `notice toast ${tone}` }, h("div", {}, message), close);
  box.append(item);
  if (timeout) setTimeout(() => item.remove(), timeout);
  return item;
}

/** Replace an element's children (arrays flattened, null and false left out). */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
