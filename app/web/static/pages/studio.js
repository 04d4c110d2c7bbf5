// Studio: long-form speech projects. The list (folders, projects, a new project from text) at
// #/studio, one project's editor (studio_editor.js) at #/studio/<id>.
import { get, post, errorNotice, listPage } from "../api.js";
import { h, append, fill, pageHead, ago } from "../dom.js";
import { mountEditor } from "../studio_editor.js";

export default {
  id: "studio",
  path: "/studio/:id?",
  title: "Studio",
  nav: true,
  icon: '<path d="M4 6h16M4 12h10M4 18h13"/><circle cx="19" cy="15" r="2"/>',
  async mount(root, ctx) {
    if (ctx.params.id) return mountEditor(root, ctx.params.id, ctx);
    return mountList(root, ctx);
  },
};

async function studioModels() {
  const models = (await get("/v1/admin/models")).data;
  return models.filter((m) => m.route_capabilities && m.route_capabilities.studio_projects);
}

async function mountList(root, { navigate }) {
  const messages = h("div", { class: "stack" });
  const fail = (error) => messages.replaceChildren(errorNotice(error, () => messages.replaceChildren()));
  const folders = h("ul", { class: "folder-list", id: "studio-folders" });
  const projects = h("div", { class: "history", id: "studio-projects" });
  const folderName = h("input", { type: "text", id: "studio-folder-name", placeholder: "New folder", "aria-label": "New folder name" });
  const name = h("input", { type: "text", id: "studio-name", required: true, placeholder: "Chapter one" });
  const text = h("textarea", { id: "studio-text", required: true, rows: 8, placeholder: "Paste the text. Blank lines separate paragraphs; each becomes a segment." });
  const model = h("select", { id: "studio-model" });
  const voice = h("input", { type: "text", id: "studio-voice", placeholder: "the model's own" });
  const folderChoice = h("select", { id: "studio-folder" }, h("option", { value: "" }, "No folder"));
  const create = h("button", { class: "primary", type: "submit", id: "studio-create" }, "Create project");
  let folder = "";

  async function loadFolders() {
    const page = await listPage("/v1/studio/folders", { limit: 100 });
    const item = (id, label) => h("li", {}, h("button", {
      type: "button", class: `ghost small${folder === id ? " active" : ""}`, "data-folder": id, "aria-pressed": String(folder === id),
      onclick: () => { folder = id; loadFolders(); loadProjects(); },
    }, label));
    fill(folders, item("", "All projects"), page.records.map((f) => item(f.id, f.name)));
    fill(folderChoice, h("option", { value: "" }, "No folder"), page.records.map((f) => h("option", { value: f.id, selected: f.id === folder }, f.name)));
  }

  async function loadProjects() {
    const page = await listPage("/v1/studio/projects", { limit: 100, params: folder ? { folder_id: folder } : {} });
    fill(projects, page.records.length ? page.records.map((p) => h("a", { class: "history-item", href: `#/studio/${p.id}`, "data-project": p.id },
      h("div", { class: "row" }, h("strong", {}, p.name), h("span", { class: "spacer" }), h("span", { class: "small muted" }, ago(p.updated_at))),
      h("div", { class: "small muted" }, `${p.segment_count} segments · ${p.model}`)))
      : h("p", { class: "muted" }, "No projects yet. Create one from a text."));
  }

  async function addFolder(event) {
    event.preventDefault();
    if (!folderName.value.trim()) return;
    try {
      const made = await post("/v1/studio/folders", { name: folderName.value.trim() });
      folderName.value = "";
      folder = made.id;
      await loadFolders();
      await loadProjects();
    } catch (error) { fail(error); }
  }

  async function createProject(event) {
    event.preventDefault();
    create.disabled = true;
    try {
      const body = { name: name.value.trim(), text: text.value };
      if (model.value) body.model = model.value;
      if (voice.value.trim()) body.voice = voice.value.trim();
      if (folderChoice.value) body.folder_id = folderChoice.value;
      const project = await post("/v1/studio/projects", body);
      navigate(`/studio/${project.id}`);
    } catch (error) { fail(error); }
    create.disabled = false;
  }

  root.append(
    pageHead("Studio", "Long-form speech: a text in segments, rendered once and re-rendered only where it changed."),
    messages,
    h("div", { class: "grid-2" },
      h("div", { class: "stack" },
        h("section", { class: "card", "aria-label": "Folders" }, h("h2", {}, "Folders"), folders,
          h("form", { class: "row", onsubmit: addFolder }, folderName, h("button", { type: "submit", class: "small" }, "Add folder"))),
        h("section", { class: "card", "aria-label": "Projects" }, h("h2", {}, "Projects"), projects)),
      h("form", { class: "card", onsubmit: createProject, "aria-label": "New project" },
        h("h2", {}, "New project"),
        h("div", { class: "field" }, h("label", { for: "studio-name" }, "Name"), name),
        h("div", { class: "field" }, h("label", { for: "studio-text" }, "Text"), text),
        h("div", { class: "row" },
          h("div", { class: "field spacer" }, h("label", { for: "studio-model" }, "Model"), model),
          h("div", { class: "field spacer" }, h("label", { for: "studio-voice" }, "Voice"), voice),
          h("div", { class: "field spacer" }, h("label", { for: "studio-folder" }, "Folder"), folderChoice)),
        h("div", { class: "row" }, create))));

  try {
    const models = await studioModels();
    append(model, [h("option", { value: "" }, "Default voice model"), models.map((m) =>
      h("option", { value: m.variant, disabled: m.status === "not_downloaded" }, `${m.variant}${m.status === "not_downloaded" ? " (not downloaded)" : ""}`))]);
    await loadFolders();
    await loadProjects();
  } catch (error) { fail(error); }
  root.dataset.ready = "studio";
}
