// The folder picker dialog (moves).
import { api } from "mg/api.js";
import { openDialog } from "mg/dialogs.js";
import { $, el, showError, folderIcon } from "mg/dom.js";

// pickFolder lets the user browse folders and resolves to the chosen
// folder id (null for the library's root), or undefined when cancelled.
export function pickFolder({ title, action, exclude, current }) {
  const dlg = $("#folder-picker");
  const list = $(".picker-list", dlg);
  const trail = $(".picker-trail", dlg);
  const choose = $(".picker-choose", dlg);
  $("#folder-picker-title", dlg).textContent = title;
  let path = []; // [{id, name}] from the top
  let result;

  async function show() {
    const here = path.length ? path[path.length - 1] : null;
    trail.replaceChildren();
    const top = el("button", { type: "button", text: "Library" });
    top.addEventListener("click", () => { path = []; show(); });
    trail.append(top);
    path.forEach((f, i) => {
      const b = el("button", { type: "button", text: f.name });
      b.addEventListener("click", () => { path = path.slice(0, i + 1); show(); });
      trail.append(el("span", { class: "sep", text: "/", "aria-hidden": "true" }), b);
    });
    const hereID = here ? here.id : null;
    choose.textContent = here ? action + " “" + here.name + "”" : "Move to the library";
    choose.disabled = hereID === (current === undefined ? "\u0000" : current);
    list.replaceChildren(el("li", {}, el("span", { class: "muted", text: "Loading…" })));
    showError(dlg, "");
    try {
      const data = await api("GET", "/api/folders/" + (here ? here.id : "root") + "?limit=1");
      list.replaceChildren();
      for (const f of data.folders) {
        if (f.id === exclude) continue;
        const b = el("button", { type: "button", "data-folder": f.id });
        b.append(folderIcon(), el("span", { text: f.name }));
        b.addEventListener("click", () => { path.push({ id: f.id, name: f.name }); show(); });
        list.append(el("li", {}, b));
      }
      if (!list.children.length) list.append(el("li", {}, el("span", { class: "muted", text: "No folders in here." })));
      const first = $("button", list);
      if (first && document.activeElement === document.body) first.focus();
    } catch (err) {
      list.replaceChildren();
      showError(dlg, err.message);
    }
  }

  choose.onclick = () => {
    const here = path.length ? path[path.length - 1] : null;
    result = here ? here.id : null;
    dlg.close();
  };
  openDialog(dlg);
  show();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(result), { once: true });
  });
}
