// The trash: what was deleted, until it is restored or purged. The page
// lists GET /api/trash; restoring puts an entry back where it was, with its
// access, links and public URL; "Delete forever" purges it after asking.
import { api } from "mg/api.js";
import { confirmAction } from "mg/dialogs.js";
import { $, el, humanSize, when, toast, showError, busy } from "mg/dom.js";

const PARALLEL = 4;

// restoreFromTrash restores ids, a few at a time, and answers as the batch
// endpoint does: a result per id, and how many went through.
export async function restoreFromTrash(ids) {
  const results = new Array(ids.length);
  let next = 0;
  async function worker() {
    while (next < ids.length) {
      const i = next++;
      try {
        await api("POST", "/api/trash/" + encodeURIComponent(ids[i]) + "/restore");
        results[i] = { id: ids[i], ok: true, status: 200 };
      } catch (err) {
        results[i] = { id: ids[i], ok: false, status: err.status || 0, code: err.code || "", error: err.message };
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL, ids.length) }, worker));
  const succeeded = results.filter((r) => r.ok).length;
  return { results, succeeded, failed: results.length - succeeded };
}

// deferUndo keeps, for the next page (deleting on a page leaves it), a
// notice that ids went to the trash, with an Undo.
export function deferUndo(text, ids) {
  try { sessionStorage.setItem("mg.undo", JSON.stringify({ text, ids })); } catch (_) { /* no notice then */ }
}

// showDeferredUndo shows in box the notice deferUndo kept, once; after
// runs when Undo has restored them.
export function showDeferredUndo(box, after) {
  let u = null;
  try {
    u = JSON.parse(sessionStorage.getItem("mg.undo") || "null");
    sessionStorage.removeItem("mg.undo");
  } catch (_) { /* none */ }
  if (!box || !u || !Array.isArray(u.ids) || !u.ids.length) return;
  const undo = el("button", { type: "button", class: "btn btn-small", "data-testid": "bulk-undo", text: "Undo" });
  const close = el("button", { type: "button", class: "btn btn-small btn-quiet", text: "Dismiss" });
  close.addEventListener("click", () => { box.hidden = true; });
  undo.addEventListener("click", async () => {
    busy(undo, true);
    const r = await restoreFromTrash(u.ids);
    const failed = r.results.filter((x) => !x.ok);
    box.replaceChildren(el("p", { text: failed.length ? "Could not restore: " + failed.map((x) => x.error).join("; ") : "Restored." }));
    box.classList.toggle("has-refusals", failed.length > 0);
    if (after) after();
  });
  box.replaceChildren(el("p", {}, el("strong", { text: u.text })), el("div", { class: "actions" }, undo, close));
  box.hidden = false;
}

export function initTrash() {
  const section = $("#trash");
  const body = $("tbody", section);
  const table = $("table", section);
  const empty = $("[data-testid=trash-empty]", section);

  async function load() {
    showError(section, "");
    let data;
    try {
      data = await api("GET", "/api/trash");
    } catch (err) {
      showError(section, err.message);
      return;
    }
    const entries = data.entries || [];
    body.replaceChildren(...entries.map(row));
    table.hidden = !entries.length;
    empty.hidden = !!entries.length;
    section.setAttribute("aria-busy", "false");
  }

  function row(e) {
    const restore = el("button", { type: "button", class: "btn btn-small", "data-testid": "trash-restore", "aria-label": "Restore " + e.name, text: "Restore" });
    const purge = el("button", { type: "button", class: "btn btn-small btn-danger-quiet", "data-testid": "trash-purge", "aria-label": "Delete " + e.name + " forever", text: "Delete forever" });
    restore.addEventListener("click", async () => {
      busy(restore, true);
      showError(section, "");
      try {
        const r = await api("POST", "/api/trash/" + encodeURIComponent(e.id) + "/restore");
        toast((r.kind === "folder" ? "Folder “" : "“") + r.name + "” restored." + (r.note ? " " + r.note : ""));
        await load();
      } catch (err) {
        showError(section, err.message);
        busy(restore, false);
      }
    });
    purge.addEventListener("click", async () => {
      const what = e.kind === "folder" ? "The folder “" + e.name + "” and everything in it" : "“" + e.name + "”";
      const ok = await confirmAction("Delete forever?", what + " will be deleted for good, with its access, share links and public URL. This can't be undone.", "Delete forever");
      if (!ok) return;
      busy(purge, true);
      showError(section, "");
      try {
        await api("DELETE", "/api/trash/" + encodeURIComponent(e.id));
        toast(e.name + " deleted forever.");
        await load();
      } catch (err) {
        showError(section, err.message);
        busy(purge, false);
      }
    });
    const icon = $("#icon-" + (e.kind === "folder" ? "folder" : "file"));
    const name = el("th", { scope: "row" }, el("span", { class: "trash-name" }, icon ? icon.content.firstElementChild.cloneNode(true) : null, el("span", { text: e.name })));
    return el("tr", { "data-id": e.id, "data-kind": e.kind, "data-testid": "trash-row" },
      name,
      el("td", { text: e.folder_path ? e.folder_path : "Library" }),
      el("td", {}, el("time", { datetime: e.deleted_at, text: when(e.deleted_at) }), e.deleted_by ? el("span", { class: "muted", text: " by " + e.deleted_by }) : null),
      el("td", { class: "num", text: humanSize(e.size || 0) }),
      el("td", {}, el("time", { datetime: e.purge_at, text: when(e.purge_at) })),
      el("td", { class: "row-actions" }, restore, purge));
  }

  load();
}
