// The library page: folders, the side tree, previews of pending tiles,
// loading more, and the folder actions.
import { api } from "mg/api.js";
import { openDialog, confirmAction } from "mg/dialogs.js";
import { $, $$, el, toast, showError, busy, nextPage } from "mg/dom.js";
import { initGrants } from "mg/grants.js";
import { pickFolder } from "mg/picker.js";
import { initLinks } from "mg/share.js";
import { initUploads } from "mg/upload.js";
import { initBulk, ITEMS_CHANGED } from "mg/bulk.js";
import { deferUndo, showDeferredUndo } from "mg/trash.js";

export function initLibrary() {
  const lib = $(".library");
  const folder = lib.dataset.folder || null;

  // Grid or list, remembered.
  const setView = (v) => {
    document.documentElement.classList.toggle("view-list", v === "list");
    $$("[data-view]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === v)));
    try { localStorage.setItem("mg.view", v); } catch (_) { /* fine */ }
  };
  setView(document.documentElement.classList.contains("view-list") ? "list" : "grid");
  $$("[data-view]").forEach((b) => b.addEventListener("click", () => setView(b.dataset.view)));

  // The sort select only chooses; Apply (or Enter) reloads (WCAG 3.2.2).

  previews.watch();
  document.addEventListener("click", (e) => {
    const more = e.target.closest("[data-action=load-more]");
    if (more) { e.preventDefault(); loadMore(more); }
  });
  initTree();

  const act = (name, fn) => { const b = $(`[data-action=${name}]`); if (b) b.addEventListener("click", () => fn(b)); };
  act("new-folder", () => folderDialog("create"));
  act("rename-folder", () => folderDialog("rename"));
  act("move-folder", moveFolder);
  act("delete-folder", deleteFolder);
  act("folder-links", () => {
    const dlg = $("#folder-links-dialog");
    openDialog(dlg);
    if (!dlg.dataset.ready) {
      dlg.dataset.ready = "1";
      initLinks($("#links", dlg), "/api/folders/" + folder);
    }
  });
  act("share-folder", () => {
    const dlg = $("#access-dialog");
    openDialog(dlg);
    initGrants($("[data-grants]", dlg));
  });

  function folderDialog(mode) {
    const dlg = $("#folder-dialog");
    const form = $("form", dlg);
    const input = $("#folder-name", dlg);
    $("#folder-dialog-title", dlg).textContent = mode === "create" ? "New folder" : "Rename folder";
    $("[type=submit]", form).textContent = mode === "create" ? "Create" : "Save";
    input.value = mode === "create" ? "" : lib.dataset.folderName;
    form.onsubmit = async (e) => {
      e.preventDefault();
      const button = $("[type=submit]", form);
      busy(button, true);
      try {
        if (mode === "create") {
          const f = await api("POST", "/api/folders", { name: input.value, parent: folder });
          location.href = "/?folder=" + encodeURIComponent(f.id);
        } else {
          await api("PATCH", "/api/folders/" + folder, { name: input.value });
          location.reload();
        }
      } catch (err) {
        showError(form, err.message);
        busy(button, false);
      }
    };
    openDialog(dlg);
    input.select();
  }

  async function moveFolder() {
    const target = await pickFolder({ title: "Move “" + lib.dataset.folderName + "” to…", action: "Move into", exclude: folder, current: lib.dataset.parent || null });
    if (target === undefined) return;
    try {
      await api("PATCH", "/api/folders/" + folder, { parent: target });
      location.reload();
    } catch (err) {
      toast(err.message, true);
    }
  }

  async function deleteFolder() {
    const ok = await confirmAction("Delete folder?", "“" + lib.dataset.folderName + "” and everything in it go to the trash, where they can be restored from.", "Delete folder");
    if (!ok) return;
    try {
      await api("DELETE", "/api/folders/" + folder);
      deferUndo("“" + lib.dataset.folderName + "” moved to the trash.", [folder]);
      location.href = lib.dataset.parent ? "/?folder=" + encodeURIComponent(lib.dataset.parent) : "/";
    } catch (err) {
      toast(err.message, true);
    }
  }

  if (lib.dataset.canUpload) initUploads(folder, refreshListing);
  initBulk(refreshListing);
  showDeferredUndo($("#bulk-result"), refreshListing);
}

// clock writes a duration as players show it, m:ss or h:mm:ss, and iso
// as <time datetime> wants it: the same as the server's Length and
// LengthISO.
function clock(secs) {
  if (!(secs > 0)) return null;
  const s = Math.max(Math.round(secs), 1);
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return {
    text: h ? h + ":" + two(m) + ":" + two(r) : m + ":" + two(r),
    iso: "PT" + (h ? h + "H" : "") + (s >= 60 ? m + "M" : "") + r + "S",
  };
}

// showTilePreview draws what the API says of a tile's item once the
// pipeline is done with it: the thumbnail, the duration and size, or why
// there is no preview. It returns false while the item is still pending.
function showTilePreview(li, it) {
  const m = it.media;
  if (!m || m.state === "pending") return false;
  li.dataset.state = m.state;
  const thumb = $(".thumb", li);
  if (m.thumb_url && thumb && !$("img", thumb)) {
    thumb.prepend(el("img", { src: m.thumb_url, decoding: "async", alt: "" }));
  }
  const c = m.kind !== "image" ? clock(m.duration) : null;
  const len = $(".item-length", li);
  if (len && c) len.replaceChildren(el("span", { class: "sr", text: "Duration: " }), el("time", { datetime: c.iso, text: c.text }));
  const dims = $(".item-dims", li);
  if (dims && m.kind !== "audio" && m.width > 0 && m.height > 0) {
    dims.replaceChildren(el("span", { class: "sr", text: "Dimensions: " }), m.width + "×" + m.height);
  }
  const state = $(".item-state", li);
  if (state) {
    // The live region says what changed, for screen readers.
    const name = it.filename || "";
    if (m.state === "ready") {
      state.replaceChildren(el("span", { class: "state-text", text: "Preview of " + name + " ready." }));
    } else {
      const text = el("span", { class: "state-text", text: "No preview" });
      if (m.reason) text.append(el("span", { class: "state-reason" }, el("span", { class: "state-sep", text: ": " }), m.reason));
      state.replaceChildren(text);
    }
  }
  return true;
}

// previews asks the API about the library's pending tiles every few
// seconds, less and less often, until none is pending; not while the page
// is hidden. watch() starts it again after new tiles came.
const previews = (() => {
  const FIRST = 2000, MAX = 30000;
  let delay = FIRST, timer = 0, running = false;

  const pending = () => $$(".items > .item[data-state=pending]");

  function schedule() {
    clearTimeout(timer);
    timer = 0;
    if (running || document.hidden || !pending().length) return;
    timer = setTimeout(round, delay);
  }

  async function round() {
    timer = 0;
    running = true;
    try {
      for (const li of pending()) {
        if (document.hidden) break;
        try {
          const it = await api("GET", "/api/media/" + encodeURIComponent(li.dataset.id));
          showTilePreview(li, it);
        } catch (err) {
          // Deleted, or no longer ours to see: stop asking about it.
          if (err.status === 404) delete li.dataset.state;
          else break; // offline or a server in trouble: try later
        }
      }
    } finally {
      running = false;
    }
    delay = Math.min(Math.round(delay * 1.6), MAX);
    schedule();
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) delay = FIRST;
    schedule();
  });
  return { watch() { delay = FIRST; schedule(); } };
})();

// loadMore fetches the next page as HTML and appends its items, so there
// is one template for both.
async function loadMore(link) {
  const holder = link.closest(".more");
  const doc = await nextPage(link);
  if (!doc) return;
  const items = $(".items", document);
  const fresh = $$(".items > .item", doc).map((li) => document.adoptNode(li));
  items.append(...fresh);
  document.dispatchEvent(new Event(ITEMS_CHANGED));
  previews.watch();
  const next = $(".more", doc);
  if (next) holder.replaceWith(document.adoptNode(next));
  else holder.remove();
  const first = fresh[0] && $(".item-name", fresh[0]);
  if (first) first.focus();
}

// refreshListing reloads the current view's items in place (after uploads).
async function refreshListing() {
  try {
    const res = await fetch(location.href, { credentials: "same-origin" });
    if (!res.ok) return;
    const doc = new DOMParser().parseFromString(await res.text(), "text/html");
    const fresh = $("#library-items", doc);
    const here = $("#library-items");
    if (fresh && here) {
      here.replaceWith(document.adoptNode(fresh));
      document.dispatchEvent(new Event(ITEMS_CHANGED));
      previews.watch();
    }
  } catch (_) { /* the next visit shows them */ }
}

// The side tree opens folders on demand.
function initTree() {
  $$(".sidebar .tree-toggle").forEach(wireToggle);
}

function wireToggle(btn) {
  btn.addEventListener("click", async () => {
    const li = btn.closest(".tree-node");
    const name = $("a span", li).textContent;
    const open = btn.getAttribute("aria-expanded") === "true";
    let sub = $(":scope > .tree", li);
    if (open) {
      btn.setAttribute("aria-expanded", "false");
      btn.setAttribute("aria-label", "Expand " + name);
      if (sub) sub.hidden = true;
      return;
    }
    if (!sub) {
      btn.disabled = true;
      try {
        const data = await api("GET", "/api/folders/" + btn.dataset.folder + "?limit=1");
        if (!data.folders.length) {
          btn.classList.add("is-leaf");
          btn.setAttribute("aria-hidden", "true");
          btn.tabIndex = -1;
          return;
        }
        sub = el("ul", { class: "tree", role: "list" });
        const row = $(":scope > .tree-row", li);
        for (const f of data.folders) {
          const r = row.cloneNode(true);
          const a = $("a", r);
          a.href = "/?folder=" + encodeURIComponent(f.id);
          a.removeAttribute("aria-current");
          $("span", a).textContent = f.name;
          const t = $(".tree-toggle", r);
          t.dataset.folder = f.id;
          t.setAttribute("aria-expanded", "false");
          t.setAttribute("aria-label", "Expand " + f.name);
          t.classList.remove("is-leaf");
          t.removeAttribute("aria-hidden");
          t.removeAttribute("tabindex");
          wireToggle(t);
          sub.append(el("li", { class: "tree-node" }, r));
        }
        li.append(sub);
      } catch (err) {
        toast(err.message, true);
        return;
      } finally {
        btn.disabled = false;
      }
    }
    sub.hidden = false;
    btn.setAttribute("aria-expanded", "true");
    btn.setAttribute("aria-label", "Collapse " + name);
  });
}
