// Work on many items of the library at once: a checkbox per item (a click,
// Space, shift-click for a range, Shift+Arrow to extend), "select all on
// this page", a toolbar that moves, deletes or gives access to the
// selection through POST /api/media/batch, and dragging items (one, or the
// selection) onto a folder of the side tree. Each batch ends in one
// summary: how many went through, and each refused item with its reason.
import { api, readable } from "mg/api.js";
import { openDialog } from "mg/dialogs.js";
import { $, $$, el, showError, busy } from "mg/dom.js";
import { syncWho } from "mg/grants.js";
import { pickFolder } from "mg/picker.js";
import { restoreFromTrash, showResult } from "mg/trash.js";

const BATCH = 500; // the API's most ids per call
const DRAG_TYPE = "application/x-mediagate-items";

// ITEMS_CHANGED is the event the library fires on document when it has
// added or replaced items (load more, a refresh).
export const ITEMS_CHANGED = "mg:items";

// initBulk wires the selection of the library's items; refresh reloads the
// listing in place (the items' DOM is new afterwards).
export function initBulk(refresh) {
  const bar = $("#bulk-bar");
  if (!bar) return;
  const all = $("[data-testid=select-all]", bar);
  const count = $(".bulk-count", bar);
  const buttons = $$("[data-bulk]", bar);
  const result = $("#bulk-result");
  const selected = new Set();
  let anchor = null; // the id a shift-click or Shift+Arrow extends from

  const items = () => $$(".items > .item[data-id]");
  const check = (li) => $(".item-check", li);

  // sync draws the selection: the checkboxes, the tiles, the count, the
  // toolbar and "select all".
  function sync() {
    const list = items();
    let on = 0;
    for (const li of list) {
      const c = check(li);
      const s = selected.has(li.dataset.id);
      if (c) c.checked = s;
      li.classList.toggle("is-selected", s);
      if (s) on++;
    }
    // An item no longer listed (moved away, deleted) is no longer selected.
    for (const id of selected) if (!list.some((li) => li.dataset.id === id)) selected.delete(id);
    const text = selected.size ? selected.size + " selected" : "None selected";
    if (count.textContent !== text) count.textContent = text;
    buttons.forEach((b) => { b.disabled = selected.size === 0; });
    all.checked = list.length > 0 && on === list.length;
    all.indeterminate = on > 0 && on < list.length;
    all.disabled = list.length === 0;
    bar.hidden = list.length === 0;
  }

  function set(li, on) {
    if (on) selected.add(li.dataset.id);
    else selected.delete(li.dataset.id);
  }

  // range sets every item from the anchor to li as on.
  function range(li, on) {
    const list = items();
    const from = list.findIndex((x) => x.dataset.id === anchor);
    const to = list.indexOf(li);
    if (from < 0 || to < 0) { set(li, on); return; }
    const [a, b] = from < to ? [from, to] : [to, from];
    for (let i = a; i <= b; i++) set(list[i], on);
  }

  const content = $(".content");
  // A click on a checkbox: shift extends from the last one clicked. The
  // checkbox has already changed by then.
  content.addEventListener("click", (e) => {
    const c = e.target.closest(".item-check");
    if (!c) return;
    const li = c.closest(".item");
    if (e.shiftKey && anchor) range(li, c.checked);
    else set(li, c.checked);
    anchor = li.dataset.id;
    sync();
  });
  // Arrow keys move between the checkboxes; with Shift they extend the
  // selection from the anchor. Space toggles, as a checkbox does.
  content.addEventListener("keydown", (e) => {
    const c = e.target.closest(".item-check");
    if (!c || !["ArrowDown", "ArrowRight", "ArrowUp", "ArrowLeft"].includes(e.key)) return;
    const list = items();
    const i = list.indexOf(c.closest(".item"));
    const next = list[i + (e.key === "ArrowDown" || e.key === "ArrowRight" ? 1 : -1)];
    e.preventDefault();
    if (!next) return;
    if (e.shiftKey) {
      if (!anchor) { anchor = list[i].dataset.id; set(list[i], true); }
      // Back towards the anchor unselects what is left behind.
      for (const li of list) selected.delete(li.dataset.id);
      range(next, true);
      sync();
    }
    check(next).focus();
  });
  all.addEventListener("change", () => {
    for (const li of items()) set(li, all.checked);
    anchor = null;
    sync();
  });
  $("[data-action=bulk-clear]", bar).addEventListener("click", () => { selected.clear(); anchor = null; sync(); });

  // ids are the selected ones, in the page's order.
  const ids = () => items().map((li) => li.dataset.id).filter((id) => selected.has(id));
  const nameOf = (id) => {
    const li = items().find((x) => x.dataset.id === id);
    return li ? $(".item-name", li).textContent : id;
  };

  // run sends one action for ids (in calls of at most BATCH) and adds up
  // the answers.
  async function run(body, list) {
    const out = { results: [], succeeded: 0, failed: 0 };
    for (let i = 0; i < list.length; i += BATCH) {
      const r = await api("POST", "/api/media/batch", { ...body, ids: list.slice(i, i + BATCH) });
      out.results.push(...r.results);
      out.succeeded += r.succeeded;
      out.failed += r.failed;
    }
    return out;
  }

  // summarize shows what a batch did; names come from the page as it was
  // before the batch changed it. undo, when given, is offered beside.
  function summarize(done, r, names, undo) {
    const refused = r.results.filter((x) => !x.ok);
    const more = refused.length ? el("ul", { class: "bulk-refused", "data-testid": "bulk-refused" },
      ...refused.map((x) => el("li", { "data-id": x.id }, el("strong", { text: names.get(x.id) || x.id }), ": " + reason(x)))) : null;
    showResult(result, r.succeeded + " " + done, { refused: refused.length, more, undo: undo && r.succeeded ? undo : null });
  }

  // act runs a batch on list and shows its summary. The refused ones stay
  // selected, so the next try is on them alone.
  async function act(body, list, done, undo) {
    const names = new Map(list.map((id) => [id, nameOf(id)]));
    buttons.forEach((b) => busy(b, true));
    try {
      const r = await run(body, list);
      selected.clear();
      for (const x of r.results) if (!x.ok) selected.add(x.id);
      await refresh();
      summarize(done, r, names, undo && ((btn) => undo(btn, r.results.filter((x) => x.ok).map((x) => x.id), names)));
      return r;
    } catch (err) {
      result.replaceChildren(el("p", { class: "error", role: "alert", text: err.message }));
      result.hidden = false;
    } finally {
      sync();
    }
  }

  const move = (list, folder) => act({ action: "move", folder: folder || "" }, list, "moved");

  $("[data-action=bulk-move]", bar).addEventListener("click", async () => {
    const list = ids();
    if (!list.length) return;
    const target = await pickFolder({ title: "Move " + plural(list.length) + " to…", action: "Move into" });
    if (target === undefined) return;
    move(list, target);
  });

  $("[data-action=bulk-delete]", bar).addEventListener("click", async () => {
    const list = ids();
    if (!list.length) return;
    // Nothing is lost: the trash keeps them, and the summary offers Undo.
    act({ action: "delete" }, list, "moved to the trash", async (btn, done, names) => {
      busy(btn, true);
      const r = await restoreFromTrash(done);
      await refresh();
      summarize("restored", r, names);
    });
  });

  const grantDialog = $("#bulk-grant-dialog");
  $("[data-action=bulk-grant]", bar).addEventListener("click", () => {
    const form = $("form", grantDialog);
    $("#bulk-grant-title", grantDialog).textContent = "Give access to " + plural(ids().length);
    const type = $("[name=type]", form);
    const name = $("[name=name]", form);
    const syncType = () => syncWho(type, name, name.closest(".field"));
    type.onchange = syncType;
    syncType();
    form.onsubmit = async (e) => {
      e.preventDefault();
      const n = name.value.trim();
      if (type.value !== "everyone" && !n) { showError(form, "Say who: an email or a group name."); name.focus(); return; }
      const subject = type.value === "everyone" ? "everyone" : type.value + ":" + n;
      grantDialog.close();
      act({ action: "grant", subject, level: $("[name=level]", form).value }, ids(), "given access");
    };
    openDialog(grantDialog);
    name.focus();
  });

  // Drag an item, or the selection it is part of, onto a folder of the
  // side tree, a folder tile or "Library" (the root).
  content.addEventListener("dragstart", (e) => {
    const li = e.target.closest && e.target.closest(".items > .item[data-id]");
    if (!li) return;
    const list = selected.has(li.dataset.id) ? ids() : [li.dataset.id];
    e.dataTransfer.setData(DRAG_TYPE, JSON.stringify(list));
    e.dataTransfer.setData("text/plain", list.map(nameOf).join("\n"));
    e.dataTransfer.effectAllowed = "move";
    li.classList.add("is-dragged");
  });
  content.addEventListener("dragend", () => $$(".is-dragged").forEach((x) => x.classList.remove("is-dragged")));
  const target = (e) => {
    const a = e.target.closest && e.target.closest(".sidebar .tree a, .sidebar [data-drop-root], .folder-tile");
    return a && e.dataTransfer && Array.from(e.dataTransfer.types || []).includes(DRAG_TYPE) ? a : null;
  };
  const folderOf = (a) => (a.hasAttribute("data-drop-root") ? "" : new URL(a.href, location.href).searchParams.get("folder"));
  document.addEventListener("dragover", (e) => {
    const a = target(e);
    if (!a) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    $$(".is-drop").forEach((x) => { if (x !== a) x.classList.remove("is-drop"); });
    a.classList.add("is-drop");
  });
  document.addEventListener("dragleave", (e) => {
    const a = target(e);
    if (a && !a.contains(e.relatedTarget)) a.classList.remove("is-drop");
  });
  document.addEventListener("drop", (e) => {
    const a = target(e);
    if (!a) return;
    e.preventDefault();
    a.classList.remove("is-drop");
    let list;
    try { list = JSON.parse(e.dataTransfer.getData(DRAG_TYPE)); } catch (_) { return; }
    if (!Array.isArray(list) || !list.length) return;
    move(list, folderOf(a));
  });

  // What load-more and refresh add gets the same treatment.
  document.addEventListener(ITEMS_CHANGED, () => { markDraggable(); sync(); });
  function markDraggable() {
    for (const li of items()) if (!li.draggable) li.draggable = true;
  }
  markDraggable();
  sync();
}

function plural(n) {
  return n === 1 ? "1 item" : n + " items";
}

// reason is why the API refused one id, as a sentence.
function reason(x) {
  if (x.error) return readable(x.error);
  return x.status === 403 ? "You may not do that." : x.status === 404 ? "It is gone." : "Refused (" + x.status + ").";
}
