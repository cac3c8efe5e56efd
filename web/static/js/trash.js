// The trash: what was deleted, until it is restored or purged. Restoring
// puts an entry back where it was, with its access, links and public URL;
// "Delete forever" purges it after asking. Deleting elsewhere leaves an
// Undo (deferUndo) that restores the same way.
import { api } from "mg/api.js";
import { confirmAction } from "mg/dialogs.js";
import { $, $$, el, toast, showError, busy, nextPage } from "mg/dom.js";

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

// showResult fills box (the library's #bulk-result) with a result: head in
// bold, " · n refused:" when refused is n > 0, then more (the refused list,
// say), then Undo (when undo is given; it gets the button) and Dismiss.
export function showResult(box, head, { refused = 0, more = null, undo = null } = {}) {
  const p = el("p", { class: "bulk-result-head" }, el("strong", { text: head }));
  if (refused) p.append(" · " + refused + " refused:");
  const wrap = el("div", {}, p);
  if (more) wrap.append(more);
  const actions = el("div", { class: "actions" });
  if (undo) {
    const u = el("button", { type: "button", class: "btn btn-small", "data-testid": "bulk-undo", text: "Undo" });
    u.addEventListener("click", () => undo(u));
    actions.append(u);
  }
  const close = el("button", { type: "button", class: "btn btn-small btn-quiet", "data-testid": "bulk-result-close", text: "Dismiss" });
  close.addEventListener("click", () => { box.hidden = true; });
  actions.append(close);
  wrap.append(actions);
  box.replaceChildren(wrap);
  box.classList.toggle("has-refusals", refused > 0);
  box.hidden = false;
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
  showResult(box, u.text, {
    undo: async (undo) => {
      busy(undo, true);
      const r = await restoreFromTrash(u.ids);
      const failed = r.results.filter((x) => !x.ok);
      box.replaceChildren(el("p", { text: failed.length ? "Could not restore: " + failed.map((x) => x.error).join("; ") : "Restored." }));
      box.classList.toggle("has-refusals", failed.length > 0);
      if (after) after();
    },
  });
}

// initTrash wires the rows the server listed: Restore, and Delete forever
// after asking. A row goes once its entry is back or gone.
export function initTrash() {
  const section = $("#trash");
  const table = $("table", section);
  const empty = $("[data-testid=trash-empty]", section);

  function gone(row) {
    row.remove();
    const left = $("tbody tr", table);
    const more = $("[data-action=trash-more]", section);
    if (!left && more) {
      loadMore(more); // the next page may hold entries still
      return;
    }
    shown();
  }

  // shown shows the table, or the empty state when it has no rows, and
  // puts the focus on the first row's first button (or the page).
  function shown() {
    const first = $("tbody tr", table);
    table.hidden = !first;
    empty.hidden = !!first;
    (first ? $("button", first) : $("#main")).focus();
  }

  // loadMore fetches the next page as HTML and appends its rows, so there
  // is one template for both (as the library does).
  async function loadMore(link) {
    const holder = link.closest(".more");
    const loading = link.getAttribute("aria-disabled") === "true";
    const doc = await nextPage(link);
    if (!doc) {
      if (!loading) link.focus(); // failed: try again from there
      return;
    }
    const fresh = $$("#trash tbody > tr", doc).map((tr) => document.adoptNode(tr));
    $("tbody", table).append(...fresh);
    const next = $("#trash .more", doc);
    if (next) holder.replaceWith(document.adoptNode(next));
    else holder.remove();
    if (fresh.length) {
      table.hidden = false;
      empty.hidden = true;
      $("button", fresh[0]).focus();
    } else {
      shown();
    }
  }

  async function act(button, fn) {
    busy(button, true);
    showError(section, "");
    try {
      await fn();
      gone(button.closest("tr"));
    } catch (err) {
      showError(section, err.message);
      busy(button, false);
    }
  }

  section.addEventListener("click", async (e) => {
    const more = e.target.closest("[data-action=trash-more]");
    if (more) {
      e.preventDefault();
      loadMore(more);
      return;
    }
    const button = e.target.closest("[data-action=trash-restore], [data-action=trash-purge]");
    if (!button) return;
    const row = button.closest("tr");
    const { id, kind, name } = row.dataset;
    const path = "/api/trash/" + encodeURIComponent(id);
    if (button.dataset.action === "trash-restore") {
      act(button, async () => {
        const r = await api("POST", path + "/restore");
        toast((kind === "folder" ? "Folder “" : "“") + r.name + "” restored." + (r.note ? " " + r.note : ""));
      });
      return;
    }
    const what = kind === "folder" ? "The folder “" + name + "” and everything in it" : "“" + name + "”";
    const ok = await confirmAction("Delete forever?", what + " will be deleted for good, with its access, share links and public URL. This can't be undone.", "Delete forever");
    if (!ok) return;
    act(button, async () => {
      await api("DELETE", path);
      toast(name + " deleted forever.");
    });
  });
}
