// The one way pages talk to the server: its public API under /v1, as any other client would.
import { h } from "./dom.js";

export class ApiError extends Error {
  constructor(status, message, { param = null, type = null } = {}) {
    super(message);
    this.status = status;
    this.param = param;
    this.type = type;
  }
}

async function failure(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const error = body && body.error;
  if (error && error.message) return new ApiError(response.status, error.message, { param: error.param, type: error.type });
  return new ApiError(response.status, `The server answered ${response.status} ${response.statusText}.`);
}

/** The request early.js started for this GET while the modules loaded, once. */
function takeEarly(method, path, signal) {
  const early = window.sautiEarly;
  if (method !== "GET" || signal || !early || !(path in early)) return null;
  const started = early[path];
  delete early[path];
  return started;
}

/** fetch, with the contract's error envelope turned into an ApiError. `json` sends a JSON body. */
export async function request(path, { method = "GET", json, body, signal, raw = false } = {}) {
  const init = { method, signal, headers: { Accept: "application/json" } };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (body !== undefined) {
    init.body = body;
  }
  let response;
  try {
    response = await (takeEarly(method, path, signal) || fetch(path, init));
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "Cannot reach the Sauti server.");
  }
  if (!response.ok) throw await failure(response);
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const get = (path, options) => request(path, options);
export const post = (path, json, options = {}) => request(path, { ...options, method: "POST", json });
export const patch = (path, json) => request(path, { method: "PATCH", json });
export const put = (path, json) => request(path, { method: "PUT", json });
export const del = (path) => request(path, { method: "DELETE" });

const HINTS = {
  0: "Check that `sauti serve` is still running on this machine, then try again.",
  400: "Change what was sent and try again.",
  404: "It may have been deleted, or the link is out of date. Reload the list.",
  409: "It changed in the meantime (or is already in that state). Reload and try again.",
  413: "The file is too big for this route. Try a shorter or compressed recording.",
  415: "That kind of content is not accepted here.",
  500: "The server hit an error; its log (sauti serve's output) says more.",
  503: "The server is busy or not ready yet. Wait a moment and try again.",
};

/** The error in words a person can act on: what went wrong, and what to do about it. */
export function explain(error, title = "Something went wrong") {
  if (!(error instanceof ApiError)) return { title, message: String(error && error.message || error), hint: "" };
  const field = error.param ? ` (field “${error.param}”)` : "";
  return {
    title: error.status ? `The request was refused${field}` : "No connection",
    message: error.message,
    hint: HINTS[error.status] || HINTS[Math.floor(error.status / 100) * 100] || "",
  };
}

/** A notice box for an error, for pages to show inline. */
export function errorNotice(error, onClose, heading) {
  const { title, message, hint } = explain(error, heading);
  return h("div", { class: "notice error", role: "alert", "data-error-status": String(error && error.status || "") },
    h("div", {}, h("strong", {}, title), h("div", { class: "error-message" }, message), hint ? h("div", { class: "small muted" }, hint) : null),
    onClose ? h("button", { class: "ghost small close", "aria-label": "Dismiss", onclick: onClose }, "✕") : null);
}

/** Every page of a cursor-paginated list route ("records" + "pagination.next_cursor"). */
export async function listPage(path, { limit = 50, cursor = null, params = {} } = {}) {
  const query = new URLSearchParams({ limit: String(limit), ...params });
  if (cursor) query.set("cursor", cursor);
  return get(`${path}?${query}`);
}
