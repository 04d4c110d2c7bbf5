// The shell: navigation, the hash router, the live event feed, the status bar and the theme.
// Pages are modules listed in pages/index.js; each exports {id, path, title, icon, nav, mount}.
import { get, errorNotice } from "./api.js";
import { h, clear, icon } from "./dom.js";
import { EventFeed } from "./live.js";
import { PAGES } from "./pages/index.js";
import { StatusBar } from "./status.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const feed = new EventFeed();
let unmount = null;
let onboarding = null;

/** "/transcribe/abc" against "/transcribe/:id?" → {id: "abc"}, or null. */
function match(pattern, path) {
  const want = pattern.split("/").filter(Boolean);
  const got = path.split("/").filter(Boolean);
  const params = {};
  for (let i = 0; i < Math.max(want.length, got.length); i += 1) {
    const part = want[i];
    if (part === undefined) return null;
    if (part.startsWith(":")) {
      const optional = part.endsWith("?");
      const name = part.slice(1, optional ? -1 : undefined);
      if (got[i] === undefined) { if (optional) continue; return null; }
      params[name] = decodeURIComponent(got[i]);
    } else if (part !== got[i]) return null;
  }
  return params;
}

export function navigate(path) {
  location.hash = `#${path}`;
}

function currentPath() {
  const path = location.hash.replace(/^#/, "") || "/";
  return path.startsWith("/") ? path : `/${path}`;
}

async function route() {
  let path = currentPath();
  if (path === "/") path = onboarding && !onboarding.completed ? "/welcome" : "/jobs";
  let page = null;
  let params = null;
  for (const candidate of PAGES) {
    params = match(candidate.path, path);
    if (params) { page = candidate; break; }
  }
  if (unmount) { try { unmount(); } catch (error) { console.error(error); } unmount = null; }
  clear(main);
  delete main.dataset.ready;
  for (const link of nav.querySelectorAll("a")) {
    link.toggleAttribute("aria-current", false);
    if (page && link.dataset.page === page.id) link.setAttribute("aria-current", "page");
  }
  if (!page) {
    main.append(h("div", { class: "card empty" }, h("h1", {}, "Page not found"),
      h("p", {}, "There is no page at ", h("code", {}, path), ". "), h("a", { href: "#/jobs" }, "Go to Jobs")));
    return;
  }
  document.title = `${page.title} · Sauti`;
  try {
    unmount = (await page.mount(main, { params, feed, navigate, onboarding: () => onboarding, setOnboarding })) || null;
  } catch (error) {
    console.error(error);
    main.append(errorNotice(error));
  }
}

function setOnboarding(state) {
  onboarding = state;
}

function buildNav() {
  for (const page of PAGES.filter((p) => p.nav)) {
    const href = `#${page.path.split("/:")[0]}`;
    nav.append(h("li", {}, h("a", { href, "data-page": page.id }, icon(page.icon), page.title)));
  }
}

function themeToggle() {
  const button = document.getElementById("theme-toggle");
  const order = ["auto", "light", "dark"];
  const show = () => {
    const theme = localStorage.getItem("sauti.theme") || "auto";
    button.textContent = `Theme: ${theme}`;
    button.setAttribute("aria-label", `Colour theme: ${theme}. Change theme`);
  };
  button.addEventListener("click", () => {
    const now = localStorage.getItem("sauti.theme") || "auto";
    const next = order[(order.indexOf(now) + 1) % order.length];
    if (next === "auto") { localStorage.removeItem("sauti.theme"); delete document.documentElement.dataset.theme; }
    else { localStorage.setItem("sauti.theme", next); document.documentElement.dataset.theme = next; }
    show();
  });
  show();
}

async function start() {
  buildNav();
  themeToggle();
  window.sauti = { feed, navigate, pages: PAGES };
  window.addEventListener("hashchange", route);
  // Only the bare "/" needs to know whether this is a first run; any other page opens at once.
  if (currentPath() === "/") onboarding = await get("/v1/onboarding").catch(() => null);
  await route();
  // Then the status bar; a page that follows the feed has started it at its list's position.
  const health = await get("/v1/health").catch(() => null);
  feed.start(health && health.database ? health.database.last_position : 0);
  new StatusBar(document.getElementById("statusbar"), feed, health);
  if (!onboarding) onboarding = await get("/v1/onboarding").catch(() => null);
}

start();
